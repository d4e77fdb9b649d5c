//! Offboarding: when a sync removes or disables a user, or drops their role
//! to none, their live sessions end — every process running as their uid,
//! and every process of a shared-account session they opened (marked by
//! `ROSTER_USER` in its environment). systemd-logind is asked first when it
//! runs; the processes are then signalled directly: SIGHUP, and SIGKILL for
//! whatever is left after a grace period.

use rustix::process::{Pid, Signal};
use std::collections::HashSet;
use std::fmt;
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
        Ok(())
    }
}

/// Ends `who`'s processes and sessions; see the module documentation.
pub fn end_sessions(who: &Offboarded, grace: Duration) -> Ended {
    let mut ended = Ended {
        logind: terminate_with_logind(who.uid),
        ..Ended::default()
    };
    let targets = processes_of(who);
    ended.processes = targets.len();
    signal(&targets, Signal::HUP);
    let deadline = Instant::now() + grace;
    let mut alive = targets;
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

fn signal(pids: &[Pid], sig: Signal) {
    for pid in pids {
        // The process may have exited meanwhile: nothing to do then.
        let _ = rustix::process::kill_process(*pid, sig);
    }
}

/// `loginctl terminate-user UID`, when systemd-logind runs.
fn terminate_with_logind(uid: u32) -> bool {
    if !std::path::Path::new("/run/systemd/seats").exists() {
        return false;
    }
    std::process::Command::new("loginctl")
        .args(["terminate-user", &uid.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Processes running as `who.uid` (real, effective, saved or filesystem
/// uid), and processes whose environment says `ROSTER_USER=who.name` (their
/// sessions in shared accounts). Never this process or init.
fn processes_of(who: &Offboarded) -> Vec<Pid> {
    let me = std::process::id();
    let marker = format!("ROSTER_USER={}", who.name);
    let mut seen = HashSet::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me || pid == 1 {
            continue;
        }
        let dir = entry.path();
        let by_uid = std::fs::read_to_string(dir.join("status")).is_ok_and(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .is_some_and(|ids| ids.split_whitespace().any(|id| id == who.uid.to_string()))
        });
        let by_session = std::fs::read(dir.join("environ"))
            .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == marker.as_bytes()));
        if (by_uid || by_session)
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

    /// Needs root (to start a process as another uid), like the rest of the suite.
    #[test]
    fn ends_the_processes_of_the_user_and_their_shared_sessions() {
        use std::os::unix::process::CommandExt;
        let mut as_uid = std::process::Command::new("sleep")
            .arg("60")
            .uid(54_321)
            .spawn()
            .unwrap();
        let mut marked = std::process::Command::new("sleep")
            .arg("60")
            .env("ROSTER_USER", "zed")
            .spawn()
            .unwrap();
        // SIGHUP is ignored by this one: it needs SIGKILL after the grace.
        let mut stubborn = std::process::Command::new("sh")
            .args(["-c", "trap '' HUP; sleep 60"])
            .uid(54_321)
            .spawn()
            .unwrap();
        let mut bystander = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let who = Offboarded {
            name: "zed".into(),
            uid: 54_321,
            why: Why::Removed,
        };
        let ended = end_sessions(&who, Duration::from_millis(500));
        assert!(ended.processes >= 3, "{ended:?}");
        assert!(ended.killed >= 1, "{ended:?}");
        for child in [&mut as_uid, &mut marked, &mut stubborn] {
            assert!(child.wait().is_ok_and(|s| !s.success()));
        }
        assert!(
            bystander.try_wait().unwrap().is_none(),
            "a bystander was killed"
        );
        bystander.kill().unwrap();
        bystander.wait().unwrap();
    }
}
