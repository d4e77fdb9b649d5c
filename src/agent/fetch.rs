//! Getting the snapshot and its signature from the source: `https://` with
//! ureq (agent only), `http://` to this host's loopback only, or `file:///`
//! for a source on local disk.
//!
//! The source is any static HTTP server — an object store, a CDN, nginx —
//! so conditional requests keep an unchanged snapshot to one 304 per poll.

use std::fmt;
use std::io::Read;
use std::time::Duration;

use crate::agent::config;

/// What the source said about the snapshot we already have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug)]
pub enum Fetched {
    /// 304: the installed snapshot is still the current one.
    NotModified,
    New {
        snapshot: Vec<u8>,
        signature: Vec<u8>,
        validators: Validators,
    },
}

#[derive(Debug)]
pub enum FetchError {
    Http {
        url: String,
        status: u16,
    },
    /// Connection, TLS, timeout, a body over the cap, a broken gzip stream…
    Transport {
        url: String,
        error: String,
    },
    TooLarge {
        url: String,
        max: u64,
    },
    /// A redirect to another scheme or host.
    Redirect {
        url: String,
        location: String,
    },
    Token(String),
    File {
        path: String,
        error: std::io::Error,
    },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http { url, status } => write!(f, "{url}: HTTP status {status}"),
            Self::Transport { url, error } => write!(f, "{url}: {error}"),
            Self::TooLarge { url, max } => write!(f, "{url}: body is over the {max}-byte limit"),
            Self::Redirect { url, location } => {
                write!(
                    f,
                    "{url}: refused redirect to {location:?} (another host or scheme)"
                )
            }
            Self::Token(e) => write!(f, "bearer token: {e}"),
            Self::File { path, error } => write!(f, "{path}: {error}"),
        }
    }
}

impl std::error::Error for FetchError {}

/// A source of snapshots; the sync logic is tested against fakes.
pub trait Fetch {
    /// Fetches `url` (conditionally, when `cached` has validators) and, when
    /// it changed, `url.sig`, each request saying `user_agent`.
    fn fetch(
        &mut self,
        url: &str,
        cached: &Validators,
        user_agent: &str,
    ) -> Result<Fetched, FetchError>;
}

/// Every request's User-Agent: `roster/VERSION host=NAME serial=SERIAL`, the
/// host's configured name and the serial it has installed before the
/// request (`none` without one), so that the origin's ordinary access log is
/// a record of the fleet (`roster fleet report` reads it). roster.toml's
/// host names are letters, digits, `-`, `_` and `.`: always a header value.
pub fn user_agent(host_name: &str, installed: Option<u64>) -> String {
    let version = env!("CARGO_PKG_VERSION");
    match installed {
        Some(serial) => format!("roster/{version} host={host_name} serial={serial}"),
        None => format!("roster/{version} host={host_name} serial=none"),
    }
}

/// The real source: `https://`, loopback `http://` or `file:///`.
pub struct Source {
    agent: ureq::Agent,
    /// What `agent` was made from: a next round's source with the same
    /// keeps it, and with it the kept-alive connection and TLS session.
    made_from: AgentSettings,
    token: Option<String>,
    max_bytes: u64,
}

#[derive(PartialEq, Eq)]
struct AgentSettings {
    /// The CA bundles' contents, the system's first (empty when absent).
    bundles: Vec<Vec<u8>>,
    connect_timeout_secs: u64,
    timeout_secs: u64,
    https_only: bool,
    keep_alive: Duration,
}

/// How many same-host redirects are followed.
const MAX_REDIRECTS: usize = 3;
/// The signature file is small; anything bigger is not one.
const MAX_SIG_BYTES: u64 = 64 << 10;

impl Source {
    /// The source `cfg` describes, its token and CA bundles read now. An
    /// idle connection is kept for `keep_alive` (the agent's wait between
    /// syncs and a margin; the origin must keep it as long, docs/fleet.md),
    /// and `previous`'s connections are taken over when nothing they
    /// depend on changed.
    pub fn new(
        cfg: &config::Source,
        max_bytes: u64,
        keep_alive: Duration,
        previous: Option<Source>,
    ) -> Result<Source, FetchError> {
        let token = match &cfg.token_file {
            None => None,
            Some(path) => Some(read_token(path)?),
        };
        let mut bundles = Vec::new();
        let mut paths = vec![std::path::PathBuf::from(crate::paths::SYSTEM_ROOTS)];
        paths.extend(cfg.ca_bundle.iter().cloned());
        for (i, path) in paths.iter().enumerate() {
            bundles.push(match std::fs::read(path) {
                Ok(pem) => pem,
                // The system bundle may be absent; a configured one may not.
                Err(_) if i == 0 => Vec::new(),
                Err(e) => {
                    return Err(FetchError::File {
                        path: path.display().to_string(),
                        error: e,
                    });
                }
            });
        }
        let settings = AgentSettings {
            bundles,
            connect_timeout_secs: cfg.connect_timeout_secs,
            timeout_secs: cfg.timeout_secs,
            // Plain HTTP only for the loopback URL the configuration allowed.
            https_only: !config::is_loopback_http(&cfg.url),
            keep_alive,
        };
        let agent = match previous {
            Some(p) if p.made_from == settings => p.agent,
            _ => agent(&settings),
        };
        Ok(Source {
            agent,
            made_from: settings,
            token,
            max_bytes,
        })
    }

