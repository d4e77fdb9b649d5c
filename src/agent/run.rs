//! `roster sync` and `roster agent`: one sync with everything around it, and
//! the loop that repeats it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Error;
use super::config::Config;
use super::fetch::Source;
use super::metrics;
use super::offboard;
use super::state::History;
use super::sync::{Synced, sync_once};
use crate::host::audit;
use crate::local::LocalTables;
use crate::paths;
use crate::time::{UnixTime, format_duration};

/// One sync: what a run before this one left unfinished is finished first,
/// then the snapshot is fetched, verified and installed, then — whatever the
/// sync did or failed at — the installed snapshot decides which sessions may
/// stay open. Last, whatever happened, the metrics file is written
/// ([`metrics::write`]).
pub fn sync(config: &Config, now: UnixTime) -> Result<Synced, Error> {
    sync_keeping(config, &mut None, now)
}

/// [`sync`] with the source (its kept-alive connection and TLS session) of
/// the round before, which it leaves for the next.
fn sync_keeping(
    config: &Config,
    source: &mut Option<Source>,
    now: UnixTime,
) -> Result<Synced, Error> {
    let synced = sync_and_end_sessions(config, source, now);
    metrics::write(config, now);
    synced
}

fn sync_and_end_sessions(
    config: &Config,
    kept: &mut Option<Source>,
    now: UnixTime,
) -> Result<Synced, Error> {
    let files = &config.local_files;
    let local = LocalTables::read(&files.passwd, &files.group, &files.shells)?;
    let max = config.policy.limits.max_document_bytes as u64;
    // Source::new fails only on the token file or the CA bundle: configuration.
    let previous = kept.take();
    let source = kept.insert(
        Source::new(&config.source, max, keep_alive(config), previous).map_err(Error::Source)?,
    );
    end_sessions(config, now);
    let synced = sync_once(config, source, &local, now).map_err(Error::Sync);
    end_sessions(config, now);
    synced
}

/// What one sync did, in a line.
pub fn report(result: &Result<Synced, Error>) -> String {
    match result {
        Ok(Synced::Installed {
            serial,
            previous: Some(p),
            ..
        }) => format!("installed snapshot serial {serial} (was {p})"),
        Ok(Synced::Installed {
            serial,
            previous: None,
            ..
        }) => format!("installed snapshot serial {serial}"),
        Ok(Synced::Unchanged { serial }) => format!("snapshot serial {serial} is current"),
        Err(e) => e.to_string(),
    }
}

/// Ends the sessions the installed snapshot no longer admits, and those of
/// everyone it offboarded ([`offboard::carry_out`]), one audit event each,
/// also on stderr and syslog.
fn end_sessions(config: &Config, now: UnixTime) {
    let host = offboard::Host {
        state_dir: &config.state_dir,
        sessions: Path::new(paths::SESSIONS_DIR),
        host_name: &config.host.host_name,
        grace: Duration::from_secs(config.sync.offboard_grace_secs),
    };
    let events = match offboard::carry_out(&host, now) {
        Ok(events) => events,
        Err(e) => {
            eprintln!("roster: cannot finish the offboarding journal: {e}");
            return;
        }
    };
    if !events.is_empty()
        && let Err(e) = History::record_events(&config.state_dir, &events)
    {
        eprintln!("roster: cannot count the offboarding in the state file: {e}");
    }
    for e in &events {
        let line = e.summary();
        eprintln!("roster: {line}");
        super::syslog_notice(&line);
        if let Err(err) = audit::append(&config.events, e) {
            eprintln!("roster: cannot write {}: {err}", config.events.display());
        }
    }
}

/// How often an agent without a usable configuration reads it again.
const UNCONFIGURED_RETRY: Duration = Duration::from_secs(60);

