//! The agent's node_exporter textfile through the real node_exporter: Debian's
//! `/usr/bin/prometheus-node-exporter`, started by the test as a child on 127.0.0.1 and a
//! free port with only the textfile collector, reading the folder the test's `roster sync`
//! wrote (`[paths] metrics`), scraped over HTTP, killed by its PID. The machine's own
//! node_exporter service and folder are never used. Needs root, `ssh-keygen` and the
//! `prometheus-node-exporter` package.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::https::Route;
use crate::common::source::{SourceHost, toml_str};
use crate::common::{json_str, snapshot_json_with, user};
use crate::sync::flip_signature_byte;

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// A node_exporter serving the textfiles in `dir`; killed on drop.
struct NodeExporter {
    child: Child,
    port: u16,
}

impl NodeExporter {
    fn start(dir: &Path) -> NodeExporter {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(NODE_EXPORTER)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(["--collector.disable-defaults", "--collector.textfile"])
            .arg(format!("--collector.textfile.directory={}", dir.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{NODE_EXPORTER}: {e} (apt-get install prometheus-node-exporter)")
            });
        NodeExporter { child, port }
    }

    /// The samples of one scrape: `name{labels}` → value.
    fn scrape(&self) -> BTreeMap<String, f64> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let body = loop {
            match self.get() {
                Ok(body) => break body,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => panic!("scraping node_exporter on port {}: {e}", self.port),
            }
        };
        body.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (name, value) = l.rsplit_once(' ').unwrap();
                (name.to_owned(), value.parse().unwrap())
            })
            .collect()
    }

    fn get(&self) -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{head}"
        );
        Ok(body.to_owned())
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as f64
}

/// The `roster_` samples node_exporter serves from the textfiles in `dir`, which it
/// must have read without error.
pub(crate) fn scrape_roster(dir: &Path) -> BTreeMap<String, f64> {
    roster_samples(&NodeExporter::start(dir).scrape())
}

/// The `roster_` samples and node_exporter's verdict on the file.
fn roster_samples(all: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    assert_eq!(
        all.get("node_textfile_scrape_error"),
        Some(&0.0),
        "{all:#?}"
    );
    all.iter()
        .filter(|(k, _)| k.starts_with("roster_"))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

#[test]
fn node_exporter_serves_the_sync_metrics_and_counts_a_bad_signature() {
    // An hour ago: fresh, and a whole second, as the signed document says it.
    let issued = &roster::time::format_rfc3339(now() as i64 - 3600);
    let snapshot = |serial: u64| {
        snapshot_with_issued(
            serial,
            issued,
            &[user("alice", 10001, 10001, "Alice", "/bin/bash")],
        )
    };
    let host = SourceHost::serving(|_| snapshot(1));
    let good_dir = host.path("textfile-good");
    let bad_dir = host.path("textfile-bad");
    std::fs::create_dir_all(&good_dir).unwrap();
    std::fs::create_dir_all(&bad_dir).unwrap();
    let with_metrics = |config: &Path, dir: &Path| {
        let mut text = std::fs::read_to_string(config).unwrap();
        // [paths] is the configuration's last table.
        text += &format!(
            "metrics = {}\n",
            toml_str(dir.join("roster.prom").to_str().unwrap())
        );
        std::fs::write(config, text).unwrap();
    };
    with_metrics(&host.base, &good_dir);
    let json = snapshot(2);
    let sig = flip_signature_byte(&host.sign(&json));
    let url = host.serve("/bad", Route::ok(json.as_str()), Route::ok(sig));
    let bad = host.config("bad", &url, &[]);
    with_metrics(&bad, &bad_dir);

    let before = now();
    let steps = host
        .sandbox
        .run_steps(&[host.sync(&host.base), host.sync(&bad)]);
    let after = now();
    assert_eq!(steps[0].status, 0, "{:#?}", steps[0]);
    assert_ne!(steps[1].status, 0, "{:#?}", steps[1]);
    assert!(steps[1].stderr.contains("signature"), "{:#?}", steps[1]);

    let issued_at = roster::time::parse_rfc3339(issued).unwrap() as f64;
    let good = scrape_roster(&good_dir);
    assert_eq!(good["roster_snapshot_serial"], 1.0, "{good:#?}");
    assert_eq!(good["roster_snapshot_issued_timestamp_seconds"], issued_at);
    assert_eq!(good["roster_snapshot_users"], 1.0);
    assert_eq!(good["roster_snapshot_max_age_seconds"], 86_400.0);
    let success = good["roster_sync_last_success_timestamp_seconds"];
    assert!((before..=after).contains(&success), "{good:#?}");
    let age = good["roster_snapshot_age_seconds"];
    assert!(
        (before - issued_at..=after - issued_at).contains(&age),
        "{good:#?}"
    );
    assert!(!good.contains_key("roster_sync_last_failure_timestamp_seconds"));
    assert_eq!(
        good["roster_sync_failures_total{reason=\"signature\"}"],
        0.0
    );
    assert_eq!(
        good["roster_offboard_events_total{event=\"offboarded\"}"],
        0.0
    );

    let failed = scrape_roster(&bad_dir);
    assert_eq!(failed["roster_snapshot_serial"], 1.0, "{failed:#?}");
    assert_eq!(
        failed["roster_sync_failures_total{reason=\"signature\"}"],
        1.0
    );
    assert_eq!(
        failed["roster_sync_failures_total{reason=\"transport\"}"],
        0.0
    );
    let failure = failed["roster_sync_last_failure_timestamp_seconds"];
    assert!((success..=after).contains(&failure), "{failed:#?}");
    assert_eq!(
        failed["roster_sync_last_success_timestamp_seconds"],
        success
    );
    // No temporary file is left beside the metrics.
    let names: Vec<_> = std::fs::read_dir(&bad_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["roster.prom"]);
}

fn snapshot_with_issued(serial: u64, issued: &str, users: &[String]) -> String {
    snapshot_json_with(
        serial,
        "2099-01-01T00:00:00Z",
        users,
        &[],
        &[("issued_at", json_str(issued))],
    )
}
