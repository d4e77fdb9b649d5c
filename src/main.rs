//! `roster` — the command-line tool and (later) the sync agent.

use std::path::PathBuf;
use std::process::ExitCode;

use roster::compiled::{View, compile};
use roster::local::LocalTables;
use roster::snapshot::{Policy, validate};
use roster::time::{UnixTime, format_rfc3339};

const USAGE: &str = "\
usage:
  roster snapshot compile INPUT.json --output FILE
                          [--passwd FILE] [--group FILE] [--shells FILE]
      Validate a source snapshot against the local accounts, compile it and
      write FILE atomically (0644). Prints what was kept and every entry that
      was dropped or adjusted, with the reason.
  roster snapshot show FILE
      Print a compiled snapshot's header facts and counts, and check its
      checksums.";

/// A failure to report on stderr; exit status 1.
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure(e.to_string())
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("roster: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Failure> {
    use lexopt::prelude::*;
    let mut args = lexopt::Parser::from_env();
    let mut words = Vec::new();
    let mut output = None;
    let mut passwd = PathBuf::from("/etc/passwd");
    let mut group = PathBuf::from("/etc/group");
    let mut shells = PathBuf::from("/etc/shells");
    while let Some(arg) = args.next()? {
        match arg {
            Long("output") | Short('o') => output = Some(PathBuf::from(args.value()?)),
            Long("passwd") => passwd = args.value()?.into(),
            Long("group") => group = args.value()?.into(),
            Long("shells") => shells = args.value()?.into(),
            Long("help") | Short('h') => {
                println!("{USAGE}");
                return Ok(());
            }
            Value(v) => words.push(v.into_string().map_err(|_| "arguments must be UTF-8")?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["snapshot", "compile", input] => {
            let output = output.ok_or("snapshot compile needs --output FILE")?;
            let local = LocalTables::parse(&read(&passwd)?, &read(&group)?, &read(&shells)?);
            snapshot_compile(input.as_ref(), &output, &local)
        }
        ["snapshot", "show", file] => snapshot_show(file.as_ref()),
        _ => Err(Failure(format!("unknown command\n{USAGE}"))),
    }
}

fn read(path: &std::path::Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| Failure(format!("{}: {e}", path.display())))
}

fn now() -> UnixTime {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as UnixTime)
}

fn snapshot_compile(
    input: &std::path::Path,
    output: &std::path::Path,
    local: &LocalTables,
) -> Result<(), Failure> {
    let json = std::fs::read(input).map_err(|e| Failure(format!("{}: {e}", input.display())))?;
    let now = now();
    let snapshot = validate(&json, &Policy::default(), local, now)
        .map_err(|e| Failure(format!("{}: refused: {e}", input.display())))?;
    let bytes = compile(&snapshot, now)?;
    roster::install::write_atomic(output, &bytes, 0o644)
        .map_err(|e| Failure(format!("{}: {e}", output.display())))?;
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
    Ok(())
}

fn snapshot_show(file: &std::path::Path) -> Result<(), Failure> {
    let bytes = std::fs::read(file).map_err(|e| Failure(format!("{}: {e}", file.display())))?;
    let view = View::open(&bytes).map_err(|e| Failure(format!("{}: {e}", file.display())))?;
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
    if integrity != "ok" {
        return Err(Failure(format!("{}: {integrity}", file.display())));
    }
    Ok(())
}
