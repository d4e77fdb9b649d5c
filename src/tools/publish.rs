//! The snapshot's files: `roster snapshot build` (from a people file),
//! `sign`, `compile` (validate and compile without the agent) and `show`.

use std::fmt;
use std::path::{Path, PathBuf};

use super::Error;
use super::people::{self, Ledger};
use crate::host::compiled::{Header, HostPolicy, View, compile};
use crate::install::{read, read_text, replace};
use crate::local::LocalTables;
use crate::paths;
use crate::snapshot::{Finding, Policy, signature, validate};
use crate::time::UnixTime;

/// What `roster snapshot build` was asked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BuildArgs {
    pub people: PathBuf,
    pub output: PathBuf,
}

/// What a build wrote.
pub struct Built {
    pub serial: u64,
    pub snapshot: PathBuf,
    pub accounts: usize,
    pub groups: usize,
    pub ledger: PathBuf,
}

impl fmt::Display for Built {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "built serial {} into {}: {} accounts, {} groups; ids kept in {}",
            self.serial,
            self.snapshot.display(),
            self.accounts,
            self.groups,
            self.ledger.display()
        )
    }
}

/// OUTPUT/snapshot.json and its signature from the people file, issued at
/// `now`; ids are kept in PEOPLE.ledger beside it (never reused) and the
/// serial goes up by one.
pub fn build(args: &BuildArgs, now: UnixTime) -> Result<Built, Error> {
    let (people_path, out) = (args.people.as_path(), args.output.as_path());
    let base = people_path.parent().unwrap_or(Path::new("."));
    let in_people = |e| Error::People {
        path: people_path.to_owned(),
        error: e,
    };
    let people = people::parse(&read_text(people_path)?).map_err(in_people)?;
    let ledger_path = people_path.with_extension("ledger");
    let mut ledger: Ledger = match std::fs::read(&ledger_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Ledger {
            path: ledger_path.clone(),
            error: e,
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ledger::default(),
        Err(e) => return Err(crate::install::FileError::io(&ledger_path, e).into()),
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
    let snapshot = people::build(&people, &user_cas, &mut ledger, now).map_err(in_people)?;
    let key = private_key(&base.join(&people.snapshot.signing_key))?;
    let json = pretty(&snapshot);
    let sig = signature::sign(&key, &json).map_err(Error::Sign)?;
    std::fs::create_dir_all(out).map_err(|e| crate::install::FileError::io(out, e))?;
    let snapshot_path = out.join("snapshot.json");
    replace(&snapshot_path, &json, 0o644)?;
    replace(&out.join("snapshot.json.sig"), sig.as_bytes(), 0o644)?;
    replace(&ledger_path, &pretty(&ledger), 0o644)?;
    Ok(Built {
        serial: ledger.serial,
        snapshot: snapshot_path,
        accounts: snapshot.users.len(),
        groups: snapshot.groups.len(),
        ledger: ledger_path,
    })
}

/// Pretty JSON with a final newline.
fn pretty(value: &impl serde::Serialize) -> Vec<u8> {
    let mut json = serde_json::to_vec_pretty(value).unwrap_or_default();
    json.push(b'\n');
    json
}

pub fn private_key(path: &Path) -> Result<ssh_key::PrivateKey, Error> {
    ssh_key::PrivateKey::from_openssh(read(path)?).map_err(|error| Error::Key {
        path: path.to_owned(),
        error,
    })
}

/// Writes INPUT.sig (SSHSIG, namespace roster-snapshot) with the key at
/// `key_path`; returns the signature's path.
pub fn sign(key_path: &Path, input: &Path) -> Result<PathBuf, Error> {
    let key = private_key(key_path)?;
    if key.is_encrypted() {
        return Err(Error::EncryptedKey(key_path.to_owned()));
    }
    let sig = signature::sign(&key, &read(input)?).map_err(Error::Sign)?;
    let mut out = input.as_os_str().to_owned();
    out.push(".sig");
    let out = PathBuf::from(out);
    replace(&out, sig.as_bytes(), 0o644)?;
    Ok(out)
}

/// What `roster snapshot compile` was asked: the local tables default to
/// the host's.
#[derive(Debug, PartialEq, Eq)]
pub struct CompileArgs {
    pub input: PathBuf,
    pub output: PathBuf,
    pub passwd: PathBuf,
    pub group: PathBuf,
    pub shells: PathBuf,
}

impl CompileArgs {
    pub fn new(input: PathBuf, output: PathBuf) -> CompileArgs {
        CompileArgs {
            input,
            output,
            passwd: paths::PASSWD.into(),
            group: paths::GROUP.into(),
            shells: paths::SHELLS.into(),
        }
    }
}

/// What a compile kept, dropped and wrote.
pub struct Compiled {
    pub serial: u64,
    pub output: PathBuf,
    pub bytes: usize,
    pub users: usize,
    pub groups: usize,
    pub dropped: usize,
    pub findings: Vec<Finding>,
}

impl fmt::Display for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "compiled serial {} into {} ({} bytes): {} users and {} groups kept, {} entries dropped",
            self.serial,
            self.output.display(),
            self.bytes,
            self.users,
            self.groups,
            self.dropped,
        )?;
        for finding in &self.findings {
            writeln!(f, "  {finding}")?;
        }
        Ok(())
    }
}

