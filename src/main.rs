//! `roster`: parses the command line, calls the library, prints the answer.
//! Every decision is in the library (src/lib.rs); the only things read here
//! are the arguments, the clock, the host name and `$SOURCE_DATE_EPOCH`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use roster::agent::config::{Config, ConfigError};
use roster::agent::{gate, inspect, run, status::Status};
use roster::cli::{self, Command, Error, USAGE};
use roster::paths;
use roster::time::UnixTime;
use roster::tools::{ca, demo, publish};

fn main() -> ExitCode {
    match cli::parse(std::env::args_os().skip(1)).and_then(execute) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("roster: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs `command`; the exit status when it did what was asked.
fn execute(command: Command) -> Result<u8, Error> {
    match command {
        Command::Help => println!("{USAGE}"),
        Command::Sync { config } => {
            let synced = run::sync(&load_config(config.as_deref())?, now())?;
            println!("roster: {}", run::report(&Ok(synced)));
        }
        Command::Agent { config } => {
            run::agent(|| Ok(load_config(config.as_deref())?), now)?;
        }
        Command::Status { config, json } => {
            let config = load_config(config.as_deref())?;
            let status = Status::of(&config, now())?;
            match json {
                true => println!("{}", status.to_json()),
                false => print!("{status}"),
            }
            return Ok(status.exit_code());
        }
        // Always exits 0: an empty answer is the refusal.
        Command::Principals(offered) => match gate::principals(&offered, &hostname(), now()) {
            Ok(person) => println!("{person}"),
            Err(refusal) => {
                let line = refusal.summary();
                eprintln!("roster: {line}");
                roster::agent::syslog_notice(&line);
            }
        },
        Command::Explain(a) => {
            let explained = inspect::explain_login(&a, now())?;
            print!("{explained}");
            return Ok(explained.exit_code());
        }
        Command::Events(a) => {
            print!("{}", inspect::events(Path::new(paths::EVENTS), &a, now())?);
        }
        Command::CaInit { dir } => {
            let public = ca::init(&dir)?;
            println!("created the user CA in {}", dir.display());
            println!("its public key, for the snapshot's user_cas:");
            println!(
                "{}",
                public.to_openssh().map_err(roster::tools::Error::Encode)?
            );
        }
        Command::CaSign(a) => print!("{}", ca::sign_file(&a, now())?),
        Command::SnapshotBuild(a) => {
            // Reproducible builds: the same inputs, ledger and time give the same bytes.
            let issued = match std::env::var("SOURCE_DATE_EPOCH") {
                Ok(t) => t.parse().map_err(|_| Error::SourceDateEpoch(t))?,
                Err(_) => now(),
            };
            print!("{}", publish::build(&a, issued)?);
        }
        Command::SnapshotCompile(a) => print!("{}", publish::compile_file(&a, &hostname(), now())?),
        Command::SnapshotShow { file } => {
            let shown = publish::show(&file)?;
            print!("{shown}");
            return Ok(shown.exit_code());
        }
        Command::SnapshotSign { key, input } => {
            println!("wrote {}", publish::sign(&key, &input)?.display());
        }
        Command::Scim(args) => return Err(Error::Scim(exec_scim(args))),
        Command::Demo { work_dir } => {
            return match work_dir {
                None => demo::run(),
                Some(dir) => demo::inside(&dir),
            }
            .map_err(Error::Demo);
        }
    }
    Ok(0)
}

fn load_config(path: Option<&Path>) -> Result<Config, ConfigError> {
    let path = path.map_or_else(|| PathBuf::from(paths::CONFIG), Path::to_owned);
    Config::load(&path, &hostname())
}

/// Replaces this process with roster-scim, found beside this binary (both
/// are in /usr/sbin when packaged); returns only if that failed.
fn exec_scim(args: Vec<std::ffi::OsString>) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    let program = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("roster-scim")))
        .unwrap_or_else(|| PathBuf::from("roster-scim"));
    std::process::Command::new(program).args(args).exec()
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
