//! `roster-scim`'s command line and its daemon: serve (the HTTP server and
//! the publication loop, graceful shutdown), hash-token, backup.

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::config::Config;
use super::http::{self, Service};
use super::publish::{self, Publisher};
use super::store::{self, Store};
use super::{metrics, project};

use crate::time::UnixTime;

const USAGE: &str = "usage: roster-scim serve [--config FILE]
       roster-scim hash-token              (the token on standard input; prints sha256:HEX)
       roster-scim backup [--config FILE] OUTPUT
The configuration defaults to /etc/roster/scim.toml (docs/scim.md).";

const DEFAULT_CONFIG: &str = "/etc/roster/scim.toml";

/// `roster-scim ARGS`.
pub fn main(args: impl Iterator<Item = OsString>) -> ExitCode {
    match run(args.collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roster-scim: {e}");
            ExitCode::from(if e.starts_with("usage") { 2 } else { 1 })
        }
    }
}

fn run(args: Vec<OsString>) -> Result<(), String> {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| {
            a.into_string()
                .map_err(|a| format!("argument {a:?} is not UTF-8"))
        })
        .collect::<Result<_, _>>()?;
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let (config, rest) = match words.as_slice() {
        [command, "--config", file, rest @ ..] => (Path::new(*file), (*command, rest)),
        [command, rest @ ..] => (Path::new(DEFAULT_CONFIG), (*command, rest)),
        [] => return Err(USAGE.into()),
    };
    match rest {
        ("serve", []) => serve(Config::load(config).map_err(|e| e.to_string())?),
        ("backup", [output]) => {
            let c = Config::load(config).map_err(|e| e.to_string())?;
            let store = Store::open(&c.database).map_err(|e| e.to_string())?;
            store.backup(Path::new(output)).map_err(|e| e.to_string())?;
            println!(
                "roster-scim: backed up {} to {output}",
                c.database.display()
            );
            Ok(())
        }
        ("hash-token", []) => {
            let mut token = String::new();
            std::io::stdin()
                .read_to_string(&mut token)
                .map_err(|e| e.to_string())?;
            println!("{}", hash_token(token.trim()));
            Ok(())
        }
        ("help" | "--help" | "-h", []) => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.into()),
    }
}

/// `sha256:HEX` of a bearer token, as scim.toml lists them.
pub fn hash_token(token: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(token.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

pub(crate) fn now() -> UnixTime {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as UnixTime)
}

/// Opens the database, publishes once, then serves until SIGTERM or
/// SIGINT: the requests in flight finish, the pending publication is
/// written, and only then does the process exit.
fn serve(config: Config) -> Result<(), String> {
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_current_span(false)
        .init();
    let mut store = Store::open(&config.database).map_err(|e| e.to_string())?;
    reserve_ledger_ids(&config, &mut store)?;
    let publisher = Publisher::new(&config).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let service = Arc::new(Service {
        config,
        store: Mutex::new(store),
        changed: tokio::sync::Notify::new(),
        metrics: metrics::Metrics::default(),
    });
    runtime.block_on(async move {
        let listen = service.config.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("listen on {listen}: {e}"))?;
        // The bound address (port 0 in the configuration picks a free one).
        let bound = listener
            .local_addr()
            .map_err(|e| format!("listen on {listen}: {e}"))?;
        tracing::info!(listen = %bound, "serving");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        // The rounds on a thread of their own for the service's life, not
        // the blocking pool's threads that come and go: each new thread
        // got a malloc arena of its own, which kept its share of a 100,000
        // user round's memory (1.07 GB of RSS at 100,000 users, bench/scim.sh).
        let publishing = {
            let (service, runtime) = (service.clone(), tokio::runtime::Handle::current());
            std::thread::Builder::new()
                .name("publish".into())
                .spawn(move || runtime.block_on(publish_loop(service, publisher, stopped)))
                .map_err(|e| format!("publication thread: {e}"))?
        };
        axum::serve(listener, http::router(service.clone()))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(|e| format!("serve: {e}"))?;
        tracing::info!("requests finished; publishing what is pending");
        let _ = stop.send(true);
        let _ = tokio::task::spawn_blocking(move || publishing.join()).await;
        tracing::info!("stopped");
        Ok::<(), String>(())
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = int.recv() => tracing::info!("SIGINT"),
    }
}

/// Ledger ids for every project's POSIX groups and shared accounts, handed
/// out at start so that publishing only reads.
fn reserve_ledger_ids(config: &Config, store: &mut Store) -> Result<(), String> {
    let a = &config.accounts;
    store
        .write(|w| {
            for p in config.projects.values() {
                for owner in project::ledger_owners(p) {
                    let taken = |i| a.local.uids.contains(&i) || a.local.gids.contains(&i);
                    if w.allocate(&owner, a.first_id, a.policy.min_uid, &taken)?
                        .is_none()
                    {
                        return Err(store::StoreError("the id ledger has run out of ids".into()));
                    }
                }
            }
            Ok(())
        })
        .map_err(|e| e.to_string())
}

/// Publishes at start, then after each change (waiting `coalesce` for the
/// rest of a burst), and at least every minute for the heartbeat; once more
/// when told to stop.
async fn publish_loop(
    s: Arc<Service>,
    mut publisher: Publisher,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let coalesce = Duration::from_millis(s.config.coalesce_ms);
    let tick = Duration::from_secs(s.config.heartbeat_secs.clamp(1, 60));
    let mut since = Some(Instant::now());
    loop {
        round(&s, &mut publisher, since.take());
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            _ = s.changed.notified() => {
                since = Some(Instant::now());
                tokio::time::sleep(coalesce).await;
            }
            _ = tokio::time::sleep(tick) => {}
            _ = stop.changed() => {}
        }
    }
}

/// One publication round, on the publication thread; logs and counts it.
fn round(s: &Service, publisher: &mut Publisher, since: Option<Instant>) {
    let started = Instant::now();
    // A panic in a round is a bug; the service keeps answering and the
    // next round tries again.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        publisher.round(&s.config, &s.store, now())
    }));
    let result = result.unwrap_or(Err(publish::PublishError::Panicked));
    match result {
        Ok(published) => {
            for p in &published {
                s.metrics.published(&p.project, p.users, p.serial);
                tracing::info!(project = %p.project, serial = p.serial, users = p.users, bytes = p.bytes, heartbeat = p.heartbeat, round_ms = started.elapsed().as_millis() as u64, "published");
            }
            if let (Some(t), false) = (since, published.is_empty()) {
                s.metrics.publish_latency(t.elapsed().as_secs_f64());
            }
        }
        Err(e) => {
            s.metrics.publish_failed();
            tracing::error!(error = %e, "publication failed; hosts keep the last snapshot");
        }
    }
}
