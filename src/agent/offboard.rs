//! Ending sessions after a sync. Two causes, one way of ending them:
//!
//! - people who lost access (removed, disabled, role none): every process
//!   running as their uid, and every process of an audit session recorded as
//!   theirs (their sessions in shared accounts, and what those left running);
//! - open sessions this snapshot no longer admits (a certificate revoked, a
//!   CA no longer trusted, a grant gone: [`crate::host::access::still_admitted`],
//!   the decision that admits a login): every process of that audit session.
//!
//! The audit session id (`sessions`) is the kernel's and the user cannot
//! change it; `ROSTER_USER` in the environment they can, and it is never
//! trusted here.
//!
//! Ending is SIGHUP to every process found, again to whatever they fork,
//! for a grace period; then SIGKILL, scan after scan, until a scan finds
//! none left. A process being killed cannot fork, and what it forked before
//! its signal is found by the next scan, so a shell loop that forks while it
//! is killed runs out of children. Every signal goes through a pidfd opened
//! before the process is checked, so a recycled pid is never signalled. (A
//! cgroup would do this in one write, but only on hosts where every login
//! lands in its own systemd scope; this works on every host, and logind is
//! asked as well where it runs.) A zombie is dead: only running processes
//! are counted, found or left.
//!
//! Who must lose access is written down before the snapshot that removes
//! them is installed ([`Pending`], in the state folder), and carried out
//! before anything else on the next run ([`carry_out`]), so no failure at
//! any point — the events log, a full disk, the agent killed — loses an
//! offboarding. Open sessions need no journal: their records stay in
//! `/run/roster/sessions` until they end, and every run judges them all.

use rustix::process::{Pid, PidfdFlags, Signal};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::host::audit::{Event, EventKind};
use crate::host::compiled::View;
use crate::host::process::{pids, running, session_of, status_ids};
use crate::snapshot::{AccountState, Role, Snapshot};
use crate::time::UnixTime;

/// How long SIGKILL rounds go on before what is left is reported as
/// surviving (a process in uninterruptible sleep dies when it wakes).
const KILL_ROUNDS_FOR: Duration = Duration::from_secs(5);

/// Someone who had access before the sync and has none after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offboarded {
    pub name: String,
    pub uid: u32,
    pub why: Why,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    Removed,
    Disabled,
    RoleRemoved,
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Why::Removed => "removed from the snapshot",
            Why::Disabled => "disabled",
            Why::RoleRemoved => "role removed",
        })
    }
}

/// Who lost access between the installed snapshot and the new one.
pub fn offboarded(previous: &View<'_>, next: &Snapshot) -> Vec<Offboarded> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Ok(Some((user, after))) = previous.user_at(pos) {
        pos = after;
        let had_access = user.state == AccountState::Active && user.role != Role::None;
        let Ok(name) = std::str::from_utf8(user.name) else {
            continue;
        };
        if !had_access {
            continue;
        }
        let why = match next
            .users
            .iter()
            .find(|u| u.name == name && u.uid == user.uid)
        {
            None => Why::Removed,
            Some(u) if u.state != AccountState::Active => Why::Disabled,
            Some(u) if u.role == Role::None => Why::RoleRemoved,
            Some(_) => continue,
        };
        out.push(Offboarded {
            name: name.to_owned(),
            uid: user.uid,
            why,
        });
    }
    out
}

/// Who must lose access once snapshot `serial` is installed: written before
/// it is, removed once done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub serial: u64,
    pub people: Vec<Offboarded>,
}

