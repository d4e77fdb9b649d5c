//! A host with an HTTPS sync source, for the `roster sync` tests: the sibling of
//! [`super::host::Host`] (which has sshd and a `file://` source), built from the same
//! parts — a [`Sandbox`] (each step runs in a fresh private mount namespace where the NSS
//! module reads `/var/lib/roster`), [`Key`]s from `ssh-keygen`, the built `roster`.
//!
//! ```ignore
//! let host = SourceHost::serving(|user_ca| snapshot(1, user_ca)); // /base, signed, pinned
//! let v2 = host.source("v2", &snapshot(2));        // another URL and a config for it
//! let attempts = host.attempts(&[], &[&v2]);       // install /base, then sync each config
//! assert_installed(&attempts[0], 2, 1);
//! ```
//!
//! The source is a scripted server on 127.0.0.1 ([`super::https::Server`], certificates
//! from a private CA); [`SourceHost::serve`] says what a path answers.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::https::{Identity, Pki, Route, Server};
use super::key::Key;
use super::{Sandbox, Step, artifacts, json_str, sh_quote};

/// A sandbox, an HTTPS source serving a signed serial 1 at `/base/snapshot.json`, the
/// pinned signing key, an unpinned one, and configurations that point at them.
pub struct SourceHost {
    pub sandbox: Sandbox,
    pub server: Server,
    /// The pinned snapshot signing key.
    pub signer: Key,
    /// A signing key the configurations do not pin.
    pub stranger: Key,
    /// The user CA the base snapshot is made with.
    pub user_ca: Key,
    /// The configuration for `/base` (serial 1).
    pub base: PathBuf,
    counter: Cell<u32>,
}

impl SourceHost {
    /// Serves `base(user_ca)`, which must be serial 1, signed by the pinned key at
    /// `/base/snapshot.json`; [`SourceHost::base`] is the configuration for it.
    pub fn serving(base: impl FnOnce(&Key) -> String) -> SourceHost {
        let sandbox = Sandbox::new();
        let dir = sandbox.dir().to_path_buf();
        Pki::get().write_ca(&dir.join("ca.pem"));
        let mut host = SourceHost {
            server: Server::start(Identity::Loopback),
            signer: Key::generate(&dir, "signer", "ed25519"),
            stranger: Key::generate(&dir, "stranger", "ed25519"),
            user_ca: Key::generate(&dir, "user-ca", "ed25519"),
            sandbox,
            base: PathBuf::new(),
            counter: Cell::new(0),
        };
        let base = base(&host.user_ca);
        let url = host.publish("/base", &base);
        host.base = host.config("base", &url, &[]);
        host
    }

