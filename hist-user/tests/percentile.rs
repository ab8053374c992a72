//! Percentiles from buckets against the exact nearest-rank percentile of the recorded values.

use hist_user::Histogram;
use hist_user::hist_core::{Buckets, Linear, Log2, LogLinear};
use hist_user::percentile::{Bounds, Percentile, Percentiles, STANDARD, max_bucket, percentile};
use proptest::prelude::*;

/// `values` counted under `buckets`.
fn histogram<B: Buckets>(buckets: B, values: &[u64]) -> Histogram {
    let mut hist = Histogram::new(buckets.max_slot());
    for &value in values {
        hist.add(buckets.slot(value), 1);
    }
    hist
}

/// The nearest-rank percentile of `values` for `p = thousandths / 1000`, in exact integers:
/// the `⌈thousandths · n / 100 000⌉`-th smallest (at least the first).
fn exact_percentile(sorted: &[u64], thousandths: u64) -> u64 {
    let n = sorted.len() as u64;
    let rank = (thousandths * n).div_ceil(100_000).max(1);
    sorted[rank as usize - 1]
}

/// Checks the guarantee and the error bound of the module docs for every `p` in
/// `thousandths` (and [`STANDARD`], and 100).
fn check<B: Buckets>(buckets: B, geometric: bool, values: &[u64], thousandths: &[u64]) {
    let hist = histogram(buckets, values);
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let standard = STANDARD.map(|p| (p * 1000.0).round() as u64);
    for &k in thousandths.iter().chain(&standard).chain(&[100_000]) {
        let p = k as f64 / 1000.0;
        let exact = exact_percentile(&sorted, k);
        let got = percentile(&hist, buckets, p).expect("a non-empty histogram has percentiles");
        assert_eq!(got.p, p);
        assert!(exact >= got.low, "p{p}: {exact} below {got:?}");
        // The reported bucket is the one the exact value was counted in.
        let slot = buckets.slot(exact);
        assert_eq!(got.low, if slot == 0 { 0 } else { buckets.low(slot) });
        match (got.high, got.estimate) {
            (Some(high), Some(estimate)) => {
                assert!(exact <= high, "p{p}: {exact} above {got:?}");
                assert_ne!(slot, buckets.overflow_slot());
                assert!(
                    got.low as f64 <= estimate && estimate <= high as f64,
                    "p{p}: estimate outside {got:?}"
                );
                assert!((estimate - exact as f64).abs() <= (high - got.low) as f64);
                if geometric && got.low >= 2 {
                    let ratio = estimate / exact as f64;
                    assert!(0.5 < ratio && ratio < 2.0, "p{p}: {exact} vs {got:?}");
                }
            }
            (None, None) => assert_eq!(slot, buckets.overflow_slot(), "p{p}: {got:?}"),
            _ => panic!("high and estimate are None together: {got:?}"),
        }
    }
    // The max bucket holds the largest value and is the bucket of p100.
    let max = max_bucket(&hist, buckets).unwrap();
    let p100 = percentile(&hist, buckets, 100.0).unwrap();
    assert_eq!((max.low, max.high), (p100.low, p100.high));
    let largest = *sorted.last().unwrap();
    assert!(max.low <= largest && max.high.is_none_or(|high| largest <= high));
}

/// Values for a log2 histogram of `max_slot`: a small uniform range, log-uniform over every
/// octave of a `u64`, or just above the top finite slot.
fn log2_values(max_slot: u32) -> impl Strategy<Value = Vec<u64>> {
    let top = Log2::new(max_slot).bounds(max_slot).end().saturating_add(1);
    let value = prop_oneof![
        3 => 0..64u64,
        3 => (any::<u64>(), 0..64u32).prop_map(|(v, shift)| v >> shift),
        1 => (0..top.min(1 << 20)).prop_map(move |v| top.saturating_add(v)),
    ];
    prop::collection::vec(value, 1..300)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn log2_percentiles_lie_in_their_bucket(
        (max_slot, values) in (0..=63u32).prop_flat_map(|m| (Just(m), log2_values(m))),
        thousandths in prop::collection::vec(1..=100_000u64, 1..8),
    ) {
        check(Log2::new(max_slot), true, &values, &thousandths);
    }

    #[test]
    fn linear_percentiles_lie_in_their_bucket(
        (base, step, max_slot, values) in (0..100u64, 1..50u64, 0..40u32).prop_flat_map(
            |(base, step, max_slot)| {
                // Below base, in every slot, and above the top one.
                let end = base + step * (max_slot as u64 + 3);
                (Just(base), Just(step), Just(max_slot),
                 prop::collection::vec(0..end, 1..300))
            }
        ),
        thousandths in prop::collection::vec(1..=100_000u64, 1..8),
    ) {
        check(Linear::new(base, step, max_slot), false, &values, &thousandths);
    }

    #[test]
    fn log_linear_percentiles_lie_in_their_bucket(
        (precision, log2_max_slot, values) in (0..=5u32, 0..=62u32).prop_flat_map(
            |(precision, log2_max_slot)| (Just(precision), Just(log2_max_slot), log2_values(log2_max_slot))
        ),
        thousandths in prop::collection::vec(1..=100_000u64, 1..8),
    ) {
        // Linear inside each sub-bucket, so |estimate − exact| is at most the sub-bucket's
        // width: 2^-k of its first value.
        let buckets = LogLinear::covering(precision, log2_max_slot);
        check(buckets, false, &values, &thousandths);
    }
}

