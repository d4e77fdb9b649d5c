//! `roster principals`: sshd's AuthorizedPrincipalsCommand (`%u %t %k`).
//! It runs as an unprivileged user for every certificate offered to sshd,
//! reads the installed snapshot and /etc/passwd, and writes nothing: the
//! answer is the principal that may log in, or a refusal for syslog.

use std::path::Path;

use crate::host::access::authorize;
use crate::host::audit::{Event, EventKind};
use crate::host::cert;
use crate::host::login::MAX_LOOKUPS;
use crate::host::store::{Generation, Sparse};
use crate::local;
use crate::paths;
use crate::time::UnixTime;

/// What sshd asks: `%u %t %k` (what follows, `%f %i %s`, is accepted and
/// unused).
#[derive(Debug, PartialEq, Eq)]
pub struct Offered {
    /// The account being logged in to.
    pub user: String,
    pub cert_type: String,
    /// The certificate, base64.
    pub key: String,
}

/// Who may log in as `offered.user` with this certificate (the account
/// itself, or for a shared account the granted person), or the refusal as
/// a `principals_denied` event on host `host_name`.
pub fn principals(offered: &Offered, host_name: &str, now: UnixTime) -> Result<String, Box<Event>> {
    let files = (Path::new(paths::SNAPSHOT), Path::new(paths::PASSWD));
    answer(files, offered, host_name, now)
}

/// [`principals`], with the snapshot and passwd files given.
fn answer(
    (snapshot, passwd): (&Path, &Path),
    offered: &Offered,
    host_name: &str,
    now: UnixTime,
) -> Result<String, Box<Event>> {
    let (user, cert_type, key) = (offered.user.as_str(), &offered.cert_type, &offered.key);
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
    if local::is_local_user(passwd, user) {
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
    let generation = Generation::<Sparse>::load(snapshot)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::access::tests::{NOW, cert, world};

    fn offer(user: &str, cert_type: &str, key: &str) -> Offered {
        Offered {
            user: user.into(),
            cert_type: cert_type.into(),
            key: key.into(),
        }
    }

    /// The gate's answer, or the refusal's reason, key ID and serial.
    fn ask(dir: &Path, user: &str, c: &ssh_key::Certificate) -> Result<String, String> {
        let line = c.to_openssh().unwrap();
        let mut words = line.split(' ');
        let (cert_type, key) = (words.next().unwrap(), words.next().unwrap());
        let files = (dir.join("snapshot"), dir.join("passwd"));
        answer(
            (&files.0, &files.1),
            &offer(user, cert_type, key),
            "web-01",
            NOW,
        )
        .map_err(|e| {
            assert_eq!(
                (e.event, e.host.as_str()),
                (EventKind::PrincipalsDenied, "web-01")
            );
            assert_eq!(e.account, user);
            format!("{} {:?} {:?}", e.reason.unwrap(), e.key_id, e.serial)
        })
    }

    #[test]
    fn the_gate_answers_with_the_person_or_refuses_with_the_reason() {
        let w = world("");
        let dir = std::env::temp_dir().join(format!("roster-gate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        crate::install::write_atomic(&dir.join("snapshot"), &w.bytes, 0o644).unwrap();
        std::fs::write(dir.join("passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        let c = |serial, principals: &[&str]| cert(&w.ca, serial, principals, None);
        assert_eq!(ask(&dir, "alice", &c(1, &["alice"])), Ok("alice".into()));
        // A shared account: the answer is the granted person.
        assert_eq!(
            ask(&dir, "deploy", &c(2, &["bob", "alice"])),
            Ok("alice".into())
        );
        assert_eq!(
            ask(&dir, "carol", &c(3, &["carol"])),
            Err("account is disabled Some(\"test\") Some(3)".into())
        );
        assert_eq!(
            ask(&dir, "bob", &c(4, &["alice"])),
            Err("certificate does not name this account Some(\"test\") Some(4)".into())
        );
        assert_eq!(
            ask(&dir, "root", &c(5, &["root"])),
            Err("root is a local account: the snapshot does not decide for it Some(\"test\") Some(5)".into())
        );
        let files = (dir.join("snapshot"), dir.join("passwd"));
        let plain = answer(
            (&files.0, &files.1),
            &offer("alice", "ssh-ed25519", "AAAA"),
            "web-01",
            NOW,
        );
        assert_eq!(
            plain.unwrap_err().reason.as_deref(),
            Some("not a certificate")
        );
        std::fs::remove_file(dir.join("snapshot")).unwrap();
        let gone = ask(&dir, "alice", &c(6, &["alice"])).unwrap_err();
        assert!(gone.ends_with(" Some(\"test\") Some(6)"), "{gone}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
