//! `--prometheus ADDR`: an HTTP server answering `GET /metrics`, on its own thread.
//!
//! [`MetricsServer::start`] binds `ADDR` at once, so a bad or busy address is a one-line error
//! before the tool does anything else (`cannot listen on 127.0.0.1:99999: port "99999" is not
//! a number from 0 to 65535`), then serves on a thread of its own until it is dropped. HTTP is
//! spoken by the `tiny_http` crate.
//!
//! | request | answer |
//! |---|---|
//! | `GET /metrics` (any query string) | 200, the text `render` returns, `Content-Type:` [`prometheus::CONTENT_TYPE`] |
//! | `GET /metrics` when `render` fails | 500, the first line of its error, `text/plain` |
//! | another path | 404 |
//! | another method on `/metrics` | 405, `Allow: GET` |
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
    io,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, ToSocketAddrs},
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
};

use tiny_http::{Header, Method, Request, Response, Server};

use super::prometheus;

/// The path that serves the metrics.
pub const METRICS_PATH: &str = "/metrics";

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

/// An HTTP server of `/metrics` on its own thread; it stops when dropped.
pub struct MetricsServer {
    server: Arc<Server>,
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
    /// `render` returns, calling it once per scrape on the server's thread.
    ///
    /// `render` gives the Prometheus text format ([`prometheus::encode`]) or a one-line reason
    /// why it cannot, which the scraper gets as a 500. A panic in `render` is a 500 too, and the
    /// server goes on.
    pub fn start<F>(addr: &str, render: F) -> Result<MetricsServer, Error>
    where
        F: Fn() -> Result<String, String> + Send + 'static,
    {
        let error = |cause| Error {
            addr: addr.to_owned(),
            cause,
        };
        let listener = bind(addr).map_err(error)?;
        let local_addr = listener.local_addr().map_err(error)?;
        let server = Server::from_listener(listener, None)
            .map_err(|e| error(io::Error::other(e.to_string())))?;
        let server = Arc::new(server);
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("hist-metrics".into())
            .spawn({
                let server = Arc::clone(&server);
                let stopping = Arc::clone(&stopping);
                move || serve(&server, &stopping, local_addr, &render)
            })
            .map_err(error)?;
        Ok(MetricsServer {
            server,
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
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            // The thread only ends by the unblock above or by a failed accept; a panic is
            // caught per request, so there is nothing to report from it.
            let _ = thread.join();
        }
        // Dropping the last `Arc<Server>` stops tiny_http's accept thread and closes the socket.
    }
}

/// The server's loop: answer requests until [`MetricsServer`] is dropped.
fn serve(
    server: &Server,
    stopping: &AtomicBool,
    addr: SocketAddr,
    render: &dyn Fn() -> Result<String, String>,
) {
    loop {
        match server.recv() {
            Ok(request) => respond(request, render),
            Err(_) if stopping.load(Ordering::SeqCst) => return,
            Err(e) => {
                // tiny_http stops accepting after this: say so rather than go quiet.
                eprintln!("metrics server on {addr} stopped: {e}");
                return;
            }
        }
    }
}

fn respond(request: Request, render: &dyn Fn() -> Result<String, String>) {
    let path = request.url().split('?').next().unwrap_or_default();
    let response = if path != METRICS_PATH {
        text(
            404,
            format!("not found: the metrics are at {METRICS_PATH}\n"),
        )
    } else if *request.method() != Method::Get {
        text(
            405,
            format!("method {} not allowed: use GET\n", request.method()),
        )
        .with_header(header("Allow", "GET"))
    } else {
        match catch_unwind(AssertUnwindSafe(render)) {
            Ok(Ok(body)) => Response::from_string(body)
                .with_header(header("Content-Type", prometheus::CONTENT_TYPE)),
            Ok(Err(reason)) => text(500, format!("{}\n", first_line(&reason))),
            Err(_) => text(500, "rendering the metrics panicked\n".to_owned()),
        }
    };
    // A scraper that hung up gets nothing: there is no one to tell.
    let _ = request.respond(response);
}

fn text(status: u16, body: String) -> Response<io::Cursor<Vec<u8>>> {
    Response::from_string(body)
        .with_status_code(status)
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("ASCII header without newlines")
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
    fn first_lines() {
        assert_eq!(first_line("map gone\nmore"), "map gone");
        assert_eq!(first_line(""), "cannot render the metrics");
    }
}
