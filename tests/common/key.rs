//! OpenSSH key pairs made by `ssh-keygen`: user keys, CAs and snapshot signers alike, for
//! the sshd host ([`super::host::Host`]) and the HTTPS-source host
//! ([`super::source::SourceHost`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A key pair in a test's sandbox (removed with it).
pub struct Key {
    pub private: PathBuf,
    pub public: PathBuf,
}

impl Key {
    /// `ssh-keygen -t kind` (`ed25519`, `ecdsa`, `rsa`) at `dir/name`, comment `name`, no
    /// passphrase. Panics unless it works.
    pub fn generate(dir: &Path, name: &str, kind: &str) -> Key {
        let private = dir.join(name);
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-N", "", "-C", name, "-f"])
            .arg(&private)
            .output()
            .expect("run ssh-keygen (package openssh-client)");
        assert!(out.status.success(), "ssh-keygen -t {kind}: {out:?}");
        Key {
            public: private.with_extension("pub"),
            private,
        }
    }

    /// The public key line, `TYPE BASE64 COMMENT`.
    pub fn public_line(&self) -> String {
        fs::read_to_string(&self.public)
            .unwrap()
            .trim_end()
            .to_owned()
    }

    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&self.public)
            .output()
            .expect("run ssh-keygen");
        assert!(out.status.success(), "ssh-keygen -lf: {out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .nth(1)
            .expect("ssh-keygen -l prints a fingerprint")
            .to_owned()
    }
}
