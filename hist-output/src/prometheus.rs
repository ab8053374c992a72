//! The Prometheus text format (version 0.0.4), the way ebpf_exporter exports histograms.
//!
//! [`encode`] writes a [`Report`] as one **histogram family** under a metric name the caller
//! chooses, such as `nfsdist_latency_seconds`, with one series per section value;
//! [`encode_families`] writes several, one per [`Family`]. The text is written by the official client library, `prometheus-client`, through a
//! custom collector over the report: the slots are already counted in the kernel, so they are
//! handed to it as precomputed buckets.
//!
//! For nfsdist's `read` with log2 slots up to 3 in microseconds, 3 values in `2 -> 3`,
//! 1 in `8 -> 15`, 2 above the top slot, and a kernel sum of 1234 µs:
//!
//! ```text
//! # HELP nfsdist_latency_seconds NFS operation latency.
//! # TYPE nfsdist_latency_seconds histogram
//! nfsdist_latency_seconds_bucket{operation="read",le="2e-06"} 0
//! nfsdist_latency_seconds_bucket{operation="read",le="4e-06"} 3
//! nfsdist_latency_seconds_bucket{operation="read",le="8e-06"} 3
//! nfsdist_latency_seconds_bucket{operation="read",le="1.6e-05"} 4
//! nfsdist_latency_seconds_bucket{operation="read",le="+Inf"} 6
//! nfsdist_latency_seconds_sum{operation="read"} 0.001234
//! nfsdist_latency_seconds_count{operation="read"} 6
//! ```
//!
//! # Buckets
//!
//! - **Every finite slot** `0..=max_slot` is a bucket, empty or not, so a series always has the
//!   same buckets: Prometheus can then sum them across hosts and over time.
//! - **`le` is in seconds**, Prometheus' base unit: slot `s` counts the integer values
//!   `low..=high` of [`Report::unit`]. The kernel truncates (nanoseconds to microseconds by
//!   integer division), so a real latency counted there is below `high + 1` units, and
//!   `le = (high + 1) × unit` is the right cumulative bound: log2 slot `4096 -> 8191` µs has
//!   `le="0.008192"`.
//! - **`+Inf`** is the total, overflow slot included, and equals `_count`.
//! - **`_sum`** is the kernel's sum of the recorded values, in seconds. The kernel sums the
//!   truncated values, so it can be below the real sum by less than one unit per value. When a
//!   histogram has no sum (the tool did not ask the kernel to keep one), `_sum` is `NaN`: the
//!   format wants the line, and NaN says "unknown" where any number would be made up; rates and
//!   averages over it are NaN too, never wrong. Tools in Prometheus mode should turn the sums on
//!   (`hist_core::Settings::sums`).
//!
//! # Labels
//!
//! The report's section name is the label (`operation="read"`). A section value that names a
//! task, `"1234 bash"`, can be split with [`Family::with_detail_label`]: the first word goes
//! into the section label and the rest into the detail label (`pid="1234",comm="bash"`);
//! without it the whole value is the label value. A report without a section has one series
//! without labels.
//!
//! # Drops
//!
//! After its histograms, each tool's drop counters ([`Report::drops`], cumulative like the
//! histograms) are one counter family, every cause always present:
//!
//! ```text
//! # HELP nfsdist_dropped_events_total Events the probes saw but could not count, by cause (a full kernel map).
//! # TYPE nfsdist_dropped_events_total counter
//! nfsdist_dropped_events_total{cause="histogram_full"} 0
//! nfsdist_dropped_events_total{cause="sums_full"} 0
//! nfsdist_dropped_events_total{cause="start_full"} 0
//! ```
//!
//! # Counters never go down
//!
//! Prometheus treats every bucket, `_sum` and `_count` as a counter. The caller must pass
//! **cumulative** reports: the histograms since the tool started, from a map that is never
//! cleared while it is being scraped (in Prometheus mode a tool does not clear its map after an
//! interval as the bcc text mode does). A series that goes down is taken for a restart of the
//! tool.