    /// GET with same-host redirects; returns the final response.
    fn get(
        &self,
        url: &str,
        cached: &Validators,
        user_agent: &str,
    ) -> Result<(String, ureq::http::Response<ureq::Body>), FetchError> {
        let mut url = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            let mut req = self.agent.get(&url).header("User-Agent", user_agent);
            if let Some(t) = &self.token {
                req = req.header("Authorization", format!("Bearer {t}"));
            }
            if let Some(etag) = &cached.etag {
                req = req.header("If-None-Match", etag);
            }
            if let Some(lm) = &cached.last_modified {
                req = req.header("If-Modified-Since", lm);
            }
            let resp = req.call().map_err(|e| FetchError::Transport {
                url: url.clone(),
                error: e.to_string(),
            })?;
            if !resp.status().is_redirection() || resp.status() == 304 {
                return Ok((url, resp));
            }
            let location = header(&resp, "location").unwrap_or_default();
            let next = same_host_redirect(&url, &location).ok_or_else(|| FetchError::Redirect {
                url: url.clone(),
                location,
            })?;
            url = next;
        }
        Err(FetchError::Transport {
            url,
            error: "too many redirects".into(),
        })
    }

    fn body(
        &self,
        url: &str,
        resp: ureq::http::Response<ureq::Body>,
        max: u64,
    ) -> Result<Vec<u8>, FetchError> {
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(FetchError::Http {
                url: url.to_owned(),
                status,
            });
        }
        let mut body = resp.into_body();
        // The limit applies after gzip decoding: a gzip bomb stops at `max`.
        body.with_config()
            .limit(max)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge {
                    url: url.to_owned(),
                    max,
                },
                e => FetchError::Transport {
                    url: url.to_owned(),
                    error: e.to_string(),
                },
            })
    }
}

fn agent(s: &AgentSettings) -> ureq::Agent {
    let roots: Vec<_> = s
        .bundles
        .iter()
        .flat_map(|pem| ureq::tls::parse_pem(pem))
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
        .build();
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(s.connect_timeout_secs)))
        .timeout_global(Some(Duration::from_secs(s.timeout_secs)))
        .https_only(s.https_only)
        .max_idle_age(s.keep_alive)
        // Redirects are followed by hand, to refuse other hosts.
        .max_redirects(0)
        .http_status_as_error(false)
        .tls_config(tls)
        .build()
        .new_agent()
}

