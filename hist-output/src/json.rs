//! `-j`/`--json`: one JSON object per interval, on one line.
//!
//! [`to_line`] turns a [`Report`] into one line of JSON (no trailing newline) whose shape is
//! [`Interval`]; every type here is `Serialize` and `Deserialize`, so a consumer written in Rust
//! can read the lines back with `serde_json::from_str::<Interval>`.
//!
//! For nfsdist's `read` operation, log2 slots up to 26 in microseconds, with 3 values in the
//! slot `2 -> 3`, 1 in `8 -> 15` and 2 above the top slot (one line, wrapped here):
//!
//! ```text
//! {"tool":"nfsdist","time":1700000000.25,"unit":"usecs","layout":{"log2":{"max_slot":26}},
//!  "section":"operation","histograms":[{"label":"read","total":6,"sum":null,"buckets":[
//!  {"low":0,"high":1,"count":0},{"low":2,"high":3,"count":3},{"low":4,"high":7,"count":0},
//!  {"low":8,"high":15,"count":1},{"low":134217728,"high":null,"count":2}]}],
//!  "dropped":{"histogram_full":0,"start_full":0,"sums_full":0}}
//! ```
//!
//! - `time` is the snapshot's time in **Unix seconds** (UTC) with up to six decimals
//!   (microseconds): a plain number that sorts, subtracts and converts everywhere
//!   (`jq '.time | todate'`), and the same form as timestamps in Prometheus' HTTP API.
//! - `unit` is bcc's label of the values: `nsecs`, `usecs`, `msecs`. Bounds and `sum` are in it.
//! - `layout` is `{"log2":{"max_slot":M}}`, `{"linear":{"base":B,"step":S,"max_slot":M}}` or
//!   `{"log_linear":{"precision":K,"max_slot":M}}`.
//! - `section` is the name of the section label (`"operation"`, `"pid"`), `null` for a tool
//!   with one histogram, whose `label` is then `null` as well.
//! - `buckets` are the rows bcc prints: every slot from 0 to the last non-empty finite slot,
//!   empty ones included, with the inclusive value range `low..=high` of the slot. When values
//!   fell above the top finite slot, one more bucket `{"low": <first value above it>,
//!   "high": null, "count": n}` follows (the overflow slot). An empty histogram has no buckets.
//! - `total` counts every value, overflow included; `sum` is the kernel's sum of the recorded
//!   values (in `unit`) when it kept one, else `null`.
//! - With `--per-cpu` ([`Interval::per_cpu`]), each histogram has a `"cpu"`, the CPU that
//!   counted it, and there is one per CPU and section value that counted something.
//! - `dropped` counts the events of the interval that could not be counted, per cause
//!   ([`hist_core::DropCause`]): a full histogram, sums or start map. All zero normally.

use std::{
    collections::BTreeMap,
    time::{SystemTime, UNIX_EPOCH},
};

use hist_core::Buckets;
use serde::{Deserialize, Serialize};

use hist_user::{Report, percentile::Percentiles};

/// One interval: the JSON object [`to_line`] writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The tool, `"nfsdist"`.
    pub tool: String,
    /// When the snapshot was taken, in Unix seconds (UTC), to the microsecond.
    pub time: f64,
    /// The unit of every bound and sum: `"nsecs"`, `"usecs"` or `"msecs"`.
    pub unit: String,
    /// How slots map to values.
    pub layout: Layout,
    /// The name of the section label, `None` (`null`) for a single histogram.
    pub section: Option<String>,
    /// The histograms, in print order.
    pub histograms: Vec<Histogram>,
    /// The events not counted in the interval, per cause (`histogram_full`, `sums_full`,
    /// `start_full`: [`hist_core::DropCause::name`]), zeros included.
    pub dropped: BTreeMap<String, u64>,
}

