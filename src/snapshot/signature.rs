//! Detached snapshot signatures: OpenSSH's SSHSIG format, namespace
//! `roster-snapshot`, so a publisher can sign with stock
//! `ssh-keygen -Y sign -n roster-snapshot -f KEY snapshot.json`.
//!
//! Verification happens before the snapshot is parsed at all: until then it
//! is only bytes under a size cap.

use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};
use std::fmt;

/// The SSHSIG namespace; a signature made for any other purpose is refused.
pub const NAMESPACE: &str = "roster-snapshot";

/// Bytes whose signature verified against a pinned key.
#[derive(Debug)]
pub struct Verified<'a> {
    pub bytes: &'a [u8],
    /// Fingerprint of the key that signed, for the status and the log.
    pub signer: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// The `.sig` file is not an armored SSHSIG.
    Malformed(String),
    WrongNamespace(String),
    /// Signed by a key that is not pinned in the configuration.
    UnknownKey(String),
    /// The signature does not match the bytes (or the key's algorithm is not
    /// accepted).
    Invalid,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "signature file is not an SSH signature: {e}"),
            Self::WrongNamespace(n) => {
                write!(f, "signature namespace is {n:?}, expected {NAMESPACE:?}")
            }
            Self::UnknownKey(fp) => write!(f, "signed by {fp}, which is not a pinned signing key"),
            Self::Invalid => f.write_str("signature does not match the snapshot"),
        }
    }
}

impl std::error::Error for SignatureError {}

/// Checks that `sig` (an armored SSHSIG) is a valid signature of `bytes` by
/// one of `pinned`.
pub fn verify<'a>(
    bytes: &'a [u8],
    sig: &[u8],
    pinned: &[PublicKey],
) -> Result<Verified<'a>, SignatureError> {
    let sig = SshSig::from_pem(sig).map_err(|e| SignatureError::Malformed(e.to_string()))?;
    if sig.namespace() != NAMESPACE {
        let ns: String = sig.namespace().chars().take(64).collect();
        return Err(SignatureError::WrongNamespace(ns));
    }
    // Match on the key data only: comments are not part of the identity.
    let key = pinned
        .iter()
        .find(|k| k.key_data() == sig.public_key())
        .ok_or_else(|| {
            let fp = PublicKey::from(sig.public_key().clone()).fingerprint(HashAlg::Sha256);
            SignatureError::UnknownKey(fp.to_string())
        })?;
    if matches!(sig.algorithm(), ssh_key::Algorithm::Dsa) {
        return Err(SignatureError::Invalid);
    }
    key.verify(NAMESPACE, bytes, &sig)
        .map_err(|_| SignatureError::Invalid)?;
    Ok(Verified {
        bytes,
        signer: key.fingerprint(HashAlg::Sha256).to_string(),
    })
}

/// Signs `bytes` with `key`; returns the armored signature for the `.sig` file.
pub fn sign(key: &PrivateKey, bytes: &[u8]) -> Result<String, ssh_key::Error> {
    key.sign(NAMESPACE, HashAlg::Sha512, bytes)?
        .to_pem(LineEnding::LF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssh_key::Algorithm;

    fn key() -> PrivateKey {
        let mut rng = ssh_key::rand_core::UnwrapErr(ssh_key::getrandom::SysRng);
        PrivateKey::random(&mut rng, Algorithm::Ed25519).unwrap()
    }

    #[test]
    fn accepts_own_signature_and_refuses_every_change() {
        let k = key();
        let data = b"{\"format\":\"roster-snapshot/1\"}".to_vec();
        let sig = sign(&k, &data).unwrap();
        let pinned = [k.public_key().clone()];
        let v = verify(&data, sig.as_bytes(), &pinned).unwrap();
        assert!(v.signer.starts_with("SHA256:"));

        for i in 0..data.len() {
            let mut d = data.clone();
            d[i] ^= 1;
            assert_eq!(
                verify(&d, sig.as_bytes(), &pinned).unwrap_err(),
                SignatureError::Invalid
            );
        }
        let other = key();
        let e = verify(&data, sig.as_bytes(), &[other.public_key().clone()]).unwrap_err();
        assert!(matches!(e, SignatureError::UnknownKey(_)));
        assert!(matches!(
            verify(&data, b"nope", &pinned),
            Err(SignatureError::Malformed(_))
        ));
        let wrong_ns = k
            .sign("file", HashAlg::Sha512, &data)
            .unwrap()
            .to_pem(LineEnding::LF)
            .unwrap();
        let e = verify(&data, wrong_ns.as_bytes(), &pinned).unwrap_err();
        assert_eq!(e, SignatureError::WrongNamespace("file".into()));
    }
}
