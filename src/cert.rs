//! The certificate rules: one function that turns an offered OpenSSH user
//! certificate into a [`VerifiedCert`], or says precisely why not.
//!
//! ssh-key checks the CA signature; everything else an OpenSSH server or
//! roster demands is here: certificate type, trusted CA, signature
//! algorithm, validity window and lifetime, principals, critical options,
//! source address, revocation and host binding. `now` and the client address
//! are arguments.

use ssh_key::certificate::CertType;
use ssh_key::{Algorithm, Certificate, HashAlg, PublicKey};
use std::fmt;
use std::net::IpAddr;

use crate::compiled::HostPolicy;
use crate::time::{UnixTime, format_rfc3339};

/// The extension a certificate carries to be valid only on some hosts: a
/// comma-separated list of host names or labels.
pub const HOST_BINDING_EXTENSION: &str = "hosts@roster";

/// Critical options roster understands; any other makes a certificate unusable
/// (PROTOCOL.certkeys: an unrecognised critical option must be refused).
const KNOWN_CRITICAL_OPTIONS: [&str; 3] = ["force-command", "source-address", "verify-required"];

/// What a certificate was checked against.
pub struct Rules<'a> {
    /// Trusted user CAs (the snapshot's `user_cas`).
    pub cas: &'a [PublicKey],
    pub host: &'a HostPolicy,
    pub revoked: &'a dyn Revocations,
    pub now: UnixTime,
    /// The client's address, when known. sshd enforces `source-address`
    /// itself before running the principals command, which is not told the
    /// address; PAM knows it (PAM_RHOST) and checks again.
    pub client: Option<IpAddr>,
}

/// Revocation lookups (the compiled snapshot implements this).
pub trait Revocations {
    /// Whether the certificate with this serial, key ID, or certified key
    /// (`SHA256:` fingerprint) is revoked. Errors must answer `true`.
    fn revoked(&self, serial: u64, key_id: &str, key_fingerprint: &str) -> bool;
}

/// A certificate that passed every rule. Only [`verify`] builds one
/// (`non_exhaustive`: no other crate can construct it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedCert {
    pub key_id: String,
    pub serial: u64,
    pub principals: Vec<String>,
    /// `SHA256:` fingerprint of the signing CA.
    pub ca_fingerprint: String,
    /// `SHA256:` fingerprint of the certified key.
    pub key_fingerprint: String,
    pub valid_after: u64,
    pub valid_before: u64,
    pub source_address: Option<String>,
    pub force_command: Option<String>,
}

/// Why a certificate is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertError {
    Malformed(String),
    HostCertificate,
    UntrustedCa(String),
    WeakSignature(String),
    BadSignature,
    NotYetValid {
        valid_after: u64,
    },
    Expired {
        valid_before: u64,
    },
    TooLong {
        lifetime: u64,
        max: u64,
    },
    NoPrincipals,
    WildcardPrincipal(String),
    UnknownCriticalOption(String),
    BadCriticalOption {
        name: String,
        problem: String,
    },
    SourceAddress {
        client: Option<IpAddr>,
        allowed: String,
    },
    Revoked,
    HostBindingMissing,
    HostBindingMismatch(String),
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = |t: u64| format_rfc3339(i64::try_from(t).unwrap_or(i64::MAX));
        match self {
            Self::Malformed(e) => write!(f, "certificate cannot be parsed: {e}"),
            Self::HostCertificate => f.write_str("a host certificate, not a user certificate"),
            Self::UntrustedCa(fp) => write!(f, "signed by CA {fp}, which is not a trusted user CA"),
            Self::WeakSignature(alg) => write!(f, "signature algorithm {alg} is not accepted"),
            Self::BadSignature => f.write_str("CA signature does not verify"),
            Self::NotYetValid { valid_after } => {
                write!(f, "not valid before {}", time(*valid_after))
            }
            Self::Expired { valid_before } => write!(f, "expired at {}", time(*valid_before)),
            Self::TooLong { lifetime, max } => {
                write!(
                    f,
                    "lifetime {lifetime}s is over this host's limit of {max}s"
                )
            }
            Self::NoPrincipals => f.write_str("no principals (valid for anyone)"),
            Self::WildcardPrincipal(p) => write!(f, "wildcard principal {p:?}"),
            Self::UnknownCriticalOption(o) => write!(f, "unknown critical option {o:?}"),
            Self::BadCriticalOption { name, problem } => {
                write!(f, "critical option {name}: {problem}")
            }
            Self::SourceAddress {
                client: Some(c),
                allowed,
            } => {
                write!(f, "source address {c} is not in {allowed:?}")
            }
            Self::SourceAddress {
                client: None,
                allowed,
            } => {
                write!(
                    f,
                    "source address unknown, certificate requires {allowed:?}"
                )
            }
            Self::Revoked => f.write_str("revoked"),
            Self::HostBindingMissing => {
                write!(
                    f,
                    "no {HOST_BINDING_EXTENSION} extension, and this host requires one"
                )
            }
            Self::HostBindingMismatch(hosts) => write!(f, "bound to other hosts ({hosts})"),
        }
    }
}

impl std::error::Error for CertError {}

/// Parses a certificate from its base64 blob and OpenSSH type name (what
/// sshd passes as `%k`/`%t`, and exposes in `SSH_AUTH_INFO_0`).
pub fn parse(cert_type: &str, base64: &str) -> Result<Certificate, CertError> {
    Certificate::from_openssh(&format!("{cert_type} {base64}"))
        .map_err(|e| CertError::Malformed(e.to_string()))
}

