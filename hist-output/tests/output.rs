//! The output modes end to end: the Prometheus text parsed back by a parser crate, and the
//! `/metrics` server scraped over HTTP on 127.0.0.1. (The JSON lines are tested beside their
//! code, in `src/output/json.rs`; a real Prometheus server reads the text in
//! `tests/prometheus_server.rs`.)

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use hist_core::{Buckets, Layout, Unit};
use hist_output::{
    prometheus::{self, CONTENT_TYPE, EncodeError, Family, encode_families},
    server::MetricsServer,
};
use hist_user::{Drops, Histogram, Report};
use prometheus_parse::{HistogramCount, LineInfo, Sample, Scrape, Value};

const METRIC: &str = "nfsdist_latency_seconds";

fn report(
    layout: Layout,
    unit: Unit,
    section: Option<&str>,
    histograms: Vec<(&str, Histogram, Option<u64>)>,
) -> Report {
    Report {
        tool: "nfsdist".into(),
        layout,
        unit,
        section: section.map(str::to_owned),
        histograms: histograms
            .into_iter()
            .map(|(label, hist, sum)| (label.to_owned(), hist, sum))
            .collect(),
        drops: Drops::NONE,
        time: SystemTime::now(),
    }
}

/// nfsdist-like: three operations, log2 µs up to slot 26, one without a kernel sum.
fn nfs_report(scale: u64) -> Report {
    let mut read = Histogram::new(26);
    read.add(1, 3 * scale);
    read.add(3, scale);
    read.add(12, 900 * scale);
    read.add(27, 2 * scale); // overflow
    let mut write = Histogram::new(26);
    write.add(14, 100 * scale);
    let open = Histogram::new(26);
    report(
        Layout::log2(26),
        Unit::Microseconds,
        Some("operation"),
        vec![
            ("read", read, Some(1_234_567 * scale)),
            ("write", write, None),
            ("open", open, Some(0)),
        ],
    )
}

/// Parses the text with `prometheus-parse`, first checking that it skipped no line: that
/// parser ignores what it does not understand, so every line must be a comment or a sample
/// with a number as its value.
fn parse(text: &str) -> Scrape {
    assert!(text.ends_with('\n'), "{text}");
    for line in text.lines() {
        match LineInfo::parse(line) {
            LineInfo::Doc { .. } | LineInfo::Type { .. } => {}
            LineInfo::Sample {
                value, timestamp, ..
            } => {
                assert!(timestamp.is_none(), "no timestamps: {line}");
                assert!(
                    ["NaN", "+Inf"].contains(&value) || value.parse::<f64>().is_ok(),
                    "value of {line}"
                );
            }
            other => panic!("unexpected line {line:?}: {other:?}"),
        }
    }
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).unwrap()
}

/// The sample `metric` whose labels are exactly `labels`.
fn sample<'a>(scrape: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> &'a Sample {
    let found: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == metric
                && s.labels.len() == labels.len()
                && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {metric}{labels:?} in {:#?}",
        scrape.samples
    );
    found[0]
}

fn buckets<'a>(scrape: &'a Scrape, labels: &[(&str, &str)]) -> &'a [HistogramCount] {
    match &sample(scrape, METRIC, labels).value {
        Value::Histogram(buckets) => buckets,
        other => panic!("{METRIC}{labels:?} is {other:?}"),
    }
}

fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    match sample(scrape, metric, labels).value {
        Value::Untyped(v) | Value::Counter(v) | Value::Gauge(v) => v,
        ref other => panic!("{metric}{labels:?} is {other:?}"),
    }
}

/// Checks one series against its histogram: a bucket per finite slot at `(high + 1)` units in
/// seconds, cumulative counts, `+Inf` = `_count` = total, `_sum` in seconds or NaN.
fn check_series(
    scrape: &Scrape,
    labels: &[(&str, &str)],
    report: &Report,
    hist: &Histogram,
    sum: Option<u64>,
) {
    let buckets = buckets(scrape, labels);
    let per_second = 1e9 / report.unit.nanos() as f64;
    assert_eq!(buckets.len(), hist.finite().len() + 1, "{buckets:?}");
    let mut cumulative = 0;
    for (slot, (bucket, &count)) in buckets.iter().zip(hist.finite()).enumerate() {
        cumulative += count;
        let high = *report.layout.bounds(slot as u32).end();
        assert_eq!(
            bucket.less_than,
            (high + 1) as f64 / per_second,
            "slot {slot}"
        );
        assert_eq!(bucket.count, cumulative as f64, "slot {slot}");
    }
    for pair in buckets.windows(2) {
        assert!(pair[0].less_than < pair[1].less_than, "{buckets:?}");
        assert!(pair[0].count <= pair[1].count, "{buckets:?}");
    }
    let inf = buckets.last().unwrap();
    assert_eq!(inf.less_than, f64::INFINITY);
    assert_eq!(inf.count, hist.total() as f64);
    assert_eq!(
        value(scrape, &format!("{METRIC}_count"), labels),
        hist.total() as f64
    );
    let parsed_sum = value(scrape, &format!("{METRIC}_sum"), labels);
    match sum {
        Some(sum) => assert_eq!(parsed_sum, sum as f64 / per_second),
        None => assert!(
            parsed_sum.is_nan(),
            "no kernel sum is NaN, got {parsed_sum}"
        ),
    }
}

