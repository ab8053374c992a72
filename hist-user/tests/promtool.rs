//! The Prometheus text as Prometheus itself reads it: `promtool check metrics` lints it. (A real
//! `prometheus` server scraping it is in `tests/live/tests/prometheus.rs`.)
//!
//! Needs Debian's `prometheus` package (`/usr/bin/promtool`; the project's set-up installs it).

use std::{
    io::Write as _,
    path::Path,
    process::{Command, Stdio},
    time::SystemTime,
};

use hist_user::{
    Histogram, Report,
    hist_core::{Layout, Unit},
    output::prometheus::{Family, encode_families},
};

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
