//! A real `roster-scim` on 127.0.0.1 for the SCIM tests: its own folder (under the
//! target directory), signing key, database and publish directory; requests with the
//! connection's bearer token; the published snapshots read back.
//!
//! ```ignore
//! let scim = Scim::start(Scim::config().project(PROJECT));
//! let (status, bob) = scim.post("/Users", &json!({...}));
//! let snapshot = scim.published_after("web", 0);   // waits for a serial above 0
//! scim.kill9(); scim.restart();                   // same database, same port
//! ```

use serde_json::Value;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::artifacts;
use super::key::Key;
use super::process::wait_timeout;

pub const TOKEN: &str = "roster-test-token";

/// What goes into scim.toml besides the paths the harness sets.
#[derive(Clone)]
pub struct ScimConfig {
    /// Top-level keys (`heartbeat = "1s"`) and tables (`[limits]` …).
    pub top: String,
    /// `[project.NAME]` tables.
    pub projects: String,
    /// User CA public key files.
    pub user_cas: Vec<PathBuf>,
}

impl ScimConfig {
    pub fn top(mut self, lines: &str) -> Self {
        self.top.push_str(lines);
        self.top.push('\n');
        self
    }

    pub fn project(mut self, table: &str) -> Self {
        self.projects.push_str(table);
        self.projects.push('\n');
        self
    }

    pub fn user_ca(mut self, public: &Path) -> Self {
        self.user_cas.push(public.to_owned());
        self
    }
}

pub struct Scim {
    pub dir: PathBuf,
    /// `http://127.0.0.1:PORT/scim/v2`
    pub url: String,
    /// The key the snapshots are signed with.
    pub signer: Key,
    config: ScimConfig,
    port: u16,
    child: Option<Child>,
    agent: ureq::Agent,
}

impl Scim {
    pub fn config() -> ScimConfig {
        ScimConfig {
            top: String::new(),
            projects: String::new(),
            user_cas: Vec::new(),
        }
    }

    /// Starts the service on a free port and waits until it listens.
    pub fn start(config: ScimConfig) -> Scim {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "scim-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let signer = Key::generate(&dir, "snapshot-signer", "ed25519");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut scim = Scim {
            dir,
            url: String::new(),
            signer,
            config,
            port: 0,
            child: None,
            agent,
        };
        scim.launch();
        scim
    }

    fn write_config(&self) -> PathBuf {
        let d = &self.dir;
        let cas: Vec<String> = self
            .config
            .user_cas
            .iter()
            .map(|p| format!("{:?}", p.display().to_string()))
            .collect();
        let text = format!(
            "listen = \"127.0.0.1:{port}\"\nbase_url = \"http://127.0.0.1:{port}/scim/v2\"\n\
             database = {db:?}\npublish = {publish:?}\nsigning_key = {key:?}\nuser_cas = [{cas}]\n\
             {top}\n[accounts]\nlocal_accounts = [\"/usr/share/base-passwd/passwd.master\", \
             \"/usr/share/base-passwd/group.master\"]\n\n\
             [[connection]]\nname = \"test-idp\"\ntokens = [{token:?}]\n\n{projects}",
            port = self.port,
            db = d.join("scim.db").display().to_string(),
            publish = d.join("publish").display().to_string(),
            key = self.signer.private.display().to_string(),
            cas = cas.join(", "),
            top = self.config.top,
            token = roster::scim::hash_token(TOKEN),
            projects = self.config.projects,
        );
        let path = d.join("scim.toml");
        fs::write(&path, text).unwrap();
        path
    }

    fn launch(&mut self) {
        let config = self.write_config();
        let binary = artifacts().roster.with_file_name("roster-scim");
        let mut child = Command::new(binary)
            .args(["serve", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start roster-scim");
        // The "serving" line names the bound port; everything it logs is kept.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log_path = self.dir.join("service.log");
        std::thread::spawn(move || {
            let mut log = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log_path)
                .unwrap();
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                use std::io::Write;
                let _ = writeln!(log, "{line}");
                if !sent && line.contains("\"serving\"") {
                    let _ = tx.send(line.clone());
                    sent = true;
                }
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| {
                panic!("roster-scim did not start:\n{}", self.log());
            });
        let v: Value = serde_json::from_str(&line).unwrap();
        let listen = v["fields"]["listen"].as_str().unwrap();
        self.port = listen.rsplit(':').next().unwrap().parse().unwrap();
        self.url = format!("http://127.0.0.1:{}/scim/v2", self.port);
        self.child = Some(child);
    }

    /// Everything the service logged so far (all its runs).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("service.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL, and wait for it.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGTERM; the exit status (within 30 s).
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        wait_timeout(&mut child, Duration::from_secs(30), || {}).unwrap_or_else(|| {
            let _ = child.kill();
            panic!(
                "roster-scim did not exit within 30 s of SIGTERM:\n{}",
                self.log()
            )
        })
    }

    /// Starts it again on the same port, database and publish directory.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop it first");
        self.launch();
    }

    /// Publishes `public` as a user CA from now on (a restart: the CA of a host
    /// built after the service).
    pub fn trust_user_ca(&mut self, public: &Path) {
        assert!(self.terminate().success(), "{}", self.log());
        self.config.user_cas.push(public.to_owned());
        self.launch();
    }

    /// A request with the bearer token; the status and the JSON body (Null if none).
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.request_as(Some(TOKEN), method, path, body.map(Value::to_string))
    }

    pub fn request_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let auth = token.map(|t| format!("Bearer {t}"));
        let response = match (method, body) {
            ("GET" | "DELETE", _) => {
                let mut r = match method {
                    "GET" => self.agent.get(&url),
                    _ => self.agent.delete(&url),
                };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            (_, body) => {
                let mut r = match method {
                    "POST" => self.agent.post(&url),
                    "PUT" => self.agent.put(&url),
                    "PATCH" => self.agent.patch(&url),
                    other => panic!("method {other}"),
                };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.content_type("application/scim+json")
                    .send(body.unwrap_or_default())
            }
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, body)
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.request("POST", path, Some(body))
    }

    pub fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        self.request("PATCH", path, Some(body))
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.request("GET", path, None)
    }

    /// `PUBLISH/PROJECT/snapshot.json`.
    pub fn snapshot_path(&self, project: &str) -> PathBuf {
        self.dir.join("publish").join(project).join("snapshot.json")
    }

    /// The published snapshot of `project`, if any.
    pub fn published(&self, project: &str) -> Option<Value> {
        let text = fs::read_to_string(self.snapshot_path(project)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Waits (up to 10 s) for a published serial above `serial`.
    pub fn published_after(&self, project: &str, serial: u64) -> Value {
        self.published_when(project, &format!("a serial above {serial}"), |s| {
            s["serial"].as_u64().unwrap() > serial
        })
    }

    /// Waits (up to 10 s) for a published snapshot of which `wanted` is true.
    pub fn published_when(
        &self,
        project: &str,
        what: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = self.published(project)
                && wanted(&s)
            {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{project}: no snapshot with {what} within 10 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Scim {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A core-schema user for `user_name`.
pub fn user(user_name: &str) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Test", "familyName": "Person"},
        "active": true,
    })
}

/// A PatchOp body.
pub fn patch_op(operations: Value) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": operations,
    })
}