    /// `name` in the sandbox folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.sandbox.dir().join(name)
    }

    /// A new path in the sandbox starting with `stem`.
    pub fn unique(&self, stem: &str) -> PathBuf {
        let n = self.counter.get();
        self.counter.set(n + 1);
        self.path(&format!("{stem}-{n}"))
    }

    /// Signs `json` with `roster snapshot sign` and the pinned key; returns the `.sig`.
    pub fn sign(&self, json: &str) -> Vec<u8> {
        self.roster_sign(&self.signer, json)
    }

    /// Signs `json` with `roster snapshot sign` and `key`; returns the `.sig`.
    pub fn roster_sign(&self, key: &Key, json: &str) -> Vec<u8> {
        let mut sign = Command::new(&artifacts().roster);
        sign.args(["snapshot", "sign", "--key"]).arg(&key.private);
        self.signature(sign, "signed", json)
    }

    /// Signs with stock `ssh-keygen -Y sign -n NAMESPACE`.
    pub fn keygen_sign(&self, key: &Key, namespace: &str, json: &str) -> Vec<u8> {
        let mut sign = Command::new("ssh-keygen");
        sign.args(["-Y", "sign", "-n", namespace, "-f"])
            .arg(&key.private);
        self.signature(sign, "keygen", json)
    }

    /// Runs `sign FILE` on `json` written to a new file; panics unless it succeeds.
    /// Returns `FILE.sig`, which both signers write.
    fn signature(&self, mut sign: Command, stem: &str, json: &str) -> Vec<u8> {
        let input = self.unique(stem).with_extension("json");
        std::fs::write(&input, json).unwrap();
        let out = sign.arg(&input).output().unwrap();
        assert!(out.status.success(), "{sign:?}: {out:?}");
        std::fs::read(input.with_extension("json.sig")).unwrap()
    }

    /// Writes `json` as `name` in the sandbox and its signature by the pinned key beside
    /// it (`name.sig`): a `file://` source. Returns the path.
    pub fn write_signed(&self, name: &str, json: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, json).unwrap();
        std::fs::write(format!("{}.sig", path.display()), self.sign(json)).unwrap();
        path
    }

    /// Serves `json` signed by the pinned key at `PREFIX/snapshot.json`; returns its URL.
    pub fn publish(&self, prefix: &str, json: &str) -> String {
        let sig = self.sign(json);
        self.serve(prefix, Route::ok(json), Route::ok(sig))
    }

    /// Another server on 127.0.0.1, presenting `identity`'s certificate, serving `json`
    /// signed by the pinned key at `/snapshot.json`.
    pub fn other_server(&self, identity: Identity, json: &str) -> Server {
        let other = Server::start(identity);
        other.route("/snapshot.json", Route::ok(json));
        other.route("/snapshot.json.sig", Route::ok(self.sign(json)));
        other
    }

    /// Serves these routes at `PREFIX/snapshot.json` and `.sig`; returns the URL.
    pub fn serve(&self, prefix: &str, json: Route, sig: Route) -> String {
        self.server.route(&format!("{prefix}/snapshot.json"), json);
        self.server
            .route(&format!("{prefix}/snapshot.json.sig"), sig);
        self.server.url(&format!("{prefix}/snapshot.json"))
    }

    /// Writes a configuration for `url`. `source` adds or replaces `[source]` keys (raw
    /// TOML values); by default the pinned key, the test CA and short timeouts.
    pub fn config(&self, name: &str, url: &str, source: &[(&str, &str)]) -> PathBuf {
        let dir = self.sandbox.dir();
        let mut keys: BTreeMap<&str, String> = BTreeMap::new();
        keys.insert("url", toml_str(url));
        keys.insert(
            "signing_keys",
            format!("[{}]", toml_str(&self.signer.public_line())),
        );
        keys.insert("ca_bundle", toml_str(dir.join("ca.pem").to_str().unwrap()));
        keys.insert("connect_timeout", toml_str("2s"));
        keys.insert("timeout", toml_str("10s"));
        for (k, v) in source {
            keys.insert(k, v.to_string());
        }
        let mut text = String::from("[source]\n");
        for (k, v) in keys {
            text += &format!("{k} = {v}\n");
        }
        text += &format!(
            "\n[paths]\nstate_dir = \"/var/lib/roster\"\npasswd = {}\ngroup = {}\nshells = {}\n",
            toml_str(dir.join("etc/passwd").to_str().unwrap()),
            toml_str(dir.join("etc/group").to_str().unwrap()),
            toml_str(dir.join("etc/shells").to_str().unwrap()),
        );
        let path = self.path(&format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The configuration of a source that serves `json` signed by the pinned key.
    pub fn source(&self, name: &str, json: &str) -> PathBuf {
        let url = self.publish(&format!("/{name}"), json);
        self.config(name, &url, &[])
    }

    /// The namespace step that runs `roster sync` with `config`.
    pub fn sync(&self, config: &Path) -> String {
        format!(
            "exec {} --config {} sync",
            quote(&artifacts().roster),
            quote(config)
        )
    }

    pub fn status(&self, config: &Path) -> String {
        format!(
            "exec {} --config {} status --json",
            quote(&artifacts().roster),
            quote(config)
        )
    }

    /// Runs `prelude`, installs serial 1 from `/base`, then syncs with each of `configs`
    /// in turn, recording what each did and what the host serves after it.
    pub fn attempts(&self, prelude: &[String], configs: &[&Path]) -> Vec<Attempt> {
        let mut steps: Vec<String> = prelude.to_vec();
        steps.push(self.sync(&self.base));
        steps.push(PROBE.into());
        for config in configs {
            steps.push(self.sync(config));
            steps.push(PROBE.into());
            steps.push(self.status(config));
            steps.push("exec getent passwd alice".into());
        }
        let mut out = self.sandbox.run_steps(&steps).into_iter();
        for step in out.by_ref().take(prelude.len()) {
            assert_eq!(step.status, 0, "prelude failed: {step:#?}");
        }
        let base = out.next().unwrap();
        assert_eq!(
            (base.status, base.stdout.as_str(), base.stderr.as_str()),
            (0, "roster: installed snapshot serial 1\n", ""),
            "the first sync should install serial 1"
        );
        let mut before = files(&out.next().unwrap());
        assert_installed_files(&before);
        let mut attempts = Vec::new();
        while let Some(sync) = out.next() {
            let after = files(&out.next().unwrap());
            let status = out.next().unwrap();
            let status_json = serde_json::from_str(&status.stdout)
                .unwrap_or_else(|e| panic!("roster status --json: {e}: {status:#?}"));
            attempts.push(Attempt {
                sync,
                before: std::mem::replace(&mut before, after.clone()),
                after,
                status: status_json,
                alice: out.next().unwrap(),
            });
        }
        attempts
    }

    /// [`SourceHost::attempts`] for one configuration.
    pub fn attempt(&self, config: &Path) -> Attempt {
        self.attempts(&[], &[config]).pop().unwrap()
    }
}

pub fn toml_str(s: &str) -> String {
    json_str(s) // A JSON string literal without control characters is a TOML one.
}

pub fn quote(p: &Path) -> String {
    sh_quote(p.to_str().expect("UTF-8 path"))
}

/// Lists /var/lib/roster: `NAME INODE SIZE MTIME SHA256` per entry.
pub const PROBE: &str = "cd /var/lib/roster || exit 1\n\
    for f in $(ls -A); do\n\
      echo \"$f $(stat -c '%i %s %y' \"$f\") $(sha256sum < \"$f\" | cut -d' ' -f1)\"\n\
    done";

/// What [`PROBE`] saw: file name → inode, size, mtime and content hash.
pub type Files = BTreeMap<String, String>;

pub fn files(probe: &Step) -> Files {
    assert_eq!(probe.status, 0, "probe failed: {probe:#?}");
    probe
        .stdout
        .lines()
        .map(|l| {
            let (name, facts) = l.split_once(' ').unwrap();
            (name.to_owned(), facts.to_owned())
        })
        .collect()
}

/// One `roster sync` and the host after it.
#[derive(Debug)]
pub struct Attempt {
    pub sync: Step,
    pub before: Files,
    pub after: Files,
    /// `roster status --json` right after.
    pub status: serde_json::Value,
    /// `getent passwd alice` right after.
    pub alice: Step,
}

/// Files every installed state directory holds.
pub const INSTALLED_FILES: [&str; 3] = ["snapshot", "state.json", "user_ca_keys"];

/// The state directory holds the installed files and no temporary (dot)
/// file other than the sync's lock, `.lock`.
#[track_caller]
pub fn assert_installed_files(files: &Files) {
    for name in INSTALLED_FILES {
        assert!(files.contains_key(name), "no {name}: {files:#?}");
    }
    assert!(
        files.keys().all(|n| !n.starts_with('.') || n == ".lock"),
        "temporary file left behind: {files:#?}"
    );
}