/// The agent: [`sync`] every interval (+ jitter) until SIGTERM or SIGINT;
/// SIGHUP syncs now. The configuration is read again (with `load`) before
/// each round: a broken edit keeps the last good one, and an unconfigured
/// or broken configuration at start (the package's roster.toml has no
/// source yet) is waited out, re-read every minute and on SIGHUP, rather
/// than a failed unit restarting in a loop.
pub fn agent(
    load: impl Fn() -> Result<Config, Error>,
    now: impl Fn() -> UnixTime,
) -> Result<(), Error> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    let now_please = Arc::new(AtomicBool::new(false));
    for sig in [SIGTERM, SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(Error::Signals)?;
    }
    signal_hook::flag::register(SIGHUP, Arc::clone(&now_please)).map_err(Error::Signals)?;

    let mut config: Option<Config> = None;
    let mut source = None;
    let mut failures: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        match (load(), &config) {
            (Ok(c), previous) => {
                if previous
                    .as_ref()
                    .is_none_or(|p| p.source.url != c.source.url)
                {
                    eprintln!(
                        "roster agent: syncing {} every {}",
                        c.source.url,
                        format_duration(c.sync.interval_secs)
                    );
                }
                config = Some(c);
            }
            (Err(e), Some(_)) => eprintln!("roster agent: keeping the previous configuration: {e}"),
            (Err(e), None) => eprintln!(
                "roster agent: waiting for a usable configuration \
                 (`systemctl reload roster` after editing it): {e}"
            ),
        }
        let delay = match &config {
            Some(config) => {
                let result = sync_keeping(config, &mut source, now());
                eprintln!("roster agent: {}", report(&result));
                failures = if result.is_ok() {
                    0
                } else {
                    failures.saturating_add(1)
                };
                next_delay(config, failures, random())
            }
            None => UNCONFIGURED_RETRY,
        };
        let deadline = Instant::now() + delay;
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            if now_please.swap(false, Ordering::Relaxed) {
                eprintln!("roster agent: SIGHUP, syncing now");
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    eprintln!("roster agent: stopping");
    Ok(())
}

/// The wait before the next sync: the interval plus up to `jitter` after a
/// success; after failures, 5 s doubling each time, capped at the interval,
/// with the same proportion of jitter, so 2,000 hosts never retry in step.
fn next_delay(config: &Config, failures: u32, random: u64) -> Duration {
    let interval = config.sync.interval_secs;
    let base = match failures {
        0 => interval,
        n => 5u64.saturating_mul(1 << (n - 1).min(20)).min(interval),
    };
    let jitter = if failures == 0 {
        config.sync.jitter_secs
    } else {
        base / 2
    };
    Duration::from_secs(base) + Duration::from_millis(random % (jitter * 1000 + 1))
}

/// How long an idle connection to the source is kept: the longest wait
/// between two syncs after a success, and a margin. An origin that keeps it
/// as long (nginx's `keepalive_timeout`, 75 s by default) answers the next
/// poll on it, without a new TCP and TLS handshake.
fn keep_alive(config: &Config) -> Duration {
    Duration::from_secs(config.sync.interval_secs + config.sync.jitter_secs + 10)
}

/// A random number for jitter, from the kernel.
fn random() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    u64::from_ne_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(interval: u64, jitter: u64) -> Config {
        let text = format!(
            "[source]\nurl = \"https://origin.example/snapshot.json\"\n\
             signing_keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHp6EOPB3j2MNtlM8OduXusAUzKMEbXHBvBVvUNTxXTc\"]\n\
             [sync]\ninterval = \"{interval}s\"\njitter = \"{jitter}s\"\n"
        );
        Config::parse(&text, "web-01").unwrap()
    }

    #[test]
    fn after_a_success_the_wait_is_the_interval_plus_at_most_the_jitter() {
        let c = config(60, 10);
        assert_eq!(next_delay(&c, 0, 0), Duration::from_secs(60));
        assert_eq!(next_delay(&c, 0, 10_000), Duration::from_secs(70));
        assert_eq!(next_delay(&c, 0, 10_001), Duration::from_secs(60));
        for r in [1, 999, 123_456_789, u64::MAX] {
            let d = next_delay(&c, 0, r);
            assert!(
                d >= Duration::from_secs(60) && d <= Duration::from_secs(70),
                "{d:?}"
            );
        }
    }

    #[test]
    fn after_failures_the_wait_doubles_from_five_seconds_up_to_the_interval() {
        let c = config(60, 10);
        let base = |n| next_delay(&c, n, 0);
        assert_eq!(
            [1, 2, 3, 4, 5, 30, u32::MAX].map(base),
            [5, 10, 20, 40, 60, 60, 60].map(Duration::from_secs)
        );
        // The jitter after failures is half the wait, whatever `jitter` says.
        assert_eq!(next_delay(&c, 3, 10_000), Duration::from_secs(30));
        assert_eq!(next_delay(&c, 3, 10_001), Duration::from_secs(20));
    }
}
