//! No panic from any histogram: histograms of any shape and size through every renderer and
//! output. What comes back is a value or an error, never a panic.

use std::time::SystemTime;

use hist_core::{Layout, Linear, Unit};
use hist_output::{json, prometheus};
use hist_user::{Drops, Histogram, Report, render};
use proptest::prelude::*;

/// Counts from the edges: zero, one, large, `u64::MAX`.
fn count() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(u64::MAX),
        Just(u64::MAX / 3),
        any::<u64>()
    ]
}

/// Every output of one histogram: bcc's text (log2 and linear), JSON and Prometheus.
fn render_all(hist: &Histogram, linear: Linear) {
    let _ = render::log2_hist(hist, "usecs");
    let _ = render::linear_hist(hist, "usecs", &linear);
    for layout in [
        Layout::log2(hist.max_slot().min(63)),
        Layout::Linear(linear),
    ] {
        let report = Report {
            tool: "t".into(),
            layout,
            unit: Unit::Microseconds,
            section: Some("op".into()),
            histograms: vec![("x".into(), hist.clone(), Some(u64::MAX))],
            drops: Drops::from([u64::MAX, 1, 0]),
            time: SystemTime::now(),
        };
        let line = json::to_line(&report);
        assert!(line.starts_with('{'), "{line}");
        prometheus::encode("t_seconds", "t", &report).unwrap();
    }
}

#[test]
fn edge_histograms_render() {
    let linear = |max_slot| Linear::new(0, 1, max_slot);
    // Empty (the default), all zero, one slot, overflow only, u64::MAX everywhere.
    render_all(&Histogram::default(), linear(0));
    render_all(&Histogram::from_counts(&[], 0), linear(0));
    render_all(&Histogram::from_counts(&[], 9), linear(0));
    render_all(&Histogram::new(63), linear(63));
    render_all(&Histogram::from_counts(&[5], 0), linear(0));
    render_all(&Histogram::from_counts(&[0; 10], u64::MAX), linear(9));
    render_all(
        &Histogram::from_counts(&[u64::MAX; 64], u64::MAX),
        linear(63),
    );
    assert_eq!(Histogram::from_counts(&[u64::MAX; 3], 5).total(), u64::MAX);
    assert_eq!(Histogram::default().max_slot(), 0);
    assert_eq!(Histogram::from_counts(&[], 9).overflow(), 9);
}

#[test]
fn merging_another_layout_is_an_error() {
    let mut a = Histogram::new(3);
    a.add(1, 2);
    let mut b = Histogram::new(5);
    b.add(1, 1);
    let error = a.merge(&b).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot merge a histogram of max_slot 5 into one of max_slot 3"
    );
    assert_eq!(a.count(1), 2, "unchanged");
    let mut full = Histogram::from_counts(&[u64::MAX], 0);
    full.merge(&Histogram::from_counts(&[1], 0)).unwrap();
    assert_eq!(full.count(0), u64::MAX, "saturates");
}

proptest! {
    #[test]
    fn any_histogram_renders(
        finite in prop::collection::vec(count(), 0..70),
        overflow in count(),
        base in count(),
        step in count(),
    ) {
        let hist = Histogram::from_counts(&finite, overflow);
        render_all(&hist, Linear::new(base, step.max(1), hist.max_slot()));
    }
}