#[test]
fn prometheus_text_parses_back_to_the_histograms() {
    let report = Report {
        drops: Drops::from([5, 0, u64::MAX]),
        ..nfs_report(1)
    };
    let text = prometheus::encode(METRIC, "NFS operation latency.", &report).unwrap();
    let scrape = parse(&text);

    assert_eq!(scrape.docs[METRIC], "NFS operation latency.");
    assert!(
        text.contains(&format!("# TYPE {METRIC} histogram\n")),
        "{text}"
    );
    // read, write, open: each with its buckets, a _sum and a _count; then the tool's drops.
    assert_eq!(scrape.samples.len(), 3 * 3 + 3, "{:#?}", scrape.samples);
    assert!(
        text.contains("# TYPE nfsdist_dropped_events_total counter\n"),
        "{text}"
    );
    let dropped = |cause| value(&scrape, "nfsdist_dropped_events_total", &[("cause", cause)]);
    assert_eq!(dropped("histogram_full"), 5.0);
    assert_eq!(dropped("sums_full"), 0.0);
    assert_eq!(dropped("start_full"), u64::MAX as f64);
    for (op, hist, sum) in &report.histograms {
        check_series(&scrape, &[("operation", op)], &report, hist, *sum);
    }
    // Spot checks in numbers: 4096 -> 8191 µs ends below 8.192 ms; the overflow is in +Inf.
    let read = buckets(&scrape, &[("operation", "read")]);
    assert_eq!((read[12].less_than, read[12].count), (0.008192, 904.0));
    assert_eq!((read[26].less_than, read[26].count), (134.217728, 904.0));
    assert_eq!(read[27].count, 906.0);
    assert_eq!(
        value(&scrape, &format!("{METRIC}_sum"), &[("operation", "read")]),
        1.234567
    );
}

#[test]
fn linear_milliseconds_and_a_single_histogram() {
    let hist = Histogram::from_counts(&[4, 0, 8, 0], 2);
    let report = report(
        Layout::linear(10, 5, 3),
        Unit::Milliseconds,
        None,
        vec![("", hist.clone(), Some(321))],
    );
    let text = prometheus::encode(METRIC, "help", &report).unwrap();
    let scrape = parse(&text);
    check_series(&scrape, &[], &report, &hist, Some(321));
    let les: Vec<f64> = buckets(&scrape, &[]).iter().map(|b| b.less_than).collect();
    assert_eq!(les, [0.015, 0.02, 0.025, 0.03, f64::INFINITY]);
    assert!(
        text.contains(&format!("{METRIC}_bucket{{le=\"0.015\"}} 4\n")),
        "{text}"
    );
}

#[test]
fn several_families_and_a_detail_label() {
    let mut bash = Histogram::new(20);
    bash.add(5, 7);
    let mut kworker = Histogram::new(20);
    kworker.add(0, 1);
    let per_pid = report(
        Layout::log2(20),
        Unit::Nanoseconds,
        Some("pid"),
        vec![
            ("1234 bash", bash.clone(), Some(300)),
            ("99 kworker/0:1 x", kworker.clone(), None),
        ],
    );
    let nfs = nfs_report(1);
    let text = encode_families(&[
        Family::new("cpudist_oncpu_seconds", "On-CPU time.", &per_pid).with_detail_label("comm"),
        Family::new(METRIC, "NFS operation latency.", &nfs),
    ])
    .unwrap();
    let scrape = parse(&text);
    // Both reports are nfsdist's: one drop family, after the histograms.
    assert_eq!(scrape.samples.len(), 2 * 3 + 3 * 3 + 3);
    let series = |metric: &str, labels: &[(&str, &str)]| {
        let count = value(&scrape, &format!("{metric}_count"), labels);
        let sum = value(&scrape, &format!("{metric}_sum"), labels);
        (count, sum)
    };
    let (count, sum) = series(
        "cpudist_oncpu_seconds",
        &[("pid", "1234"), ("comm", "bash")],
    );
    assert_eq!((count, sum), (7.0, 300e-9));
    let (count, sum) = series(
        "cpudist_oncpu_seconds",
        &[("pid", "99"), ("comm", "kworker/0:1 x")],
    );
    assert_eq!(count, 1.0);
    assert!(sum.is_nan());
    assert_eq!(series(METRIC, &[("operation", "read")]).0, 906.0);
    // The families follow each other, the first one first.
    assert!(text.find("cpudist_oncpu_seconds").unwrap() < text.find(METRIC).unwrap());
}