/// How slots map to values: `{"log2":{"max_slot":26}}` or
/// `{"linear":{"base":0,"step":10,"max_slot":9}}` (see [`hist_core::Layout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Power-of-two slots: slot 0 holds `{0, 1}`, slot `s` holds `[2^s, 2^(s+1) − 1]`.
    Log2 {
        /// The highest finite slot.
        max_slot: u32,
    },
    /// Equal-width slots: slot `s` holds `[base + s·step, base + (s+1)·step − 1]`.
    Linear {
        /// The first value of slot 0.
        base: u64,
        /// The width of a slot.
        step: u64,
        /// The highest finite slot.
        max_slot: u32,
    },
    /// `2^precision` equal sub-buckets per power of two; values below `2^precision` have a slot
    /// each (see [`hist_core::LogLinear`]).
    #[serde(rename = "log_linear")]
    LogLinear {
        /// `log2` of the sub-buckets per power of two, `0..=5`.
        precision: u32,
        /// The highest finite slot.
        max_slot: u32,
    },
}

impl From<hist_core::Layout> for Layout {
    fn from(layout: hist_core::Layout) -> Self {
        match layout {
            hist_core::Layout::Log2(log2) => Self::Log2 {
                max_slot: log2.max_slot(),
            },
            hist_core::Layout::Linear(linear) => Self::Linear {
                base: linear.base(),
                step: linear.step(),
                max_slot: linear.max_slot(),
            },
            hist_core::Layout::LogLinear(log_linear) => Self::LogLinear {
                precision: log_linear.precision(),
                max_slot: log_linear.max_slot(),
            },
        }
    }
}

/// One histogram of an interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// With `--per-cpu`, the CPU that counted this histogram ([`Interval::per_cpu`]); absent
    /// for histograms of all CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// The section value (`"read"`, `"1234 bash"`); `None` (`null`) for a single histogram.
    pub label: Option<String>,
    /// Every value counted, overflow included.
    pub total: u64,
    /// The sum of the recorded values in the interval's unit, when the kernel kept one.
    pub sum: Option<u64>,
    /// The rows bcc prints, then the overflow bucket when it counted anything.
    pub buckets: Vec<Bucket>,
    /// With `--percentiles` ([`Interval::add_percentiles`]): the percentiles and the highest
    /// bucket, as [`hist_user::percentile`] defines them; absent otherwise, and for an empty
    /// histogram.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentiles: Option<Percentiles>,
}

/// One slot: the values `low..=high` and how many were counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// The smallest value of the slot.
    pub low: u64,
    /// The largest value of the slot; `None` (`null`) for the overflow slot, which has no end.
    pub high: Option<u64>,
    /// How many values fell in the slot.
    pub count: u64,
}

impl Interval {
    /// The JSON object of `report`.
    pub fn new(report: &Report) -> Self {
        Self {
            tool: report.tool.clone(),
            time: unix_seconds(report.time),
            unit: report.unit.label().to_owned(),
            layout: report.layout.into(),
            section: report.section.clone(),
            histograms: report
                .histograms
                .iter()
                .map(|(label, hist, sum)| Histogram {
                    cpu: None,
                    // Without the newline that bcc's pid labels end with.
                    label: report.section.as_ref().map(|_| label.trim_end().to_owned()),
                    total: hist.total(),
                    sum: *sum,
                    buckets: buckets(report.layout, hist),
                    percentiles: None,
                })
                .collect(),
            dropped: report
                .drops
                .iter()
                .map(|(cause, count)| (cause.name().to_owned(), count))
                .collect(),
        }
    }
}

/// `report` as one line of JSON, without the trailing newline (see the [module docs](self)).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use hist_output::json;
/// use hist_user::{Drops, Histogram, Report, hist_core::{Layout, Unit}};
///
/// let report = Report {
///     tool: "cpudist".into(),
///     layout: Layout::log2(4),
///     unit: Unit::Microseconds,
///     section: None,
///     histograms: vec![(String::new(), Histogram::from_counts(&[0, 2, 0, 0, 0], 0), Some(5))],
///     drops: Drops::from([0, 0, 3]),
///     time: UNIX_EPOCH + Duration::from_millis(1_700_000_000_500),
/// };
/// assert_eq!(
///     json::to_line(&report),
///     r#"{"tool":"cpudist","time":1700000000.5,"unit":"usecs","layout":{"log2":{"max_slot":4}},"section":null,"histograms":[{"label":null,"total":2,"sum":5,"buckets":[{"low":0,"high":1,"count":0},{"low":2,"high":3,"count":2}]}],"dropped":{"histogram_full":0,"start_full":3,"sums_full":0}}"#
/// );
/// ```
pub fn to_line(report: &Report) -> String {
    Interval::new(report).to_line()
}