#[test]
fn an_empty_histogram_has_no_percentiles() {
    let hist = Histogram::new(26);
    assert_eq!(percentile(&hist, Log2::new(26), 50.0), None);
    assert_eq!(max_bucket(&hist, Log2::new(26)), None);
    assert_eq!(Percentiles::new(&hist, Log2::new(26), &STANDARD), None);
}

#[test]
fn p_outside_0_to_100_is_rejected() {
    let hist = histogram(Log2::new(26), &[5]);
    for p in [
        0.0,
        -1.0,
        100.000_001,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        assert_eq!(percentile(&hist, Log2::new(26), p), None, "p = {p}");
        assert_eq!(Percentiles::new(&hist, Log2::new(26), &[50.0, p]), None);
    }
    // The smallest p is the first value.
    assert_eq!(percentile(&hist, Log2::new(26), 1e-9).unwrap().low, 4);
}

#[test]
fn p_is_the_decimal_not_the_float_above_it() {
    // The values 1..=1000 one per slot: p99.9 is the 999th, though 99.9/100·1000 > 999 in f64.
    let values: Vec<u64> = (1..=1000).collect();
    assert_eq!((99.9 / 100.0 * values.len() as f64).ceil(), 1000.0);
    let buckets = Linear::new(0, 1, 1000);
    let hist = histogram(buckets, &values);
    let p = |p| percentile(&hist, buckets, p).unwrap();
    assert_eq!(
        (p(99.9).low, p(99.9).high, p(99.9).estimate),
        (999, Some(999), Some(999.0))
    );
    assert_eq!(p(50.0).low, 500);
    assert_eq!(p(100.0).low, 1000);
}

#[test]
fn a_single_value() {
    // 3000 is in slot 11, [2048, 4095]: every percentile is there, at the bucket's geometric
    // middle 2048·√2.
    let hist = histogram(Log2::new(26), &[3000]);
    for p in [1e-6, 50.0, 99.9, 100.0] {
        let got = percentile(&hist, Log2::new(26), p).unwrap();
        assert_eq!((got.low, got.high), (2048, Some(4095)));
        assert!((got.estimate.unwrap() - 2048.0 * 2f64.sqrt()).abs() < 1e-9);
    }
    assert_eq!(
        max_bucket(&hist, Log2::new(26)),
        Some(Bounds {
            low: 2048,
            high: Some(4095)
        })
    );
    // Slot 0 is interpolated linearly over {0, 1}: its middle, 1, after clamping.
    let zero = percentile(&histogram(Log2::new(26), &[0]), Log2::new(26), 50.0).unwrap();
    assert_eq!(
        (zero.low, zero.high, zero.estimate),
        (0, Some(1), Some(1.0))
    );
    // A linear slot: linearly over [20, 24].
    let linear = Linear::new(10, 5, 3);
    let got = percentile(&histogram(linear, &[22]), linear, 50.0).unwrap();
    assert_eq!(
        (got.low, got.high, got.estimate),
        (20, Some(24), Some(22.5))
    );
}

#[test]
fn linear_slot_0_starts_at_0() {
    // Slot 0 of base 10 also counts 3: the percentile is known only to be in [0, 14], and
    // estimated over the slot's own values [10, 14].
    let linear = Linear::new(10, 5, 3);
    let got = percentile(&histogram(linear, &[3]), linear, 50.0).unwrap();
    assert_eq!((got.low, got.high, got.estimate), (0, Some(14), Some(12.5)));
}

