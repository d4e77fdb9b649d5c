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

use crate::host::compiled::HostPolicy;
use crate::time::{UnixTime, format_duration, format_rfc3339};

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
/// sshd passes as `%k`/`%t`, and exposes in `SSH_AUTH_INFO_0`), in its
/// canonical encoding only: see [`from_blob`].
pub fn parse(cert_type: &str, base64: &str) -> Result<Certificate, CertError> {
    let malformed = |e: ssh_key::Error| CertError::Malformed(e.to_string());
    let cert = Certificate::from_openssh(&format!("{cert_type} {base64}")).map_err(malformed)?;
    let canonical = cert.to_openssh().map_err(malformed)?;
    if canonical.split(' ').nth(1) != Some(base64) {
        return Err(non_canonical());
    }
    Ok(cert)
}

/// Parses a certificate's binary blob, refusing any encoding but the one it
/// re-encodes to. ssh-key verifies the CA signature over the fields as it
/// re-encodes them, not over the bytes it was given, and its decoder skips
/// bytes it does not need (a byte appended inside the CA key's blob, found
/// by fuzz/'s `cert_rules`): such a certificate differs from what the CA
/// signed, and OpenSSH refuses it, so roster does too.
pub fn from_blob(bytes: &[u8]) -> Result<Certificate, CertError> {
    let malformed = |e: ssh_key::Error| CertError::Malformed(e.to_string());
    let cert = Certificate::from_bytes(bytes).map_err(malformed)?;
    if cert.to_bytes().map_err(malformed)? != bytes {
        return Err(non_canonical());
    }
    Ok(cert)
}

fn non_canonical() -> CertError {
    CertError::Malformed("not in canonical encoding (not the bytes the CA signed)".into())
}

/// One rule's result, for `roster explain`: a short fact when it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub rule: &'static str,
    pub outcome: Result<String, CertError>,
}

