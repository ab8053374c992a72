//! The text renderers against bcc's own output.
//!
//! Each golden case `NAME` has two files in `tests/fixtures/`, both written by
//! `fixtures/generate.py` with bcc's Python module: `NAME.in` (the input, in hist's slot terms)
//! and `NAME.txt` (what bcc printed for it). The renderers must reproduce `NAME.txt` byte for
//! byte. The overflow row is hist's own addition, so its tests use hand-written expectations.

use hist_user::hist_core::Linear;
use hist_user::{Histogram, Snapshot, render};
use proptest::prelude::*;

/// One `NAME.in` file: `val_type`, optional `section_header`, then `counts` lines, each
/// preceded by a `section LABEL` line in the sectioned cases.
struct GoldenInput {
    val_type: String,
    section_header: String,
    /// `(section label, counts of slots 0..=max_slot)`; the label is empty when unsectioned.
    histograms: Vec<(String, Vec<u64>)>,
}

fn parse_input(text: &str) -> GoldenInput {
    let mut input = GoldenInput {
        val_type: String::new(),
        section_header: String::new(),
        histograms: vec![],
    };
    let mut label = String::new();
    for line in text.lines() {
        let (field, value) = line.split_once(' ').unwrap_or((line, ""));
        match field {
            "val_type" => input.val_type = value.to_string(),
            "section_header" => input.section_header = value.to_string(),
            "section" => label = value.to_string(),
            "counts" => {
                let counts = value.split(' ').map(|c| c.parse().unwrap()).collect();
                input.histograms.push((std::mem::take(&mut label), counts));
            }
            _ => panic!("unexpected line in a .in fixture: {line:?}"),
        }
    }
    input
}

fn only_histogram(input: &GoldenInput) -> Histogram {
    assert_eq!(
        input.histograms.len(),
        1,
        "an unsectioned case has one counts line"
    );
    Histogram::from_counts(&input.histograms[0].1, 0)
}

fn sections(input: &GoldenInput) -> Snapshot<String> {
    input
        .histograms
        .iter()
        .map(|(label, counts)| (label.clone(), Histogram::from_counts(counts, 0)))
        .collect()
}

/// bcc's linear index: base 0, step 1.
fn bcc_linear(hist: &Histogram) -> Linear {
    Linear::new(0, 1, hist.max_slot())
}

fn render_log2(input: &GoldenInput) -> String {
    render::log2_hist(&only_histogram(input), &input.val_type)
}

fn render_linear(input: &GoldenInput) -> String {
    let hist = only_histogram(input);
    render::linear_hist(&hist, &input.val_type, &bcc_linear(&hist))
}

fn render_log2_sections(input: &GoldenInput) -> String {
    render::log2_hist_sections(
        &sections(input),
        &input.val_type,
        &input.section_header,
        |op| op.clone(),
    )
}

fn render_linear_sections(input: &GoldenInput) -> String {
    let snapshot = sections(input);
    let buckets = bcc_linear(snapshot.values().next().unwrap());
    render::linear_hist_sections(
        &snapshot,
        &input.val_type,
        &buckets,
        &input.section_header,
        |op| op.clone(),
    )
}

/// Asserts equal text, pointing at the first line that differs.
fn assert_same_text(actual: &str, expected: &str, case: &str) {
    if actual == expected {
        return;
    }
    let (actual_lines, expected_lines): (Vec<_>, Vec<_>) = (
        actual.split_inclusive('\n').collect(),
        expected.split_inclusive('\n').collect(),
    );
    let line = actual_lines
        .iter()
        .zip(&expected_lines)
        .position(|(a, e)| a != e);
    let line = line.unwrap_or(actual_lines.len().min(expected_lines.len()));
    panic!(
        "{case}: output differs from bcc's at line {}\n  ours: {:?}\n   bcc: {:?}\n--- ours ---\n{actual}--- bcc ---\n{expected}",
        line + 1,
        actual_lines.get(line),
        expected_lines.get(line),
    );
}

