//! What the kernel says of a process, from /proc: its ids, its audit
//! session, whether it still runs. Plain file reads, so the modules may use
//! them inside host processes.

use std::fs;

/// `/proc/*/sessionid` of a process outside any login session.
const NO_SESSION: u32 = u32::MAX;

/// The ids of the processes now running (and of zombies not yet reaped).
pub fn pids() -> impl Iterator<Item = u32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
}

/// The audit session id of process `pid` ("self" for this one), if it is
/// in a login session.
pub fn session_of(pid: &str) -> Option<u32> {
    let text = fs::read_to_string(format!("/proc/{pid}/sessionid")).ok()?;
    text.trim().parse().ok().filter(|id| *id != NO_SESSION)
}

/// The ids `/proc/PID/status` lists after `field` (`"Uid:"`: real,
/// effective, saved and filesystem uid; `"Groups:"`: the supplementary
/// groups), or none if the process is gone.
pub fn status_ids(pid: &str, field: &str) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|l| {
                l.strip_prefix(field).map(|ids| {
                    ids.split_whitespace()
                        .filter_map(|i| i.parse().ok())
                        .collect()
                })
            })
        })
        .unwrap_or_default()
}

/// The group ids process `pid` holds: its real, effective, saved and
/// filesystem gids and its supplementary groups.
pub fn groups_of(pid: &str) -> Vec<u32> {
    let mut ids = status_ids(pid, "Gid:");
    ids.extend(status_ids(pid, "Groups:"));
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Whether `pid` still runs: it exists and is not a zombie (a process that
/// has exited but whose parent has not collected it yet: it is dead).
pub fn running(pid: u32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"));
    // The state follows the command name, which is in parentheses.
    let state = stat.ok().and_then(|s| {
        s.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
    });
    matches!(state, Some(c) if c != 'Z' && c != 'X')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(pids().any(|p| p == me));
        assert!(running(me));
        assert_eq!(status_ids("self", "Uid:").len(), 4);
        assert!(groups_of("self").contains(&rustix::process::getgid().as_raw()));
        assert!(!running(u32::MAX));
        assert!(status_ids("4294967295", "Uid:").is_empty());
    }

    #[test]
    fn a_zombie_is_not_running() {
        let child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Not waited for yet: once it exits it is a zombie.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while running(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!running(pid));
        assert!(pids().any(|p| p == pid), "the zombie is still listed");
        let mut child = child;
        child.wait().unwrap();
    }
}