#[test]
fn all_in_overflow() {
    let hist = Histogram::from_counts(&[0; 26], 5);
    let summary = Percentiles::new(&hist, Log2::new(25), &STANDARD).unwrap();
    for (got, p) in summary.values.iter().zip(STANDARD) {
        let overflow = Percentile {
            p,
            low: 1 << 26,
            high: None,
            estimate: None,
        };
        assert_eq!(*got, overflow);
    }
    assert_eq!(
        summary.max,
        Bounds {
            low: 1 << 26,
            high: None
        }
    );
    assert_eq!(
        summary.render("usecs"),
        "       p50 > 67108863 usecs (overflow)\n\
         \x20      p90 > 67108863 usecs (overflow)\n\
         \x20      p99 > 67108863 usecs (overflow)\n\
         \x20    p99.9 > 67108863 usecs (overflow)\n\
         \x20      max > 67108863 usecs (overflow)\n"
    );
}

#[test]
fn p100_is_the_max_bucket() {
    for counts in [&[3, 0, 7, 1, 0][..], &[0, 0, 0, 0, 9], &[1, 0, 0, 0, 0]] {
        for overflow in [0, 1] {
            let hist = Histogram::from_counts(counts, overflow);
            let p100 = percentile(&hist, Log2::new(4), 100.0).unwrap();
            let max = max_bucket(&hist, Log2::new(4)).unwrap();
            assert_eq!((p100.low, p100.high), (max.low, max.high));
        }
    }
}

/// 1000 values: 500 in [2048, 4095], 400 in [4096, 8191], 95 in [8192, 16383], 5 above
/// 67108863 (max_slot 25).
fn latencies() -> Histogram {
    let mut hist = Histogram::new(25);
    hist.add(11, 500);
    hist.add(12, 400);
    hist.add(13, 95);
    hist.add(26, 5);
    hist
}

#[test]
fn renders_byte_for_byte() {
    let summary = Percentiles::new(&latencies(), Log2::new(25), &STANDARD).unwrap();
    assert_eq!(
        summary.render("usecs"),
        "       p50 = 4093 usecs    [2048, 4095]\n\
         \x20      p90 = 8185 usecs    [4096, 8191]\n\
         \x20      p99 = 15740 usecs   [8192, 16383]\n\
         \x20    p99.9 > 67108863 usecs (overflow)\n\
         \x20      max > 67108863 usecs (overflow)\n"
    );

    let no_overflow = Histogram::from_counts(latencies().finite(), 0);
    let summary = Percentiles::new(&no_overflow, Log2::new(25), &[50.0, 99.9]).unwrap();
    assert_eq!(
        summary.render("msecs"),
        "       p50 = 4082 msecs    [2048, 4095]\n\
         \x20    p99.9 = 16324 msecs   [8192, 16383]\n\
         \x20      max in [8192, 16383] msecs\n"
    );
}

#[test]
fn small_estimates_keep_three_significant_digits() {
    // Slot 0 twice (0.5 and 1.5 → clamped to 1), slot 1 once (2·√2), slot 5 once (32·√2).
    let hist = Histogram::from_counts(&[2, 1, 0, 0, 0, 1], 0);
    let summary = Percentiles::new(&hist, Log2::new(5), &[25.0, 50.0, 75.0, 100.0]).unwrap();
    assert_eq!(
        summary.render("nsecs"),
        "       p25 = 0.5 nsecs    [0, 1]\n\
         \x20      p50 = 1 nsecs      [0, 1]\n\
         \x20      p75 = 2.83 nsecs   [2, 3]\n\
         \x20     p100 = 45.3 nsecs   [32, 63]\n\
         \x20      max in [32, 63] nsecs\n"
    );
}

/// The form hist-output's JSON gives percentiles (feature `serde`).
#[cfg(feature = "serde")]
#[test]
fn json_carries_the_same_fields() {
    let summary = Percentiles::new(&latencies(), Log2::new(25), &[50.0, 99.9]).unwrap();
    let json = serde_json::to_string(&summary).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"values":[{{"p":50.0,"low":2048,"high":4095,"estimate":{}}},{{"p":99.9,"low":67108864,"high":null,"estimate":null}}],"max":{{"low":67108864,"high":null}}}}"#,
            summary.values[0].estimate.unwrap()
        )
    );
    assert_eq!(serde_json::from_str::<Percentiles>(&json).unwrap(), summary);
}
