//! Percentiles estimated from a histogram's buckets: an interval that is certain and an
//! estimate inside it.
//!
//! A histogram keeps counts per bucket, not the values, so a percentile is known only to lie
//! in one bucket. [`percentile`] reports that bucket's bounds, `low..=high`, which are a
//! **guarantee**, and an **estimate** inside them, which is a guess with a bounded error.
//! [`Percentiles`] gathers [`STANDARD`] (p50, p90, p99, p99.9) and the highest non-empty
//! bucket, which holds the largest value; [`Percentiles::render`] prints them.
//!
//! # Which value: the nearest rank
//!
//! The `p`-th percentile of `n` values is the `r`-th smallest, `r = ⌈p/100 · n⌉` (at least 1):
//! a recorded value, never a value between two of them. `p` must be in `(0, 100]`; it is taken
//! to six decimals, so `99.9` means the decimal 99.9 and not the binary `f64` above it. The
//! bucket is the first whose cumulative count reaches `r`, so the `r`-th smallest value is in
//! it: **the true percentile always lies in `low..=high`**. Slot 0 also counts the values
//! below its first one (a linear layout's `base`), so its `low` is 0. When the rank falls in
//! the overflow slot the value is only known to be at least `low`: `high` and the estimate
//! are `None`, and the text says `> top`, where `top` is the top finite slot's end
//! (`low − 1`), never a number that would pretend to be the percentile.
//!
//! # The estimate: interpolation inside the bucket
//!
//! The estimate places the `k`-th of the bucket's `c` values (`k = r −` the count below the
//! bucket) at the fraction `f = (k − ½) / c` of the bucket: the middle of its share, so that
//! a lone value sits in the middle of its bucket rather than at an edge (Prometheus takes
//! the continuous rank `p/100 · n` instead, without the ½).
//!
//! - log2 slots `s ≥ 1`, `[2^s, 2^(s+1) − 1]`: geometrically, `low · 2^f`, assuming the values
//!   spread evenly over the logarithm. This is the exponential interpolation that Prometheus'
//!   `histogram_quantile` applies inside the exponential buckets of native histograms.
//! - log2 slot 0 (`{0, 1}`) and linear slots: linearly, `low + f · (high + 1 − low)`. In slot
//!   0 of a linear layout this spans the slot's own values `[base, base + step − 1]`: the
//!   values below `base` that it also counts are taken to be rare.
//!
//! The layout counts as log2 when its slots are exactly those of [`Log2`]. The estimate is
//! then clamped into `[low, high]`. It is an `f64`: above 2^53 the bounds themselves round
//! to 53 bits.
//!
//! # Error bound
//!
//! The estimate `e` and the true percentile `x` lie in the same bucket `[low, high]`, so,
//! whatever the values:
//!
//! - always `|e − x| ≤ high − low`: at most `step − 1` in a linear slot (at most
//!   `base + step − 1` in slot 0 of a linear layout that counted values below `base`) and at
//!   most 1 in log2 slot 0;
//! - in a log2 slot `s ≥ 1`, `2^s / (2^(s+1) − 1) ≤ e / x ≤ (2^(s+1) − 1) / 2^s`: the ratio
//!   lies strictly between ½ and 2, so the estimate is more than half and less than twice
//!   the true value, a relative error `|e − x| / x` below 1 (below ½ when `e < x`). Above
//!   2^53, where `high` rounds up to `2^(s+1)` in `f64`, the upper end becomes `e / x ≤ 2`.
//!
//! The bounds are approached when the bucket's values all sit at the end of it away from the
//! estimate; for values spread smoothly over the bucket the estimate is much closer.

use hist_core::{Buckets, Log2};

use crate::Histogram;

/// The percentiles `--percentiles` prints: p50, p90, p99 and p99.9.
pub const STANDARD: [f64; 4] = [50.0, 90.0, 99.0, 99.9];

/// One percentile: the bucket it is known to lie in and an estimate (see the
/// [module docs](self)). All values are in the histogram's unit.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Percentile {
    /// Which percentile, in `(0, 100]`: `99.9` for p99.9.
    pub p: f64,
    /// The smallest value the percentile can be: the bucket's first value (0 in slot 0).
    pub low: u64,
    /// The largest value it can be; `None` (`null`) in the overflow slot, which has no end.
    pub high: Option<u64>,
    /// The interpolated estimate, in `[low, high]`; `None` (`null`) in the overflow slot.
    pub estimate: Option<f64>,
}