/// The golden cases, each rendered by one of the functions above.
macro_rules! golden {
    ($($name:ident => $render:ident,)*) => {
        $(
            #[test]
            fn $name() {
                let input = parse_input(include_str!(concat!("fixtures/", stringify!($name), ".in")));
                let expected = include_str!(concat!("fixtures/", stringify!($name), ".txt"));
                assert_same_text(&$render(&input), expected, stringify!($name));
            }
        )*

        /// Every `.in` fixture that generate.py wrote has a test above.
        #[test]
        fn every_fixture_is_tested() {
            let tested = [$(stringify!($name)),*];
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
            for entry in std::fs::read_dir(dir).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                if let Some(case) = name.strip_suffix(".in") {
                    assert!(tested.contains(&case), "fixture {name} has no golden test");
                }
            }
        }
    };
}

golden! {
    log2_typical => render_log2,
    log2_long_val_type => render_log2,
    log2_slot0_only => render_log2,
    log2_all_zero => render_log2,
    log2_last_index_32 => render_log2,
    log2_last_index_33 => render_log2,
    log2_wide => render_log2,
    log2_slot63 => render_log2,
    log2_huge_counts => render_log2,
    log2_huge_counts_wide => render_log2,
    linear_typical => render_linear,
    linear_slot0_only => render_linear,
    linear_all_zero => render_linear,
    log2_sections => render_log2_sections,
    linear_sections => render_linear_sections,
}

#[test]
fn golden_empty_cases_are_empty() {
    // Guards the goldens themselves: bcc prints nothing at all for an empty histogram.
    assert_eq!(include_str!("fixtures/log2_all_zero.txt"), "");
    assert_eq!(include_str!("fixtures/linear_all_zero.txt"), "");
}

/// `stars.txt`: one `_stars(val, val_max, width)` call of bcc per line, tab-separated, the
/// bar last: small, uniform and near-boundary huge counts, and `val > val_max`.
#[test]
fn stars_match_bcc() {
    let mut mismatches = vec![];
    let mut plus_cases = 0;
    for line in include_str!("fixtures/stars.txt").lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [val, val_max, width, bcc_bar] = fields[..] else {
            panic!("bad line {line:?}")
        };
        let (val, val_max, width) = (
            val.parse().unwrap(),
            val_max.parse().unwrap(),
            width.parse().unwrap(),
        );
        let ours = render::stars(val, val_max, width);
        if ours != bcc_bar {
            mismatches.push(format!(
                "stars({val}, {val_max}, {width}) = {ours:?}, bcc {bcc_bar:?}"
            ));
        }
        plus_cases += bcc_bar.ends_with('+') as usize;
    }
    assert!(plus_cases >= 5, "stars.txt lost its val > val_max cases");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn stars_plus_and_edge_cases() {
    assert_eq!(render::stars(41, 40, 40), format!("{}+", "*".repeat(39)));
    assert_eq!(render::stars(2, 1, 40), format!("{}+", "*".repeat(39)));
    assert_eq!(render::stars(5, 3, 0), "+");
    assert_eq!(render::stars(40, 40, 40), "*".repeat(40));
    assert_eq!(render::stars(39, 40, 40), "*".repeat(39));
    assert_eq!(render::stars(1, 41, 40), "");
    // bcc divides by zero here; hist gives an empty bar, or a full one ending in '+'.
    assert_eq!(render::stars(0, 0, 40), "");
    assert_eq!(render::stars(1, 0, 4), "***+");
}

const NORMAL_HEADER_USECS: &str = "     usecs               : count     distribution\n";

#[test]
fn log2_overflow_row() {
    let hist = Histogram::from_counts(&[0, 3, 24, 0, 0], 2);
    let expected = [
        NORMAL_HEADER_USECS,
        "         0 -> 1          : 0        |                                        |\n",
        "         2 -> 3          : 3        |*****                                   |\n",
        "         4 -> 7          : 24       |****************************************|\n",
        "         8 -> 15         : 0        |                                        |\n",
        "        16 -> 31         : 0        |                                        |\n",
        "        32 -> inf        : 2        |***                                     |\n",
    ]
    .concat();
    assert_eq!(render::log2_hist(&hist, "usecs"), expected);
}

