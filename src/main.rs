//! `roster` — the command-line tool and the sync agent.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use roster::agent::config::Config;
use roster::agent::sync::{Health, History, Synced, installed_serial, sync_once};
use roster::host::access::authorize;
use roster::host::audit::{Event, EventKind};
use roster::host::compiled::{HostPolicy, View, compile};
use roster::host::local::LocalTables;
use roster::host::store::{Generation, Sparse};
use roster::snapshot::{Policy, validate};
use roster::time::{UnixTime, format_duration, format_rfc3339};

const USAGE: &str = "\
usage: roster [--config FILE] COMMAND

  sync                 fetch, verify and install the snapshot once; the exit
                       status says what happened (0 installed or unchanged,
                       1 configuration, 3 fetch, 4 refused, 5 install)
  agent                sync every interval (+ jitter); SIGHUP syncs now,
                       SIGTERM exits
  status [--json]      what the last syncs did; exit 0 fresh, 1 stale
                       (older than max_age), 2 no usable snapshot
  principals USER TYPE KEY [FINGERPRINT KEY_ID SERIAL]
                       for sshd's AuthorizedPrincipalsCommand (%u %t %k %f %i
                       %s): print who may log in as USER with this
                       certificate, or nothing; refusals go to syslog
  explain USER [--cert FILE] [--from ADDR]
                       why USER may or may not log in here now (with this
                       certificate, from this address) and whether they
                       would get sudo, step by step; exit 0 allowed, 1 denied
  events [--user U] [--since TIME]
                       the audit trail (/var/log/roster/events.jsonl) as a
                       table; TIME is RFC 3339 or a duration ago, like 2h
  ca init DIR          a new user CA (ed25519) in DIR: ca (0600) and ca.pub,
                       the line for the snapshot's user_cas
  ca sign --ca DIR --user NAME --pubkey FILE [--host HOST|LABEL ...]
          [--ttl 10m] [--source-address CIDR,...] [--force-command CMD]
          [--output FILE]
                       a certificate for NAME's key that follows roster's
                       rules, written beside the key as KEY-cert.pub (as
                       ssh-keygen does) unless --output says otherwise
  snapshot build PEOPLE.toml --output DIR
                       DIR/snapshot.json and its signature from a people
                       file; ids are kept in PEOPLE.ledger beside it (never
                       reused), the serial goes up by one; the issue time is
                       $SOURCE_DATE_EPOCH when set (reproducible builds)
  snapshot compile INPUT.json --output FILE
                       [--passwd FILE] [--group FILE] [--shells FILE]
                       validate and compile a snapshot without the agent
  snapshot show FILE   header facts and counts of a compiled snapshot
  snapshot sign --key PRIVATE_KEY INPUT.json
                       write INPUT.json.sig (SSHSIG, namespace roster-snapshot)
  demo                 the whole story on this machine, in private namespaces
                       (root; changes nothing here): a CA, a people file, a
                       snapshot served on loopback, sshd, logins, sudo,
                       offboarding, the audit trail

The configuration is /etc/roster/roster.toml unless --config says otherwise.";

/// A failure to report on stderr, with its exit status.
struct Failure(String, u8);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure(e.to_string(), 1)
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(Failure(message, code)) => {
            eprintln!("roster: {message}");
            ExitCode::from(code)
        }
    }
}

#[derive(Default)]
struct Args {
    words: Vec<String>,
    config: Option<PathBuf>,
    output: Option<PathBuf>,
    key: Option<PathBuf>,
    passwd: Option<PathBuf>,
    group: Option<PathBuf>,
    shells: Option<PathBuf>,
    user: Option<String>,
    since: Option<String>,
    cert: Option<PathBuf>,
    from: Option<String>,
    ca: Option<PathBuf>,
    pubkey: Option<PathBuf>,
    hosts: Vec<String>,
    ttl: Option<String>,
    source_address: Option<String>,
    force_command: Option<String>,
    json: bool,
    /// `roster demo`'s own: set when it runs as the init of its namespaces.
    work_dir: Option<PathBuf>,
}