/// The bounds of one bucket: `low..=high`, or everything from `low` on in the overflow slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Bounds {
    /// The bucket's smallest value (0 in slot 0, which also counts values below its first).
    pub low: u64,
    /// The bucket's largest value; `None` (`null`) for the overflow slot.
    pub high: Option<u64>,
}

/// The summary printed after a histogram: some percentiles and where the largest value is.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Percentiles {
    /// The percentiles, in the order asked for.
    pub values: Vec<Percentile>,
    /// The highest non-empty bucket, which holds the largest value ([`max_bucket`]).
    pub max: Bounds,
}

/// The `p`-th percentile of `hist`, whose slots are `buckets` (see the [module docs](self)).
///
/// `None` when `hist` is empty, or when `p` is not in `(0, 100]` (NaN included): a percentile
/// of nothing, or of no rank, does not exist. `buckets` must be the layout `hist` was filled
/// with; the histogram's last count is its overflow slot either way.
///
/// ```
/// use hist_user::{Histogram, hist_core::Log2, percentile::percentile};
///
/// // 10 values in slot 2 (4..=7) and 90 in slot 11 (2048..=4095).
/// let mut hist = Histogram::new(26);
/// hist.add(2, 10);
/// hist.add(11, 90);
/// let p50 = percentile(&hist, Log2::new(26), 50.0).unwrap();
/// assert_eq!((p50.low, p50.high), (2048, Some(4095)));
/// // Rank 50 is the 40th of the bucket's 90: 2048 · 2^(39.5/90) ≈ 2776.
/// assert_eq!(p50.estimate.unwrap().round(), 2776.0);
/// assert_eq!(percentile(&hist, Log2::new(26), 0.0), None);
/// ```
pub fn percentile<B: Buckets>(hist: &Histogram, buckets: B, p: f64) -> Option<Percentile> {
    if !(p > 0.0 && p <= 100.0) {
        return None;
    }
    let total = hist.total();
    if total == 0 {
        return None;
    }
    let rank = nearest_rank(p, total);
    let overflow_slot = overflow_slot(hist);
    let mut below = 0u64;
    for slot in 0..=overflow_slot {
        let count = hist.count(slot);
        let through = below.saturating_add(count);
        if through >= rank {
            let bounds = slot_bounds(buckets, slot, overflow_slot);
            let estimate = bounds.high.map(|high| {
                // Rank `below + k` is the bucket's k-th value, 1 ≤ k ≤ count (count ≥ 1 here).
                let fraction = ((rank - below) as f64 - 0.5) / count as f64;
                let geometric = slot > 0 && is_log2(buckets);
                let own = interpolate(*buckets.bounds(slot).start(), high, fraction, geometric);
                own.clamp(bounds.low as f64, high as f64)
            });
            return Some(Percentile {
                p,
                low: bounds.low,
                high: bounds.high,
                estimate,
            });
        }
        below = through;
    }
    None // unreachable: rank ≤ total, the count through the overflow slot
}

/// The bounds of the highest non-empty bucket of `hist`, which holds its largest value (the
/// same bucket as the 100th percentile); `None` when `hist` is empty.
pub fn max_bucket<B: Buckets>(hist: &Histogram, buckets: B) -> Option<Bounds> {
    let overflow_slot = overflow_slot(hist);
    (0..=overflow_slot)
        .rev()
        .find(|&slot| hist.count(slot) != 0)
        .map(|slot| slot_bounds(buckets, slot, overflow_slot))
}

impl Percentiles {
    /// The percentiles `ps` of `hist` (e.g. [`STANDARD`]) and its max bucket.
    ///
    /// `None` when `hist` is empty or one of `ps` is not in `(0, 100]`, as for [`percentile`].
    pub fn new<B: Buckets>(hist: &Histogram, buckets: B, ps: &[f64]) -> Option<Self> {
        Some(Self {
            values: ps
                .iter()
                .map(|&p| percentile(hist, buckets, p))
                .collect::<Option<_>>()?,
            max: max_bucket(hist, buckets)?,
        })
    }