/// Validates the snapshot at `args.input` against the default policy and
/// the local tables, and compiles it for host `host_name`.
pub fn compile_file(args: &CompileArgs, host_name: &str, now: UnixTime) -> Result<Compiled, Error> {
    let local = LocalTables::read(&args.passwd, &args.group, &args.shells)?;
    let json = read(&args.input)?;
    let snapshot =
        validate(&json, &Policy::default(), &local, now).map_err(|error| Error::Refused {
            path: args.input.clone(),
            error,
        })?;
    let bytes =
        compile(&snapshot, &HostPolicy::with_defaults(host_name), now).map_err(Error::Compile)?;
    replace(&args.output, &bytes, 0o644)?;
    Ok(Compiled {
        serial: snapshot.serial,
        output: args.output.clone(),
        bytes: bytes.len(),
        users: snapshot.users.len(),
        groups: snapshot.groups.len(),
        dropped: snapshot.dropped(),
        findings: snapshot.findings,
    })
}

/// A compiled snapshot's header facts and whether its checksums hold.
pub struct Shown {
    pub file: PathBuf,
    pub header: Header,
    /// `None`: every checksum holds.
    pub damage: Option<String>,
}

impl Shown {
    pub fn exit_code(&self) -> u8 {
        u8::from(self.damage.is_some())
    }
}

pub fn show(file: &Path) -> Result<Shown, Error> {
    let bytes = read(file)?;
    let view = View::open(&bytes).map_err(|error| Error::NotCompiled {
        path: file.to_owned(),
        error,
    })?;
    Ok(Shown {
        file: file.to_owned(),
        header: *view.header(),
        damage: view.verify_body().err().map(|e| e.to_string()),
    })
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::time::format_rfc3339;
        let h = &self.header;
        writeln!(f, "file:         {}", self.file.display())?;
        writeln!(f, "serial:       {}", h.serial)?;
        writeln!(f, "issued at:    {}", format_rfc3339(h.issued_at))?;
        writeln!(f, "valid until:  {}", format_rfc3339(h.valid_until))?;
        writeln!(f, "compiled at:  {}", format_rfc3339(h.compiled_at))?;
        writeln!(f, "users:        {}", h.users)?;
        writeln!(f, "groups:       {}", h.groups)?;
        writeln!(f, "size:         {} bytes", h.file_len)?;
        writeln!(
            f,
            "checksums:    {}",
            self.damage.as_deref().unwrap_or("ok")
        )
    }
}
