//! Offboarding: when a sync removes or disables a user, or drops their role
//! to none, their live sessions end — every process running as their uid,
//! and every process of a shared-account session they opened, found by the
//! audit session id pam_roster recorded for them (`sessions`), which the
//! user cannot change. (`ROSTER_USER` in the environment they can: it is
//! never trusted here.) systemd-logind is asked first when it runs; the
//! processes are then signalled directly: SIGHUP, and SIGKILL for whatever
//! is left after a grace period.

use rustix::process::{Pid, Signal};
use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::compiled::View;
use crate::snapshot::{Role, Snapshot, State};

/// Someone who had access before the sync and has none after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offboarded {
    pub name: String,
    pub uid: u32,
    pub why: Why,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        let had_access = user.state == State::Active && user.role != Role::None;
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
            Some(u) if u.state != State::Active => Why::Disabled,
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

/// What ending one person's sessions did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ended {
    /// Processes that were signalled.
    pub processes: usize,
    /// Of those, how many needed SIGKILL.
    pub killed: usize,
    /// Processes the kernel would not let us signal (EPERM: no CAP_KILL).
    pub refused: usize,
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
        Ok(())
    }
}

/// Ends `who`'s processes and sessions; see the module documentation.
/// `sessions` is where pam_roster records audit sessions
/// ([`crate::sessions::SESSIONS_DIR`]).
pub fn end_sessions(who: &Offboarded, grace: Duration, sessions: &Path) -> Ended {
    let mut ended = Ended {
        logind: terminate_with_logind(who.uid),
        ..Ended::default()
    };
    let targets = processes_of(who, sessions);
    let (mut alive, refused) = signal(&targets, Signal::HUP);
    ended.refused = refused.len();
    ended.processes = alive.len();
    let deadline = Instant::now() + grace;
    loop {
        alive.retain(|pid| running(*pid));
        if alive.is_empty() || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ended.killed = alive.len();
    signal(&alive, Signal::KILL);
    ended
}

/// Whether `pid` still runs: it exists and is not a zombie (a process that
/// has exited but whose parent has not collected it yet).
fn running(pid: Pid) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero()));
    // The state follows the command name, which is in parentheses.
    let state = stat.ok().and_then(|s| {
        s.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
    });
    matches!(state, Some(c) if c != 'Z' && c != 'X')
}

/// Sends `sig` to each of `pids`: those signalled, and those the kernel
/// refused (EPERM). One that has exited meanwhile is in neither.
fn signal(pids: &[Pid], sig: Signal) -> (Vec<Pid>, Vec<Pid>) {
    let (mut sent, mut refused) = (Vec::new(), Vec::new());
    for &pid in pids {
        match rustix::process::kill_process(pid, sig) {
            Ok(()) => sent.push(pid),
            Err(rustix::io::Errno::PERM) => refused.push(pid),
            Err(_) => {}
        }
    }
    (sent, refused)
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

/// Processes running as `who.uid` (real, effective, saved or filesystem
/// uid), and processes in an audit session recorded as theirs (their
/// sessions in shared accounts, and whatever those left running). Never
/// this process or init.
fn processes_of(who: &Offboarded, sessions: &Path) -> Vec<Pid> {
    let me = std::process::id();
    let their_sessions = crate::sessions::of_person(sessions, &who.name);
    let uid = who.uid.to_string();
    let mut seen = HashSet::new();
    for pid in crate::sessions::pids() {
        if pid == me || pid == 1 {
            continue;
        }
        let by_uid = std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .is_some_and(|ids| ids.split_whitespace().any(|id| id == uid))
        });
        let in_their_session = !by_uid
            && !their_sessions.is_empty()
            && crate::sessions::session_of(&pid.to_string())
                .is_some_and(|id| their_sessions.contains(&id));
        if (by_uid || in_their_session)
            && let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw)
        {
            seen.insert(p);
        }
    }
    seen.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiled::{HostPolicy, compile};
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
    fn ended_says_what_it_could_not_do() {
        let ended = Ended {
            processes: 3,
            killed: 1,
            refused: 2,
            logind: true,
        };
        assert_eq!(
            ended.to_string(),
            "ended 3 processes (1 after SIGKILL), logind asked to terminate the user; 2 could \
             not be signalled"
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
        let id = crate::sessions::session_of(&in_session.id().to_string())
            .expect("a new audit session id (needs root and an audit-enabled kernel)");
        assert_ne!(Some(id), crate::sessions::session_of("self"));
        let record = crate::sessions::Record {
            person: "zed".into(),
            session: "1".into(),
            key_id: "zed@laptop".into(),
            serial: 1,
            ca: "SHA256:x".into(),
            start: 0,
        };
        crate::sessions::record(&sessions.join("sessions"), id, &record).unwrap();
        let who = Offboarded {
            name: "zed".into(),
            uid: 54_321,
            why: Why::Removed,
        };
        let ended = end_sessions(&who, Duration::from_millis(500), &sessions.join("sessions"));
        assert!(ended.processes >= 3, "{ended:?}");
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
