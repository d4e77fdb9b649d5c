//! What operators run off the host: the user CA (`roster ca`), the
//! snapshot's files from a people file (`roster snapshot build`, `sign`,
//! `compile`, `show`), and the demo.

pub mod ca;
#[cfg(feature = "agent")]
pub mod demo;
pub mod people;
pub mod publish;

use std::fmt;
use std::path::PathBuf;

use crate::host::compiled::FormatError;
use crate::install::FileError;
use crate::snapshot::SourceError;

/// Why an operator tool failed. Every cause exits 1; the message names the
/// file and the cause.
#[derive(Debug)]
pub enum Error {
    File(FileError),
    Ca(ca::CaError),
    /// Not an OpenSSH key (public or private).
    Key {
        path: PathBuf,
        error: ssh_key::Error,
    },
    EncryptedKey(PathBuf),
    Ttl(String),
    /// A certificate or signature could not be encoded or made.
    Encode(ssh_key::Error),
    Sign(ssh_key::Error),
    People {
        path: PathBuf,
        error: people::BuildError,
    },
    Ledger {
        path: PathBuf,
        error: serde_json::Error,
    },
    /// The snapshot was refused as a whole.
    Refused {
        path: PathBuf,
        error: SourceError,
    },
    Compile(FormatError),
    NotCompiled {
        path: PathBuf,
        error: FormatError,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(e) => e.fmt(f),
            Self::Ca(e) => e.fmt(f),
            Self::Key { path, error } => {
                write!(f, "{}: not an OpenSSH key: {error}", path.display())
            }
            Self::EncryptedKey(path) => write!(
                f,
                "{}: encrypted keys are not supported; use ssh-keygen -Y sign",
                path.display()
            ),
            Self::Ttl(ttl) => write!(f, "--ttl {ttl:?} is not a duration like 10m or 8h"),
            Self::Encode(e) => write!(f, "cannot encode the certificate: {e}"),
            Self::Sign(e) => write!(f, "cannot sign: {e}"),
            Self::People { path, error } => write!(f, "{}: {error}", path.display()),
            Self::Ledger { path, error } => write!(f, "{}: {error}", path.display()),
            Self::Refused { path, error } => write!(f, "{}: refused: {error}", path.display()),
            Self::Compile(e) => write!(f, "cannot compile: {e}"),
            Self::NotCompiled { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

impl From<FileError> for Error {
    fn from(e: FileError) -> Error {
        Error::File(e)
    }
}

impl From<ca::CaError> for Error {
    fn from(e: ca::CaError) -> Error {
        Error::Ca(e)
    }
}
