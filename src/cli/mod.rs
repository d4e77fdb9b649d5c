//! The `roster` command line: each subcommand's arguments as its own type,
//! parsed without a process so the parser is unit-tested, and the one
//! error type the binary turns into a message and an exit status.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use lexopt::prelude::*;

use crate::agent::gate::Offered;
use crate::agent::inspect::{EventsArgs, ExplainArgs};
use crate::tools::ca::SignArgs;
use crate::tools::publish::{BuildArgs, CompileArgs};

pub const USAGE: &str = "\
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
  scim ARGS            the SCIM service: runs roster-scim ARGS (the roster-scim
                       package; `roster scim help`)
  demo                 the whole story on this machine, in private namespaces
                       (root; changes nothing here): a CA, a people file, a
                       snapshot served on loopback, sshd, logins, sudo,
                       offboarding, the audit trail

The configuration is /etc/roster/roster.toml unless --config says otherwise.";

/// One invocation of `roster`.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Sync {
        config: Option<PathBuf>,
    },
    Agent {
        config: Option<PathBuf>,
    },
    Status {
        config: Option<PathBuf>,
        json: bool,
    },
    Principals(Offered),
    Explain(ExplainArgs),
    Events(EventsArgs),
    CaInit {
        dir: PathBuf,
    },
    CaSign(SignArgs),
    SnapshotBuild(BuildArgs),
    SnapshotCompile(CompileArgs),
    SnapshotShow {
        file: PathBuf,
    },
    SnapshotSign {
        key: PathBuf,
        input: PathBuf,
    },
    /// `roster scim ARGS`: `roster-scim ARGS`, which its own package installs.
    Scim(Vec<OsString>),
    /// `work_dir` is set when the demo runs as the init of its namespaces.
    Demo {
        work_dir: Option<PathBuf>,
    },
}

/// Why `roster` failed, wrapping each area's error. [`Error::exit_code`] is
/// the one place a failure becomes an exit status.
#[derive(Debug)]
pub enum Error {
    /// Arguments the command does not take (exit 2, with the usage).
    Usage(String),
    Agent(crate::agent::Error),
    Tools(crate::tools::Error),
    Demo(crate::tools::demo::StepFailed),
    /// `$SOURCE_DATE_EPOCH` is set but not a number.
    SourceDateEpoch(String),
    /// An argument is not UTF-8 (sshd passes what the client sent as the
    /// user name): not a usage error, and no usage text.
    NotUtf8,
    /// `roster scim`: roster-scim could not be run (not installed?).
    Scim(std::io::Error),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Agent(e) => e.exit_code(),
            Error::Tools(_) | Error::Demo(_) | Error::SourceDateEpoch(_) | Error::NotUtf8 => 1,
            // As a shell says of a command it cannot run.
            Error::Scim(_) => 127,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(why) => write!(f, "{why}\n{USAGE}"),
            Error::Agent(e) => e.fmt(f),
            Error::Tools(e) => e.fmt(f),
            Error::Demo(crate::tools::demo::StepFailed(why)) => f.write_str(why),
            Error::SourceDateEpoch(t) => write!(f, "SOURCE_DATE_EPOCH={t:?} is not a number"),
            Error::NotUtf8 => f.write_str("arguments must be UTF-8"),
            Error::Scim(e) => write!(
                f,
                "cannot run roster-scim ({e}): install the roster-scim package"
            ),
        }
    }
}

impl From<crate::agent::Error> for Error {
    fn from(e: crate::agent::Error) -> Error {
        Error::Agent(e)
    }
}

impl From<crate::agent::config::ConfigError> for Error {
    fn from(e: crate::agent::config::ConfigError) -> Error {
        Error::Agent(e.into())
    }
}

impl From<crate::tools::Error> for Error {
    fn from(e: crate::tools::Error) -> Error {
        Error::Tools(e)
    }
}

impl From<crate::tools::ca::CaError> for Error {
    fn from(e: crate::tools::ca::CaError) -> Error {
        Error::Tools(e.into())
    }
}

impl From<lexopt::Error> for Error {
    fn from(e: lexopt::Error) -> Error {
        Error::Usage(e.to_string())
    }
}

