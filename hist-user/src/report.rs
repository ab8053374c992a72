//! [`Report`]: the histograms of one interval, or of one scrape, handed to an output mode.

/// One interval's (or one scrape's) histograms of a tool, as every output mode sees them.
///
/// The same value feeds the bcc text renderers, `hist_output::json` (one line per
/// interval) and `hist_output::prometheus` (one histogram family per report). For
/// Prometheus the histograms must be **cumulative** since the tool started (the map is never
/// cleared under a scrape), so that its counters never go down.
///
/// ```
/// use std::time::SystemTime;
/// use hist_user::{Drops, Histogram, Report, hist_core::{Layout, Unit}};
///
/// let mut read = Histogram::new(26);
/// read.add(12, 900); // 4096 -> 8191 usecs
/// let report = Report {
///     tool: "nfsdist".into(),
///     layout: Layout::log2(26),
///     unit: Unit::Microseconds,
///     section: Some("operation".into()),
///     histograms: vec![("read".into(), read, None)],
///     drops: Drops::NONE,
///     time: SystemTime::now(),
/// };
/// assert_eq!(report.histograms[0].1.total(), 900);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The tool: "nfsdist". Prometheus metric names come from the caller, not from this.
    pub tool: String,
    /// How slots map to values (hist_core::Layout: Log2 or Linear).
    pub layout: hist_core::Layout,
    /// The unit of the values (hist_core::Unit): label "usecs"/"msecs", seconds per unit.
    pub unit: hist_core::Unit,
    /// The name of the section label: Some("operation"), Some("pid"), None for one histogram.
    pub section: Option<String>,
    /// The histograms, in print order: (section value like "read" or "1234 bash", histogram,
    /// sum of the recorded values if the kernel kept one).
    ///
    /// The sum is in [`Report::unit`], of the values as recorded (truncated to whole units).
    /// With `section` `None` there is one histogram and its section value is not shown.
    pub histograms: Vec<(String, crate::Histogram, Option<u64>)>,
    /// The events the program could not count, by cause: over the same interval as the
    /// histograms (cumulative for Prometheus). Zero in the normal case.
    pub drops: crate::Drops,
    /// When the snapshot was taken.
    pub time: std::time::SystemTime,
}