impl Interval {
    /// Adds the percentiles `ps` (and the highest bucket) to each histogram of `report`, the
    /// report this interval was made from.
    pub fn add_percentiles(&mut self, report: &Report, ps: &[f64]) {
        for (json, (_, hist, _)) in self.histograms.iter_mut().zip(&report.histograms) {
            json.percentiles = Percentiles::new(hist, report.layout, ps);
        }
    }

    /// The interval of `all` (all CPUs: its time and drops) with the histograms of
    /// `per_cpu` instead, each CPU's in turn, each histogram with its `cpu`: `--per-cpu`. With
    /// `percentiles`, each histogram has its own.
    pub fn per_cpu(all: &Report, per_cpu: &[(u32, Report)], percentiles: Option<&[f64]>) -> Self {
        let mut interval = Self::new(all);
        interval.histograms = per_cpu
            .iter()
            .flat_map(|(cpu, report)| {
                let mut part = Self::new(report);
                if let Some(ps) = percentiles {
                    part.add_percentiles(report, ps);
                }
                part.histograms.into_iter().map(|hist| Histogram {
                    cpu: Some(*cpu),
                    ..hist
                })
            })
            .collect();
        interval
    }

    /// This interval as one line of JSON, without the trailing newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self)
            .expect("plain structs of strings, integers and finite f64s always serialize")
    }
}

/// The buckets of `hist`: bcc's rows, then the overflow slot when it counted anything.
fn buckets(layout: hist_core::Layout, hist: &hist_user::Histogram) -> Vec<Bucket> {
    let finite = hist.finite();
    let shown = finite
        .iter()
        .rposition(|&count| count != 0)
        .map_or(0, |last| last + 1);
    let mut buckets: Vec<Bucket> = finite[..shown]
        .iter()
        .enumerate()
        .map(|(slot, &count)| {
            let bounds = layout.bounds(slot as u32);
            Bucket {
                low: *bounds.start(),
                high: Some(*bounds.end()),
                count,
            }
        })
        .collect();
    if hist.overflow() != 0 {
        buckets.push(Bucket {
            low: layout.low(hist.max_slot() + 1),
            high: None,
            count: hist.overflow(),
        });
    }
    buckets
}