    /// The lines printed after a histogram whose values are in `unit` (`"usecs"`), each ending
    /// in `\n`.
    ///
    /// Labels are right-aligned in 10 columns, so `=` falls under the `->` of bcc's rows. An
    /// estimate prints with three significant digits but never rounds integer digits away
    /// (`2.83`, `45.3`, `4093`); the bounds follow it, aligned. A percentile or max in the
    /// overflow slot prints `> top`, `top` being the last value of the top finite slot (the
    /// value is at least `top + 1`). For 500 values in `[2048, 4095]`, 400 in `[4096, 8191]`,
    /// 95 in `[8192, 16383]` and 5 above the top slot 25:
    ///
    /// ```text
    ///        p50 = 4093 usecs    [2048, 4095]
    ///        p90 = 8185 usecs    [4096, 8191]
    ///        p99 = 15740 usecs   [8192, 16383]
    ///      p99.9 > 67108863 usecs (overflow)
    ///        max > 67108863 usecs (overflow)
    /// ```
    ///
    /// Without the overflow values, the last line would be `max in [8192, 16383] usecs`.
    pub fn render(&self, unit: impl crate::render::ValueType) -> String {
        let unit = unit.label();
        // `= estimate unit`, padded to one width so that the bounds line up.
        let estimates: Vec<Option<String>> = self
            .values
            .iter()
            .map(|pct| {
                let estimate = pct.estimate.map(format_estimate)?;
                Some(format!("= {estimate} {unit}"))
            })
            .collect();
        let width = estimates
            .iter()
            .flatten()
            .map(|text| text.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (pct, estimate) in self.values.iter().zip(&estimates) {
            let value = match (estimate, pct.high) {
                (Some(estimate), Some(high)) => {
                    format!("{estimate:<width$}   [{}, {high}]", pct.low)
                }
                _ => overflow_text(pct.low, unit),
            };
            out.push_str(&format!("{:>10} {value}\n", format!("p{}", pct.p)));
        }
        let max = match self.max.high {
            Some(high) => format!("in [{}, {high}] {unit}", self.max.low),
            None => overflow_text(self.max.low, unit),
        };
        out.push_str(&format!("{:>10} {max}\n", "max"));
        out
    }
}

/// `> top unit (overflow)`: above `top`, the last value of the top finite slot.
fn overflow_text(overflow_low: u64, unit: &str) -> String {
    format!("> {} {unit} (overflow)", overflow_low.saturating_sub(1))
}

/// Three significant digits, but every integer digit kept; trailing zeros dropped.
fn format_estimate(estimate: f64) -> String {
    let integer_digits = if estimate < 10.0 {
        1
    } else {
        estimate.log10().floor() as usize + 1
    };
    let text = format!("{estimate:.*}", 3usize.saturating_sub(integer_digits));
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// `⌈p/100 · total⌉`, at least 1 and at most `total`, computed exactly in integers on `p`
/// taken to six decimals: for the `f64` nearest a decimal of up to six places, `p · 10^6`
/// (at most 10^8) is within far less than ½ of that decimal's integer, so rounding finds it.
fn nearest_rank(p: f64, total: u64) -> u64 {
    const SCALE: u128 = 100_000_000; // 100 %, in millionths of a percent
    let p_millionths = (p * 1e6).round() as u128;
    let rank = (p_millionths * total as u128).div_ceil(SCALE);
    (rank as u64).clamp(1, total)
}

/// The histogram's overflow slot: its last count.
fn overflow_slot(hist: &Histogram) -> u32 {
    hist.max_slot().saturating_add(1)
}

/// Where the values counted in `slot` lie.
fn slot_bounds<B: Buckets>(buckets: B, slot: u32, overflow_slot: u32) -> Bounds {
    if slot >= overflow_slot {
        return Bounds {
            low: buckets.low(slot),
            high: None,
        };
    }
    let bounds = buckets.bounds(slot);
    Bounds {
        // Slot 0 also counts the values below its first one (a linear layout's base).
        low: if slot == 0 { 0 } else { *bounds.start() },
        high: Some(*bounds.end()),
    }
}

/// Whether the slots are log2's, whose buckets are interpolated geometrically.
fn is_log2<B: Buckets>(buckets: B) -> bool {
    let max_slot = buckets.max_slot();
    max_slot <= 63 && {
        let log2 = Log2::new(max_slot);
        (0..=max_slot).all(|slot| buckets.bounds(slot) == log2.bounds(slot))
    }
}

/// The point at `fraction` (in `(0, 1)`) of `[low, high + 1)`, geometrically or linearly.
fn interpolate(low: u64, high: u64, fraction: f64, geometric: bool) -> f64 {
    let (low, end) = (low as f64, high as f64 + 1.0);
    if geometric && low >= 1.0 {
        low * (end / low).powf(fraction)
    } else {
        low + fraction * (end - low)
    }
}
