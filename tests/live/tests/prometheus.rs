//! hist's `/metrics` as Prometheus itself reads it (Debian's `prometheus` package):
//! `promtool check metrics` lints the text, and a real server scraping it every second puts
//! `histogram_quantile` in the slot the values were counted in — for a histogram of known
//! values, and for cpudist tracing a workload of known sleeps.

mod common;

use std::{
    io::{BufRead as _, BufReader, Write as _},
    process::{Command, Stdio},
    time::SystemTime,
};

use common::prometheus::Prometheus;
use hist_core::{Layout, Unit};
use hist_output::{
    prometheus::{self, Family, encode_families},
    server::MetricsServer,
};
use hist_user::{Drops, Histogram, Report};

const METRIC: &str = "nfsdist_latency_seconds";
const PROMTOOL: &str = "/usr/bin/promtool";

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
        drops: Drops::from([0, 0, 7]),
        time: SystemTime::now(),
    }
}

#[test]
fn quantiles_of_a_known_histogram_are_interpolated_inside_its_slots() {
    let metrics = MetricsServer::start("127.0.0.1:0", || {
        prometheus::encode(METRIC, "NFS operation latency.", &known_report())
            .map_err(|e| e.to_string())
    })
    .unwrap();
    let server = Prometheus::scraping(&metrics.local_addr().to_string());
    let labels = r#"{job="hist",operation="read"}"#;
    let count = server.query(&format!("{METRIC}_count{labels}")).unwrap();
    let sum = server.query(&format!("{METRIC}_sum{labels}")).unwrap();
    assert_eq!((count, sum), (1000.0, 7.4));
    let start_full = r#"nfsdist_dropped_events_total{job="hist",cause="start_full"}"#;
    assert_eq!(server.query(start_full).unwrap(), 7.0);
    let quantile = |q: f64| {
        server
            .query(&format!("histogram_quantile({q}, {METRIC}_bucket{labels})"))
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
}

#[test]
fn cpudist_sleeps_of_20ms_give_a_median_between_16_and_32ms() {
    let workload = common::Workload::spawn(&["sleep", "20", "50"]);
    let mut cpudist = Command::new(common::tool_bin("cpudist"))
        .args([
            "-O",
            "-p",
            &workload.pid().to_string(),
            "--prometheus",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cpudist");
    let mut stderr = BufReader::new(cpudist.stderr.take().unwrap());
    let (mut line, mut seen) = (String::new(), String::new());
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "cpudist ended early:\n{seen}"
        );
        seen.push_str(&line);
        if let Some(addr) = common::served_address(&line) {
            break addr;
        }
    };
    let server = Prometheus::scraping(&addr);
    workload.run_to_end();
    let metric = "cpudist_offcpu_seconds";
    // Every sleep is counted once the task runs again; a scrape later they are all in.
    let count = server.wait_for(&format!("{metric}_count"), |count| count >= 50.0);
    assert!(count <= 53.0, "{count} waits for 50 sleeps");
    let p50 = server
        .query(&format!("histogram_quantile(0.5, {metric}_bucket)"))
        .unwrap();
    assert!((0.016384..=0.032768).contains(&p50), "p50 = {p50}");
    let sum = server.query(&format!("{metric}_sum")).unwrap();
    assert!(sum >= 50.0 * 0.020, "_sum {sum} s for 50 sleeps of 20 ms");
    let _ = cpudist.kill();
    let _ = cpudist.wait();
}

#[test]
fn promtool_accepts_the_text() {
    assert!(
        std::path::Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is missing: install Debian's prometheus package \
         (apt-get install --no-install-recommends prometheus)"
    );
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