fn parse_args() -> Result<Option<Args>, Failure> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_env();
    let mut a = Args::default();
    while let Some(arg) = p.next()? {
        match arg {
            Long("config") | Short('c') => a.config = Some(p.value()?.into()),
            Long("output") | Short('o') => a.output = Some(p.value()?.into()),
            Long("key") => a.key = Some(p.value()?.into()),
            Long("passwd") => a.passwd = Some(p.value()?.into()),
            Long("group") => a.group = Some(p.value()?.into()),
            Long("shells") => a.shells = Some(p.value()?.into()),
            Long("json") => a.json = true,
            Long("user") => a.user = Some(p.value()?.string()?),
            Long("since") => a.since = Some(p.value()?.string()?),
            Long("cert") => a.cert = Some(p.value()?.into()),
            Long("ca") => a.ca = Some(p.value()?.into()),
            Long("pubkey") => a.pubkey = Some(p.value()?.into()),
            Long("host") => a.hosts.push(p.value()?.string()?),
            Long("ttl") => a.ttl = Some(p.value()?.string()?),
            Long("source-address") => a.source_address = Some(p.value()?.string()?),
            Long("force-command") => a.force_command = Some(p.value()?.string()?),
            Long("from") => a.from = Some(p.value()?.string()?),
            Long("work-dir") => a.work_dir = Some(p.value()?.into()),
            Long("help") | Short('h') => return Ok(None),
            Value(v) => {
                let word = v.into_string().map_err(|_| "arguments must be UTF-8")?;
                let gate = a.words.is_empty() && word == "principals";
                a.words.push(word);
                if gate {
                    // sshd passes the certificate's key ID (%i), which whoever
                    // asked for the certificate chose: everything after the
                    // command name is data, never an option.
                    for raw in p.raw_args()? {
                        let word = raw.into_string().map_err(|_| "arguments must be UTF-8")?;
                        a.words.push(word);
                    }
                }
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok(Some(a))
}

fn run() -> Result<u8, Failure> {
    let Some(args) = parse_args()? else {
        println!("{USAGE}");
        return Ok(0);
    };
    let words: Vec<&str> = args.words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["sync"] => cmd_sync(&load_config(&args)?),
        ["agent"] => cmd_agent(&args),
        ["status"] => cmd_status(&load_config(&args)?, args.json),
        ["principals", user, cert_type, key, ..] => Ok(cmd_principals(user, cert_type, key)),
        ["events"] => cmd_events(&args),
        ["explain", user] => cmd_explain(&args, user),
        ["ca", "init", dir] => cmd_ca_init(Path::new(dir)),
        ["demo"] => match &args.work_dir {
            None => roster::tools::demo::run(),
            Some(dir) => roster::tools::demo::inside(dir),
        }
        .map_err(|roster::tools::demo::StepFailed(why)| Failure(why, 1)),
        ["ca", "sign"] => cmd_ca_sign(&args),
        ["snapshot", "compile", input] => cmd_compile(&args, Path::new(input)),
        ["snapshot", "show", file] => cmd_show(Path::new(file)),
        ["snapshot", "sign", input] => cmd_sign(&args, Path::new(input)),
        ["snapshot", "build", people] => cmd_build(&args, Path::new(people)),
        _ => Err(Failure(format!("unknown command\n{USAGE}"), 2)),
    }
}

fn load_config(args: &Args) -> Result<Config, Failure> {
    let path = args
        .config
        .clone()
        .unwrap_or_else(|| roster::paths::CONFIG.into());
    Ok(Config::load(&path, &hostname())?)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

fn now() -> UnixTime {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as UnixTime)
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure(format!("{}: {e}", path.display()), 1))
}

fn read_text(path: &Path) -> Result<String, Failure> {
    String::from_utf8(read(path)?).map_err(|_| Failure(format!("{}: not UTF-8", path.display()), 1))
}

fn local_tables(passwd: &Path, group: &Path, shells: &Path) -> Result<LocalTables, Failure> {
    Ok(LocalTables::parse(
        &read_text(passwd)?,
        &read_text(group)?,
        &read_text(shells)?,
    ))
}

// ---- sync and agent --------------------------------------------------------

