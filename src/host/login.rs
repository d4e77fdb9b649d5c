//! What `pam_roster.so` decides in each PAM phase. The module only adapts
//! PAM to the [`Pam`] trait and maps the [`Verdict`] to a PAM code.
//!
//! - account: snapshot users only (others are `UserUnknown`, so local
//!   accounts fall through to pam_unix); refuses disabled users, role none
//!   and a stale snapshot; under sudo, also anyone without the admin role
//!   or a sudo rule now, and any process still holding a snapshot group its
//!   user has lost (`access::check_sudo`); never changes PAM_USER.
//! - open_session (sshd): the certificate sshd accepted, from
//!   `SSH_AUTH_INFO_0`, re-checked with every rule; the home directory; the
//!   session record (`sessions`), kept with the PAM handle and under the
//!   audit session id; the session environment; the `session_start` event.
//! - close_session: the `session_end` event, only in the PAM handle whose
//!   open_session recorded the session (so sudo or su inside a session,
//!   which share its audit session id, never end it), told from that
//!   record and never from anything the user can set.

use ssh_key::Certificate;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::host::access::{self, Access, Denial};
use crate::host::audit::{self, Event, EventKind};
use crate::host::compiled::View;
use crate::host::store::{Generation, Sparse};
use crate::local::is_local_user;
use crate::snapshot::AccountKind;
use crate::time::UnixTime;

/// At most this many of a certificate's principals are looked up.
pub const MAX_LOOKUPS: usize = 64;

/// The PAM environment variable sshd sets with `ExposeAuthInfo yes`.
pub const AUTH_INFO: &str = "SSH_AUTH_INFO_0";

/// What PAM should be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// Not our business (a local account, a non-login session).
    Ignore,
    /// Not a snapshot user: lets the stack fall through to pam_unix.
    UserUnknown,
    Denied,
    SessionError,
    /// Something PAM itself failed at (no user name).
    ServiceError,
}

/// Log priorities, as syslog's LOG_* levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Err,
    Notice,
    Info,
    Debug,
}

/// The PAM handle, as the decisions need it.
pub trait Pam {
    fn user(&mut self) -> Option<String>;
    fn service(&self) -> Option<String>;
    /// PAM_RHOST: the client's address, for sshd.
    fn remote_host(&self) -> Option<String>;
    fn getenv(&self, name: &str) -> Option<String>;
    fn putenv(&mut self, name: &str, value: &str) -> bool;
    /// The kernel's audit session id of the calling process (pam_loginuid
    /// starts one per login), if it is in one.
    fn audit_session(&self) -> Option<u32>;
    /// The calling process's group ids (primary and supplementary), as the
    /// kernel holds them.
    fn process_groups(&self) -> Vec<u32>;
    /// Keeps `value` with this PAM handle (pam_set_data), for close_session
    /// in the same process; only this module can read it back.
    fn keep(&mut self, value: String) -> bool;
    /// What [`Pam::keep`] stored with this handle, if anything.
    fn kept(&self) -> Option<String>;
    /// One line to syslog (authpriv).
    fn log(&self, priority: Priority, line: &str);
}

/// Options on the pam.d line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `debug`: log every decision, not only refusals and sessions.
    pub debug: bool,
    /// `mkhomedir=no`: never create home directories.
    pub mkhomedir: bool,
}

impl Options {
    /// Parses the module arguments; returns the options and the arguments it
    /// did not understand (logged by the caller, otherwise ignored).
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> (Options, Vec<String>) {
        let mut o = Options {
            debug: false,
            mkhomedir: true,
        };
        let mut unknown = Vec::new();
        for a in args {
            match a {
                "debug" => o.debug = true,
                "mkhomedir=no" => o.mkhomedir = false,
                "mkhomedir=yes" => o.mkhomedir = true,
                other => unknown.push(other.to_owned()),
            }
        }
        (o, unknown)
    }
}

/// Where the decisions read and write; tests point these elsewhere.
#[derive(Debug, Clone)]
pub struct Paths {
    pub snapshot: PathBuf,
    /// The local accounts, which are never ours.
    pub passwd: PathBuf,
    pub events: PathBuf,
    pub skel: PathBuf,
    /// Whose certificate opened each audit session (see `sessions`).
    pub sessions: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            snapshot: crate::paths::SNAPSHOT.into(),
            passwd: crate::paths::PASSWD.into(),
            events: crate::paths::EVENTS.into(),
            skel: crate::paths::SKEL.into(),
            sessions: crate::paths::SESSIONS_DIR.into(),
        }
    }
}

/// One PAM call's context.
pub struct Login<'a> {
    pub pam: &'a mut dyn Pam,
    pub options: &'a Options,
    pub paths: &'a Paths,
    pub now: UnixTime,
}

