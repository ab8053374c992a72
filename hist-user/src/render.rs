//! Text renderers that print histograms byte for byte as bcc's Python `bcc.table` does.
//!
//! Every function returns the text (each line ending in `\n`) and prints nothing. As long as
//! the overflow slot is empty the output is exactly bcc's; the goldens in
//! `hist-user/tests/fixtures/` are produced by bcc itself (`generate.py` there).
//!
//! # log2 histograms: [`log2_hist`]
//!
//! bcc's `_print_log2_hist(vals, val_type, strip_leading_zero=None)`. hist's log2 slot `s` is
//! bcc's index `s + 1` (bcc's `bpf_log2l` is libbpf-tools' `log2l` plus one and never uses
//! index 0), so a row shows the same `low -> high` range in both: slot 0 is `0 -> 1`, slot
//! `s ≥ 1` is `2^s -> 2^(s+1) - 1`.
//!
//! ```text
//!      usecs               : count     distribution
//!          0 -> 1          : 0        |                                        |
//!          2 -> 3          : 3        |*****                                   |
//!          4 -> 7          : 24       |****************************************|
//! ```
//!
//! - The header is `"     %-19s : count     distribution"` and a row is
//!   `"%10d -> %-10d : %-8d |%-40s|"` (printf notation: numbers right-aligned in 10
//!   columns, the high bound and the count left-aligned, the bar padded to 40).
//! - When the last non-empty slot is above 31 (bcc index above 32, values of 2^32 and more)
//!   the wide layout is used instead: header `"               %-29s : count     distribution"`,
//!   rows `"%20d -> %-20d : %-8d |%-20s|"`, a 20-character bar.
//! - Rows run from slot 0 to the last non-empty slot, empty rows included. An empty histogram
//!   renders as the empty string (no header either).
//! - Columns only set minimum widths: a wider number (a count of nine digits or more, a long
//!   `val_type`) pushes the rest of its line right, as in bcc.
//!
//! # Bars: [`stars`]
//!
//! bcc's `_stars(val, val_max, width)`: `⌊width · val / val_max⌋` stars, at most `width`,
//! where the quotient is Python 3's `int / int`, which rounds the exact rational to the
//! nearest `f64` (ties to even) before the floor. So a count a hair below a star boundary
//! gets the extra star exactly when Python's rounded quotient reaches the boundary. This is
//! computed exactly in integers here: converting `width · val` and `val_max` to `f64` first
//! rounds twice and gets counts above 2^53 wrong. When `val > val_max` the last character
//! becomes `+` (an empty bar becomes `+`). `val_max` is the largest count of the histogram.
//!
//! # linear histograms: [`linear_hist`]
//!
//! bcc's `_print_linear_hist(vals, val_type)`: header `"     %-13s : count     distribution"`,
//! rows `"        %-10d : %-8d |%-40s|"` from slot 0 to the last non-empty slot. The number is
//! the slot's low bound `base + s·step`; with base 0 and step 1 that is bcc's index.
//!
//! # The overflow row (hist's addition; bcc has no overflow slot)
//!
//! When the overflow slot (values above the top finite slot `max_slot`) has a count, every
//! finite row `0..=max_slot` is printed and then one overflow row, in the same columns:
//!
//! - log2: the row bcc would print for slot `max_slot + 1`, with `inf` as its high bound:
//!   `"%10d -> %-10s : %-8d |%-40s|"` with the low bound `2^(max_slot+1)` and `inf`. The layout
//!   is chosen as if the overflow slot were that finite slot (wide when `max_slot + 1 > 31`),
//!   so the low bound always fits its column.
//! - linear: the low bound of slot `max_slot + 1`, `base + (max_slot+1)·step`, followed by
//!   `+`, in the label column: `"        %-10s : %-8d |%-40s|"`.
//! - The overflow count takes part in `val_max`, so it scales every bar.
//!
//! For max_slot 4 (log2) and base 10, step 5, max_slot 3 (linear), each with an overflow of 2:
//!
//! ```text
//!      usecs               : count     distribution
//!          0 -> 1          : 0        |                                        |
//!          2 -> 3          : 3        |*****                                   |
//!          4 -> 7          : 24       |****************************************|
//!          8 -> 15         : 0        |                                        |
//!         16 -> 31         : 0        |                                        |
//!         32 -> inf        : 2        |***                                     |
//!
//!      msecs         : count     distribution
//!         10         : 4        |********************                    |
//!         15         : 0        |                                        |
//!         20         : 8        |****************************************|
//!         25         : 0        |                                        |
//!         30+        : 2        |**********                              |
//! ```
//!
//! With an empty overflow slot nothing changes: the output is exactly bcc's.
//!
//! # Sections: [`log2_hist_sections`], [`linear_hist_sections`]
//!
//! bcc's `print_log2_hist(val_type, section_header, section_print_fn)` and
//! `print_linear_hist(...)` on a map with a composite key: for each prefix, in the snapshot's
//! (sorted) order, the line `"\n%s = %s"` (so an empty line, then e.g. `operation = read`),
//! then that prefix's histogram on the next line. A prefix whose histogram is empty prints
//! its section line and nothing else, as bcc does for entries zeroed by `zero()`.