impl Pending {
    /// Writes the journal, keeping whoever an unfinished one still names.
    pub fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        let mut all = Pending::load(state_dir).unwrap_or(Pending {
            serial: 0,
            people: Vec::new(),
        });
        all.serial = all.serial.max(self.serial);
        for who in &self.people {
            if !all.people.contains(who) {
                all.people.push(who.clone());
            }
        }
        let json = serde_json::to_vec_pretty(&all).map_err(std::io::Error::other)?;
        crate::install::write_atomic(
            &state_dir.join(crate::paths::OFFBOARDING_FILE),
            &json,
            0o600,
        )
    }

    fn load(state_dir: &Path) -> Option<Pending> {
        let bytes = std::fs::read(state_dir.join(crate::paths::OFFBOARDING_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn done(state_dir: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(state_dir.join(crate::paths::OFFBOARDING_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// What ending one person's or one session's processes did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ended {
    /// Processes that were running and are not any more.
    pub processes: usize,
    /// Of those, how many needed SIGKILL.
    pub killed: usize,
    /// Processes the kernel would not let us signal (EPERM: no CAP_KILL).
    pub refused: usize,
    /// Processes still running when the last round gave up.
    pub survivors: usize,
    pub logind: bool,
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ended {} processes", self.processes)?;
        if self.killed > 0 {
            write!(f, " ({} after SIGKILL)", self.killed)?;
        }
        if self.logind {
            f.write_str(", logind asked to terminate the user")?;
        }
        if self.refused > 0 {
            write!(f, "; {} could not be signalled", self.refused)?;
        }
        if self.survivors > 0 {
            write!(f, "; {} still running", self.survivors)?;
        }
        Ok(())
    }
}

/// Where [`carry_out`] works, and for which host.
pub struct Host<'a> {
    /// The agent's state folder: the installed snapshot and the journal.
    pub state_dir: &'a Path,
    /// pam_roster's session records ([`crate::paths::SESSIONS_DIR`]).
    pub sessions: &'a Path,
    pub host_name: &'a str,
    /// How long processes have after SIGHUP before SIGKILL.
    pub grace: Duration,
}

/// Ends what the installed snapshot says must end: first the people the
/// journal names (when the snapshot that removed them is installed), then
/// every open session the snapshot no longer admits. Returns one event for
/// each, for the caller to record; the journal is gone once its people are
/// ended, whether or not their events can be written.
pub fn carry_out(host: &Host<'_>, now: UnixTime) -> std::io::Result<Vec<Event>> {
    // One at a time with syncs (the agent's and an operator's): the journal
    // is read, carried out and removed under the state folder's lock.
    let _lock = crate::agent::state::lock_state(host.state_dir)?;
    let installed = std::fs::read(host.state_dir.join(crate::paths::SNAPSHOT_FILE)).ok();
    let view = installed.as_deref().and_then(|b| View::open(b).ok());
    let mut events = Vec::new();
    let mut ended_people = HashSet::new();
    if let Some(pending) = Pending::load(host.state_dir) {
        // A journal ahead of the installed snapshot is one whose install
        // failed: the next install computes it again.
        let applies = view
            .as_ref()
            .is_some_and(|v| v.header().serial >= pending.serial);
        for who in pending.people.iter().filter(|_| applies) {
            let ended = end_person(who, host);
            let mut e = Event::new(EventKind::Offboarded, now, host.host_name, &who.name);
            e.reason = Some(format!("{}: {ended}", who.why));
            events.push(e);
            ended_people.insert(who.name.clone());
        }
        Pending::done(host.state_dir)?;
    }
    let Some(view) = view else {
        return Ok(events);
    };
    // One pass over /proc, not one per record.
    let live: HashSet<u32> = pids()
        .filter_map(|pid| session_of(&pid.to_string()))
        .collect();
    for (id, record) in crate::host::sessions::all(host.sessions) {
        if !live.contains(&id) {
            crate::host::sessions::forget(host.sessions, id);
            continue;
        }
        // Records written before sessions kept their certificate cannot be
        // judged again; those of someone just offboarded are ended.
        if record.certificate.is_empty() || ended_people.contains(&record.person) {
            continue;
        }
        let Err(denial) = crate::host::access::still_admitted(&view, &record) else {
            continue;
        };
        let ended = end_processes(&|pid| session_of(&pid.to_string()) == Some(id), host.grace);
        if ended.survivors == 0 {
            crate::host::sessions::forget(host.sessions, id);
        }
        let mut e = Event::new(
            EventKind::SessionRevoked,
            now,
            host.host_name,
            &record.account,
        );
        e.person = Some(record.person);
        e.key_id = Some(record.key_id);
        e.serial = Some(record.serial);
        e.ca = Some(record.ca);
        e.session = Some(record.session);
        e.audit_session = Some(id);
        e.snapshot_serial = Some(view.header().serial);
        e.reason = Some(format!("{denial}: {ended}"));
        events.push(e);
    }
    Ok(events)
}

/// Ends `who`'s processes: those running as their uid (real, effective,
/// saved or filesystem), and those in an audit session recorded as theirs.
fn end_person(who: &Offboarded, host: &Host<'_>) -> Ended {
    let logind = terminate_with_logind(who.uid);
    let their_sessions = crate::host::sessions::of_person(host.sessions, &who.name);
    let is_theirs = |pid: u32| {
        let pid = pid.to_string();
        status_ids(&pid, "Uid:").contains(&who.uid)
            || session_of(&pid).is_some_and(|id| their_sessions.contains(&id))
    };
    let ended = end_processes(&is_theirs, host.grace);
    for id in their_sessions {
        if !crate::host::sessions::in_use(id) {
            crate::host::sessions::forget(host.sessions, id);
        }
    }
    Ended { logind, ..ended }
}

/// Ends every running process `is_target` picks (never this one or init);
/// see the module documentation.
pub fn end_processes(is_target: &dyn Fn(u32) -> bool, grace: Duration) -> Ended {
    let me = std::process::id();
    let scan = || -> Vec<u32> {
        pids()
            .filter(|&pid| pid != me && pid != 1 && running(pid) && is_target(pid))
            .collect()
    };
    let mut found = HashSet::new();
    let mut refused = HashSet::new();
    let mut killed = HashSet::new();
    let deadline = Instant::now() + grace;
    loop {
        let now_found = scan();
        if now_found.is_empty() || Instant::now() >= deadline {
            break;
        }
        for pid in now_found {
            if found.insert(pid) && signal(pid, Signal::HUP, is_target) == Sent::Refused {
                refused.insert(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + KILL_ROUNDS_FOR;
    let mut left = scan();
    while Instant::now() < deadline {
        left.retain(|pid| !refused.contains(pid));
        if left.is_empty() {
            break;
        }
        for &pid in &left {
            found.insert(pid);
            match signal(pid, Signal::KILL, is_target) {
                Sent::Yes => {
                    killed.insert(pid);
                }
                Sent::Refused => {
                    refused.insert(pid);
                }
                Sent::Gone => {}
            }
        }
        // A killed process takes a moment to become a zombie.
        std::thread::sleep(Duration::from_millis(5));
        left = scan();
    }
    let survivors: HashSet<u32> = scan().into_iter().collect();
    let gone = |pid: &&u32| !survivors.contains(pid) && !refused.contains(pid);
    Ended {
        processes: found.iter().filter(gone).count(),
        killed: killed.iter().filter(gone).count(),
        refused: refused.len(),
        survivors: survivors.difference(&refused).count(),
        logind: false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Yes,
    /// EPERM: no CAP_KILL.
    Refused,
    /// It exited, or the pid now belongs to a process that is not a target.
    Gone,
}

/// Sends `sig` to `pid` if it is (still) a target. The pidfd is opened
/// before the check, so the signal reaches the process that was checked even
/// if the pid is recycled in between.
fn signal(pid: u32, sig: Signal, is_target: &dyn Fn(u32) -> bool) -> Sent {
    let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return Sent::Gone;
    };
    let sent = match rustix::process::pidfd_open(p, PidfdFlags::empty()) {
        Ok(fd) => {
            if !is_target(pid) {
                return Sent::Gone;
            }
            rustix::process::pidfd_send_signal(&fd, sig)
        }
        // A kernel before 5.3, or a seccomp filter without pidfds.
        Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => {
            rustix::process::kill_process(p, sig)
        }
        Err(_) => return Sent::Gone,
    };
    match sent {
        Ok(()) => Sent::Yes,
        Err(rustix::io::Errno::PERM) => Sent::Refused,
        Err(_) => Sent::Gone,
    }
}

/// logind's `TerminateUser(UID)`, when systemd-logind runs. Not `loginctl
/// terminate-user UID`: loginctl looks the uid up first, and a person removed
/// from the snapshot no longer resolves once it is installed ("Failed to look
/// up user", tests/systemd.rs).
fn terminate_with_logind(uid: u32) -> bool {
    if !std::path::Path::new("/run/systemd/seats").exists() {
        return false;
    }
    std::process::Command::new("busctl")
        .args(["call", "org.freedesktop.login1", "/org/freedesktop/login1"])
        .args(["org.freedesktop.login1.Manager", "TerminateUser", "u"])
        .arg(uid.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::compiled::{HostPolicy, compile};
    use crate::local::LocalTables;
    use crate::snapshot::{Policy, validate};

    fn snapshot(users: &str) -> Snapshot {
        let json = format!(
            r#"{{"format":"roster-snapshot/1","serial":1,"issued_at":"2026-01-01T00:00:00Z",
            "valid_until":"2099-01-01T00:00:00Z","groups":[],"users":[{users}]}}"#
        );
        let local = LocalTables::parse("", "", "/bin/sh\n");
        validate(json.as_bytes(), &Policy::default(), &local, 0).unwrap()
    }

    fn user(name: &str, uid: u32, state: &str, role: &str) -> String {
        format!(
            r#"{{"name":"{name}","uid":{uid},"gid":{uid},"home":"/home/{name}","shell":"/bin/sh",
            "state":"{state}","role":"{role}"}}"#
        )
    }

    #[test]
    fn finds_who_lost_access() {
        let before = snapshot(
            &[
                user("alice", 10001, "active", "admin"),
                user("bob", 10002, "active", "user"),
                user("carol", 10003, "active", "user"),
                user("dave", 10004, "active", "user"),
                user("erin", 10005, "disabled", "user"),
                user("frank", 10006, "active", "user"),
            ]
            .join(","),
        );
        let bytes = compile(&before, &HostPolicy::with_defaults("h"), 0).unwrap();
        let after = snapshot(
            &[
                user("alice", 10001, "active", "user"),
                user("carol", 10003, "disabled", "user"),
                user("dave", 10004, "active", "none"),
                user("frank", 10099, "active", "user"),
            ]
            .join(","),
        );
        let found = offboarded(&View::open(&bytes).unwrap(), &after);
        let summary: Vec<(String, Why)> = found.into_iter().map(|o| (o.name, o.why)).collect();
        assert_eq!(
            summary,
            [
                ("bob".to_owned(), Why::Removed),
                ("carol".to_owned(), Why::Disabled),
                ("dave".to_owned(), Why::RoleRemoved),
                // The same name with another uid is another person.
                ("frank".to_owned(), Why::Removed),
            ]
        );
    }

    #[test]
    fn the_journal_is_carried_out_once_its_snapshot_is_installed() {
        let dir = std::env::temp_dir().join(format!("roster-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let installed = snapshot(&user("yves", 54_330, "active", "user"));
        let bytes = compile(&installed, &HostPolicy::with_defaults("h"), 0).unwrap();
        std::fs::write(dir.join(crate::paths::SNAPSHOT_FILE), bytes).unwrap();
        let host = Host {
            state_dir: &dir,
            sessions: &dir.join("sessions"),
            host_name: "h",
            grace: Duration::from_millis(10),
        };
        let zed = |why| Offboarded {
            name: "zed".into(),
            uid: 54_331,
            why,
        };
        // Written for serial 2, whose install failed (serial 1 is installed):
        // dropped, for the next install to compute again.
        let ahead = Pending {
            serial: 2,
            people: vec![zed(Why::Removed)],
        };
        ahead.save(&dir).unwrap();
        assert_eq!(carry_out(&host, 0).unwrap(), []);
        assert!(!dir.join(crate::paths::OFFBOARDING_FILE).exists());
        // Two journals before a run: both people are kept, and ended.
        for why in [Why::Removed, Why::Disabled] {
            let pending = Pending {
                serial: 1,
                people: vec![zed(why)],
            };
            pending.save(&dir).unwrap();
        }
        let events = carry_out(&host, 0).unwrap();
        let reasons: Vec<_> = events.iter().map(|e| e.reason.clone().unwrap()).collect();
        assert_eq!(
            reasons,
            [
                "removed from the snapshot: ended 0 processes",
                "disabled: ended 0 processes"
            ]
        );
        assert!(!dir.join(crate::paths::OFFBOARDING_FILE).exists());
        assert_eq!(carry_out(&host, 0).unwrap(), []);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ended_says_what_it_could_not_do() {
        let ended = Ended {
            processes: 3,
            killed: 1,
            refused: 2,
            survivors: 4,
            logind: true,
        };
        assert_eq!(
            ended.to_string(),
            "ended 3 processes (1 after SIGKILL), logind asked to terminate the user; 2 could \
             not be signalled; 4 still running"
        );
    }

    /// Needs root (to start a process as another uid, and to give one a new
    /// audit session by writing its loginuid, as pam_loginuid does).
    #[test]
    fn ends_the_processes_of_the_user_and_of_their_audit_sessions() {
        use std::os::unix::process::CommandExt;
        let sessions = std::env::temp_dir().join(format!("roster-offboard-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&sessions);
        let mut as_uid = std::process::Command::new("sleep")
            .arg("60")
            .uid(54_321)
            .spawn()
            .unwrap();
        // Another uid (root here, a shared account in life), in an audit session of zed's,
        // with a ROSTER_USER that lies.
        let mut in_session = std::process::Command::new("sh")
            .args(["-c", "echo 54322 > /proc/self/loginuid && exec sleep 60"])
            .env("ROSTER_USER", "someone-else")
            .spawn()
            .unwrap();
        // SIGHUP is ignored by this one: it needs SIGKILL after the grace.
        let mut stubborn = std::process::Command::new("sh")
            .args(["-c", "trap '' HUP; sleep 60"])
            .uid(54_321)
            .spawn()
            .unwrap();
        // Says it is zed's, but is in no session of zed's.
        let mut bystander = std::process::Command::new("sleep")
            .arg("60")
            .env("ROSTER_USER", "zed")
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let id = session_of(&in_session.id().to_string())
            .expect("a new audit session id (needs root and an audit-enabled kernel)");
        assert_ne!(Some(id), session_of("self"));
        let record = crate::host::sessions::Record {
            account: "deploy".into(),
            session: "1".into(),
            audit_session: Some(id),
            ..crate::host::sessions::example("zed")
        };
        crate::host::sessions::record(&sessions.join("sessions"), id, &record).unwrap();
        let who = Offboarded {
            name: "zed".into(),
            uid: 54_321,
            why: Why::Removed,
        };
        let host = Host {
            state_dir: &sessions,
            sessions: &sessions.join("sessions"),
            host_name: "h",
            grace: Duration::from_millis(500),
        };
        let ended = end_person(&who, &host);
        // sh and sleep of `stubborn` (sh waits for sleep), `as_uid`, `in_session`.
        assert_eq!((ended.processes, ended.survivors), (4, 0), "{ended:?}");
        assert!(ended.killed >= 1, "{ended:?}");
        for child in [&mut as_uid, &mut in_session, &mut stubborn] {
            assert!(child.wait().is_ok_and(|s| !s.success()));
        }
        assert!(
            bystander.try_wait().unwrap().is_none(),
            "a bystander was killed"
        );
        bystander.kill().unwrap();
        bystander.wait().unwrap();
        std::fs::remove_dir_all(&sessions).unwrap();
    }
}