/// The command that `args` (without the program name) asks for.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, Error> {
    let mut p = lexopt::Parser::from_args(args);
    let mut config = None;
    let first = loop {
        match p.next()? {
            Some(Long("config") | Short('c')) => config = Some(p.value()?.into()),
            Some(Long("help") | Short('h')) => return Ok(Command::Help),
            None => return Err(Error::Usage("no command".into())),
            Some(Value(word)) => break string(word)?,
            Some(arg) => return Err(arg.unexpected().into()),
        }
    };
    let second = |p: &mut lexopt::Parser| match p.next()? {
        Some(Value(word)) => string(word),
        _ => Ok(String::new()),
    };
    let command = match first.as_str() {
        "sync" => Command::Sync {
            config: config_only(&mut p, config)?,
        },
        "agent" => Command::Agent {
            config: config_only(&mut p, config)?,
        },
        "status" => status(&mut p, config)?,
        // sshd passes the certificate's key ID (%i), which whoever asked for
        // the certificate chose: everything after the command name is data,
        // never an option.
        "principals" => principals(&mut p)?,
        "explain" => explain(&mut p)?,
        "events" => events(&mut p)?,
        "demo" => demo(&mut p)?,
        // Everything after `scim` is roster-scim's to read.
        "scim" => Command::Scim(p.raw_args()?.collect()),
        "ca" => match second(&mut p)?.as_str() {
            "init" => Command::CaInit {
                dir: one_path(&mut p, "ca init DIR")?,
            },
            "sign" => ca_sign(&mut p)?,
            _ => return Err(unknown()),
        },
        "snapshot" => match second(&mut p)?.as_str() {
            "build" => snapshot_build(&mut p)?,
            "compile" => snapshot_compile(&mut p)?,
            "show" => Command::SnapshotShow {
                file: one_path(&mut p, "snapshot show FILE")?,
            },
            "sign" => snapshot_sign(&mut p)?,
            _ => return Err(unknown()),
        },
        _ => return Err(unknown()),
    };
    Ok(command)
}

fn unknown() -> Error {
    Error::Usage("unknown command".into())
}

fn string(word: OsString) -> Result<String, Error> {
    word.into_string().map_err(|_| Error::NotUtf8)
}

fn missing(what: &str) -> Error {
    Error::Usage(format!("{what} is missing"))
}