fn sync_with(config: &Config) -> Result<Synced, Failure> {
    let files = &config.local_files;
    let local = local_tables(&files.passwd, &files.group, &files.shells)?;
    let max = config.policy.limits.max_document_bytes as u64;
    // Source::new fails only on the token file or the CA bundle: configuration.
    let mut source = roster::agent::fetch::Source::new(&config.source, max)
        .map_err(|e| Failure(e.to_string(), 1))?;
    // What a run before this one left unfinished is finished first.
    end_sessions(config);
    let synced = sync_once(config, &mut source, &local, now())
        .map_err(|e| Failure(e.to_string(), e.exit_code()));
    // Whatever the sync did or failed at: the installed snapshot decides
    // which sessions may stay open.
    end_sessions(config);
    synced
}

/// Ends the sessions the installed snapshot no longer admits, and those of
/// everyone it offboarded (roster::agent::offboard::carry_out), one audit event
/// each.
fn end_sessions(config: &Config) {
    let host = roster::agent::offboard::Host {
        state_dir: &config.state_dir,
        sessions: Path::new(roster::paths::SESSIONS_DIR),
        host_name: &config.host.host_name,
        grace: Duration::from_secs(config.sync.offboard_grace_secs),
    };
    let events = match roster::agent::offboard::carry_out(&host, now()) {
        Ok(events) => events,
        Err(e) => {
            eprintln!("roster: cannot finish the offboarding journal: {e}");
            return;
        }
    };
    for e in &events {
        let line = e.summary();
        eprintln!("roster: {line}");
        syslog_notice(&line);
        let events = &config.events;
        if let Err(err) = roster::host::audit::append(events, e) {
            eprintln!("roster: cannot write {}: {err}", events.display());
        }
    }
}

fn report(result: &Result<Synced, Failure>) -> String {
    match result {
        Ok(Synced::Installed {
            serial,
            previous: Some(p),
            ..
        }) => {
            format!("installed snapshot serial {serial} (was {p})")
        }
        Ok(Synced::Installed {
            serial,
            previous: None,
            ..
        }) => {
            format!("installed snapshot serial {serial}")
        }
        Ok(Synced::Unchanged { serial }) => format!("snapshot serial {serial} is current"),
        Err(Failure(m, _)) => m.clone(),
    }
}

fn cmd_sync(config: &Config) -> Result<u8, Failure> {
    let result = sync_with(config);
    match &result {
        Ok(_) => {
            println!("roster: {}", report(&result));
            Ok(0)
        }
        Err(Failure(m, code)) => Err(Failure(m.clone(), *code)),
    }
}