use std::collections::HashSet;

use hist_core::{Buckets, DropCause};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, NoLabelSet, prometheus_text},
    metrics::MetricType,
    registry::Registry,
};

use hist_user::Report;

/// The `Content-Type` of what [`encode`] writes: `text/plain; version=0.0.4; charset=utf-8`.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// One histogram family: a [`Report`] under a metric name.
#[derive(Clone, Copy, Debug)]
pub struct Family<'a> {
    /// The metric name, `nfsdist_latency_seconds`: by Prometheus' conventions it ends in
    /// `_seconds`, as the buckets are in seconds. `_bucket`, `_sum` and `_count` are appended.
    pub name: &'a str,
    /// The `# HELP` text.
    pub help: &'a str,
    /// The histograms: one series per section value.
    pub report: &'a Report,
    /// The label that gets the rest of a section value after its first word (see the
    /// [module docs](self#labels)); `None` keeps the whole value in the section label.
    pub detail_label: Option<&'a str>,
    /// The CPU the report's histograms were counted on (`--per-cpu`): a first label `cpu="N"`;
    /// `None` for histograms of all CPUs.
    pub cpu: Option<u32>,
}

impl<'a> Family<'a> {
    /// The histograms of `report` as the family `name`, with the whole section value as the
    /// label value.
    pub fn new(name: &'a str, help: &'a str, report: &'a Report) -> Self {
        Self {
            name,
            help,
            report,
            detail_label: None,
            cpu: None,
        }
    }

    /// Labels every series `cpu="N"`: the report holds what CPU `cpu` counted. Families of one
    /// name, one per CPU, are encoded as one family.
    pub fn with_cpu(self, cpu: u32) -> Self {
        Self {
            cpu: Some(cpu),
            ..self
        }
    }

    /// Splits each section value at its first space: `"1234 bash"` becomes `pid="1234"` and
    /// `label="bash"` (`comm="bash"`). A value without a space gets an empty detail label,
    /// which Prometheus treats as no label.
    pub fn with_detail_label(self, label: &'a str) -> Self {
        Self {
            detail_label: Some(label),
            ..self
        }
    }
}

/// Why [`encode`] or [`encode_families`] refused its input: names the exposition format cannot carry. These come
/// from the tool's code, not from the kernel, so they are bugs to fix in the tool.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncodeError {
    /// A metric name outside `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    #[error("invalid Prometheus metric name {0:?}: use letters, digits, '_' and ':'")]
    MetricName(String),
    /// A label name outside `[a-zA-Z_][a-zA-Z0-9_]*`, or one Prometheus reserves (`le`, `__…`).
    #[error(
        "invalid Prometheus label name {0:?}: use letters, digits and '_', not \"le\" nor a leading \"__\""
    )]
    LabelName(String),
    /// The section label and the detail label are the same.
    #[error("the detail label {0:?} is also the section label")]
    SameLabel(String),
    /// Two families have the same name but not the same help text.
    #[error("the metric {0} is given twice, with different help texts")]
    DuplicateMetric(String),
    /// Two histograms of one family would be the same series.
    #[error("two histograms of {metric} have the same labels {labels}")]
    DuplicateSeries {
        /// The metric name.
        metric: String,
        /// The labels of both, `{operation="read"}`.
        labels: String,
    },
}