/// The command takes no arguments, and `--config` here as well as before it.
fn config_only(
    p: &mut lexopt::Parser,
    mut config: Option<PathBuf>,
) -> Result<Option<PathBuf>, Error> {
    while let Some(arg) = p.next()? {
        match arg {
            Long("config") | Short('c') => config = Some(p.value()?.into()),
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok(config)
}

fn status(p: &mut lexopt::Parser, mut config: Option<PathBuf>) -> Result<Command, Error> {
    let mut json = false;
    while let Some(arg) = p.next()? {
        match arg {
            Long("config") | Short('c') => config = Some(p.value()?.into()),
            Long("json") => json = true,
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok(Command::Status { config, json })
}

fn principals(p: &mut lexopt::Parser) -> Result<Command, Error> {
    let mut words = p.raw_args()?.map(string);
    let mut next = |what| words.next().unwrap_or_else(|| Err(missing(what)));
    Ok(Command::Principals(Offered {
        user: next("USER (%u)")?,
        cert_type: next("TYPE (%t)")?,
        key: next("KEY (%k)")?,
    }))
}

fn explain(p: &mut lexopt::Parser) -> Result<Command, Error> {
    let mut a = ExplainArgs::default();
    let mut user = None;
    while let Some(arg) = p.next()? {
        match arg {
            Long("cert") => a.cert = Some(p.value()?.into()),
            Long("from") => a.from = Some(string(p.value()?)?),
            Value(v) if user.is_none() => user = Some(string(v)?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    a.user = user.ok_or_else(|| missing("explain USER"))?;
    Ok(Command::Explain(a))
}

fn events(p: &mut lexopt::Parser) -> Result<Command, Error> {
    let mut a = EventsArgs::default();
    while let Some(arg) = p.next()? {
        match arg {
            Long("user") => a.user = Some(string(p.value()?)?),
            Long("since") => a.since = Some(string(p.value()?)?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok(Command::Events(a))
}

fn demo(p: &mut lexopt::Parser) -> Result<Command, Error> {
    let mut work_dir = None;
    while let Some(arg) = p.next()? {
        match arg {
            Long("work-dir") => work_dir = Some(p.value()?.into()),
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok(Command::Demo { work_dir })
}

/// A command whose only argument is one path.
fn one_path(p: &mut lexopt::Parser, what: &str) -> Result<PathBuf, Error> {
    let mut path = None;
    while let Some(arg) = p.next()? {
        match arg {
            Value(v) if path.is_none() => path = Some(v.into()),
            _ => return Err(arg.unexpected().into()),
        }
    }
    path.ok_or_else(|| missing(what))
}

fn ca_sign(p: &mut lexopt::Parser) -> Result<Command, Error> {
    let mut a = SignArgs {
        ttl: "10m".into(),
        ..SignArgs::default()
    };
    let (mut ca, mut user, mut pubkey) = (None, None, None);
    while let Some(arg) = p.next()? {
        match arg {
            Long("ca") => ca = Some(p.value()?.into()),
            Long("user") => user = Some(string(p.value()?)?),
            Long("pubkey") => pubkey = Some(p.value()?.into()),
            Long("host") => a.hosts.push(string(p.value()?)?),
            Long("ttl") => a.ttl = string(p.value()?)?,
            Long("source-address") => a.source_address = Some(string(p.value()?)?),
            Long("force-command") => a.force_command = Some(string(p.value()?)?),
            Long("output") | Short('o') => a.output = Some(p.value()?.into()),
            _ => return Err(arg.unexpected().into()),
        }
    }
    a.ca = ca.ok_or_else(|| missing("ca sign --ca DIR"))?;
    a.user = user.ok_or_else(|| missing("ca sign --user NAME"))?;
    a.pubkey = pubkey.ok_or_else(|| missing("ca sign --pubkey FILE"))?;
    Ok(Command::CaSign(a))
}

fn snapshot_build(p: &mut lexopt::Parser) -> Result<Command, Error> {
    let (mut people, mut output) = (None, None);
    while let Some(arg) = p.next()? {
        match arg {
            Long("output") | Short('o') => output = Some(p.value()?.into()),
            Value(v) if people.is_none() => people = Some(v.into()),
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok(Command::SnapshotBuild(BuildArgs {
        people: people.ok_or_else(|| missing("snapshot build PEOPLE.toml"))?,
        output: output.ok_or_else(|| missing("snapshot build --output DIR"))?,
    }))
}

fn snapshot_compile(p: &mut lexopt::Parser) -> Result<Command, Error> {
    let (mut input, mut output) = (None, None);
    let (mut passwd, mut group, mut shells) = (None, None, None);
    while let Some(arg) = p.next()? {
        match arg {
            Long("output") | Short('o') => output = Some(p.value()?.into()),
            Long("passwd") => passwd = Some(p.value()?.into()),
            Long("group") => group = Some(p.value()?.into()),
            Long("shells") => shells = Some(p.value()?.into()),
            Value(v) if input.is_none() => input = Some(v.into()),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let mut a = CompileArgs::new(
        input.ok_or_else(|| missing("snapshot compile INPUT.json"))?,
        output.ok_or_else(|| missing("snapshot compile --output FILE"))?,
    );
    a.passwd = passwd.unwrap_or(a.passwd);
    a.group = group.unwrap_or(a.group);
    a.shells = shells.unwrap_or(a.shells);
    Ok(Command::SnapshotCompile(a))
}

fn snapshot_sign(p: &mut lexopt::Parser) -> Result<Command, Error> {
    let (mut key, mut input) = (None, None);
    while let Some(arg) = p.next()? {
        match arg {
            Long("key") => key = Some(p.value()?.into()),
            Value(v) if input.is_none() => input = Some(v.into()),
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok(Command::SnapshotSign {
        key: key.ok_or_else(|| missing("snapshot sign --key PRIVATE_KEY"))?,
        input: input.ok_or_else(|| missing("snapshot sign INPUT.json"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Result<Command, Error> {
        parse(
            line.split(' ')
                .filter(|w| !w.is_empty())
                .map(OsString::from),
        )
    }

    fn usage(line: &str) -> String {
        match parse_line(line) {
            Err(Error::Usage(why)) => why,
            other => panic!("{line:?} parsed: {other:?}"),
        }
    }

    #[test]
    fn the_config_comes_before_or_after_the_agent_commands() {
        let config = Some(PathBuf::from("/x.toml"));
        assert_eq!(
            parse_line("--config /x.toml sync").unwrap(),
            Command::Sync {
                config: config.clone()
            }
        );
        assert_eq!(
            parse_line("agent -c /x.toml").unwrap(),
            Command::Agent {
                config: config.clone()
            }
        );
        assert_eq!(
            parse_line("status --json --config /x.toml").unwrap(),
            Command::Status { config, json: true }
        );
        assert_eq!(usage(""), "no command");
        assert_eq!(parse_line("--help").unwrap(), Command::Help);
    }

    #[test]
    fn everything_after_scim_is_roster_scims() {
        let words = |w: &[&str]| w.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            parse_line("scim serve --config /etc/roster/scim.toml").unwrap(),
            Command::Scim(words(&["serve", "--config", "/etc/roster/scim.toml"]))
        );
        assert_eq!(
            parse_line("scim --help").unwrap(),
            Command::Scim(words(&["--help"]))
        );
        assert_eq!(parse_line("scim").unwrap(), Command::Scim(Vec::new()));
    }

    #[test]
    fn each_command_takes_only_its_own_options() {
        assert_eq!(usage("sync --json"), "invalid option '--json'");
        assert_eq!(usage("events --cert x"), "invalid option '--cert'");
        assert_eq!(usage("explain alice bob"), "unexpected argument \"bob\"");
        assert_eq!(usage("snapshot frobnicate"), "unknown command");
        assert_eq!(
            usage("ca sign --ca d --user alice"),
            "ca sign --pubkey FILE is missing"
        );
        assert_eq!(
            usage("snapshot compile in.json"),
            "snapshot compile --output FILE is missing"
        );
        assert_eq!(usage("explain"), "explain USER is missing");
    }

    #[test]
    fn the_gate_takes_everything_after_its_name_as_data() {
        let gate =
            parse_line("principals alice ssh-ed25519-cert-v01@openssh.com AAAA SHA256:x --help 7")
                .unwrap();
        assert_eq!(
            gate,
            Command::Principals(Offered {
                user: "alice".into(),
                cert_type: "ssh-ed25519-cert-v01@openssh.com".into(),
                key: "AAAA".into(),
            })
        );
        // A key ID that looks like an option is not one, wherever it is.
        assert!(matches!(
            parse_line("principals --config /etc/passwd t k").unwrap(),
            Command::Principals(Offered { user, .. }) if user == "--config"
        ));
        assert_eq!(usage("principals alice t"), "KEY (%k) is missing");
        use std::os::unix::ffi::OsStringExt;
        let odd = ["principals", "t", "k"].map(OsString::from);
        let odd = std::iter::once(OsString::from("principals"))
            .chain([OsString::from_vec(b"al\xffice".to_vec())])
            .chain(odd.into_iter().skip(1));
        let not_utf8 = parse(odd).unwrap_err();
        assert_eq!(
            (not_utf8.exit_code(), not_utf8.to_string().as_str()),
            (1, "arguments must be UTF-8")
        );
    }

    #[test]
    fn ca_sign_and_compile_fill_their_defaults() {
        let Command::CaSign(a) = parse_line(
            "ca sign --ca /ca --user alice --pubkey k.pub --host web-01 --host db --ttl 1h",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            (a.ca, a.user, a.pubkey, a.hosts, a.ttl, a.output),
            (
                PathBuf::from("/ca"),
                "alice".to_owned(),
                PathBuf::from("k.pub"),
                vec!["web-01".to_owned(), "db".to_owned()],
                "1h".to_owned(),
                None
            )
        );
        let Command::SnapshotCompile(c) =
            parse_line("snapshot compile s.json -o out --group g").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (c.passwd, c.group, c.shells),
            (
                PathBuf::from("/etc/passwd"),
                PathBuf::from("g"),
                PathBuf::from("/etc/shells")
            )
        );
    }
}
