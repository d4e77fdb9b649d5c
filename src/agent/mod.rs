//! The host agent and the commands an operator runs on a host: its own
//! processes, never the modules'. It fetches and verifies the published
//! snapshot, installs it for the modules, renders sudo rules, and ends the
//! sessions the snapshot no longer admits ([`run`]); it answers sshd's
//! question of who may log in ([`gate`]); it says how the host stands
//! ([`status`]) and why a person may or may not log in, and what happened
//! ([`inspect`]). The network parts are built only with the `agent`
//! feature, which the modules' crates leave off.

pub mod config;
#[cfg(feature = "agent")]
pub mod fetch;
#[cfg(feature = "agent")]
pub mod gate;
#[cfg(feature = "agent")]
pub mod inspect;
#[cfg(feature = "agent")]
pub mod metrics;
#[cfg(feature = "agent")]
pub mod offboard;
#[cfg(feature = "agent")]
pub mod run;
#[cfg(feature = "agent")]
pub mod state;
#[cfg(feature = "agent")]
pub mod status;
pub mod sudoers;
#[cfg(feature = "agent")]
pub mod sync;

#[cfg(feature = "agent")]
pub use error::Error;

#[cfg(feature = "agent")]
mod error {
    use std::fmt;
    use std::path::PathBuf;

    use super::config::ConfigError;
    use super::fetch::FetchError;
    use super::sync::SyncError;
    use crate::host::cert::CertError;
    use crate::host::store::LoadError;
    use crate::install::FileError;
    use crate::time::BadTimestamp;

    /// Why a host command failed. [`Error::exit_code`] is the one place a
    /// cause becomes an exit status (documented in roster(8)).
    #[derive(Debug)]
    pub enum Error {
        /// A file the command needs (the local tables, a certificate).
        File(FileError),
        Config(ConfigError),
        /// The source's token file or CA bundle: configuration.
        Source(FetchError),
        Sync(SyncError),
        /// The signal handlers of `roster agent`.
        Signals(std::io::Error),
        /// The state file is unreadable: nothing is known about the syncs.
        History(FileError),
        /// The installed snapshot cannot be read.
        Snapshot(LoadError),
        NotACertificate {
            path: PathBuf,
            error: CertError,
        },
        NotAnAddress(String),
        Since(BadTimestamp),
    }

    impl Error {
        pub fn exit_code(&self) -> u8 {
            match self {
                Self::Sync(e) => e.exit_code(),
                Self::History(_) => 2,
                Self::File(_)
                | Self::Config(_)
                | Self::Source(_)
                | Self::Signals(_)
                | Self::Snapshot(_)
                | Self::NotACertificate { .. }
                | Self::NotAnAddress(_)
                | Self::Since(_) => 1,
            }
        }
    }

    impl fmt::Display for Error {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Self::File(e) => e.fmt(f),
                Self::Config(e) => e.fmt(f),
                Self::Source(e) => e.fmt(f),
                Self::Sync(e) => e.fmt(f),
                Self::Signals(e) => write!(f, "cannot handle signals: {e}"),
                Self::History(e) => e.fmt(f),
                Self::Snapshot(e) => write!(
                    f,
                    "{}: {e}: no snapshot user can log in",
                    crate::paths::SNAPSHOT
                ),
                Self::NotACertificate { path, error } => {
                    write!(f, "{}: not an OpenSSH certificate: {error}", path.display())
                }
                Self::NotAnAddress(a) => write!(f, "--from {a:?} is not an IP address"),
                Self::Since(e) => e.fmt(f),
            }
        }
    }

    impl std::error::Error for Error {}

    impl From<FileError> for Error {
        fn from(e: FileError) -> Error {
            Error::File(e)
        }
    }

    impl From<ConfigError> for Error {
        fn from(e: ConfigError) -> Error {
            Error::Config(e)
        }
    }
}

/// One line to syslog (authpriv.notice), if a syslog daemon listens.
#[cfg(feature = "agent")]
pub fn syslog_notice(line: &str) {
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