#[test]
fn label_values_are_escaped() {
    let report = report(
        Layout::log2(2),
        Unit::Microseconds,
        Some("pid"),
        vec![(
            "7 a\"b\\c\nd",
            Histogram::from_counts(&[1, 0, 0], 0),
            Some(1),
        )],
    );
    let text = encode_families(&[Family::new("x_seconds", "x", &report).with_detail_label("comm")])
        .unwrap();
    assert!(
        text.contains(r#"x_seconds_count{pid="7",comm="a\"b\\c\nd"} 1"#),
        "{text}"
    );
    // HELP, TYPE, 4 buckets, _sum, _count; then the drop counters' HELP, TYPE and 3 causes.
    assert_eq!(text.lines().count(), 2 + 4 + 2 + 2 + 3, "{text}");
}

/// `--per-cpu`: one family per CPU under one name is one family, each series labelled with its
/// CPU first, and the drop counters once.
#[test]
fn per_cpu_families_are_one_family_with_a_cpu_label() {
    let (cpu0, cpu1) = (nfs_report(1), nfs_report(2));
    let text = encode_families(&[
        Family::new(METRIC, "NFS latency.", &cpu0).with_cpu(0),
        Family::new(METRIC, "NFS latency.", &cpu1).with_cpu(1),
    ])
    .unwrap();
    assert_eq!(
        text.matches("# HELP").count(),
        2,
        "one histogram family, one of drops:\n{text}"
    );
    for (cpu, report) in [(0, &cpu0), (1, &cpu1)] {
        for (op, hist, _) in &report.histograms {
            let count = format!(
                "{METRIC}_count{{cpu=\"{cpu}\",operation=\"{op}\"}} {}\n",
                hist.total()
            );
            assert!(text.contains(&count), "{count}in:\n{text}");
        }
    }
    assert_eq!(
        text.matches("nfsdist_dropped_events_total{").count(),
        3,
        "{text}"
    );
}

#[test]
fn bad_names_and_duplicate_series_are_errors() {
    let nfs = nfs_report(1);
    let err = |families: &[Family<'_>]| encode_families(families).unwrap_err();
    assert_eq!(
        err(&[Family::new("nfs-dist", "", &nfs)]),
        EncodeError::MetricName("nfs-dist".into())
    );
    assert_eq!(
        err(&[Family::new(METRIC, "", &nfs).with_detail_label("le")]),
        EncodeError::LabelName("le".into())
    );
    assert_eq!(
        err(&[Family::new(METRIC, "", &nfs).with_detail_label("operation")]),
        EncodeError::SameLabel("operation".into())
    );
    assert_eq!(
        err(&[
            Family::new(METRIC, "", &nfs),
            Family::new(METRIC, "other", &nfs)
        ]),
        EncodeError::DuplicateMetric(METRIC.into())
    );
    // One name twice is one family, whose series must then differ (by CPU, say).
    assert!(matches!(
        err(&[Family::new(METRIC, "", &nfs), Family::new(METRIC, "", &nfs)]),
        EncodeError::DuplicateSeries { .. }
    ));
    let mut twice = nfs.clone();
    twice.histograms[1].0 = "read".into();
    assert!(matches!(
        prometheus::encode(METRIC, "", &twice).unwrap_err(),
        EncodeError::DuplicateSeries { .. }
    ));
    // Two "1234 …" with a detail label are two series; one histogram without a section is one.
    let mut single = nfs.clone();
    single.section = None;
    assert!(matches!(
        prometheus::encode(METRIC, "", &single).unwrap_err(),
        EncodeError::DuplicateSeries { .. }
    ));
    let mut bad_section = nfs.clone();
    bad_section.section = Some("op name".into());
    assert_eq!(
        prometheus::encode(METRIC, "", &bad_section)
            .unwrap_err()
            .to_string(),
        r#"invalid Prometheus label name "op name": use letters, digits and '_', not "le" nor a leading "__""#
    );
}

/// A response: status code, headers (names in lower case), body.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.0 request (so the answer has no chunked encoding and ends with the connection).
fn request(addr: SocketAddr, method: &str, path: &str) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a header and a body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    Response {
        status,
        headers,
        body: body.to_owned(),
    }
}

#[test]
fn server_scraped_twice_sees_counters_grow() {
    let scrapes = Arc::new(AtomicU64::new(0));
    let server = MetricsServer::start("127.0.0.1:0", {
        let scrapes = Arc::clone(&scrapes);
        move || {
            // The map keeps counting between scrapes: scrape n sees n times the values.
            let n = scrapes.fetch_add(1, Ordering::SeqCst) + 1;
            prometheus::encode(METRIC, "NFS operation latency.", &nfs_report(n))
                .map_err(|e| e.to_string())
        }
    })
    .unwrap();
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    assert_eq!(server.url(), format!("http://{addr}/metrics"));

    let first = request(addr, "GET", "/metrics");
    let second = request(addr, "GET", "/metrics?name[]=x");
    for response in [&first, &second] {
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(response.header("content-type"), Some(CONTENT_TYPE));
    }
    assert_eq!(scrapes.load(Ordering::SeqCst), 2);
    let (first, second) = (parse(&first.body), parse(&second.body));
    check_series(
        &first,
        &[("operation", "read")],
        &nfs_report(1),
        &nfs_report(1).histograms[0].1,
        Some(1_234_567),
    );
    let mut grew = 0;
    for op in ["read", "write", "open"] {
        let labels = [("operation", op)];
        for (a, b) in buckets(&first, &labels)
            .iter()
            .zip(buckets(&second, &labels))
        {
            assert_eq!(a.less_than, b.less_than);
            assert!(
                b.count >= a.count,
                "{op} le={}: {} then {}",
                a.less_than,
                a.count,
                b.count
            );
            grew += usize::from(b.count > a.count);
        }
        let count = format!("{METRIC}_count");
        assert!(value(&second, &count, &labels) >= value(&first, &count, &labels));
    }
    assert!(grew > 0);
}

#[test]
fn server_answers_404_405_and_500() {
    let calls = Arc::new(AtomicU64::new(0));
    let server = MetricsServer::start("localhost:0", {
        let calls = Arc::clone(&calls);
        move || match calls.fetch_add(1, Ordering::SeqCst) {
            0 => Err("cannot read map LATENCY: Operation not permitted\nsecond line".to_owned()),
            1 => panic!("render bug"),
            _ => Ok("ok 1\n".to_owned()),
        }
    })
    .unwrap();
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback(), "{addr}");

    let not_found = request(addr, "GET", "/");
    assert_eq!(not_found.status, 404);
    assert_eq!(not_found.body, "not found: the metrics are at /metrics\n");
    let not_allowed = request(addr, "POST", "/metrics");
    assert_eq!(not_allowed.status, 405);
    assert_eq!(not_allowed.header("allow"), Some("GET"));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "render runs only for GET /metrics"
    );

    let failed = request(addr, "GET", "/metrics");
    assert_eq!(failed.status, 500);
    assert_eq!(
        failed.body,
        "cannot read map LATENCY: Operation not permitted\n"
    );
    assert!(
        failed
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let panicked = request(addr, "GET", "/metrics");
    assert_eq!(panicked.status, 500);
    assert_eq!(panicked.body, "rendering the metrics panicked\n");
    // And the server goes on.
    let ok = request(addr, "GET", "/metrics");
    assert_eq!((ok.status, ok.body.as_str()), (200, "ok 1\n"));
}

#[test]
fn bad_and_busy_addresses_are_one_line_errors() {
    let start = |addr: &str| {
        MetricsServer::start(addr, || Ok(String::new()))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        start("127.0.0.1:99999"),
        r#"cannot listen on 127.0.0.1:99999: port "99999" is not a number from 0 to 65535"#
    );
    assert_eq!(
        start("9435"),
        "cannot listen on 9435: expected HOST:PORT or :PORT, like 127.0.0.1:9435"
    );

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let error = MetricsServer::start(&addr, || Ok(String::new())).unwrap_err();
    assert_eq!(error.cause.kind(), std::io::ErrorKind::AddrInUse);
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("cannot listen on {addr}: ")),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");
}

#[test]
fn server_stops_when_dropped() {
    let server = MetricsServer::start("127.0.0.1:0", || Ok("up 1\n".to_owned())).unwrap();
    let addr = server.local_addr();
    assert_eq!(request(addr, "GET", "/metrics").status, 200);
    drop(server);
    // The listener is closed when the accept thread ends, right after the drop.
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "{addr} still accepts connections"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The port is free again.
    TcpListener::bind(addr).unwrap();
}
