//! `--prometheus ADDR`: an HTTP server answering `GET /metrics`, on threads of its own.
//!
//! [`MetricsServer::start`] binds `ADDR` at once, so a bad or busy address is a one-line error
//! (`cannot listen on 127.0.0.1:99999: port "99999" is not a number from 0 to 65535`), then
//! serves until it is dropped. A tool binds first ([`MetricsServer::bind`]), before it loads
//! anything, and serves the bound address once tracing ([`MetricsServer::serve`]).
//!
//! | request | answer |
//! |---|---|
//! | `GET /metrics` (any query string) | 200, the text `render` returns, `Content-Type:` [`prometheus::CONTENT_TYPE`] |
//! | `GET /metrics` when `render` fails | 500, the first line of its error, `text/plain` |
//! | another path | 404 |
//! | another method on `/metrics` | 405, `Allow: GET` |
//! | a request line that is not HTTP | 400 |
//! | a request head over [`MAX_REQUEST_HEAD`] bytes | 431 |
//! | a request head not complete within [`REQUEST_TIMEOUT`] | the connection is closed |
//!
//! The tool serving it often runs as root, and a scrape must never stall it: every connection
//! has its own thread and [`REQUEST_TIMEOUT`] to send its request and take the answer, at most
//! [`MAX_CONNECTIONS`] are open at once (more are closed at once), one answer per connection
//! (`Connection: close`), and `render` runs one scrape at a time. A panic in `render` is a 500.
//! Requests are parsed by `httparse` (hyper's parser); the reading around it is this server's
//! own, because it is what must be bounded: `tiny_http`, tried first, reads a request head of
//! any size into memory, so one client could exhaust the tool's memory.
//!
//! A scrape reveals what the text format carries: the histograms, with the section labels the
//! tool prints (operation names, or pids and process names for per-process histograms), and
//! the drop counters. Bind it where only the scraper can reach it (`127.0.0.1:9435`), or
//! firewall the port.
//!
//! # ADDR
//!
//! - `HOST:PORT`: `127.0.0.1:9435`, `localhost:9435` (every address the name resolves to is
//!   tried in order, the first that binds wins), `[::1]:9435`.
//! - `:PORT`: every interface, as in Prometheus' own exporters (ebpf_exporter's default is
//!   `:9435`): IPv6 and IPv4 on the dual-stack `[::]`, or `0.0.0.0` where the machine has no
//!   IPv6.
//! - Port `0` picks a free port; [`MetricsServer::local_addr`] tells which (tests use
//!   `127.0.0.1:0`).

use std::{
    io::{self, Read as _, Write as _},
    net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs},
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use super::prometheus;

/// The path that serves the metrics.
pub const METRICS_PATH: &str = "/metrics";
/// How long a client has to send its request head, and to take each part of the answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest request head (request line and headers) read; a longer one gets a 431.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// The most connections served at once; more are closed as they come.
pub const MAX_CONNECTIONS: usize = 256;

/// `ADDR` could not be listened on: it does not parse, does not resolve, or cannot be bound.
///
/// Its text is one line: `cannot listen on ADDR: reason`.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {cause}")]
pub struct Error {
    /// The address as given.
    pub addr: String,
    /// What went wrong: `InvalidInput` for an address that does not parse, else the error of
    /// resolving or binding it (`AddrInUse`, `PermissionDenied`…).
    pub cause: io::Error,
}

/// What renders a scrape: the text, or a one-line reason for a 500.
type Render = dyn Fn() -> Result<String, String> + Send;

/// An address bound for a [`MetricsServer`], not served yet.
#[derive(Debug)]
pub struct Listener {
    addr: String,
    listener: TcpListener,
    local_addr: SocketAddr,
}