#[test]
fn log2_overflow_count_scales_the_bars() {
    let hist = Histogram::from_counts(&[0, 12], 48);
    let expected = [
        NORMAL_HEADER_USECS,
        "         0 -> 1          : 0        |                                        |\n",
        "         2 -> 3          : 12       |**********                              |\n",
        "         4 -> inf        : 48       |****************************************|\n",
    ]
    .concat();
    assert_eq!(render::log2_hist(&hist, "usecs"), expected);
}

#[test]
fn log2_overflow_only() {
    let hist = Histogram::from_counts(&[0], 7);
    let expected = [
        NORMAL_HEADER_USECS,
        "         0 -> 1          : 0        |                                        |\n",
        "         2 -> inf        : 7        |****************************************|\n",
    ]
    .concat();
    assert_eq!(render::log2_hist(&hist, "usecs"), expected);
}

#[test]
fn log2_overflow_picks_the_layout_of_the_slot_above_max_slot() {
    // max_slot 30: the overflow row starts at 2^31 (bcc index 32), normal layout.
    let text = render::log2_hist(&Histogram::from_counts(&[1; 31], 1), "nsecs");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 31 + 1);
    assert_eq!(
        lines[0],
        "     nsecs               : count     distribution"
    );
    assert_eq!(
        lines[31],
        "1073741824 -> 2147483647 : 1        |****************************************|"
    );
    assert_eq!(
        lines[32],
        "2147483648 -> inf        : 1        |****************************************|"
    );

    // max_slot 31: the overflow row starts at 2^32 (bcc index 33), wide layout.
    let text = render::log2_hist(&Histogram::from_counts(&[1; 32], 1), "nsecs");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 32 + 1);
    assert_eq!(
        lines[0],
        "               nsecs                         : count     distribution"
    );
    assert_eq!(
        lines[1],
        "                   0 -> 1                    : 1        |********************|"
    );
    assert_eq!(
        lines[33],
        "          4294967296 -> inf                  : 1        |********************|"
    );
}

#[test]
fn log2_overflow_above_slot_63_starts_at_2_to_the_64() {
    let mut finite = vec![0; 64];
    finite[63] = 1;
    let text = render::log2_hist(&Histogram::from_counts(&finite, 1), "bytes");
    let last_two: Vec<&str> = text.lines().skip(64).collect();
    assert_eq!(
        last_two,
        [
            " 9223372036854775808 -> 18446744073709551615 : 1        |********************|",
            "18446744073709551616 -> inf                  : 1        |********************|",
        ]
    );
}

#[test]
fn linear_overflow_row_and_base_step_labels() {
    let buckets = Linear::new(10, 5, 3);
    let hist = Histogram::from_counts(&[4, 0, 8, 0], 2);
    let expected = [
        "     msecs         : count     distribution\n",
        "        10         : 4        |********************                    |\n",
        "        15         : 0        |                                        |\n",
        "        20         : 8        |****************************************|\n",
        "        25         : 0        |                                        |\n",
        "        30+        : 2        |**********                              |\n",
    ]
    .concat();
    assert_eq!(render::linear_hist(&hist, "msecs", &buckets), expected);

    // Without overflow the rows stop at the last non-empty slot, labelled base + slot·step.
    let hist = Histogram::from_counts(&[4, 0, 8, 0], 0);
    let expected = [
        "     msecs         : count     distribution\n",
        "        10         : 4        |********************                    |\n",
        "        15         : 0        |                                        |\n",
        "        20         : 8        |****************************************|\n",
    ]
    .concat();
    assert_eq!(render::linear_hist(&hist, "msecs", &buckets), expected);
}

#[test]
fn empty_inputs_render_nothing() {
    assert_eq!(render::log2_hist(&Histogram::new(26), "usecs"), "");
    assert_eq!(
        render::linear_hist(&Histogram::new(9), "msecs", &Linear::new(0, 1, 9)),
        ""
    );
    let none: Snapshot<u32> = Snapshot::new();
    assert_eq!(
        render::log2_hist_sections(&none, "usecs", "pid", |pid| pid.to_string()),
        ""
    );
    assert_eq!(
        render::linear_hist_sections(&none, "msecs", &Linear::new(0, 1, 9), "pid", |pid| {
            pid.to_string()
        }),
        ""
    );
}