impl Login<'_> {
    /// The snapshot, with what looking up `users` needs read (see
    /// [`Sparse`]: a login reads kilobytes, whatever the snapshot's size).
    fn load<'n>(&self, users: impl IntoIterator<Item = &'n str>) -> Option<Generation<Sparse>> {
        let loaded = Generation::<Sparse>::load(&self.paths.snapshot).and_then(|mut g| {
            g.read_users(users)?;
            Ok(g)
        });
        match loaded {
            Ok(g) => Some(g),
            Err(e) => {
                if self.options.debug {
                    self.pam
                        .log(Priority::Debug, &format!("no usable snapshot: {e}"));
                }
                None
            }
        }
    }

    fn event(&self, kind: EventKind, view: &View<'_>, account: &str) -> Event {
        let host = view.host_policy().map(|h| h.host_name).unwrap_or_default();
        let mut e = Event::new(kind, self.now, &host, account);
        e.service = self.pam.service();
        e.source = self.pam.remote_host();
        e.snapshot_serial = Some(view.header().serial);
        e
    }

    /// Writes the event to the events file and syslog. A failure to write
    /// the file is logged; syslog still has the event.
    fn record(&self, event: &Event, priority: Priority) {
        self.pam.log(priority, &event.summary());
        if let Err(e) = audit::append(&self.paths.events, event) {
            let line = format!("cannot write {}: {e}", self.paths.events.display());
            self.pam.log(Priority::Err, &line);
        }
    }

    fn deny(&self, view: &View<'_>, account: &str, reason: &Denial, verdict: Verdict) -> Verdict {
        let mut e = self.event(EventKind::LoginDenied, view, account);
        e.reason = Some(reason.to_string());
        self.record(&e, Priority::Notice);
        verdict
    }

    /// A session that passed every check but cannot be opened safely.
    fn refuse_session(
        &self,
        view: &View<'_>,
        account: &str,
        person: &str,
        reason: String,
    ) -> Verdict {
        let mut e = self.event(EventKind::LoginDenied, view, account);
        e.person = Some(person.to_owned());
        e.reason = Some(reason);
        self.record(&e, Priority::Err);
        Verdict::SessionError
    }
}

/// PAM account phase.
pub fn account(login: &mut Login<'_>) -> Verdict {
    let Some(user) = login.pam.user() else {
        return Verdict::ServiceError;
    };
    if is_local_user(&login.paths.passwd, &user) {
        return Verdict::UserUnknown;
    }
    // Without a usable snapshot no snapshot user resolves through NSS, so
    // whoever this is, they are not ours to judge: local accounts (and
    // break-glass) must keep working.
    // Under sudo, the admin role must be held now, whatever the process's
    // groups say, and the process may hold no group its user has lost.
    let sudo = matches!(login.pam.service().as_deref(), Some("sudo" | "sudo-i"));
    let groups = if sudo {
        login.pam.process_groups()
    } else {
        Vec::new()
    };
    let Some(mut generation) = login.load([user.as_str()]) else {
        return Verdict::UserUnknown;
    };
    // A usable snapshot whose group index cannot be read refuses sudo: the
    // fall-through (pam_unix, then sudoers on the process's stale groups)
    // is what this check exists to stop.
    if generation.read_groups(&groups).is_err() {
        let view = generation.view();
        let denial = Denial::Corrupt(crate::host::compiled::FormatError::BadIndex);
        return login.deny(&view, &user, &denial, Verdict::Denied);
    }
    let view = generation.view();
    let checked = if sudo {
        access::check_sudo(&view, &user, &groups, login.now)
    } else {
        access::check_account(&view, &user, login.now)
    };
    match checked {
        Ok(None) => Verdict::UserUnknown,
        Ok(Some(_)) => {
            if login.options.debug {
                login
                    .pam
                    .log(Priority::Debug, &format!("account {user}: allowed"));
            }
            Verdict::Success
        }
        Err(denial) => login.deny(&view, &user, &denial, Verdict::Denied),
    }
}

