//! The `/metrics` server under bad and heavy input: a tool serving it runs as root, so garbage,
//! oversized and never-finished requests must get an error or a time-out, never a panic or a
//! stuck server, and a normal scrape must still be answered at once, with every count.

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use hist_output::server::{MetricsServer, REQUEST_TIMEOUT};

/// A server whose every scrape says how many scrapes came before it.
fn counting_server() -> (MetricsServer, Arc<AtomicU64>) {
    let scrapes = Arc::new(AtomicU64::new(0));
    let server = MetricsServer::start("127.0.0.1:0", {
        let scrapes = Arc::clone(&scrapes);
        move || {
            let n = scrapes.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(format!("# TYPE scrapes counter\nscrapes_total {n}\n"))
        }
    })
    .unwrap();
    (server, scrapes)
}

/// Sends `request` as is and reads the answer until the server closes (or 2 × the time-out).
fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(REQUEST_TIMEOUT * 2)).unwrap();
    // A server that closes early may reset the rest of a large request: not an error here.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// A normal scrape, answered quickly and whole.
fn scrape_ok(addr: SocketAddr) {
    let started = Instant::now();
    let answer = exchange(addr, b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(answer.contains("scrapes_total "), "{answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a scrape took {:?}",
        started.elapsed()
    );
}

fn status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[test]
fn garbage_gets_an_error_and_the_server_goes_on() {
    let (server, scrapes) = counting_server();
    let addr = server.local_addr();
    for garbage in [
        &b"\x00\xff\xfe garbage \x07\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"GET /metrics HTTP/9.9\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"\r\n\r\n\r\n",
    ] {
        let answer = exchange(addr, garbage);
        // Either an error status or a closed connection: never a 200, never a hang.
        assert!(
            answer.is_empty() || status(&answer) >= 400,
            "{garbage:?} -> {answer:?}"
        );
    }
    assert_eq!(scrapes.load(Ordering::SeqCst), 0, "no garbage was rendered");
    scrape_ok(addr);
}

#[test]
fn a_1mb_header_is_refused() {
    let (server, scrapes) = counting_server();
    let addr = server.local_addr();
    let mut request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 1 << 20));
    request.extend(b"\r\n\r\n");
    let answer = exchange(addr, &request);
    assert!(
        answer.is_empty() || status(&answer) >= 400,
        "{}",
        &answer[..answer.len().min(200)]
    );
    assert_eq!(scrapes.load(Ordering::SeqCst), 0);
    scrape_ok(addr);
}

#[test]
fn idle_and_unfinished_connections_do_not_stop_a_scrape() {
    let (server, _) = counting_server();
    let addr = server.local_addr();
    // 100 connections that send nothing, and one that never finishes its headers.
    let idle: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let mut unfinished = TcpStream::connect(addr).unwrap();
    unfinished
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    thread::sleep(Duration::from_millis(200));
    scrape_ok(addr);
    // The unfinished request is timed out: the server closes it without an answer.
    unfinished
        .set_read_timeout(Some(REQUEST_TIMEOUT * 3))
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let closed = unfinished.read_to_end(&mut rest);
    assert!(
        closed.is_ok() && started.elapsed() < REQUEST_TIMEOUT * 2,
        "{closed:?} after {:?}: {:?}",
        started.elapsed(),
        String::from_utf8_lossy(&rest)
    );
    drop(idle);
    scrape_ok(addr);
}

#[test]
fn concurrent_scrapes_each_get_a_whole_answer() {
    let (server, scrapes) = counting_server();
    let addr = server.local_addr();
    let answers: Vec<String> = thread::scope(|scope| {
        let workers: Vec<_> = (0..50)
            .map(|_| scope.spawn(move || exchange(addr, b"GET /metrics HTTP/1.0\r\n\r\n")))
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    // Every scrape was rendered once and answered whole: the counts 1..=50, each once.
    let mut seen: Vec<u64> = answers
        .iter()
        .map(|answer| {
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
            let line = answer.lines().last().unwrap();
            line.strip_prefix("scrapes_total ")
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    seen.sort();
    assert_eq!(seen, (1..=50).collect::<Vec<u64>>());
    assert_eq!(scrapes.load(Ordering::SeqCst), 50);
}
