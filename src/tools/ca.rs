//! A small CA for users' certificates, for teams without a central identity
//! service: `roster ca init DIR` and `roster ca sign`. Every certificate it
//! issues follows roster's own rules (see `cert.rs`), so a host accepts it
//! as it is.

use ssh_key::certificate::{Builder, CertType};
use ssh_key::{Algorithm, Certificate, LineEnding, PrivateKey, PublicKey};
use std::fmt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::host::cert::{HOST_BINDING_EXTENSION, parse_cidr_list};
use crate::host::compiled::HostPolicy;
use crate::install::FileError;
use crate::snapshot::valid_name;
use crate::time::{UnixTime, format_rfc3339};

/// The CA's private key inside its directory (0600); the public key is
/// `ca.pub` beside it, the line to put in the snapshot's `user_cas`.
pub const KEY_FILE: &str = "ca";

/// The extensions ssh-keygen grants by default: a normal interactive login.
const DEFAULT_EXTENSIONS: [&str; 5] = [
    "permit-X11-forwarding",
    "permit-agent-forwarding",
    "permit-port-forwarding",
    "permit-pty",
    "permit-user-rc",
];

/// Certificates start this long before they are signed, for clocks that
/// run a little behind the CA's.
const BACKDATE_SECS: u64 = 60;

/// Why the CA could not be made, read or sign: a variant per cause.
#[derive(Debug)]
pub enum CaError {
    /// A file of the CA folder could not be read or written.
    File(FileError),
    /// `init` found a CA key already there.
    Exists(PathBuf),
    /// The CA key file is not an OpenSSH private key.
    NotAKey {
        path: PathBuf,
        error: ssh_key::Error,
    },
    /// Making, encoding or signing a key or certificate failed.
    Key(ssh_key::Error),
    NoRandomness(String),
    BadUser(String),
    Ttl {
        min: u64,
        max: u64,
    },
    BadHost(String),
    BadSourceAddress {
        list: String,
        why: String,
    },
    EmptyForceCommand,
}

impl fmt::Display for CaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(e) => e.fmt(f),
            Self::Exists(path) => write!(
                f,
                "{}: a CA key is already there; roster never overwrites one",
                path.display()
            ),
            Self::NotAKey { path, error } => write!(f, "{}: {error}", path.display()),
            Self::Key(e) => e.fmt(f),
            Self::NoRandomness(e) => write!(f, "no randomness for the serial: {e}"),
            Self::BadUser(user) => write!(f, "{user:?} is not a valid user name"),
            Self::Ttl { min, max } => write!(
                f,
                "ttl must be between {min}s and {max}s: hosts refuse longer-lived certificates \
                 by default (their [certificates] max_lifetime; keep the ttl within it)"
            ),
            Self::BadHost(h) => write!(
                f,
                "host or label {h:?}: use letters, digits, '-', '_' and '.'"
            ),
            Self::BadSourceAddress { list, why } => write!(f, "source address {list:?}: {why}"),
            Self::EmptyForceCommand => f.write_str("force-command is empty"),
        }
    }
}

impl std::error::Error for CaError {}

fn rng() -> ssh_key::rand_core::UnwrapErr<ssh_key::getrandom::SysRng> {
    ssh_key::rand_core::UnwrapErr(ssh_key::getrandom::SysRng)
}

/// Creates `dir` (0700) with a new ed25519 CA key (`ca`, 0600) and its
/// public key (`ca.pub`). Refuses to overwrite an existing CA.
pub fn init(dir: &Path) -> Result<PublicKey, CaError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |e| CaError::File(FileError::io(&path, e))
    };
    let key_path = dir.join(KEY_FILE);
    if key_path.exists() {
        return Err(CaError::Exists(key_path));
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))?;
    // Also when the directory already existed: the CA key's folder is private.
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .map_err(io(dir))?;
    let mut key = PrivateKey::random(&mut rng(), Algorithm::Ed25519).map_err(CaError::Key)?;
    // The comment travels in ca.pub and snapshots: no local path in it.
    key.set_comment("roster-user-ca");
    let private = key.to_openssh(LineEnding::LF).map_err(CaError::Key)?;
    let public = key.public_key().to_openssh().map_err(CaError::Key)?;
    // Both files are written before either appears.
    let staged_key =
        crate::install::stage(&key_path, private.as_bytes(), 0o600).map_err(io(&key_path))?;
    let pub_path = dir.join(format!("{KEY_FILE}.pub"));
    let staged_pub = crate::install::stage(&pub_path, format!("{public}\n").as_bytes(), 0o644)
        .map_err(io(&pub_path))?;
    staged_pub.commit().map_err(io(&pub_path))?;
    staged_key.commit().map_err(io(&key_path))?;
    Ok(key.public_key().clone())
}