/// PAM open_session.
pub fn open_session(login: &mut Login<'_>) -> Verdict {
    let Some(user) = login.pam.user() else {
        return Verdict::ServiceError;
    };
    if is_local_user(&login.paths.passwd, &user) {
        return Verdict::Ignore;
    }
    let info = login.pam.getenv(AUTH_INFO);
    let cert = info.as_deref().map(parse_auth_info);
    // Besides the account, a shared account's person is one of the
    // certificate's principals: read their entries too.
    let principals = cert
        .iter()
        .flatten()
        .flat_map(|(c, _, _)| c.valid_principals())
        .take(MAX_LOOKUPS);
    let Some(generation) =
        login.load(std::iter::once(user.as_str()).chain(principals.map(String::as_str)))
    else {
        // No usable snapshot (not configured yet, or broken). A session
        // opened with a certificate cannot be bound to it now, so it is
        // refused (fail closed). Anything else — cron, su, an LDAP or sssd
        // user with a plain key — is not roster's to judge, and refusing it
        // would lock out every non-local user of the host.
        let certificate_login = info
            .as_deref()
            .is_some_and(|i| i.contains(CERT_METHOD_MARK));
        if !certificate_login {
            return Verdict::Ignore;
        }
        let line = format!("refusing the session of {user:?}: no usable snapshot");
        login.pam.log(Priority::Err, &line);
        return Verdict::SessionError;
    };
    let view = generation.view();
    match view.user_by_name(user.as_bytes()) {
        Ok(Some(_)) => {}
        Ok(None) => return Verdict::Ignore,
        Err(e) => {
            let denial = Denial::Corrupt(e);
            return login.deny(&view, &user, &denial, Verdict::SessionError);
        }
    }
    let malformed = |m: String| Denial::Certificate(crate::host::cert::CertError::Malformed(m));
    let (cert, cert_type, blob) = match cert {
        Some(Ok(offered)) => offered,
        Some(Err(m)) => return login.deny(&view, &user, &malformed(m), Verdict::SessionError),
        // A snapshot user's sshd session must come with the certificate;
        // other services (su, cron) are not certificate logins.
        None if login.pam.service().as_deref() == Some("sshd") => {
            let denial = malformed(format!(
                "sshd did not expose the certificate ({AUTH_INFO} missing: is ExposeAuthInfo on?)"
            ));
            return login.deny(&view, &user, &denial, Verdict::SessionError);
        }
        None => return Verdict::Ignore,
    };
    let access = match check_certificate(login, &view, &user, &cert) {
        Ok(access) => access,
        Err(denial) => return login.deny(&view, &user, &denial, Verdict::SessionError),
    };
    if let Err(reason) = prepare_home(login, &view, &access) {
        return login.refuse_session(&view, &user, &access.person, reason);
    }
    let audit_session = login.pam.audit_session();
    let record = crate::host::sessions::Record {
        person: access.person.clone(),
        account: access.account.clone(),
        session: session_id(),
        key_id: access.cert.key_id.clone(),
        serial: access.cert.serial,
        ca: access.cert.ca_fingerprint.clone(),
        start: login.now,
        client: login.pam.remote_host().and_then(|h| h.parse().ok()),
        cert_type: cert_type.to_owned(),
        certificate: blob.to_owned(),
        audit_session,
    };
    // Offboarding finds what a person runs in a shared account, and a sync
    // judges every open session again, by the kernel's audit session id,
    // which the user cannot change (ROSTER_USER they can): a shared-account
    // session needs one, recorded as theirs.
    match audit_session {
        Some(id) => {
            if let Err(e) = crate::host::sessions::record(&login.paths.sessions, id, &record) {
                let reason = format!("cannot record audit session {id}: {e}");
                return login.refuse_session(&view, &user, &access.person, reason);
            }
        }
        None if access.account != access.person => {
            let reason = "no audit session id (is pam_loginuid in the stack?): this session in \
                          a shared account could not be ended when its person is offboarded"
                .to_owned();
            return login.refuse_session(&view, &user, &access.person, reason);
        }
        None => {}
    }
    // close_session tells the session's end from this, kept in the memory
    // of the process that opened it.
    if !login.pam.keep(record.to_json()) {
        let reason = "cannot keep the session record with the PAM handle".to_owned();
        return login.refuse_session(&view, &user, &access.person, reason);
    }
    // For the session's programs to read; never trusted by roster again
    // (pam_env and the user may change them).
    let env = [
        ("ROSTER_USER", access.person.clone()),
        ("ROSTER_ACCOUNT", access.account.clone()),
        ("ROSTER_KEY_ID", printable(&access.cert.key_id)),
        ("ROSTER_CERT_SERIAL", access.cert.serial.to_string()),
        ("ROSTER_CERT_CA", access.cert.ca_fingerprint.clone()),
        ("ROSTER_SESSION", record.session.clone()),
        ("ROSTER_SESSION_START", login.now.to_string()),
    ];
    for (name, value) in &env {
        if !login.pam.putenv(name, value) {
            let line = format!("cannot set {name} in the session environment");
            login.pam.log(Priority::Err, &line);
            return Verdict::SessionError;
        }
    }
    let mut e = login.event(EventKind::SessionStart, &view, &user);
    e.person = Some(access.person.clone());
    e.key_id = Some(access.cert.key_id.clone());
    e.serial = Some(access.cert.serial);
    e.ca = Some(access.cert.ca_fingerprint.clone());
    e.session = Some(record.session);
    e.audit_session = audit_session;
    if audit_session.is_none() {
        e.reason = Some(NO_AUDIT_SESSION.to_owned());
    }
    login.record(&e, Priority::Info);
    Verdict::Success
}