/// Applies every rule; see the module documentation.
pub fn verify(cert: &Certificate, rules: &Rules<'_>) -> Result<VerifiedCert, CertError> {
    if cert.cert_type() != CertType::User {
        return Err(CertError::HostCertificate);
    }
    let ca = cert.signature_key();
    let ca_fingerprint = ca.fingerprint(HashAlg::Sha256).to_string();
    if !rules.cas.iter().any(|k| k.key_data() == ca) {
        return Err(CertError::UntrustedCa(ca_fingerprint));
    }
    let alg = cert.signature().algorithm();
    if matches!(alg, Algorithm::Dsa | Algorithm::Rsa { hash: None }) {
        return Err(CertError::WeakSignature(alg.to_string()));
    }
    // The CA is trusted (checked above); this checks its signature over the
    // certificate, which is all ssh-key's check does besides time.
    cert.verify_signature()
        .map_err(|_| CertError::BadSignature)?;

    let (after, before) = (cert.valid_after(), cert.valid_before());
    let now = u64::try_from(rules.now).unwrap_or(0);
    if now.saturating_add(rules.host.clock_skew_secs) < after {
        return Err(CertError::NotYetValid { valid_after: after });
    }
    if now >= before {
        return Err(CertError::Expired {
            valid_before: before,
        });
    }
    let lifetime = before.saturating_sub(after);
    if lifetime > rules.host.max_cert_lifetime_secs {
        return Err(CertError::TooLong {
            lifetime,
            max: rules.host.max_cert_lifetime_secs,
        });
    }

    let principals = cert.valid_principals();
    if principals.is_empty() {
        return Err(CertError::NoPrincipals);
    }
    if let Some(p) = principals.iter().find(|p| p.contains(['*', '?'])) {
        return Err(CertError::WildcardPrincipal(p.clone()));
    }

    let options = cert.critical_options();
    if let Some(name) = options
        .keys()
        .find(|k| !KNOWN_CRITICAL_OPTIONS.contains(&k.as_str()))
    {
        return Err(CertError::UnknownCriticalOption(
            name.chars().take(64).collect(),
        ));
    }
    let bad = |name: &str, problem: &str| CertError::BadCriticalOption {
        name: name.to_owned(),
        problem: problem.to_owned(),
    };
    if options
        .get("verify-required")
        .is_some_and(|v| !v.is_empty())
    {
        return Err(bad("verify-required", "takes no value"));
    }
    let force_command = options.get("force-command").cloned();
    if force_command.as_deref() == Some("") {
        return Err(bad("force-command", "is empty"));
    }
    let source_address = options.get("source-address").cloned();
    if let Some(allowed) = &source_address {
        let networks = parse_cidr_list(allowed).map_err(|p| bad("source-address", &p))?;
        if let Some(client) = rules.client {
            if !networks.iter().any(|n| n.contains(client)) {
                return Err(CertError::SourceAddress {
                    client: Some(client),
                    allowed: allowed.clone(),
                });
            }
        }
    }

    let key_fingerprint = cert.public_key().fingerprint(HashAlg::Sha256).to_string();
    if rules
        .revoked
        .revoked(cert.serial(), cert.key_id(), &key_fingerprint)
    {
        return Err(CertError::Revoked);
    }

    match cert.extensions().get(HOST_BINDING_EXTENSION) {
        Some(hosts) => {
            let host = rules.host;
            let bound = hosts
                .split(',')
                .any(|h| h == host.host_name || host.host_labels.iter().any(|l| l == h));
            if !bound {
                return Err(CertError::HostBindingMismatch(
                    hosts.chars().take(256).collect(),
                ));
            }
        }
        None if rules.host.require_host_binding => return Err(CertError::HostBindingMissing),
        None => {}
    }

    Ok(VerifiedCert {
        key_id: cert.key_id().to_owned(),
        serial: cert.serial(),
        principals: principals.to_vec(),
        ca_fingerprint,
        key_fingerprint,
        valid_after: after,
        valid_before: before,
        source_address,
        force_command,
    })
}

/// One `addr/len` network of a `source-address` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    addr: IpAddr,
    len: u8,
}

impl Network {
    fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client may arrive as an IPv4-mapped IPv6 address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let prefix = |a: u128, b: u128, bits: u32, len: u8| {
            let shift = bits - u32::from(len);
            len == 0 || (a >> shift) == (b >> shift)
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(c)) => {
                prefix(u32::from(n).into(), u32::from(c).into(), 32, self.len)
            }
            (IpAddr::V6(n), IpAddr::V6(c)) => prefix(n.into(), c.into(), 128, self.len),
            _ => false,
        }
    }
}

/// `source-address`: comma-separated addresses or CIDR networks.
fn parse_cidr_list(list: &str) -> Result<Vec<Network>, String> {
    if list.is_empty() {
        return Err("is empty".into());
    }
    list.split(',')
        .map(|item| {
            let (addr, len) = match item.split_once('/') {
                Some((a, l)) => (a, Some(l)),
                None => (item, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("{item:?} is not an address"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let len = match len {
                None => max,
                Some(l) => l
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(|| format!("{item:?} has a bad prefix length"))?,
            };
            Ok(Network { addr, len })
        })
        .collect()
}

#[cfg(test)]
mod tests;