#[test]
fn sections_carry_the_overflow_row() {
    let mut snapshot = Snapshot::new();
    snapshot.insert(1234u32, Histogram::from_counts(&[1, 0], 1));
    let expected = [
        "\npid = 1234 (bash)\n",
        NORMAL_HEADER_USECS,
        "         0 -> 1          : 1        |****************************************|\n",
        "         2 -> 3          : 0        |                                        |\n",
        "         4 -> inf        : 1        |****************************************|\n",
    ]
    .concat();
    let text = render::log2_hist_sections(&snapshot, "usecs", "pid", |pid| format!("{pid} (bash)"));
    assert_eq!(text, expected);
}

/// Replaces the high column of the last row of a log2 rendering by `inf`, in the same width.
fn with_inf_high_in_last_row(text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let last = lines.last_mut().unwrap();
    let arrow = last.find(" -> ").unwrap() + 4;
    let colon = last[arrow..].find(" : ").unwrap() + arrow;
    let width = colon - arrow;
    last.replace_range(arrow..colon, &format!("{:<width$}", "inf"));
    lines.iter().map(|line| format!("{line}\n")).collect()
}

/// Appends `+` to the label of the last row of a linear rendering, in the same width.
fn with_plus_label_in_last_row(text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let last = lines.last_mut().unwrap();
    let label = last.trim_start().split(' ').next().unwrap().to_string();
    let start = last.find(&label).unwrap();
    let colon = last.find(" : ").unwrap();
    last.replace_range(
        start..colon,
        &format!("{:<width$}", format!("{label}+"), width = colon - start),
    );
    lines.iter().map(|line| format!("{line}\n")).collect()
}

proptest! {
    /// The overflow row is what bcc prints for the slot above max_slot, with `inf` as its high
    /// bound: rendering the overflow as one more finite slot and patching the last row gives
    /// the same text (the finite-slot path is the one checked against bcc above).
    #[test]
    fn log2_overflow_row_is_the_next_slot_with_inf(
        finite in prop::collection::vec(0u64..1_000_000, 1..64),
        overflow in 1u64..1_000_000,
    ) {
        let with_overflow = render::log2_hist(&Histogram::from_counts(&finite, overflow), "usecs");
        let mut extended = finite.clone();
        extended.push(overflow);
        let as_finite = render::log2_hist(&Histogram::from_counts(&extended, 0), "usecs");
        prop_assert_eq!(with_overflow, with_inf_high_in_last_row(&as_finite));
    }

    #[test]
    fn linear_overflow_row_is_the_next_slot_with_plus(
        finite in prop::collection::vec(0u64..1_000_000, 1..100),
        overflow in 1u64..1_000_000,
        base in 0u64..1000,
        step in 1u64..1000,
    ) {
        let max_slot = finite.len() as u32 - 1;
        let with_overflow = render::linear_hist(
            &Histogram::from_counts(&finite, overflow),
            "msecs",
            &Linear::new(base, step, max_slot),
        );
        let mut extended = finite.clone();
        extended.push(overflow);
        let as_finite = render::linear_hist(
            &Histogram::from_counts(&extended, 0),
            "msecs",
            &Linear::new(base, step, max_slot + 1),
        );
        prop_assert_eq!(with_overflow, with_plus_label_in_last_row(&as_finite));
    }

    /// Stars never exceed the width, and only `val > val_max` ends in `+`.
    #[test]
    fn stars_stay_within_width(val in any::<u64>(), val_max in any::<u64>(), width in 0usize..64) {
        let bar = render::stars(val, val_max, width);
        prop_assert!(bar.len() <= width.max(1));
        prop_assert_eq!(bar.ends_with('+'), val > val_max);
    }
}

/// A time unit renders as the word bcc prints for it; any other word works as in bcc.
#[test]
fn renderers_take_a_unit_or_a_word() {
    use hist_user::hist_core::Unit;
    let hist = Histogram::from_counts(&[0, 3, 1], 0);
    assert_eq!(
        render::log2_hist(&hist, Unit::Milliseconds),
        render::log2_hist(&hist, "msecs")
    );
    assert!(render::log2_hist(&hist, Unit::Nanoseconds).starts_with("     nsecs "));
    let kbytes = String::from("kbytes");
    assert!(render::log2_hist(&hist, &kbytes).starts_with("     kbytes "));
}