fn cmd_agent(args: &Args) -> Result<u8, Failure> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    let now_please = Arc::new(AtomicBool::new(false));
    for sig in [SIGTERM, SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    signal_hook::flag::register(SIGHUP, Arc::clone(&now_please))?;

    // An unconfigured or broken configuration at start (the package's
    // roster.toml has no source yet) is waited out, re-read every minute and
    // on SIGHUP, rather than a failed unit restarting in a loop.
    let mut config: Option<Config> = None;
    let mut failures: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        // Re-read the configuration each round; a broken edit keeps the last good one.
        match (load_config(args), &config) {
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
            (Err(Failure(m, _)), Some(_)) => {
                eprintln!("roster agent: keeping the previous configuration: {m}")
            }
            (Err(Failure(m, _)), None) => eprintln!(
                "roster agent: waiting for a usable configuration \
                 (`systemctl reload roster` after editing it): {m}"
            ),
        }
        let delay = match &config {
            Some(config) => {
                let result = sync_with(config);
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
    Ok(0)
}

/// How often an agent without a usable configuration reads it again.
const UNCONFIGURED_RETRY: Duration = Duration::from_secs(60);

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

/// A random number for jitter, from the kernel.
fn random() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    u64::from_ne_bytes(b)
}

// ---- status ------------------------------------------------------------------

fn cmd_status(config: &Config, json: bool) -> Result<u8, Failure> {
    let state = History::load(&config.state_dir).map_err(|e| Failure(e, 2))?;
    let snapshot = config.state_dir.join(roster::paths::SNAPSHOT_FILE);
    let installed = installed_serial(&snapshot);
    let now = now();
    let health = Health::of(&snapshot, config.host.max_age_secs, now);
    let word = health.word();
    if json {
        let mut v = serde_json::to_value(&state)?;
        v["health"] = word.into();
        v["installed_serial"] = installed.into();
        v["max_age_secs"] = config.host.max_age_secs.into();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(health.exit_code());
    }
    let when = |t: Option<UnixTime>| match t {
        Some(t) => format!(
            "{} ({} ago)",
            format_rfc3339(t),
            format_duration(now.saturating_sub(t).max(0) as u64)
        ),
        None => "never".to_owned(),
    };
    match health {
        Health::Usable(freshness) => println!(
            "health:        {word}: {freshness} (max_age {})",
            format_duration(config.host.max_age_secs)
        ),
        Health::Unusable => println!("health:        {word}"),
    }
    println!("source:        {}", config.source.url);
    match installed {
        Some(serial) => println!(
            "serial:        {serial}, {} users, {} groups",
            state.users, state.groups
        ),
        None => println!("serial:        none installed"),
    }
    println!("last success:  {}", when(state.last_success));
    println!("last change:   {}", when(state.last_change));
    println!("last attempt:  {}", when(state.last_attempt));
    println!(
        "last error:    {}",
        state.last_error.as_deref().unwrap_or("none")
    );
    if let Some(e) = &state.sudoers_error {
        println!("sudo rules:    {e}");
    }
    if let Some(signer) = &state.signer {
        println!("signed by:     {signer}");
    }
    if let Some(t) = state.valid_until {
        println!("valid until:   {}", format_rfc3339(t));
    }
    println!("dropped:       {} entries", state.dropped.len());
    for line in &state.dropped {
        println!("  {line}");
    }
    Ok(health.exit_code())
}

// ---- the sshd gate and the audit trail ----------------------------------------

/// AuthorizedPrincipalsCommand: prints the principals that may log in as
/// `user` with this certificate (the account itself, or for a shared
/// account the granted person), or nothing. Runs as an unprivileged user and
/// writes nothing but one syslog line per refusal. Always exits 0: an empty
/// answer is the refusal.
fn cmd_principals(user: &str, cert_type: &str, key: &str) -> u8 {
    let now = now();
    let refuse = |reason: String, cert: Option<&ssh_key::Certificate>| {
        let mut e = Event::new(EventKind::PrincipalsDenied, now, &hostname(), user);
        if let Some(c) = cert {
            e.key_id = Some(c.key_id().to_owned());
            e.serial = Some(c.serial());
        }
        e.reason = Some(reason);
        let line = e.summary();
        eprintln!("roster: {line}");
        syslog_notice(&line);
        0
    };
    if !cert_type.contains("-cert-v01@openssh.com") {
        return refuse("not a certificate".into(), None);
    }
    let cert = match roster::host::cert::parse(cert_type, key) {
        Ok(c) => c,
        Err(e) => return refuse(e.to_string(), None),
    };
    if roster::host::local::is_local_user(Path::new(roster::paths::PASSWD), user) {
        let reason = format!("{user} is a local account: the snapshot does not decide for it");
        return refuse(reason, Some(&cert));
    }
    // One lookup per name, not the whole file: this runs for every
    // certificate offered to sshd.
    let names = std::iter::once(user).chain(
        cert.valid_principals()
            .iter()
            .take(roster::host::login::MAX_LOOKUPS)
            .map(String::as_str),
    );
    let loaded =
        Generation::<Sparse>::load(Path::new(roster::paths::SNAPSHOT)).and_then(|mut g| {
            g.read_users(names)?;
            Ok(g)
        });
    let generation = match loaded {
        Ok(g) => g,
        Err(e) => return refuse(e.to_string(), Some(&cert)),
    };
    let view = generation.view();
    // sshd itself enforces source-address before running this command, and
    // does not pass the client address; PAM checks it again.
    match authorize(&view, &cert, user, None, now) {
        Ok(access) => {
            println!("{}", access.person);
            0
        }
        Err(denial) => refuse(denial.to_string(), Some(&cert)),
    }
}

fn cmd_explain(args: &Args, user: &str) -> Result<u8, Failure> {
    let cert = match &args.cert {
        None => None,
        Some(path) => {
            let text = read_text(path)?;
            let mut words = text.split_whitespace();
            let (cert_type, blob) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            let cert = roster::host::cert::parse(cert_type, blob).map_err(|e| {
                Failure(
                    format!("{}: not an OpenSSH certificate: {e}", path.display()),
                    1,
                )
            })?;
            Some(cert)
        }
    };
    let client = match &args.from {
        None => None,
        Some(a) => Some(
            a.parse()
                .map_err(|_| Failure(format!("--from {a:?} is not an IP address"), 1))?,
        ),
    };
    if roster::host::local::is_local_user(Path::new(roster::paths::PASSWD), user) {
        println!(
            "{user} is a local account ({}): roster does not decide for it, and no \
             certificate logs in to it",
            roster::paths::PASSWD
        );
        return Ok(1);
    }
    let generation =
        Generation::<Vec<u8>>::load(Path::new(roster::paths::SNAPSHOT)).map_err(|e| {
            Failure(
                format!(
                    "{}: {e}: no snapshot user can log in",
                    roster::paths::SNAPSHOT
                ),
                1,
            )
        })?;
    let view = generation.view();
    let now = now();
    let x = roster::host::access::explain(&view, user, cert.as_ref(), client, now);
    let host = view.host_policy().map(|h| h.host_name).unwrap_or_default();
    println!("roster explain {user} on {host} at {}", format_rfc3339(now));
    let width = x.steps.iter().map(|s| s.step.len()).max().unwrap_or(0);
    for s in &x.steps {
        let mark = if s.ok { "✓" } else { "✗" };
        println!("  {mark} {:<width$}  {}", s.step, s.detail);
    }
    let sudo = if x.sudo { "yes" } else { "no" };
    match (x.allowed, cert.is_some()) {
        (true, true) => println!("{user} may log in with this certificate; sudo: {sudo}"),
        (true, false) => println!(
            "{user} may log in with a valid certificate (check one with --cert FILE); sudo: {sudo}"
        ),
        (false, _) => println!("{user} may not log in"),
    }
    Ok(u8::from(!x.allowed))
}

/// One line to syslog (authpriv.notice), if a syslog daemon listens.
fn syslog_notice(line: &str) {
    let formatter = syslog::Formatter3164 {
        facility: syslog::Facility::LOG_AUTHPRIV,
        hostname: None,
        process: "roster".into(),
        pid: std::process::id(),
    };
    if let Ok(mut logger) = syslog::unix(formatter) {
        let _ = logger.notice(line);
    }
}

fn cmd_events(args: &Args) -> Result<u8, Failure> {
    let now = now();
    let since = match args.since.as_deref() {
        None => None,
        Some(s) => Some(match roster::time::parse_duration(s) {
            Some(ago) => now - ago as UnixTime,
            None => roster::time::parse_rfc3339(s)?,
        }),
    };
    let path = Path::new(roster::paths::EVENTS);
    let events = roster::host::audit::read(path)
        .map_err(|e| Failure(format!("{}: {e}", path.display()), 1))?;
    let rows: Vec<Vec<String>> = events
        .iter()
        .filter(|e| {
            args.user
                .as_deref()
                .is_none_or(|u| e.account == u || e.person.as_deref() == Some(u))
        })
        .filter(|e| {
            since.is_none_or(|t| roster::time::parse_rfc3339(&e.time).is_ok_and(|et| et >= t))
        })
        .map(|e| {
            let detail = match (&e.reason, e.duration_secs) {
                (Some(r), _) => r.clone(),
                (None, Some(d)) => format!("after {}", format_duration(d)),
                (None, None) => String::new(),
            };
            vec![
                e.time.clone(),
                e.event.as_str().to_owned(),
                e.account.clone(),
                e.person.clone().unwrap_or_default(),
                e.source.clone().unwrap_or_default(),
                e.key_id.clone().unwrap_or_default(),
                e.serial.map(|s| s.to_string()).unwrap_or_default(),
                e.session.clone().unwrap_or_default(),
                detail,
            ]
        })
        .collect();
    let header = [
        "TIME", "EVENT", "ACCOUNT", "PERSON", "FROM", "KEY ID", "SERIAL", "SESSION", "DETAIL",
    ];
    print_table(&header, &rows);
    Ok(0)
}

/// Left-aligned columns, two spaces apart; the last column is not padded.
/// Control characters never reach the terminal.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let clean = |s: &str| {
        s.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect::<String>()
    };
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let last = cells.len() - 1;
        let text: Vec<String> = cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                if i == last {
                    c
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.iter().map(|c| clean(c)).collect());
    }
}