/// The histograms of `report` as the family `metric` in the Prometheus text format, the
/// whole section value as the label value (see the [module docs](self)); serve it with
/// [`CONTENT_TYPE`]. [`encode_families`] writes several families, or splits the section value.
///
/// ```
/// use std::time::SystemTime;
/// use hist_output::prometheus;
/// use hist_user::{Drops, Histogram, Report, hist_core::{Layout, Unit}};
///
/// let report = Report {
///     tool: "xfsreclaim".into(),
///     layout: Layout::log2(26),
///     unit: Unit::Microseconds,
///     section: Some("operation".into()),
///     histograms: vec![("count".into(), Histogram::from_counts(&[1; 27], 0), Some(99))],
///     drops: Drops::NONE,
///     time: SystemTime::now(),
/// };
/// let text = prometheus::encode("xfs_reclaim_latency_seconds", "XFS reclaim latency.", &report)?;
/// assert!(text.contains("xfs_reclaim_latency_seconds_bucket{operation=\"count\",le=\"0.008192\"} 13\n"));
/// assert!(text.contains("xfs_reclaim_latency_seconds_sum{operation=\"count\"} 0.000099\n"));
/// assert!(text.contains("xfs_reclaim_latency_seconds_count{operation=\"count\"} 27\n"));
/// assert!(text.contains("xfsreclaim_dropped_events_total{cause=\"histogram_full\"} 0\n"));
/// assert!(text.contains("xfsreclaim_dropped_events_total{cause=\"histogram_full\"} 0\n"));
/// # Ok::<(), prometheus::EncodeError>(())
/// ```
pub fn encode(metric: &str, help: &str, report: &Report) -> Result<String, EncodeError> {
    encode_families(&[Family::new(metric, help, report)])
}

/// The families in the Prometheus text format, in order (see the [module docs](self)); serve
/// it with [`CONTENT_TYPE`]. Families of the same name and help (one per CPU, see
/// [`Family::with_cpu`]) are one family, whose series must differ in their labels.
///
/// ```
/// # use std::time::SystemTime;
/// # use hist_user::{Drops, Histogram, Report, hist_core::{Layout, Unit}};
/// use hist_output::prometheus::{Family, encode_families};
///
/// # let mut report = Report {
/// #     tool: "cpudist".into(), layout: Layout::log2(26), unit: Unit::Microseconds,
/// #     section: Some("pid".into()), histograms: vec![], drops: Drops::NONE,
/// #     time: SystemTime::now(),
/// # };
/// # report.histograms.push(("1234 bash".into(), Histogram::from_counts(&[1; 27], 0), Some(99)));
/// // report.section is "pid", its section values "1234 bash", …
/// let on_cpu = Family::new("cpudist_oncpu_seconds", "On-CPU time per process.", &report)
///     .with_detail_label("comm");
/// let text = encode_families(&[on_cpu])?;
/// assert!(text.contains("cpudist_oncpu_seconds_count{pid=\"1234\",comm=\"bash\"} 27\n"));
/// # Ok::<(), hist_output::prometheus::EncodeError>(())
/// ```
pub fn encode_families(families: &[Family<'_>]) -> Result<String, EncodeError> {
    let mut merged: Vec<FamilyData> = Vec::new();
    for family in families {
        let data = FamilyData::new(family)?;
        match merged.iter_mut().find(|known| known.name == data.name) {
            Some(known) if known.help != data.help => {
                return Err(EncodeError::DuplicateMetric(data.name));
            }
            Some(known) => {
                for series in data.series {
                    if known.series.iter().any(|s| s.labels == series.labels) {
                        return Err(EncodeError::DuplicateSeries {
                            metric: data.name,
                            labels: format!("{:?}", series.labels),
                        });
                    }
                    known.series.push(series);
                }
            }
            None => merged.push(data),
        }
    }
    // Each tool's drop counters once, after its histograms, from its first report.
    let mut tools = HashSet::new();
    let drops = families
        .iter()
        .map(|family| family.report)
        .filter(|report| tools.insert(report.tool.as_str()))
        .map(DropsData::new)
        .collect::<Result<Vec<_>, _>>()?;
    let families = merged;
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Families(families, drops)));
    let mut text = String::new();
    prometheus_text::encode(&mut text, &registry)
        .expect("writing to a String cannot fail, and every name was checked");
    Ok(text)
}

/// The upper bound of `slot` in seconds: `(high + 1) × unit` (see the [module docs](self)).
fn upper_bound_seconds(layout: hist_core::Layout, unit: hist_core::Unit, slot: u32) -> f64 {
    let high = *layout.bounds(slot).end();
    // One rounding: `high + 1` is exact up to 2^53 (and rounds to 2^64 for u64::MAX), and the
    // division by a power of ten is correctly rounded, so 8192 µs prints as 0.008192.
    (high as f64 + 1.0) / units_per_second(unit)
}

