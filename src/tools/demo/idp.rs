//! The demo's identity provider: a real `roster-scim` (beside this binary, or
//! the roster-scim package's) on 127.0.0.1:8441 inside the demo's
//! namespaces, and the requests Okta sends it, made here in Okta's dialect
//! (docs/scim-dialects.md): POST /Users, POST /Groups with members, PATCH
//! `add` of members, and deactivation as a PATCH `replace` without a path.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{StepFailed, io};

const LISTEN: &str = "127.0.0.1:8441";
const TOKEN: &str = "demo-okta-token";
pub const PROJECT: &str = "demo";

pub struct Idp {
    child: Child,
    agent: ureq::Agent,
    /// PUBLISH/demo/snapshot.json
    pub snapshot: PathBuf,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Idp {
    /// Starts roster-scim in `dir`, signing with `signing_key` and publishing
    /// `user_ca`: the operator's keys from the first chapters.
    pub fn start(
        exe: &Path,
        dir: &Path,
        signing_key: &Path,
        user_ca: &Path,
    ) -> Result<Idp, StepFailed> {
        let binary = [exe.with_file_name("roster-scim"), PathBuf::from("/usr/sbin/roster-scim")]
            .into_iter()
            .find(|p| p.is_file())
            .ok_or_else(|| {
                StepFailed("roster-scim is neither beside this binary (a cargo build) nor installed (the roster-scim package)".into())
            })?;
        std::fs::create_dir_all(dir).map_err(io)?;
        let digest = hash_token(&binary)?;
        let config = format!(
            "listen = \"{LISTEN}\"\nbase_url = \"http://{LISTEN}/scim/v2\"\n\
             database = {db:?}\npublish = {publish:?}\nsigning_key = {key:?}\nuser_cas = [{ca:?}]\n\
             valid_for = \"1d\"\n\n\
             [[connection]]\nname = \"okta\"\ntokens = [{token:?}]\n\n\
             [project.{PROJECT}]\nusers = [\"Engineering\"]\nadmins = [\"SRE\"]\n",
            db = dir.join("scim.db").display().to_string(),
            publish = dir.join("publish").display().to_string(),
            key = signing_key.display().to_string(),
            ca = user_ca.display().to_string(),
            token = digest,
        );
        let path = dir.join("scim.toml");
        std::fs::write(&path, &config).map_err(io)?;
        print!("operator/scim/scim.toml (roster-scim's configuration):\n{config}");
        let mut child = Command::new(&binary)
            .args(["serve", "--config"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| StepFailed(format!("{}: {e}", binary.display())))?;
        // Its log goes to operator/scim/roster-scim.log; the "serving" line says it listens.
        let stderr = child.stderr.take().expect("piped");
        let mut log = std::fs::File::create(dir.join("roster-scim.log")).map_err(io)?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::Write;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(log, "{line}");
                if line.contains("\"serving\"") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(10)).map_err(|_| {
            StepFailed("roster-scim did not start: see operator/scim/roster-scim.log".into())
        })?;
        println!(
            "(roster-scim serves SCIM 2.0 on http://{LISTEN}/scim/v2 and publishes operator/scim/publish/)"
        );
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Ok(Idp {
            child,
            agent,
            snapshot: dir.join("publish").join(PROJECT).join("snapshot.json"),
        })
    }

    /// One request as Okta makes it; shows it and its status, checks the status.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Value,
        status: u16,
    ) -> Result<Value, StepFailed> {
        let url = format!("http://{LISTEN}/scim/v2{path}");
        let request = match method {
            "POST" => self.agent.post(&url),
            "PATCH" => self.agent.patch(&url),
            other => return Err(StepFailed(format!("the demo does not send {other}"))),
        };
        let mut response = request
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .content_type("application/scim+json")
            .send(body.to_string())
            .map_err(|e| StepFailed(format!("{method} {url}: {e}")))?;
        let got = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        println!("IdP → {method} /scim/v2{path} {body}\n     ← {got}");
        if got != status {
            return Err(StepFailed(format!(
                "{method} {path}: {got}, not {status}: {text}"
            )));
        }
        serde_json::from_str(&text).map_err(|e| StepFailed(format!("{method} {path}: {e}")))
    }

    /// Okta's POST /Users; the new user's id.
    pub fn create_user(
        &self,
        user_name: &str,
        given: &str,
        family: &str,
    ) -> Result<String, StepFailed> {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "name": {"givenName": given, "familyName": family},
            "emails": [{"primary": true, "value": user_name, "type": "work"}],
            "displayName": format!("{given} {family}"),
            "active": true,
        });
        id(self.send("POST", "/Users", body, 201)?)
    }

    /// Okta's group push: POST /Groups with its members; the group's id.
    pub fn create_group(&self, name: &str, members: &[(&str, &str)]) -> Result<String, StepFailed> {
        let members: Vec<Value> = members
            .iter()
            .map(|(id, display)| json!({"value": id, "display": display}))
            .collect();
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name,
            "members": members,
        });
        id(self.send("POST", "/Groups", body, 201)?)
    }

    /// Okta's membership change: PATCH `add` of `members`.
    pub fn add_member(&self, group: &str, user: &str, display: &str) -> Result<(), StepFailed> {
        let body = patch(
            json!([{"op": "add", "path": "members", "value": [{"value": user, "display": display}]}]),
        );
        self.send("PATCH", &format!("/Groups/{group}"), body, 200)
            .map(drop)
    }

    /// Okta's deactivation: PATCH `replace` without a path, `{"active": false}`.
    pub fn deactivate(&self, user: &str) -> Result<(), StepFailed> {
        let body = patch(json!([{"op": "replace", "value": {"active": false}}]));
        self.send("PATCH", &format!("/Users/{user}"), body, 200)
            .map(drop)
    }

    /// Waits (up to 10 s) until the published snapshot satisfies `wanted`;
    /// returns its serial and how long that took.
    pub fn published(
        &self,
        what: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> Result<(u64, Duration), StepFailed> {
        let started = Instant::now();
        loop {
            let snapshot: Option<Value> = std::fs::read(&self.snapshot)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            if let Some(s) = snapshot.filter(&wanted) {
                return Ok((s["serial"].as_u64().unwrap_or(0), started.elapsed()));
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err(StepFailed(format!(
                    "roster-scim did not publish {what} within 10 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// `roster-scim hash-token` of the demo's token: what scim.toml lists.
fn hash_token(binary: &Path) -> Result<String, StepFailed> {
    use std::io::Write;
    let mut child = Command::new(binary)
        .arg("hash-token")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| StepFailed(format!("{}: {e}", binary.display())))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(TOKEN.as_bytes())
        .map_err(io)?;
    let out = child.wait_with_output().map_err(io)?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

fn id(v: Value) -> Result<String, StepFailed> {
    v["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| StepFailed(format!("no id in {v}")))
}

/// The user named `name` in a published snapshot, if any.
pub fn user<'s>(snapshot: &'s Value, name: &str) -> Option<&'s Value> {
    snapshot["users"]
        .as_array()?
        .iter()
        .find(|u| u["name"] == name)
}