// ---- the user CA ---------------------------------------------------------------

fn cmd_ca_init(dir: &Path) -> Result<u8, Failure> {
    let public = roster::tools::ca::init(dir)?;
    println!("created the user CA in {}", dir.display());
    println!("its public key, for the snapshot's user_cas:");
    println!("{}", public.to_openssh()?);
    Ok(0)
}

fn cmd_ca_sign(args: &Args) -> Result<u8, Failure> {
    let dir = args.ca.as_deref().ok_or("ca sign needs --ca DIR")?;
    let user = args.user.clone().ok_or("ca sign needs --user NAME")?;
    let pubkey = args
        .pubkey
        .as_deref()
        .ok_or("ca sign needs --pubkey FILE")?;
    let ttl = args.ttl.as_deref().unwrap_or("10m");
    let ttl_secs = roster::time::parse_duration(ttl)
        .ok_or_else(|| Failure(format!("--ttl {ttl:?} is not a duration like 10m or 8h"), 1))?;
    let key = ssh_key::PublicKey::from_openssh(read_text(pubkey)?.trim()).map_err(|e| {
        Failure(
            format!("{}: not an OpenSSH public key: {e}", pubkey.display()),
            1,
        )
    })?;
    let request = roster::tools::ca::Request {
        user,
        hosts: args.hosts.clone(),
        ttl_secs,
        source_address: args.source_address.clone(),
        force_command: args.force_command.clone(),
    };
    let cert = roster::tools::ca::sign(&roster::tools::ca::load(dir)?, &key, &request, now())?;
    let output = args.output.clone().unwrap_or_else(|| {
        let name = pubkey.to_string_lossy();
        PathBuf::from(format!(
            "{}-cert.pub",
            name.strip_suffix(".pub").unwrap_or(&name)
        ))
    });
    std::fs::write(&output, format!("{}\n", cert.to_openssh()?))
        .map_err(|e| Failure(format!("{}: {e}", output.display()), 1))?;
    println!(
        "wrote {}: {} (serial {}), valid until {}",
        output.display(),
        cert.key_id(),
        cert.serial(),
        format_rfc3339(cert.valid_before() as UnixTime)
    );
    Ok(0)
}