/// How many of `unit` make a second (an exact power of ten).
fn units_per_second(unit: hist_core::Unit) -> f64 {
    (1_000_000_000 / unit.nanos()) as f64
}

/// A family ready to encode: owned, as a collector must be `'static`.
#[derive(Debug)]
struct FamilyData {
    name: String,
    help: String,
    series: Vec<Series>,
}

/// One histogram series.
#[derive(Debug)]
struct Series {
    labels: Vec<(String, String)>,
    /// Seconds; NaN when the kernel kept no sum.
    sum: f64,
    /// Every value, overflow included: `+Inf` and `_count`.
    count: u64,
    /// `(le, count)` of each finite slot, not cumulative (the encoder accumulates).
    buckets: Vec<(f64, u64)>,
}

impl FamilyData {
    fn new(family: &Family<'_>) -> Result<Self, EncodeError> {
        if !valid_metric_name(family.name) {
            return Err(EncodeError::MetricName(family.name.to_owned()));
        }
        let report = family.report;
        let section = report.section.as_deref();
        for label in section.iter().chain(&family.detail_label) {
            if !valid_label_name(label) {
                return Err(EncodeError::LabelName((*label).to_owned()));
            }
        }
        if section.is_some() && section == family.detail_label {
            return Err(EncodeError::SameLabel(
                section.unwrap_or_default().to_owned(),
            ));
        }

        let per_second = units_per_second(report.unit);
        let mut seen = HashSet::new();
        let mut series = Vec::with_capacity(report.histograms.len());
        for (value, hist, sum) in &report.histograms {
            let cpu = family.cpu.map(|cpu| ("cpu".to_owned(), cpu.to_string()));
            let labels: Vec<(String, String)> = cpu
                .into_iter()
                .chain(labels(section, family.detail_label, value))
                .collect();
            if !seen.insert(labels.clone()) {
                return Err(EncodeError::DuplicateSeries {
                    metric: family.name.to_owned(),
                    labels: format!("{labels:?}"),
                });
            }
            let mut buckets: Vec<(f64, u64)> = Vec::with_capacity(hist.finite().len());
            // The encoder sums the buckets up: cap them so that the sum stops at u64::MAX
            // instead of overflowing (counts that large only come from corrupt input).
            let mut room = u64::MAX;
            for (slot, &count) in hist.finite().iter().enumerate() {
                let count = count.min(room);
                room -= count;
                let le = upper_bound_seconds(report.layout, report.unit, slot as u32);
                match buckets.last_mut() {
                    // Bounds too large for an f64 to tell apart are one bucket, not two
                    // buckets with the same `le`.
                    Some((last, last_count)) if *last == le => *last_count += count,
                    _ => buckets.push((le, count)),
                }
            }
            series.push(Series {
                labels,
                sum: sum.map_or(f64::NAN, |sum| sum as f64 / per_second),
                count: hist.total(),
                buckets,
            });
        }
        Ok(Self {
            name: family.name.to_owned(),
            help: family.help.to_owned(),
            series,
        })
    }
}