/// `time` in Unix seconds, to the microsecond (negative before 1970).
///
/// The whole number of microseconds is divided once, so the `f64` is the one nearest to the
/// decimal and prints with at most six decimals.
fn unix_seconds(time: SystemTime) -> f64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_micros() as f64 / 1e6,
        Err(before) => -(before.duration().as_micros() as f64) / 1e6,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hist_core::Unit;

    use super::*;

    fn report(
        layout: hist_core::Layout,
        histograms: Vec<(&str, hist_user::Histogram, Option<u64>)>,
    ) -> Report {
        Report {
            tool: "nfsdist".into(),
            layout,
            unit: Unit::Microseconds,
            section: Some("operation".into()),
            histograms: histograms
                .into_iter()
                .map(|(label, hist, sum)| (label.to_owned(), hist, sum))
                .collect(),
            drops: hist_user::Drops::NONE,
            time: UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
        }
    }

    #[test]
    fn parses_back_to_the_same_values() {
        let mut read = hist_user::Histogram::new(26);
        read.add(1, 3);
        read.add(3, 1);
        read.add(27, 2);
        let mut write = hist_user::Histogram::new(26);
        write.add(26, 7);
        let empty = hist_user::Histogram::new(26);
        let report = report(
            hist_core::Layout::log2(26),
            vec![
                ("read", read, None),
                ("write", write, Some(1 << 30)),
                ("open", empty, Some(0)),
            ],
        );

        let line = to_line(&report);
        assert!(!line.contains('\n'));
        let parsed: Interval = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed, Interval::new(&report));

        assert_eq!(parsed.tool, "nfsdist");
        assert_eq!(parsed.time, 1_700_000_000.123456);
        assert!(line.contains(r#""time":1700000000.123456,"#), "{line}");
        assert_eq!(parsed.unit, "usecs");
        assert_eq!(parsed.layout, Layout::Log2 { max_slot: 26 });
        assert_eq!(parsed.section.as_deref(), Some("operation"));
        let [read, write, open] = &parsed.histograms[..] else {
            panic!("three histograms: {parsed:?}")
        };

        assert_eq!(read.label.as_deref(), Some("read"));
        assert_eq!((read.total, read.sum), (6, None));
        let b = |low, high, count| Bucket { low, high, count };
        assert_eq!(
            read.buckets,
            [
                b(0, Some(1), 0),
                b(2, Some(3), 3),
                b(4, Some(7), 0),
                b(8, Some(15), 1),
                b(1 << 27, None, 2)
            ]
        );

        assert_eq!((write.total, write.sum), (7, Some(1 << 30)));
        assert_eq!(write.buckets.len(), 27);
        assert_eq!(write.buckets[26], b(1 << 26, Some((1 << 27) - 1), 7));
        assert!(write.buckets[..26].iter().all(|b| b.count == 0));

        assert_eq!(open.label.as_deref(), Some("open"));
        assert_eq!((open.total, open.sum), (0, Some(0)));
        assert!(open.buckets.is_empty());
    }

    #[test]
    fn linear_layout_and_a_single_histogram() {
        let hist = hist_user::Histogram::from_counts(&[4, 0, 8, 0], 2);
        let mut report = report(hist_core::Layout::linear(10, 5, 3), vec![("", hist, None)]);
        report.section = None;
        report.unit = Unit::Milliseconds;

        let line = to_line(&report);
        assert!(
            line.contains(r#""layout":{"linear":{"base":10,"step":5,"max_slot":3}}"#),
            "{line}"
        );
        assert!(line.contains(r#""section":null"#), "{line}");
        let parsed: Interval = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed.unit, "msecs");
        assert_eq!(parsed.histograms[0].label, None);
        let b = |low, high, count| Bucket { low, high, count };
        assert_eq!(
            parsed.histograms[0].buckets,
            // Slot 0 of a linear histogram also counts the values below `base`; its range is
            // the slot's own, as bcc prints it.
            [
                b(10, Some(14), 4),
                b(15, Some(19), 0),
                b(20, Some(24), 8),
                b(30, None, 2)
            ]
        );
    }

    #[test]
    fn log_linear_layout_and_its_buckets() {
        // Precision 2: 0..=3 one value each, then [4], [5], [6], [7], [8, 9], [10, 11]…
        let hist = hist_user::Histogram::from_counts(&[1, 0, 0, 0, 0, 0, 0, 0, 5], 3);
        let report = report(
            hist_core::Layout::log_linear(2, 8),
            vec![("read", hist, None)],
        );
        let line = to_line(&report);
        assert!(
            line.contains(r#""layout":{"log_linear":{"precision":2,"max_slot":8}}"#),
            "{line}"
        );
        let parsed: Interval = serde_json::from_str(&line).unwrap();
        assert_eq!(
            parsed.layout,
            Layout::LogLinear {
                precision: 2,
                max_slot: 8
            }
        );
        let buckets = &parsed.histograms[0].buckets;
        assert_eq!(buckets.len(), 10, "{line}");
        assert_eq!(
            buckets[0],
            Bucket {
                low: 0,
                high: Some(0),
                count: 1
            }
        );
        assert_eq!(
            buckets[8],
            Bucket {
                low: 8,
                high: Some(9),
                count: 5
            }
        );
        assert_eq!(
            buckets[9],
            Bucket {
                low: 10,
                high: None,
                count: 3
            }
        );
    }

    #[test]
    fn time_before_1970_is_negative() {
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_millis(1500)), -1.5);
        assert_eq!(unix_seconds(UNIX_EPOCH), 0.0);
    }
}