type Rule = fn(&Certificate, &Rules<'_>) -> Result<String, CertError>;

/// The rules, in the order they are applied.
const RULES: [(&str, Rule); 10] = [
    ("type", check_type),
    ("CA", check_ca),
    ("signature", check_signature),
    ("validity", check_validity),
    ("lifetime", check_lifetime),
    ("principals", check_principals),
    ("critical options", check_options),
    ("source address", check_source_address),
    ("revocation", check_revocation),
    ("host binding", check_host_binding),
];

/// Applies every rule; see the module documentation. The first failure is
/// the answer.
pub fn verify(cert: &Certificate, rules: &Rules<'_>) -> Result<VerifiedCert, CertError> {
    for (_, rule) in RULES {
        rule(cert, rules)?;
    }
    let options = cert.critical_options();
    Ok(VerifiedCert {
        key_id: cert.key_id().to_owned(),
        serial: cert.serial(),
        principals: cert.valid_principals().to_vec(),
        ca_fingerprint: fingerprint(cert.signature_key()),
        key_fingerprint: fingerprint(cert.public_key()),
        valid_after: cert.valid_after(),
        valid_before: cert.valid_before(),
        source_address: options.get("source-address").cloned(),
        force_command: options.get("force-command").cloned(),
    })
}

/// Every rule's result, even after one fails: what `roster explain` shows.
pub fn steps(cert: &Certificate, rules: &Rules<'_>) -> Vec<Step> {
    RULES
        .iter()
        .map(|(rule, check)| Step {
            rule,
            outcome: check(cert, rules),
        })
        .collect()
}

fn fingerprint(key: &ssh_key::public::KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

fn check_type(cert: &Certificate, _: &Rules<'_>) -> Result<String, CertError> {
    match cert.cert_type() {
        CertType::User => Ok("user certificate".into()),
        CertType::Host => Err(CertError::HostCertificate),
    }
}

fn check_ca(cert: &Certificate, rules: &Rules<'_>) -> Result<String, CertError> {
    let ca = cert.signature_key();
    let fp = fingerprint(ca);
    match rules.cas.iter().position(|k| k.key_data() == ca) {
        Some(i) => Ok(format!("{fp} is trusted (user_cas[{i}])")),
        None => Err(CertError::UntrustedCa(fp)),
    }
}

fn check_signature(cert: &Certificate, _: &Rules<'_>) -> Result<String, CertError> {
    let alg = cert.signature().algorithm();
    if matches!(alg, Algorithm::Dsa | Algorithm::Rsa { hash: None }) {
        return Err(CertError::WeakSignature(alg.to_string()));
    }
    // Whether the signing CA is trusted is check_ca's; this checks the CA's
    // signature over the certificate, which is all ssh-key's own validation
    // does besides the time window.
    cert.verify_signature()
        .map_err(|_| CertError::BadSignature)?;
    Ok(format!("{alg}, verified"))
}

fn check_validity(cert: &Certificate, rules: &Rules<'_>) -> Result<String, CertError> {
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
    let time = |t: u64| format_rfc3339(i64::try_from(t).unwrap_or(i64::MAX));
    Ok(format!("{} to {}, now inside", time(after), time(before)))
}

fn check_lifetime(cert: &Certificate, rules: &Rules<'_>) -> Result<String, CertError> {
    let lifetime = cert.valid_before().saturating_sub(cert.valid_after());
    let max = rules.host.max_cert_lifetime_secs;
    if lifetime > max {
        return Err(CertError::TooLong { lifetime, max });
    }
    Ok(format!(
        "{} (at most {})",
        format_duration(lifetime),
        format_duration(max)
    ))
}

fn check_principals(cert: &Certificate, _: &Rules<'_>) -> Result<String, CertError> {
    let principals = cert.valid_principals();
    if principals.is_empty() {
        return Err(CertError::NoPrincipals);
    }
    if let Some(p) = principals.iter().find(|p| p.contains(['*', '?'])) {
        return Err(CertError::WildcardPrincipal(p.clone()));
    }
    Ok(principals.join(", "))
}

fn check_options(cert: &Certificate, _: &Rules<'_>) -> Result<String, CertError> {
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
    if options.get("force-command").is_some_and(String::is_empty) {
        return Err(bad("force-command", "is empty"));
    }
    if let Some(list) = options.get("source-address") {
        parse_cidr_list(list).map_err(|p| bad("source-address", &p))?;
    }
    if options.is_empty() {
        return Ok("none".into());
    }
    Ok(options.keys().cloned().collect::<Vec<_>>().join(", "))
}

fn check_source_address(cert: &Certificate, rules: &Rules<'_>) -> Result<String, CertError> {
    let Some(allowed) = cert.critical_options().get("source-address") else {
        return Ok("not restricted".into());
    };
    // A malformed list is check_options' finding; here it matches nothing.
    let networks = parse_cidr_list(allowed).unwrap_or_default();
    match rules.client {
        Some(client) if networks.iter().any(|n| n.contains(client)) => {
            Ok(format!("{client} is in {allowed}"))
        }
        Some(client) => Err(CertError::SourceAddress {
            client: Some(client),
            allowed: allowed.clone(),
        }),
        // sshd enforces it before the principals command, which is not told
        // the address; PAM knows the address and checks it again.
        None => Ok(format!("{allowed} (client address not known here)")),
    }
}

fn check_revocation(cert: &Certificate, rules: &Rules<'_>) -> Result<String, CertError> {
    if rules.revoked.revoked(
        cert.serial(),
        cert.key_id(),
        &fingerprint(cert.public_key()),
    ) {
        return Err(CertError::Revoked);
    }
    Ok("serial, key ID and key not revoked".into())
}

fn check_host_binding(cert: &Certificate, rules: &Rules<'_>) -> Result<String, CertError> {
    let host = rules.host;
    match cert.extensions().get(HOST_BINDING_EXTENSION) {
        Some(hosts) => {
            let bound = hosts
                .split(',')
                .any(|h| h == host.host_name || host.host_labels.iter().any(|l| l == h));
            if !bound {
                return Err(CertError::HostBindingMismatch(
                    hosts.chars().take(256).collect(),
                ));
            }
            Ok(format!(
                "bound to {hosts}, which names this host ({})",
                host.host_name
            ))
        }
        None if host.require_host_binding => Err(CertError::HostBindingMissing),
        None => Ok("not bound to hosts (not required here)".into()),
    }
}

/// One `addr/len` network of a `source-address` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Network {
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
pub(crate) fn parse_cidr_list(list: &str) -> Result<Vec<Network>, String> {
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