/// The labels of the series of section value `value` (without the newline that bcc's pid
/// labels end with).
fn labels(section: Option<&str>, detail: Option<&str>, value: &str) -> Vec<(String, String)> {
    let Some(section) = section else {
        return Vec::new();
    };
    let value = value.trim_end();
    match detail {
        None => vec![(section.to_owned(), value.to_owned())],
        Some(detail) => {
            let (key, rest) = value.split_once(' ').unwrap_or((value, ""));
            vec![
                (section.to_owned(), key.to_owned()),
                (detail.to_owned(), rest.trim_start().to_owned()),
            ]
        }
    }
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    name != "le"
        && !name.starts_with("__")
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A tool's drop counters: `{tool}_dropped_events_total{cause="…"}`, every cause.
#[derive(Debug)]
struct DropsData {
    name: String,
    counts: Vec<(DropCause, u64)>,
}

impl DropsData {
    fn new(report: &Report) -> Result<Self, EncodeError> {
        let name = format!("{}_dropped_events", report.tool);
        if !valid_metric_name(&name) {
            return Err(EncodeError::MetricName(name));
        }
        Ok(Self {
            name,
            counts: report.drops.iter().collect(),
        })
    }
}

/// The collector `prometheus-client` calls to encode the families, then the drop counters.
#[derive(Debug)]
struct Families(Vec<FamilyData>, Vec<DropsData>);

impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in &self.0 {
            let mut metric = encoder.encode_descriptor(
                &family.name,
                &family.help,
                None,
                MetricType::Histogram,
            )?;
            for series in &family.series {
                metric
                    .encode_family(&series.labels)?
                    .encode_histogram::<NoLabelSet>(
                        series.sum,
                        series.count,
                        &series.buckets,
                        None,
                    )?;
            }
        }
        for drops in &self.1 {
            let mut metric = encoder.encode_descriptor(
                &drops.name,
                "Events the probes saw but could not count, by cause (a full kernel map).",
                None,
                MetricType::Counter,
            )?;
            for (cause, count) in &drops.counts {
                metric
                    .encode_family(&[("cause", cause.name())])?
                    .encode_counter::<NoLabelSet, _, u64>(count, None)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use hist_core::{Layout, Unit};

    use super::*;

    #[test]
    fn upper_bounds_are_one_unit_past_the_slot_in_seconds() {
        let log2 = Layout::log2(26);
        assert_eq!(upper_bound_seconds(log2, Unit::Microseconds, 0), 2e-6);
        assert_eq!(upper_bound_seconds(log2, Unit::Microseconds, 12), 0.008192);
        assert_eq!(upper_bound_seconds(log2, Unit::Milliseconds, 12), 8.192);
        assert_eq!(upper_bound_seconds(log2, Unit::Nanoseconds, 9), 1.024e-6);
        assert_eq!(
            upper_bound_seconds(Layout::log2(63), Unit::Nanoseconds, 63),
            2f64.powi(64) / 1e9
        );
        let linear = Layout::linear(10, 5, 3);
        assert_eq!(upper_bound_seconds(linear, Unit::Milliseconds, 0), 0.015);
        assert_eq!(upper_bound_seconds(linear, Unit::Milliseconds, 3), 0.03);
        // Four sub-buckets per power of two: [4096, 5119] µs ends at 5.12 ms.
        let quarters = Layout::log_linear(2, 60);
        assert_eq!(upper_bound_seconds(quarters, Unit::Microseconds, 3), 4e-6);
        assert_eq!(
            upper_bound_seconds(quarters, Unit::Microseconds, 44),
            0.00512
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_metric_name("nfsdist_latency_seconds"));
        assert!(valid_metric_name("ns:x_1"));
        assert!(!valid_metric_name("1x"));
        assert!(!valid_metric_name("nfs-dist"));
        assert!(!valid_metric_name(""));
        assert!(valid_label_name("operation"));
        assert!(valid_label_name("_x1"));
        assert!(!valid_label_name("le"));
        assert!(!valid_label_name("__name__"));
        assert!(!valid_label_name("a:b"));
        assert!(!valid_label_name(""));
    }

    #[test]
    fn detail_labels_split_at_the_first_space() {
        assert_eq!(
            labels(Some("pid"), Some("comm"), "1234 kworker/0:1 x"),
            [
                ("pid".into(), "1234".into()),
                ("comm".into(), "kworker/0:1 x".into())
            ]
        );
        assert_eq!(
            labels(Some("pid"), Some("comm"), "1234"),
            [
                ("pid".into(), "1234".into()),
                ("comm".into(), String::new())
            ]
        );
        assert_eq!(
            labels(Some("pid"), None, "1234 bash"),
            [("pid".into(), "1234 bash".into())]
        );
        assert!(labels(None, Some("comm"), "x").is_empty());
    }
}