use hist_core::{Buckets, Linear, LogLinear, Unit};

use crate::{Histogram, Snapshot};

/// What a histogram's values are, as its header names them: a time [`Unit`] (`usecs`, the
/// label of the unit the values were recorded in), or another word bcc's tools print
/// (`"kbytes"`).
pub trait ValueType {
    /// The header's word.
    fn label(&self) -> &str;
}

impl ValueType for Unit {
    fn label(&self) -> &str {
        Unit::label(*self)
    }
}

impl<T: AsRef<str> + ?Sized> ValueType for &T {
    fn label(&self) -> &str {
        (*self).as_ref()
    }
}

/// bcc's `stars_max`: the bar width of the normal layouts.
const BAR_WIDTH: usize = 40;
/// The bar width of the wide log2 layout (bcc's `int(stars_max / 2)`).
const WIDE_BAR_WIDTH: usize = 20;
/// The last log2 slot shown in the normal layout: bcc index 32, values up to 2^32 − 1.
const NORMAL_LAYOUT_LAST_SLOT: u32 = 31;

/// bcc's `_stars(val, val_max, width)`: a bar of `⌊width · val / val_max⌋` stars, at most
/// `width` of them, whose last character becomes `+` when `val > val_max`.
///
/// The quotient is rounded to an `f64` exactly as Python 3 rounds `int / int` before the floor
/// (see the [module docs](self)). bcc raises `ZeroDivisionError` for `val_max == 0`; here that
/// gives no stars for `val == 0` and a full bar ending in `+` otherwise.
///
/// ```
/// use hist_user::render::stars;
/// assert_eq!(stars(5, 10, 8), "****");
/// assert_eq!(stars(0, 10, 8), "");
/// assert_eq!(stars(11, 10, 8), "*******+");
/// ```
pub fn stars(val: u64, val_max: u64, width: usize) -> String {
    let star_count = if val_max == 0 {
        if val == 0 { 0 } else { width }
    } else {
        floor_of_rounded_quotient(width as u128 * val as u128, val_max as u128).min(width as u128)
            as usize
    };
    let mut bar = "*".repeat(star_count);
    if val > val_max {
        bar.pop();
        bar.push('+');
    }
    bar
}

/// `⌊q⌋` where `q` is `numerator / denominator` rounded to the nearest `f64`, ties to even
/// (Python 3's `int / int`), for any `denominator ≥ 1` and quotients below 2^53 (bars are
/// capped at their width long before that).
///
/// With `k = numerator div denominator` the answer is `k` or `k + 1`; it is `k + 1` when the
/// exact quotient lies within half an ulp below `k + 1`, the point where rounding lifts it to
/// `k + 1`. The comparison is done on integers, so it is exact.
fn floor_of_rounded_quotient(numerator: u128, denominator: u128) -> u128 {
    let whole = numerator / denominator;
    let remainder = numerator % denominator;
    if remainder == 0 {
        return whole;
    }
    let next = whole + 1;
    // `next` lies in [2^exp, 2^(exp+1)).
    let exp = 127 - next.leading_zeros();
    if exp > 52 {
        // Never reached through `stars` (a bar of 2^53 characters); the floor is `whole` up
        // to rounding that no caller can observe.
        return whole;
    }
    // The f64 just below `next` is `next - 2^(exp-53)` when `next` is a power of two, else
    // `next - 2^(exp-52)`. Rounding reaches `next` from `next - half_gap` on, half_gap = 2^-shift.
    let shift = if next.is_power_of_two() {
        54 - exp
    } else {
        53 - exp
    };
    // Exact quotient = next - (denominator - remainder) / denominator; compare the shortfall
    // (denominator - remainder) / denominator against 2^-shift.
    let shortfall = (denominator - remainder) << shift;
    match shortfall.cmp(&denominator) {
        core::cmp::Ordering::Less => next,
        core::cmp::Ordering::Greater => whole,
        // Exactly halfway: ties go to the even significand; `next`'s is even unless `next`
        // needs all 53 bits and is odd.
        core::cmp::Ordering::Equal => {
            if exp < 52 || next.is_multiple_of(2) {
                next
            } else {
                whole
            }
        }
    }
}