impl Listener {
    /// The address bound, with the port it got for port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

/// An HTTP server of `/metrics` on threads of its own; it stops when dropped.
pub struct MetricsServer {
    local_addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl MetricsServer {
    /// Binds `addr` (see the [module docs](self#addr)) and serves `GET /metrics` with what
    /// `render` returns, calling it once per scrape, one scrape at a time.
    ///
    /// `render` gives the Prometheus text format ([`prometheus::encode`]) or a one-line reason
    /// why it cannot, which the scraper gets as a 500. A panic in `render` is a 500 too, and the
    /// server goes on.
    pub fn start<F>(addr: &str, render: F) -> Result<MetricsServer, Error>
    where
        F: Fn() -> Result<String, String> + Send + 'static,
    {
        Self::serve(Self::bind(addr)?, render)
    }

    /// Binds `addr` (see the [module docs](self#addr)), for [`serve`](Self::serve) to serve
    /// later: a tool checks its address this way before it starts tracing.
    pub fn bind(addr: &str) -> Result<Listener, Error> {
        let error = |cause| Error {
            addr: addr.to_owned(),
            cause,
        };
        let listener = bind(addr).map_err(error)?;
        let local_addr = listener.local_addr().map_err(error)?;
        Ok(Listener {
            addr: addr.to_owned(),
            listener,
            local_addr,
        })
    }

    /// Serves `GET /metrics` on a bound address, as [`start`](Self::start) does.
    pub fn serve<F>(listener: Listener, render: F) -> Result<MetricsServer, Error>
    where
        F: Fn() -> Result<String, String> + Send + 'static,
    {
        let Listener {
            addr,
            listener,
            local_addr,
        } = listener;
        let error = |cause| Error { addr, cause };
        let stopping = Arc::new(AtomicBool::new(false));
        let render: Arc<Mutex<Box<Render>>> = Arc::new(Mutex::new(Box::new(render)));
        let thread = thread::Builder::new()
            .name("hist-metrics".into())
            .spawn({
                let stopping = Arc::clone(&stopping);
                move || accept(&listener, &stopping, &render)
            })
            .map_err(error)?;
        Ok(MetricsServer {
            local_addr,
            stopping,
            thread: Some(thread),
        })
    }

    /// The address the server listens on, with the port it got for port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URL of the metrics, `http://127.0.0.1:9435/metrics`.
    pub fn url(&self) -> String {
        format!("http://{}{METRICS_PATH}", self.local_addr)
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop with a connection of our own; on `[::]` or `0.0.0.0`, through
        // loopback.
        let mut wake = self.local_addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, REQUEST_TIMEOUT);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The accept loop: one thread per connection, at most [`MAX_CONNECTIONS`] at once, until the
/// server is dropped.
fn accept(listener: &TcpListener, stopping: &AtomicBool, render: &Arc<Mutex<Box<Render>>>) {
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else {
            // Out of file descriptors or a connection reset before accept: the next may do.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            continue; // dropped: closed
        }
        let (open, render) = (Arc::clone(&open), Arc::clone(render));
        let spawned = thread::Builder::new()
            .name("hist-metrics-conn".into())
            .spawn(move || {
                serve(stream, &render);
                open.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            // No thread to serve it: the stream went with the closure, closed.
            eprintln!("metrics server: cannot start a thread for a connection");
        }
    }
}

/// Reads one request from `stream` and answers it.
fn serve(mut stream: TcpStream, render: &Mutex<Box<Render>>) {
    let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
    let _ = stream.set_write_timeout(Some(REQUEST_TIMEOUT));
    let response = match read_head(&mut stream) {
        Head::Complete(request) => respond(&request, render),
        Head::Invalid => Response::text(400, "not an HTTP/1.x request\n".to_owned()),
        Head::TooLarge => {
            Response::text(431, format!("request head over {MAX_REQUEST_HEAD} bytes\n"))
        }
        // Timed out, or the client went away: no one to answer.
        Head::Incomplete => return,
    };
    let _ = stream.write_all(&response.bytes());
    let _ = stream.shutdown(Shutdown::Write);
    // Let the client read the answer before the close: drain what it still sends, briefly.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let _ = io::copy(&mut stream.take(MAX_REQUEST_HEAD as u64), &mut io::sink());
}

/// What a client sent before its head ended, or did not.
enum Head {
    /// A whole request head: its method and target.
    Complete(Request),
    /// Not HTTP/1.x: a bad request line or header.
    Invalid,
    TooLarge,
    Incomplete,
}

/// What the server needs of a request.
struct Request {
    method: String,
    target: String,
}

/// Reads until a request head is whole (by `httparse`), within [`REQUEST_TIMEOUT`] in all.
fn read_head(stream: &mut TcpStream) -> Head {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match parse(&head) {
            Parsed::Partial => {}
            Parsed::Complete(request) => return Head::Complete(request),
            Parsed::Invalid => return Head::Invalid,
        }
        if head.len() > MAX_REQUEST_HEAD {
            return Head::TooLarge;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Head::Incomplete;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return Head::Incomplete,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
}

/// [`parse`]'s verdict on the bytes received so far.
enum Parsed {
    Complete(Request),
    Partial,
    Invalid,
}

/// The most headers a request may have.
const MAX_HEADERS: usize = 64;

/// Parses a request head with `httparse` (request line, header names and values, HTTP/1.0 or
/// 1.1); a `Content-Length` must also be a number.
fn parse(head: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(_) => Parsed::Invalid,
        Ok(httparse::Status::Complete(_)) => {
            let content_length_ok = request
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
                .all(|h| {
                    std::str::from_utf8(h.value).is_ok_and(|v| v.trim().parse::<u64>().is_ok())
                });
            match (request.method, request.path, content_length_ok) {
                (Some(method), Some(target), true) => Parsed::Complete(Request {
                    method: method.to_owned(),
                    target: target.to_owned(),
                }),
                _ => Parsed::Invalid,
            }
        }
    }
}

/// The answer to a complete request head.
fn respond(request: &Request, render: &Mutex<Box<Render>>) -> Response {
    let Request { method, target } = request;
    let path = target.split('?').next().unwrap_or_default();
    if path != METRICS_PATH {
        return Response::text(
            404,
            format!("not found: the metrics are at {METRICS_PATH}\n"),
        );
    }
    if method != "GET" {
        let mut response = Response::text(405, format!("method {method} not allowed: use GET\n"));
        response.allow_get = true;
        return response;
    }
    // One scrape at a time; a panic in an earlier one left nothing half-done in the lock.
    let render = render.lock().unwrap_or_else(|e| e.into_inner());
    match catch_unwind(AssertUnwindSafe(&*render)) {
        Ok(Ok(body)) => Response {
            status: 200,
            content_type: prometheus::CONTENT_TYPE,
            body,
            allow_get: false,
        },
        Ok(Err(reason)) => Response::text(500, format!("{}\n", first_line(&reason))),
        Err(_) => Response::text(500, "rendering the metrics panicked\n".to_owned()),
    }
}

/// An answer, always the last on its connection.
struct Response {
    status: u16,
    content_type: &'static str,
    body: String,
    allow_get: bool,
}

impl Response {
    fn text(status: u16, body: String) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
            allow_get: false,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let Self {
            status,
            content_type,
            body,
            allow_get,
        } = self;
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            431 => "Request Header Fields Too Large",
            _ => "Internal Server Error",
        };
        let allow = if *allow_get { "Allow: GET\r\n" } else { "" };
        let mut bytes = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\n{allow}Connection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        bytes
    }
}

fn first_line(text: &str) -> &str {
    let line = text.lines().next().unwrap_or_default().trim();
    if line.is_empty() {
        "cannot render the metrics"
    } else {
        line
    }
}

/// The addresses `addr` names, in the order to try them (see the [module docs](self#addr)).
fn resolve(addr: &str) -> io::Result<Vec<SocketAddr>> {
    let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| invalid("expected HOST:PORT or :PORT, like 127.0.0.1:9435".to_owned()))?;
    let port: u16 = port
        .parse()
        .map_err(|_| invalid(format!("port {port:?} is not a number from 0 to 65535")))?;
    if host.is_empty() {
        return Ok(vec![
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        ]);
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ip: Ipv6Addr = v6
            .parse()
            .map_err(|_| invalid(format!("{v6:?} is not an IPv6 address")))?;
        return Ok(vec![SocketAddr::from((ip, port))]);
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve {host:?}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host:?} resolves to no address"),
        ));
    }
    Ok(addrs)
}