// ---- snapshot tools ----------------------------------------------------------

fn cmd_compile(args: &Args, input: &Path) -> Result<u8, Failure> {
    let output = args
        .output
        .as_deref()
        .ok_or("snapshot compile needs --output FILE")?;
    let local = local_tables(
        args.passwd.as_deref().unwrap_or(Path::new("/etc/passwd")),
        args.group.as_deref().unwrap_or(Path::new("/etc/group")),
        args.shells.as_deref().unwrap_or(Path::new("/etc/shells")),
    )?;
    let json = read(input)?;
    let now = now();
    let snapshot = validate(&json, &Policy::default(), &local, now)
        .map_err(|e| Failure(format!("{}: refused: {e}", input.display()), 1))?;
    let bytes = compile(&snapshot, &HostPolicy::with_defaults(&hostname()), now)?;
    roster::install::write_atomic(output, &bytes, 0o644)
        .map_err(|e| Failure(format!("{}: {e}", output.display()), 1))?;
    println!(
        "compiled serial {} into {} ({} bytes): {} users and {} groups kept, {} entries dropped",
        snapshot.serial,
        output.display(),
        bytes.len(),
        snapshot.users.len(),
        snapshot.groups.len(),
        snapshot.dropped(),
    );
    for finding in &snapshot.findings {
        println!("  {finding}");
    }
    Ok(0)
}