/// The largest count of `hist`, overflow included (bcc's `val_max`).
fn largest_count(hist: &Histogram) -> u64 {
    hist.finite()
        .iter()
        .copied()
        .chain([hist.overflow()])
        .max()
        .unwrap_or(0)
}

/// The last slot that has a count, the overflow slot (`max_slot + 1`) included; `None` when
/// the histogram is empty.
fn last_counted_slot(hist: &Histogram) -> Option<u32> {
    if hist.overflow() > 0 {
        return Some(hist.max_slot() + 1);
    }
    hist.finite()
        .iter()
        .rposition(|&count| count > 0)
        .map(|slot| slot as u32)
}

/// Renders a log2 histogram like bcc's `_print_log2_hist(vals, val_type, None)`, plus the
/// overflow row when the overflow slot has a count (see the [module docs](self)).
pub fn log2_hist(hist: &Histogram, val_type: impl ValueType) -> String {
    let val_type = val_type.label();
    let Some(last_slot) = last_counted_slot(hist) else {
        return String::new();
    };
    let val_max = largest_count(hist);
    let wide = last_slot > NORMAL_LAYOUT_LAST_SLOT;
    let (number_width, bar_width) = if wide {
        (20, WIDE_BAR_WIDTH)
    } else {
        (10, BAR_WIDTH)
    };

    let mut out = if wide {
        format!("               {val_type:<29} : count     distribution\n")
    } else {
        format!("     {val_type:<19} : count     distribution\n")
    };
    let mut row = |low: u128, high: &dyn std::fmt::Display, count: u64| {
        let bar = stars(count, val_max, bar_width);
        out.push_str(&format!(
            "{low:>number_width$} -> {high:<number_width$} : {count:<8} |{bar:<bar_width$}|\n"
        ));
    };
    let last_finite_slot = last_slot.min(hist.max_slot());
    for (slot, &count) in hist.finite()[..=last_finite_slot as usize]
        .iter()
        .enumerate()
    {
        let (low, high) = bcc_log2_bounds(slot as u32 + 1);
        row(low, &high, count);
    }
    if hist.overflow() > 0 {
        let (low, _) = bcc_log2_bounds(hist.max_slot() + 2);
        row(low, &"inf", hist.overflow());
    }
    out
}

/// The `low -> high` that bcc prints for its log2 index `index ≥ 1`, computed as bcc does:
/// `low = (1 << index) >> 1`, `high = (1 << index) - 1`, and `low` lowered by one when the two
/// are equal (index 1 prints `0 -> 1`). `u128`, as index 65 (the overflow row of a histogram
/// with max_slot 63) starts at 2^64.
fn bcc_log2_bounds(index: u32) -> (u128, u128) {
    let low = (1u128 << index) >> 1;
    let high = (1u128 << index) - 1;
    if low == high {
        (low - 1, high)
    } else {
        (low, high)
    }
}

/// Renders a linear histogram like bcc's `_print_linear_hist(vals, val_type)`, each row
/// labelled with its slot's low bound under `buckets` (only its base and step are used; the
/// rows are the histogram's own), plus the overflow row when the overflow slot has a count
/// (see the [module docs](self)).
pub fn linear_hist(hist: &Histogram, val_type: impl ValueType, buckets: &Linear) -> String {
    let val_type = val_type.label();
    let Some(last_slot) = last_counted_slot(hist) else {
        return String::new();
    };
    let val_max = largest_count(hist);

    let mut out = format!("     {val_type:<13} : count     distribution\n");
    let mut row = |label: &dyn std::fmt::Display, count: u64| {
        let bar = stars(count, val_max, BAR_WIDTH);
        out.push_str(&format!(
            "        {label:<10} : {count:<8} |{bar:<BAR_WIDTH$}|\n"
        ));
    };
    let last_finite_slot = last_slot.min(hist.max_slot());
    for (slot, &count) in hist.finite()[..=last_finite_slot as usize]
        .iter()
        .enumerate()
    {
        row(&buckets.low(slot as u32), count);
    }
    if hist.overflow() > 0 {
        let low = buckets.low(hist.max_slot() + 1);
        row(&format!("{low}+"), hist.overflow());
    }
    out
}