/// Reads the CA key of a directory made by [`init`].
pub fn load(dir: &Path) -> Result<PrivateKey, CaError> {
    let path = dir.join(KEY_FILE);
    let text = crate::install::read_text(&path).map_err(CaError::File)?;
    PrivateKey::from_openssh(&text).map_err(|error| CaError::NotAKey { path, error })
}

/// What a certificate is for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The person (or service account) it names: its only principal.
    pub user: String,
    /// Host names or labels it is bound to (`hosts@roster`); empty: any host.
    pub hosts: Vec<String>,
    pub ttl_secs: u64,
    pub source_address: Option<String>,
    pub force_command: Option<String>,
}

/// Signs `key` for `req` at `now`: principal = the user, key ID naming the
/// person and the time (and part of the serial, to be unique), a random
/// serial, the host binding when hosts are given, valid for `ttl` starting
/// a minute before `now`.
pub fn sign(
    ca: &PrivateKey,
    key: &PublicKey,
    req: &Request,
    now: UnixTime,
) -> Result<Certificate, CaError> {
    valid_name(&req.user).map_err(|_| CaError::BadUser(req.user.clone()))?;
    let max = HostPolicy::with_defaults("").max_cert_lifetime_secs;
    if !(BACKDATE_SECS * 2..=max).contains(&req.ttl_secs) {
        return Err(CaError::Ttl {
            min: BACKDATE_SECS * 2,
            max,
        });
    }
    for h in &req.hosts {
        if h.is_empty()
            || !h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(CaError::BadHost(h.clone()));
        }
    }
    if let Some(list) = &req.source_address {
        parse_cidr_list(list).map_err(|why| CaError::BadSourceAddress {
            list: list.clone(),
            why,
        })?;
    }
    if req.force_command.as_deref() == Some("") {
        return Err(CaError::EmptyForceCommand);
    }
    // The lifetime is the ttl, its first minute in the past.
    let now = u64::try_from(now).unwrap_or(0);
    let after = now.saturating_sub(BACKDATE_SECS);
    let sshkey = CaError::Key;
    let mut b = Builder::new_with_random_nonce(
        &mut rng(),
        key.key_data().clone(),
        after,
        after + req.ttl_secs,
    )
    .map_err(sshkey)?;
    let mut serial = [0u8; 8];
    ssh_key::getrandom::fill(&mut serial).map_err(|e| CaError::NoRandomness(e.to_string()))?;
    // Unique, and naming the person and the time: revoking one key ID
    // never hits another certificate signed in the same second.
    let serial = u64::from_le_bytes(serial);
    let key_id = format!(
        "{}@{}#{:x}",
        req.user,
        format_rfc3339(now as UnixTime),
        serial >> 32
    );
    b.serial(serial).map_err(sshkey)?;
    b.cert_type(CertType::User).map_err(sshkey)?;
    b.key_id(key_id).map_err(sshkey)?;
    b.valid_principal(&req.user).map_err(sshkey)?;
    for ext in DEFAULT_EXTENSIONS {
        b.extension(ext, "").map_err(sshkey)?;
    }
    if !req.hosts.is_empty() {
        b.extension(HOST_BINDING_EXTENSION, req.hosts.join(","))
            .map_err(sshkey)?;
    }
    if let Some(list) = &req.source_address {
        b.critical_option("source-address", list).map_err(sshkey)?;
    }
    if let Some(cmd) = &req.force_command {
        b.critical_option("force-command", cmd).map_err(sshkey)?;
    }
    b.sign(ca).map_err(sshkey)
}

/// What `roster ca sign` was asked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SignArgs {
    pub ca: PathBuf,
    pub pubkey: PathBuf,
    /// KEY-cert.pub beside the key (as ssh-keygen does) unless given.
    pub output: Option<PathBuf>,
    /// As given to --ttl, like 10m or 8h.
    pub ttl: String,
    pub user: String,
    pub hosts: Vec<String>,
    pub source_address: Option<String>,
    pub force_command: Option<String>,
}

/// The certificate written and where.
pub struct Signed {
    pub path: PathBuf,
    pub certificate: Certificate,
}