/// Binds the first address of `addr` that can be bound; the last error when none can.
fn bind(addr: &str) -> io::Result<TcpListener> {
    let mut last = None;
    for candidate in resolve(addr)? {
        match TcpListener::bind(candidate) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("resolve returns at least one address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse() {
        assert_eq!(
            resolve("127.0.0.1:9435").unwrap(),
            ["127.0.0.1:9435".parse().unwrap()]
        );
        assert_eq!(resolve("[::1]:80").unwrap(), ["[::1]:80".parse().unwrap()]);
        assert_eq!(
            resolve(":9435").unwrap(),
            [
                "[::]:9435".parse().unwrap(),
                "0.0.0.0:9435".parse::<SocketAddr>().unwrap()
            ]
        );
        let localhost = resolve("localhost:0").unwrap();
        assert!(
            localhost
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 0),
            "{localhost:?}"
        );
    }

    #[test]
    fn bad_addresses_say_why() {
        let reason = |addr| resolve(addr).unwrap_err().to_string();
        assert_eq!(
            reason("127.0.0.1:99999"),
            r#"port "99999" is not a number from 0 to 65535"#
        );
        assert_eq!(
            reason("9435"),
            "expected HOST:PORT or :PORT, like 127.0.0.1:9435"
        );
        assert_eq!(
            reason("localhost:"),
            r#"port "" is not a number from 0 to 65535"#
        );
        assert_eq!(reason("[::x]:1"), r#""::x" is not an IPv6 address"#);
        assert_eq!(
            resolve("127.0.0.1:x").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn request_heads() {
        let complete = |head: &[u8]| match parse(head) {
            Parsed::Complete(Request { method, target }) => Some((method, target)),
            _ => None,
        };
        assert_eq!(
            complete(b"GET /metrics?x=1 HTTP/1.1\r\nHost: localhost:9435\r\n\r\n"),
            Some(("GET".into(), "/metrics?x=1".into()))
        );
        assert_eq!(
            complete(b"POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n"),
            Some(("POST".into(), "/".into()))
        );
        assert!(matches!(
            parse(b"GET /metrics HTTP/1.1\r\nHost: x\r\n"),
            Parsed::Partial
        ));
        assert!(matches!(parse(b""), Parsed::Partial));
        for bad in [
            &b"GET /metrics HTTP/2\r\n\r\n"[..],
            b"GET /metrics HTTP/1.1 x\r\n\r\n",
            b"GET /m\x00 HTTP/1.1\r\n\r\n",
            b"\x00\xff garbage\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
        ] {
            assert!(matches!(parse(bad), Parsed::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn first_lines() {
        assert_eq!(first_line("map gone\nmore"), "map gone");
        assert_eq!(first_line(""), "cannot render the metrics");
    }
}