/// What session events say of a session without an audit session id.
const NO_AUDIT_SESSION: &str = "no audit session id (is pam_loginuid in the stack?): what this \
                                session leaves running is ended only with its person";

/// PAM close_session: ends the session this PAM handle's open_session
/// recorded. Any other handle — sudo or su run inside the session, which
/// share its audit session id, or a handle whose open_session refused —
/// holds no record and ends nothing.
pub fn close_session(login: &mut Login<'_>) -> Verdict {
    let Some(facts) = login
        .pam
        .kept()
        .as_deref()
        .and_then(crate::host::sessions::Record::from_json)
    else {
        return Verdict::Ignore;
    };
    if let Some(id) = facts.audit_session {
        crate::host::sessions::forget_if_over(&login.paths.sessions, id, std::process::id());
    }
    let generation = login.load([]);
    let view = generation.as_ref().map(Generation::view);
    let host = view
        .and_then(|v| v.host_policy().ok())
        .map(|h| h.host_name)
        .unwrap_or_default();
    let mut e = Event::new(EventKind::SessionEnd, login.now, &host, &facts.account);
    e.snapshot_serial = view.map(|v| v.header().serial);
    e.service = login.pam.service();
    e.source = login.pam.remote_host();
    e.duration_secs = Some(login.now.saturating_sub(facts.start).max(0) as u64);
    e.person = Some(facts.person);
    e.key_id = Some(facts.key_id);
    e.serial = Some(facts.serial);
    e.ca = Some(facts.ca);
    e.session = Some(facts.session);
    e.audit_session = facts.audit_session;
    if facts.audit_session.is_none() {
        e.reason = Some(NO_AUDIT_SESSION.to_owned());
    }
    login.record(&e, Priority::Info);
    Verdict::Success
}

/// The certificate of `SSH_AUTH_INFO_0`, judged like the sshd gate judged
/// it, now with the client's address.
fn check_certificate(
    login: &Login<'_>,
    view: &View<'_>,
    user: &str,
    cert: &Certificate,
) -> Result<Access, Denial> {
    let malformed =
        |m: &str| Denial::Certificate(crate::host::cert::CertError::Malformed(m.to_owned()));
    let rhost = login.pam.remote_host();
    let client: Option<IpAddr> = rhost.as_deref().and_then(|h| h.parse().ok());
    if client.is_none() && cert.critical_options().contains_key("source-address") {
        // Fail closed: the address cannot be checked.
        return Err(malformed(
            "client address unknown (PAM_RHOST is not an IP address)",
        ));
    }
    access::authorize(view, cert, user, client, login.now)
}

/// What marks a certificate among the key types of `SSH_AUTH_INFO_0`.
const CERT_METHOD_MARK: &str = "-cert-v01@openssh.com";

/// The certificate of `SSH_AUTH_INFO_0`, with its key type and base64 blob
/// as sshd gave them. `SSH_AUTH_INFO_0` is one line per authentication
/// method that succeeded, e.g. `publickey ssh-ed25519-cert-v01@openssh.com
/// AAAA…`; exactly one of them must be a certificate.
pub fn parse_auth_info(info: &str) -> Result<(Certificate, &str, &str), String> {
    let mut certs = info.lines().filter_map(|line| {
        let mut words = line.split(' ');
        match (words.next(), words.next(), words.next(), words.next()) {
            (Some("publickey"), Some(t), Some(b64), None) if t.contains(CERT_METHOD_MARK) => {
                Some((t, b64))
            }
            _ => None,
        }
    });
    let (t, b64) = certs
        .next()
        .ok_or("no certificate among the methods sshd used")?;
    if certs.next().is_some() {
        return Err("more than one certificate among the methods sshd used".into());
    }
    let cert = crate::host::cert::parse(t, b64).map_err(|e| e.to_string())?;
    Ok((cert, t, b64))
}

/// Creates the home directory if needed (never for service accounts).
fn prepare_home(login: &Login<'_>, view: &View<'_>, access: &Access) -> Result<(), String> {
    if !login.options.mkhomedir || access.kind == AccountKind::Service {
        return Ok(());
    }
    let user = view
        .user_by_name(access.account.as_bytes())
        .ok()
        .flatten()
        .ok_or("account vanished from the snapshot")?;
    let home = Path::new(std::str::from_utf8(user.home).map_err(|_| "home is not UTF-8")?);
    crate::host::home::ensure(home, user.uid, user.gid, Some(&login.paths.skel))
        .map(|_| ())
        .map_err(|e| format!("cannot create home {}: {e}", home.display()))
}

/// A value for the session environment: control characters replaced.
fn printable(s: &str) -> String {
    s.chars()
        .take(256)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// 64 random bits, in hex, naming one session in the audit trail.
fn session_id() -> String {
    use std::io::Read;
    let mut b = [0u8; 8];
    let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests;