impl fmt::Display for Signed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.certificate;
        writeln!(
            f,
            "wrote {}: {} (serial {}), valid until {}",
            self.path.display(),
            c.key_id(),
            c.serial(),
            format_rfc3339(c.valid_before() as UnixTime)
        )
    }
}

/// [`sign`] for the key in `args.pubkey` with the CA in `args.ca`, written
/// to a file.
pub fn sign_file(args: &SignArgs, now: UnixTime) -> Result<Signed, super::Error> {
    use super::Error;
    let ttl_secs =
        crate::time::parse_duration(&args.ttl).ok_or_else(|| Error::Ttl(args.ttl.clone()))?;
    let text = crate::install::read_text(&args.pubkey)?;
    let key = PublicKey::from_openssh(text.trim()).map_err(|error| Error::Key {
        path: args.pubkey.clone(),
        error,
    })?;
    let request = Request {
        user: args.user.clone(),
        hosts: args.hosts.clone(),
        ttl_secs,
        source_address: args.source_address.clone(),
        force_command: args.force_command.clone(),
    };
    let certificate = sign(&load(&args.ca)?, &key, &request, now)?;
    let path = args.output.clone().unwrap_or_else(|| {
        let name = args.pubkey.to_string_lossy();
        PathBuf::from(format!(
            "{}-cert.pub",
            name.strip_suffix(".pub").unwrap_or(&name)
        ))
    });
    let line = certificate.to_openssh().map_err(Error::Encode)?;
    std::fs::write(&path, format!("{line}\n"))
        .map_err(|e| crate::install::FileError::io(&path, e))?;
    Ok(Signed { path, certificate })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::cert::{Revocations, Rules, verify};

    struct None_;
    impl Revocations for None_ {
        fn revoked(&self, _: u64, _: &str, _: &str) -> bool {
            false
        }
    }

    #[test]
    fn issued_certificates_pass_roster_rules() {
        let dir = std::env::temp_dir().join(format!("roster-ca-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let public = init(&dir).unwrap();
        assert!(
            matches!(init(&dir), Err(CaError::Exists(_))),
            "an existing CA was overwritten"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&dir), mode(&dir.join("ca"))), (0o700, 0o600));
        let ca = load(&dir).unwrap();
        assert_eq!(ca.public_key().key_data(), public.key_data());

        let user = PrivateKey::random(&mut rng(), Algorithm::Ed25519).unwrap();
        let now = 1_795_600_800;
        let req = Request {
            user: "alice".into(),
            hosts: vec!["web-01".into(), "dc1".into()],
            ttl_secs: 600,
            source_address: Some("10.0.0.0/8".into()),
            force_command: None,
        };
        let cert = sign(&ca, user.public_key(), &req, now).unwrap();
        assert_eq!(cert.valid_principals(), ["alice"]);
        assert!(
            cert.key_id().starts_with("alice@2026-11-25T10:00:00Z#"),
            "{}",
            cert.key_id()
        );
        assert_eq!(cert.valid_before() - cert.valid_after(), 600);
        let host = HostPolicy {
            host_labels: vec!["dc1".into()],
            ..HostPolicy::with_defaults("db-07")
        };
        let rules = Rules {
            cas: std::slice::from_ref(&public),
            host: &host,
            revoked: &None_,
            now,
            client: Some("10.1.2.3".parse().unwrap()),
        };
        let v = verify(&cert, &rules).unwrap();
        assert_eq!(v.source_address.as_deref(), Some("10.0.0.0/8"));
        let other = sign(&ca, user.public_key(), &req, now).unwrap();
        assert_ne!(cert.serial(), other.serial(), "serials are random");
        assert_ne!(cert.key_id(), other.key_id(), "key IDs are unique");
        let full_day = Request {
            ttl_secs: 16 * 3600,
            ..req.clone()
        };
        assert!(
            sign(&ca, user.public_key(), &full_day, now).is_ok(),
            "the default cap itself"
        );

        for bad in [
            Request {
                user: "Alice".into(),
                ..req.clone()
            },
            Request {
                ttl_secs: 17 * 3600,
                ..req.clone()
            },
            Request {
                hosts: vec!["web 01".into()],
                ..req.clone()
            },
            Request {
                source_address: Some("10.0.0.0/99".into()),
                ..req.clone()
            },
        ] {
            assert!(sign(&ca, user.public_key(), &bad, now).is_err(), "{bad:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