fn cmd_show(file: &Path) -> Result<u8, Failure> {
    let bytes = read(file)?;
    let view = View::open(&bytes).map_err(|e| Failure(format!("{}: {e}", file.display()), 1))?;
    let h = view.header();
    let integrity = match view.verify_body() {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.to_string(),
    };
    println!("file:         {}", file.display());
    println!("serial:       {}", h.serial);
    println!("issued at:    {}", format_rfc3339(h.issued_at));
    println!("valid until:  {}", format_rfc3339(h.valid_until));
    println!("compiled at:  {}", format_rfc3339(h.compiled_at));
    println!("users:        {}", h.users);
    println!("groups:       {}", h.groups);
    println!("size:         {} bytes", h.file_len);
    println!("checksums:    {integrity}");
    Ok(if integrity == "ok" { 0 } else { 1 })
}

fn cmd_build(args: &Args, people_path: &Path) -> Result<u8, Failure> {
    let out = args
        .output
        .as_deref()
        .ok_or("snapshot build needs --output DIR")?;
    let base = people_path.parent().unwrap_or(Path::new("."));
    let people = roster::tools::people::parse(&read_text(people_path)?)
        .map_err(|e| Failure(format!("{}: {e}", people_path.display()), 1))?;
    let ledger_path = people_path.with_extension("ledger");
    let mut ledger: roster::tools::people::Ledger = match std::fs::read(&ledger_path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Failure(format!("{}: {e}", ledger_path.display()), 1))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
        Err(e) => return Err(Failure(format!("{}: {e}", ledger_path.display()), 1)),
    };
    let mut user_cas = Vec::new();
    for file in &people.snapshot.user_cas {
        let text = read_text(&base.join(file))?;
        user_cas.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
    // Reproducible builds: the same inputs, ledger and time give the same bytes.
    let now = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(t) => t
            .parse()
            .map_err(|_| Failure(format!("SOURCE_DATE_EPOCH={t:?} is not a number"), 1))?,
        Err(_) => now(),
    };
    let snapshot = roster::tools::people::build(&people, &user_cas, &mut ledger, now)
        .map_err(|e| Failure(format!("{}: {e}", people_path.display()), 1))?;
    let mut json = serde_json::to_vec_pretty(&snapshot)?;
    json.push(b'\n');
    let key_path = base.join(&people.snapshot.signing_key);
    let key = ssh_key::PrivateKey::from_openssh(read(&key_path)?)
        .map_err(|e| Failure(format!("{}: {e}", key_path.display()), 1))?;
    let sig = roster::snapshot::signature::sign(&key, &json)?;
    std::fs::create_dir_all(out).map_err(|e| Failure(format!("{}: {e}", out.display()), 1))?;
    let write = |path: PathBuf, bytes: &[u8]| {
        roster::install::write_atomic(&path, bytes, 0o644)
            .map_err(|e| Failure(format!("{}: {e}", path.display()), 1))
    };
    write(out.join("snapshot.json"), &json)?;
    write(out.join("snapshot.json.sig"), sig.as_bytes())?;
    let mut ledger_json = serde_json::to_vec_pretty(&ledger)?;
    ledger_json.push(b'\n');
    write(ledger_path.clone(), &ledger_json)?;
    println!(
        "built serial {} into {}: {} accounts, {} groups; ids kept in {}",
        ledger.serial,
        out.join("snapshot.json").display(),
        snapshot.users.len(),
        snapshot.groups.len(),
        ledger_path.display()
    );
    Ok(0)
}

fn cmd_sign(args: &Args, input: &Path) -> Result<u8, Failure> {
    let key_path = args
        .key
        .as_deref()
        .ok_or("snapshot sign needs --key PRIVATE_KEY")?;
    let key = ssh_key::PrivateKey::from_openssh(read(key_path)?)
        .map_err(|e| Failure(format!("{}: {e}", key_path.display()), 1))?;
    if key.is_encrypted() {
        return Err(Failure(
            format!(
                "{}: encrypted keys are not supported; use ssh-keygen -Y sign",
                key_path.display()
            ),
            1,
        ));
    }
    let sig = roster::snapshot::signature::sign(&key, &read(input)?)?;
    let mut out = input.as_os_str().to_owned();
    out.push(".sig");
    roster::install::write_atomic(Path::new(&out), sig.as_bytes(), 0o644)?;
    println!("wrote {}", Path::new(&out).display());
    Ok(0)
}