/// Renders a log-linear histogram as bpftrace renders `hist(n, k)`: a `{val_type}:` line, then
/// one row per slot from the first to the last that counted anything, labelled `[low, end)`
/// (`[v]` for a slot of one value, `[low, ...)` for the overflow slot), with bpftrace's
/// `K`/`M`/`G`… for bounds that are whole multiples of 1024, the count right-aligned in 8 columns
/// and a bar of up to 52 `@` (bcc's rows are for log2 layouts only).
///
/// ```
/// use hist_user::{Histogram, hist_core::LogLinear, render};
/// let layout = LogLinear::new(1, 20); // two sub-buckets per power of two
/// let mut hist = Histogram::new(20);
/// hist.add(4, 3); // [4, 6)
/// hist.add(5, 6); // [6, 8)
/// assert_eq!(
///     render::log_linear_hist(&hist, "usecs", &layout),
///     "usecs:\n\
///      [4, 6)                 3 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n\
///      [6, 8)                 6 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"
/// );
/// ```
pub fn log_linear_hist(hist: &Histogram, val_type: impl ValueType, buckets: &LogLinear) -> String {
    let val_type = val_type.label();
    const WIDTH: u64 = 52;
    let counted: Vec<u32> = (0..=hist.max_slot() + 1)
        .filter(|&slot| hist.count(slot) != 0)
        .collect();
    let (Some(&first), Some(&last)) = (counted.first(), counted.last()) else {
        return String::new();
    };
    let most = largest_count(hist);
    let mut out = format!("{val_type}:\n");
    for slot in first..=last {
        let bounds = buckets.bounds(slot);
        let label = if slot > hist.max_slot() {
            format!("[{}, ...)", with_suffix(*bounds.start()))
        } else if bounds.start() == bounds.end() {
            format!("[{}]", with_suffix(*bounds.start()))
        } else {
            let end = u128::from(*bounds.end()) + 1;
            format!("[{}, {})", with_suffix(*bounds.start()), with_suffix(end))
        };
        let count = hist.count(slot);
        let bar = "@".repeat((u128::from(count) * u128::from(WIDTH) / u128::from(most)) as usize);
        out.push_str(&format!("{label:<16}{count:>8} |{bar:<52}|\n"));
    }
    out
}

/// bpftrace's bound label: `1K` for 1024, `3M` for 3·2^20; other numbers as they are.
fn with_suffix(value: impl Into<u128>) -> String {
    let mut value: u128 = value.into();
    let mut suffixes = ["", "K", "M", "G", "T", "P", "E", "Z"].iter();
    let mut suffix = suffixes.next().copied().unwrap_or_default();
    while value >= 1024 && value.is_multiple_of(1024) {
        match suffixes.next() {
            Some(next) => {
                value /= 1024;
                suffix = next;
            }
            None => break,
        }
    }
    format!("{value}{suffix}")
}

/// Renders every histogram of `snapshot` like bcc's
/// `print_log2_hist(val_type, section_header, section_print_fn)`: for each prefix in order,
/// `"\n{section_header} = {section_label(prefix)}\n"` and then [`log2_hist`] of it.
///
/// ```
/// use hist_user::{Histogram, Snapshot, render};
/// let mut snapshot = Snapshot::new();
/// snapshot.insert("read", Histogram::from_counts(&[0, 3], 0));
/// let text = render::log2_hist_sections(&snapshot, "usecs", "operation", |op| op.to_string());
/// assert!(text.starts_with("\noperation = read\n     usecs "));
/// ```
pub fn log2_hist_sections<P>(
    snapshot: &Snapshot<P>,
    val_type: impl ValueType,
    section_header: &str,
    section_label: impl Fn(&P) -> String,
) -> String {
    let val_type = val_type.label();
    sections(snapshot, section_header, section_label, |hist| {
        log2_hist(hist, val_type)
    })
}

