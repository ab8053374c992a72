//! The Prometheus text as Prometheus itself reads it: `promtool check metrics` lints it, and a
//! real `prometheus` server scrapes a [`MetricsServer`] and answers `histogram_quantile`.
//!
//! Needs Debian's `prometheus` package (`/usr/bin/prometheus`, `/usr/bin/promtool`; the
//! project's set-up installs it). The server runs on 127.0.0.1 with its config and TSDB in a
//! temporary directory, and is killed at the end of the test, also when it fails.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime},
};

use hist_user::{
    Histogram, Report,
    hist_core::{Layout, Unit},
    output::{
        prometheus::{self, Family, encode_families},
        server::MetricsServer,
    },
};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";
const METRIC: &str = "nfsdist_latency_seconds";

fn need(program: &str) {
    assert!(
        Path::new(program).exists(),
        "{program} is missing: install Debian's prometheus package \
         (apt-get install --no-install-recommends prometheus)"
    );
}

/// 1000 reads of known latency: 900 in the slot `4096 -> 8191` µs, 100 in `16384 -> 32767`.
fn known_report() -> Report {
    let mut read = Histogram::new(26);
    read.add(12, 900);
    read.add(14, 100);
    Report {
        tool: "nfsdist".into(),
        layout: Layout::log2(26),
        unit: Unit::Microseconds,
        section: Some("operation".into()),
        histograms: vec![("read".into(), read, Some(900 * 6_000 + 100 * 20_000))],
        time: SystemTime::now(),
    }
}

#[test]
fn promtool_accepts_the_text() {
    need(PROMTOOL);
    let known = known_report();
    let mut per_pid = known_report();
    per_pid.section = Some("pid".into());
    per_pid.histograms[0].0 = "1234 a\"b\\c".into();
    per_pid.histograms[0].2 = None; // NaN _sum
    let text = encode_families(&[
        Family::new(METRIC, "NFS operation latency.", &known),
        Family::new(
            "cpudist_oncpu_seconds",
            "On-CPU time.\nPer process.",
            &per_pid,
        )
        .with_detail_label("comm"),
    ])
    .unwrap();

    let mut promtool = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    // Exit 0 with no output: parsed, and no lint problem (names, units, histogram shape).
    assert!(
        output.status.success() && output.stdout.is_empty() && output.stderr.is_empty(),
        "promtool check metrics: {}\n{}{}\n--- text:\n{text}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A `prometheus` process that is killed when dropped, test failure included.
struct PrometheusProcess {
    child: Child,
    log: std::path::PathBuf,
}

impl PrometheusProcess {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for PrometheusProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `s` percent-encoded for a query string.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET path` over HTTP/1.0: the status code and the body, or why not.
fn get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).map_err(|e| e.to_string())?;
    let (head, body) = raw.split_once("\r\n\r\n").ok_or("no end of header")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    Ok((status, body.to_owned()))
}

/// The value of the one sample of the instant query `promql`, if there is exactly one.
fn query(prometheus: SocketAddr, promql: &str) -> Result<f64, String> {
    let (status, body) = get(
        prometheus,
        &format!("/api/v1/query?query={}", url_encode(promql)),
    )?;
    let json: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if status != 200 || json["status"] != "success" {
        return Err(format!("{promql}: {status} {body}"));
    }
    match json["data"]["result"].as_array().map(Vec::as_slice) {
        Some([sample]) => sample["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{promql}: {body}")),
        _ => Err(format!("{promql}: not one sample: {body}")),
    }
}

#[test]
fn prometheus_scrapes_and_computes_quantiles_inside_the_slots() {
    need(PROMETHEUS);
    let metrics = MetricsServer::start("127.0.0.1:0", || {
        prometheus::encode(METRIC, "NFS operation latency.", &known_report())
            .map_err(|e| e.to_string())
    })
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: hist\n    static_configs:\n      - targets: ['{}']\n",
            metrics.local_addr()
        ),
    )
    .unwrap();
    let web: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let log = dir.path().join("prometheus.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let server = PrometheusProcess {
        child: Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap(),
        log,
    };

    // Wait for the first successful scrape: `up` is 1 once our text parsed.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match query(web, r#"up{job="hist"}"#) {
            Ok(1.0) => break,
            Ok(up) => assert!(up == 0.0, "up = {up}"),
            Err(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "no successful scrape within 60 s\n--- prometheus log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let labels = r#"{job="hist",operation="read"}"#;
    let count = query(web, &format!("{METRIC}_count{labels}")).unwrap();
    let sum = query(web, &format!("{METRIC}_sum{labels}")).unwrap();
    assert_eq!((count, sum), (1000.0, 7.4));
    let quantile = |q: f64| {
        query(
            web,
            &format!("histogram_quantile({q}, {METRIC}_bucket{labels})"),
        )
        .unwrap()
    };
    let (p50, p99) = (quantile(0.5), quantile(0.99));
    // The 500th value is in 4096 -> 8191 µs: after 4.096 ms, below 8.192 ms. Prometheus
    // interpolates linearly inside the bucket (0.004096, 0.008192], holding values 1..=900.
    assert!((0.004096..=0.008192).contains(&p50), "p50 = {p50}");
    assert!(
        (p50 - (0.004096 + 0.004096 * 500.0 / 900.0)).abs() < 1e-12,
        "p50 = {p50}"
    );
    // The 990th is in 16384 -> 32767 µs, the bucket (0.016384, 0.032768] of values 901..=1000.
    assert!((0.016384..=0.032768).contains(&p99), "p99 = {p99}");
    assert!(
        (p99 - (0.016384 + 0.016384 * 90.0 / 100.0)).abs() < 1e-12,
        "p99 = {p99}"
    );
    drop(server);
}
