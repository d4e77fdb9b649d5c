//! A scripted HTTPS source on 127.0.0.1 for the sync tests.
//!
//! Each test starts its own [`Server`] (an ephemeral port, one thread per connection) and
//! says, per path, what it answers: a status, headers and body, an ETag-aware 200/304, a
//! body cut short, a stall. Every request is logged with its headers so a test can count
//! them and check the conditional-GET headers. Responses carry `Connection: close`: one
//! request per TLS connection keeps the log and the failure modes simple.
//!
//! Certificates come from a private CA made with rcgen when the tests start; nothing is
//! committed. [`Pki::write_ca`] writes the CA certificate for `source.ca_bundle`.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Longest a stalled or silent connection is held open (the test has failed long before).
const MAX_STALL: Duration = Duration::from_secs(60);

/// Which certificate the server presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// Issued by the test CA for IP 127.0.0.1 and DNS `localhost`.
    Loopback,
    /// Issued by the test CA for `other.example` only.
    OtherName,
    /// For 127.0.0.1, but issued by a CA the client is never told about.
    UnknownCa,
}

/// The test PKI: one trusted CA and the server certificates, made once per test binary.
pub struct Pki {
    ca_pem: String,
    configs: HashMap<&'static str, Arc<rustls::ServerConfig>>,
}

impl Pki {
    pub fn get() -> &'static Pki {
        static PKI: OnceLock<Pki> = OnceLock::new();
        PKI.get_or_init(|| {
            let trusted = make_ca("roster test CA");
            let stranger = make_ca("some other CA");
            let mut configs = HashMap::new();
            configs.insert("loopback", leaf(&trusted, &["127.0.0.1", "localhost"]));
            configs.insert("other", leaf(&trusted, &["other.example"]));
            configs.insert("unknown", leaf(&stranger, &["127.0.0.1", "localhost"]));
            Pki {
                ca_pem: trusted.pem(),
                configs,
            }
        })
    }

    /// Writes the trusted CA certificate (PEM) to `path`.
    pub fn write_ca(&self, path: &Path) {
        std::fs::write(path, &self.ca_pem).expect("write CA bundle");
    }

    fn config(&self, identity: Identity) -> Arc<rustls::ServerConfig> {
        let key = match identity {
            Identity::Loopback => "loopback",
            Identity::OtherName => "other",
            Identity::UnknownCa => "unknown",
        };
        Arc::clone(&self.configs[key])
    }
}

fn make_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).expect("make test CA")
}