/// Renders every histogram of `snapshot` like bcc's
/// `print_linear_hist(val_type, section_header, section_print_fn)`: for each prefix in order,
/// `"\n{section_header} = {section_label(prefix)}\n"` and then [`linear_hist`] of it.
pub fn linear_hist_sections<P>(
    snapshot: &Snapshot<P>,
    val_type: impl ValueType,
    buckets: &Linear,
    section_header: &str,
    section_label: impl Fn(&P) -> String,
) -> String {
    let val_type = val_type.label();
    sections(snapshot, section_header, section_label, |hist| {
        linear_hist(hist, val_type, buckets)
    })
}

/// bcc's section loop: `print("\n%s = %s" % (section_header, section_print_fn(bucket)))`, then
/// the histogram.
fn sections<P>(
    snapshot: &Snapshot<P>,
    section_header: &str,
    section_label: impl Fn(&P) -> String,
    render_hist: impl Fn(&Histogram) -> String,
) -> String {
    let mut out = String::new();
    for (prefix, hist) in snapshot {
        out.push_str(&format!("\n{section_header} = {}\n", section_label(prefix)));
        out.push_str(&render_hist(hist));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_linear_rows_are_bpftraces() {
        // k = 1: [0] [1] [2] [3] [4, 6) [6, 8) … ; slot 20 is [1K, 1.5K) = [1024, 1536).
        let layout = LogLinear::new(1, 21);
        let mut hist = Histogram::new(21);
        hist.add(0, 2);
        hist.add(2, 1);
        hist.add(20, 4);
        hist.add(22, 1); // overflow: 2048 and up
        let text = log_linear_hist(&hist, "nsecs", &layout);
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows[0], "nsecs:");
        assert_eq!(rows.len(), 1 + 23, "{text}");
        assert_eq!(rows[1], format!("[0]{:>21} |{:<52}|", 2, "@".repeat(26)));
        assert_eq!(
            rows[21],
            format!("[1K, 1536){:>14} |{:<52}|", 4, "@".repeat(52))
        );
        assert_eq!(rows[22], format!("[1536, 2K){:>14} |{:<52}|", 0, ""));
        assert_eq!(
            rows[23],
            format!("[2K, ...){:>15} |{:<52}|", 1, "@".repeat(13))
        );
        assert_eq!(with_suffix(3u64 << 20), "3M");
        assert_eq!(with_suffix(1u128 << 64), "16E");
        assert_eq!(log_linear_hist(&Histogram::new(21), "nsecs", &layout), "");
    }

    /// Python's `math.floor(n / d)` for small operands, where f64 division is exact enough.
    #[test]
    fn rounded_quotient_matches_f64_for_small_operands() {
        for numerator in 0..2000u128 {
            for denominator in 1..60u128 {
                let expected = (numerator as f64 / denominator as f64).floor() as u128;
                assert_eq!(floor_of_rounded_quotient(numerator, denominator), expected);
            }
        }
    }

    #[test]
    fn rounded_quotient_rounds_up_within_half_an_ulp() {
        // 40 − 2^-60: nearer to 40.0 than to the f64 below it (40 − 2^-47).
        let denominator = 1u128 << 60;
        assert_eq!(
            floor_of_rounded_quotient(40 * denominator - 1, denominator),
            40
        );
        // 40 − 2^-40: far enough below to stay 39.
        assert_eq!(
            floor_of_rounded_quotient(40 * denominator - (1 << 20), denominator),
            39
        );
        // Exactly halfway below 32 (a power of two: the gap below it is 2^-48, half 2^-49):
        // ties to even, and 32.0's significand is even.
        let denominator = 1u128 << 49;
        assert_eq!(
            floor_of_rounded_quotient(32 * denominator - 1, denominator),
            32
        );
        // Just beyond halfway below 32 stays 31.
        let denominator = 1u128 << 50;
        assert_eq!(
            floor_of_rounded_quotient(32 * denominator - 3, denominator),
            31
        );
    }

    #[test]
    fn bcc_log2_bounds_special_case_index_one() {
        assert_eq!(bcc_log2_bounds(1), (0, 1));
        assert_eq!(bcc_log2_bounds(2), (2, 3));
        assert_eq!(bcc_log2_bounds(64), (1 << 63, u64::MAX as u128));
        assert_eq!(bcc_log2_bounds(65).0, 1 << 64);
    }
}
