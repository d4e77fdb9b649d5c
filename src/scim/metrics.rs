//! `/metrics`, in the Prometheus text format: requests by connection,
//! method and status; the time from an acknowledged change to its signed
//! snapshot on disk; each project's users and serial.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    publish_latency: Histogram,
    publish_failures: Counter,
    users: Family<Labels, Gauge>,
    serial: Family<Labels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("roster_scim");
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "requests",
            "SCIM requests by connection, method and status",
            requests.clone(),
        );
        // 5 ms to ~10 s: the goal is the 1 s bucket.
        let publish_latency = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        registry.register(
            "publish_latency_seconds",
            "From the first change a round publishes to its snapshots on disk",
            publish_latency.clone(),
        );
        let publish_failures = Counter::default();
        registry.register(
            "publish_failures",
            "Rounds that failed to publish",
            publish_failures.clone(),
        );
        let users = Family::<Labels, Gauge>::default();
        registry.register(
            "project_users",
            "Persons in each project's last snapshot",
            users.clone(),
        );
        let serial = Family::<Labels, Gauge>::default();
        registry.register(
            "project_serial",
            "Serial of each project's last snapshot",
            serial.clone(),
        );
        Metrics {
            registry,
            requests,
            publish_latency,
            publish_failures,
            users,
            serial,
        }
    }
}

impl Metrics {
    pub fn request(&self, connection: &str, method: &str, status: u16) {
        let labels = vec![
            ("connection", connection.to_owned()),
            ("method", method.to_owned()),
            ("status", status.to_string()),
        ];
        self.requests.get_or_create(&labels).inc();
    }

    pub fn published(&self, project: &str, users: usize, serial: u64) {
        let labels = vec![("project", project.to_owned())];
        self.users.get_or_create(&labels).set(users as i64);
        self.serial.get_or_create(&labels).set(serial as i64);
    }

    pub fn publish_latency(&self, seconds: f64) {
        self.publish_latency.observe(seconds);
    }

    pub fn publish_failed(&self) {
        self.publish_failures.inc();
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_each_series() {
        let m = Metrics::default();
        m.request("okta", "PATCH", 200);
        m.published("web", 3, 17);
        m.publish_latency(0.2);
        let text = m.render();
        for line in [
            "roster_scim_requests_total{connection=\"okta\",method=\"PATCH\",status=\"200\"} 1",
            "roster_scim_project_users{project=\"web\"} 3",
            "roster_scim_project_serial{project=\"web\"} 17",
            "roster_scim_publish_latency_seconds_count 1",
            "roster_scim_publish_failures_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
    }
}