fn leaf(issuer: &CertifiedIssuer<'static, KeyPair>, names: &[&str]) -> Arc<rustls::ServerConfig> {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, &names[0]);
    let cert = params
        .signed_by(&key, issuer)
        .expect("issue server certificate");
    let chain = vec![CertificateDer::from(cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server TLS config");
    Arc::new(config)
}

/// What the server does for one path.
#[derive(Clone, Debug)]
pub enum Route {
    /// Answers with this status, these headers and this body (Content-Length is added).
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// 200 with `ETag` and `Last-Modified`, or 304 when the request's `If-None-Match` is
    /// `etag` — what nginx or an object store does for a static file.
    Static {
        etag: String,
        last_modified: String,
        body: Vec<u8>,
    },
    /// Announces `Content-Length: declared`, sends `body` (shorter), then closes the
    /// connection: cleanly (TLS close_notify, as a server that lost its file would) or by
    /// just dropping it (as a dying proxy would).
    Truncated {
        declared: usize,
        body: Vec<u8>,
        close_notify: bool,
    },
    /// Sends the headers and the first bytes of a body, then nothing more.
    StallBody { declared: usize },
}

impl Route {
    pub fn ok(body: impl Into<Vec<u8>>) -> Route {
        Route::Respond {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn status(status: u16) -> Route {
        Route::Respond {
            status,
            headers: Vec::new(),
            body: format!("status {status}\n").into_bytes(),
        }
    }

    pub fn redirect(status: u16, location: &str) -> Route {
        Route::Respond {
            status,
            headers: vec![("Location".into(), location.into())],
            body: Vec::new(),
        }
    }
}

/// One request as the server read it. Header names are lower-cased.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    routes: Mutex<HashMap<String, Route>>,
    /// Path prefixes redirected elsewhere: (from, to, status).
    prefix_redirects: Mutex<Vec<(String, String, u16)>>,
    log: Mutex<Vec<Request>>,
    /// TCP connections accepted (including silent ones and failed handshakes).
    connections: Mutex<u32>,
    stop: AtomicBool,
}

/// A loopback HTTPS server; stopped when dropped.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Server {
    /// A server presenting `identity`'s certificate.
    pub fn start(identity: Identity) -> Server {
        Server::spawn(Some(Pki::get().config(identity)))
    }

    /// A server that accepts TCP connections and never says a word (not even TLS).
    pub fn start_silent() -> Server {
        Server::spawn(None)
    }

    fn spawn(tls: Option<Arc<rustls::ServerConfig>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let s = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                *s.connections.lock().unwrap() += 1;
                let s = Arc::clone(&s);
                let tls = tls.clone();
                std::thread::spawn(move || match tls {
                    Some(tls) => serve(stream, tls, &s),
                    None => hold(stream, &s),
                });
            }
        });
        Server { addr, shared }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `https://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    pub fn route(&self, path: &str, route: Route) {
        self.shared
            .routes
            .lock()
            .unwrap()
            .insert(path.to_owned(), route);
    }

    /// Redirects every path under `from` to the same path under `to` (absolute URL or
    /// path), as a moved folder would.
    pub fn redirect_prefix(&self, from: &str, to: &str, status: u16) {
        self.shared
            .prefix_redirects
            .lock()
            .unwrap()
            .push((from.into(), to.into(), status));
    }

    /// Every request served so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.log.lock().unwrap().clone()
    }

    /// The paths requested so far, in order.
    pub fn paths(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.path).collect()
    }

    pub fn connections(&self) -> u32 {
        *self.shared.connections.lock().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Sleeps until the server stops or `MAX_STALL` passes.
fn stall(shared: &Shared) {
    let until = Instant::now() + MAX_STALL;
    while !shared.stop.load(Ordering::Relaxed) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn hold(stream: TcpStream, shared: &Shared) {
    stall(shared);
    drop(stream);
}

fn serve(stream: TcpStream, tls: Arc<rustls::ServerConfig>, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let conn = rustls::ServerConnection::new(tls).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, stream);
    // A failed handshake (the client refused our certificate) ends up here as an error.
    let Some(request) = read_request(&mut tls) else {
        return;
    };
    let route = lookup(shared, &request);
    shared.log.lock().unwrap().push(request.clone());
    let head = |status: u16, headers: &[(String, String)], len: usize| {
        let mut h = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        for (name, value) in headers {
            h += &format!("{name}: {value}\r\n");
        }
        h += &format!("Content-Length: {len}\r\nConnection: close\r\n\r\n");
        h.into_bytes()
    };
    let result = match route {
        Route::Respond {
            status,
            headers,
            body,
        } => send(&mut tls, &[head(status, &headers, body.len()), body]),
        Route::Static {
            etag,
            last_modified,
            body,
        } => {
            let headers = [
                ("ETag".to_owned(), etag.clone()),
                ("Last-Modified".to_owned(), last_modified),
            ];
            if request.header("if-none-match") == Some(etag.as_str()) {
                send(&mut tls, &[head(304, &headers, 0)])
            } else {
                send(&mut tls, &[head(200, &headers, body.len()), body])
            }
        }
        Route::Truncated {
            declared,
            body,
            close_notify,
        } => {
            let _ = tls.write_all(&head(200, &[], declared));
            let _ = tls.write_all(&body);
            if close_notify {
                tls.conn.send_close_notify();
            }
            let _ = tls.flush();
            let _ = tls.sock.shutdown(Shutdown::Both);
            return;
        }
        Route::StallBody { declared } => {
            let _ = tls.write_all(&head(200, &[], declared));
            let _ = tls.write_all(b"{\"format\":");
            let _ = tls.flush();
            stall(shared);
            return;
        }
    };
    if result.is_ok() {
        tls.conn.send_close_notify();
        let _ = tls.flush();
    }
}

fn send(tls: &mut impl Write, parts: &[Vec<u8>]) -> std::io::Result<()> {
    for part in parts {
        tls.write_all(part)?;
    }
    tls.flush()
}

fn lookup(shared: &Shared, request: &Request) -> Route {
    for (from, to, status) in shared.prefix_redirects.lock().unwrap().iter() {
        if let Some(rest) = request.path.strip_prefix(from.as_str()) {
            return Route::redirect(*status, &format!("{to}{rest}"));
        }
    }
    shared
        .routes
        .lock()
        .unwrap()
        .get(&request.path)
        .cloned()
        .unwrap_or_else(|| Route::status(404))
}

/// Reads one request head (the sync client sends no body). `None` if the connection or
/// the handshake failed first.
fn read_request(tls: &mut impl Read) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
        if buf.len() > 64 << 10 {
            return None;
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?;
    let path = target.split('?').next().unwrap_or(target).to_owned();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(Request {
        method,
        path,
        headers,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Whatever",
    }
}

/// A gzip stream that inflates to `gib` GiB of zeros but is about 1 MB per GiB: one
/// deflate segment for 1 MiB of zeros, ended with a full flush so it stands alone, repeated
/// 1024 times per GiB, then a final empty block and the real CRC-32 and length. Built in
/// milliseconds instead of compressing a gibibyte.
pub fn gzip_bomb(gib: u32) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    const MIB: usize = 1 << 20;
    let zeros = vec![0u8; MIB];
    let segment = {
        let mut c = Compress::new(Compression::best(), false);
        let mut out = Vec::with_capacity(MIB);
        c.compress_vec(&zeros, &mut out, FlushCompress::Full)
            .unwrap();
        assert_eq!(c.total_in() as usize, MIB, "deflate consumed the whole MiB");
        out
    };
    let end = {
        let mut c = Compress::new(Compression::best(), false);
        let mut out = Vec::with_capacity(64);
        c.compress_vec(&[], &mut out, FlushCompress::Finish)
            .unwrap();
        out
    };
    let copies = 1024 * gib as usize;
    // CRC-32 of the whole output by doubling the 1 MiB CRC.
    let mut unit = crc32fast::Hasher::new();
    unit.update(&zeros);
    let mut crc = crc32fast::Hasher::new();
    let mut n = copies;
    while n > 0 {
        if n & 1 == 1 {
            crc.combine(&unit);
        }
        let double = unit.clone();
        unit.combine(&double);
        n >>= 1;
    }
    let total = (copies * MIB) as u64;
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    gz.reserve(segment.len() * copies + 32);
    for _ in 0..copies {
        gz.extend_from_slice(&segment);
    }
    gz.extend_from_slice(&end);
    gz.extend_from_slice(&crc.finalize().to_le_bytes());
    gz.extend_from_slice(&(total as u32).to_le_bytes());
    gz
}

/// `body` gzip-compressed (an honest `Content-Encoding: gzip` response).
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(body).unwrap();
    e.finish().unwrap()
}
