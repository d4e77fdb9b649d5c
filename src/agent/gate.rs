//! `roster principals`: sshd's AuthorizedPrincipalsCommand (`%u %t %k`).
//! It runs as an unprivileged user for every certificate offered to sshd,
//! reads the installed snapshot and /etc/passwd, and writes nothing: the
//! answer is the principal that may log in, or a refusal for syslog.

use std::path::Path;

use crate::host::access::authorize;
use crate::host::audit::{Event, EventKind};
use crate::host::login::MAX_LOOKUPS;
use crate::host::store::{Generation, Sparse};
use crate::host::{cert, local};
use crate::paths;
use crate::time::UnixTime;

/// Who may log in as `user` with this certificate (the account itself, or
/// for a shared account the granted person), or the refusal as a
/// `principals_denied` event on host `host_name`.
pub fn principals(
    user: &str,
    cert_type: &str,
    key: &str,
    host_name: &str,
    now: UnixTime,
) -> Result<String, Box<Event>> {
    let refuse = |reason: String, cert: Option<&ssh_key::Certificate>| {
        let mut e = Event::new(EventKind::PrincipalsDenied, now, host_name, user);
        if let Some(c) = cert {
            e.key_id = Some(c.key_id().to_owned());
            e.serial = Some(c.serial());
        }
        e.reason = Some(reason);
        Box::new(e)
    };
    if !cert_type.contains("-cert-v01@openssh.com") {
        return Err(refuse("not a certificate".into(), None));
    }
    let cert = cert::parse(cert_type, key).map_err(|e| refuse(e.to_string(), None))?;
    if local::is_local_user(Path::new(paths::PASSWD), user) {
        let reason = format!("{user} is a local account: the snapshot does not decide for it");
        return Err(refuse(reason, Some(&cert)));
    }
    // One lookup per name, not the whole file: this runs for every
    // certificate offered to sshd.
    let names = std::iter::once(user).chain(
        cert.valid_principals()
            .iter()
            .take(MAX_LOOKUPS)
            .map(String::as_str),
    );
    let generation = Generation::<Sparse>::load(Path::new(paths::SNAPSHOT))
        .and_then(|mut g| {
            g.read_users(names)?;
            Ok(g)
        })
        .map_err(|e| refuse(e.to_string(), Some(&cert)))?;
    // sshd itself enforces source-address before running this command, and
    // does not pass the client address; PAM checks it again.
    authorize(&generation.view(), &cert, user, None, now)
        .map(|access| access.person)
        .map_err(|denial| refuse(denial.to_string(), Some(&cert)))
}
