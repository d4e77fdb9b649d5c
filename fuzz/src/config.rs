//! `config`: text as roster.toml → `Config::parse(text, "web-01")`.
//!
//! Never panics; what it accepts obeys the documented rules (a source URL
//! and at least one signing key, host names and labels in `[A-Za-z0-9._-]`,
//! absolute home prefixes other than `/`, ids of at least 1, a valid admin
//! group, a sync interval of at least a second).

use roster::agent::config::{Config, is_loopback_http, url_host};
use roster::snapshot::valid_name;

pub fn run(data: &[u8]) {
    let text = crate::text(data);
    let Ok(c) = Config::parse(&text, "web-01") else {
        return;
    };
    let url = &c.source.url;
    assert!(
        url.starts_with("file:///")
            || is_loopback_http(url)
            || (url.starts_with("https://") && url_host(url).is_some_and(|h| !h.is_empty())),
        "source.url {url:?} accepted"
    );
    assert!(!c.source.signing_keys.is_empty());
    for name in std::iter::once(&c.host.host_name).chain(&c.host.host_labels) {
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "host name or label {name:?} accepted"
        );
    }
    for p in &c.policy.home_prefixes {
        assert!(p.starts_with('/') && p != "/", "home prefix {p:?} accepted");
    }
    assert!(c.policy.min_uid >= 1 && c.policy.min_gid >= 1);
    let admin = c.policy.admin_group.as_ref().expect("an admin group");
    assert!(valid_name(&admin.name).is_ok() && admin.gid != 0);
    assert!(c.sync.interval_secs >= 1);
}