impl Fetch for Source {
    fn fetch(
        &mut self,
        url: &str,
        cached: &Validators,
        user_agent: &str,
    ) -> Result<Fetched, FetchError> {
        if let Some(path) = url.strip_prefix("file://") {
            return fetch_file(path, self.max_bytes);
        }
        let (final_url, resp) = self.get(url, cached, user_agent)?;
        if resp.status() == 304 {
            return Ok(Fetched::NotModified);
        }
        let validators = Validators {
            etag: header(&resp, "etag"),
            last_modified: header(&resp, "last-modified"),
        };
        let snapshot = self.body(&final_url, resp, self.max_bytes)?;
        // The signature sits beside the snapshot where the redirects led.
        let sig_url = format!("{final_url}.sig");
        let (final_sig_url, resp) = self.get(&sig_url, &Validators::default(), user_agent)?;
        let signature = self.body(&final_sig_url, resp, MAX_SIG_BYTES)?;
        Ok(Fetched::New {
            snapshot,
            signature,
            validators,
        })
    }
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The redirect target if it stays on the same scheme and host (absolute,
/// absolute-path or relative Location), else `None`. Hosts compare without
/// case, and an explicit default port is the same host.
fn same_host_redirect(from: &str, location: &str) -> Option<String> {
    let origin = |u: &str| -> Option<String> {
        let (scheme, default_port) = if u.starts_with("https://") {
            ("https", ":443")
        } else {
            ("http", ":80")
        };
        let host = config::url_host(u)?.to_ascii_lowercase();
        let host = host.strip_suffix(default_port).unwrap_or(&host).to_owned();
        (!host.is_empty()).then(|| format!("{scheme}://{host}"))
    };
    let from_origin = origin(from)?;
    if location.starts_with("//") {
        return None;
    }
    if location.starts_with('/') {
        return Some(format!("{from_origin}{location}"));
    }
    if !location.contains("://") && !location.is_empty() {
        // Relative to the directory of the current path.
        let path = &from[from.find("://").map_or(0, |i| i + 3)..];
        let path = path.find('/').map_or("/", |i| &path[i..]);
        let path = path.split(['?', '#']).next().unwrap_or("/");
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        return Some(format!("{from_origin}{dir}{location}"));
    }
    (origin(location)? == from_origin).then(|| location.to_owned())
}

/// The bearer token file must be a regular file, owned by root, mode 0600.
fn read_token(path: &std::path::Path) -> Result<String, FetchError> {
    use std::os::unix::fs::MetadataExt;
    let name = path.display();
    let meta =
        std::fs::symlink_metadata(path).map_err(|e| FetchError::Token(format!("{name}: {e}")))?;
    if !meta.is_file() || meta.uid() != 0 || meta.mode() & 0o077 != 0 {
        return Err(FetchError::Token(format!(
            "{name} must be a regular file owned by root with mode 0600 (is {:o}, uid {})",
            meta.mode() & 0o7777,
            meta.uid()
        )));
    }
    let token =
        std::fs::read_to_string(path).map_err(|e| FetchError::Token(format!("{name}: {e}")))?;
    let token = token.trim();
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FetchError::Token(format!(
            "{name}: empty or not a printable token"
        )));
    }
    Ok(token.to_owned())
}

fn fetch_file(path: &str, max: u64) -> Result<Fetched, FetchError> {
    let read = |p: String, max: u64| -> Result<Vec<u8>, FetchError> {
        let f = std::fs::File::open(&p).map_err(|error| FetchError::File {
            path: p.clone(),
            error,
        })?;
        let mut v = Vec::new();
        f.take(max + 1)
            .read_to_end(&mut v)
            .map_err(|error| FetchError::File {
                path: p.clone(),
                error,
            })?;
        if v.len() as u64 > max {
            return Err(FetchError::TooLarge {
                url: format!("file://{p}"),
                max,
            });
        }
        Ok(v)
    };
    Ok(Fetched::New {
        snapshot: read(path.to_owned(), max)?,
        signature: read(format!("{path}.sig"), MAX_SIG_BYTES)?,
        validators: Validators::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_agent_names_the_host_and_its_installed_serial() {
        let v = env!("CARGO_PKG_VERSION");
        assert_eq!(
            user_agent("web-0042", Some(1_796_000_123)),
            format!("roster/{v} host=web-0042 serial=1796000123")
        );
        assert_eq!(
            user_agent("web-0042", None),
            format!("roster/{v} host=web-0042 serial=none")
        );
    }

    #[test]
    fn redirects_stay_on_the_same_host() {
        let from = "https://id.example/a/s.json";
        assert_eq!(
            same_host_redirect(from, "/b/s.json").as_deref(),
            Some("https://id.example/b/s.json")
        );
        assert_eq!(
            same_host_redirect(from, "https://id.example/c").as_deref(),
            Some("https://id.example/c")
        );
        assert_eq!(
            same_host_redirect(from, "t.json").as_deref(),
            Some("https://id.example/a/t.json")
        );
        assert_eq!(
            same_host_redirect(from, "https://ID.example:443/c").as_deref(),
            Some("https://ID.example:443/c")
        );
        for bad in [
            "https://evil.example/s.json",
            "//evil.example/x",
            "http://id.example/x",
            "https://id.example.evil/x",
            "ftp://id.example/x",
            "",
        ] {
            assert_eq!(same_host_redirect(from, bad), None, "{bad}");
        }
        let local = "http://127.0.0.1:8080/s.json";
        assert_eq!(
            same_host_redirect(local, "/t.json").as_deref(),
            Some("http://127.0.0.1:8080/t.json")
        );
        for bad in ["https://127.0.0.1:8080/s.json", "http://127.0.0.1:9/s.json"] {
            assert_eq!(same_host_redirect(local, bad), None, "{bad}");
        }
    }
}
