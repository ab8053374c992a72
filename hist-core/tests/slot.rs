//! Properties and boundaries of the slot math: every value lies within its slot's bounds.

use hist_core::{Buckets, HistKey, Linear, Log2, LogLinear, log2, log2_u64, map_entries};
use proptest::prelude::*;

const FULL: Log2 = Log2::new(63);

fn assert_in_own_slot(v: u64) {
    let slot = FULL.slot(v);
    let bounds = FULL.bounds(slot);
    assert!(bounds.contains(&v), "{v} not in slot {slot} = {bounds:?}");
    assert_eq!(log2_u64(v), slot, "log2_u64 differs at {v}");
    assert_eq!(log2(v), slot, "generic log2 differs at {v}");
}

#[test]
fn boundaries_of_every_power_of_two() {
    for v in [0, 1, u64::MAX] {
        assert_in_own_slot(v);
    }
    assert_eq!(FULL.slot(0), 0);
    assert_eq!(FULL.slot(1), 0);
    assert_eq!(FULL.slot(u64::MAX), 63);
    for k in 1..64u32 {
        let p = 1u64 << k;
        for v in [p - 1, p, p + 1] {
            assert_in_own_slot(v);
        }
        assert_eq!(FULL.slot(p), k, "2^{k}");
        assert_eq!(FULL.slot(p - 1), k - 1, "2^{k} - 1");
        assert_eq!(
            FULL.bounds(k),
            p..=(p - 1).saturating_add(p),
            "bounds of slot {k}"
        );
    }
}

#[test]
fn the_rows_are_bccs() {
    // bcc prints 0 -> 1, 2 -> 3, 4 -> 7, 8 -> 15 …
    let rows: Vec<_> = (0..4).map(|s| FULL.bounds(s)).collect();
    assert_eq!(rows, [0..=1, 2..=3, 4..=7, 8..=15]);
}

#[test]
fn values_above_the_top_slot_go_to_the_overflow_slot() {
    let xfs = Log2::new(26);
    assert_eq!(xfs.overflow_slot(), 27);
    assert_eq!(xfs.slots_per_prefix(), 28);
    assert_eq!(xfs.slot((1 << 27) - 1), 26);
    assert_eq!(xfs.slot(1 << 27), 27);
    assert_eq!(xfs.slot(u64::MAX), 27);
    assert_eq!(xfs.bounds(26), (1 << 26)..=((1 << 27) - 1));
    assert_eq!(xfs.bounds(27), (1 << 27)..=u64::MAX);
}

#[test]
fn xfs_reclaim_map_size_is_56() {
    // ebpf_exporter: max_latency_slot = 26, two operations: (26 + 2) * 2.
    assert_eq!(map_entries(26, 2), 56);
    const AT_COMPILE_TIME: u32 = map_entries(26, 2);
    assert_eq!(AT_COMPILE_TIME, 56);
}

#[test]
fn generic_log2_over_every_width() {
    assert_eq!(log2(u8::MAX), 7);
    assert_eq!(log2(u16::MAX), 15);
    assert_eq!(log2(u32::MAX), 31);
    assert_eq!(log2(1u128 << 100), 100);
    for k in 0..8 {
        assert_eq!(log2(1u8 << k), k);
    }
}

#[test]
fn linear_slots() {
    let l = Linear::new(100, 10, 4);
    assert_eq!(l.slot(0), 0, "below base counts in slot 0");
    assert_eq!(l.slot(100), 0);
    assert_eq!(l.slot(109), 0);
    assert_eq!(l.slot(110), 1);
    assert_eq!(l.slot(149), 4);
    assert_eq!(l.slot(150), 5, "overflow slot");
    assert_eq!(l.slot(u64::MAX), 5);
    assert_eq!(l.bounds(1), 110..=119);
    assert_eq!(l.bounds(5), 150..=u64::MAX);
}

#[test]
fn a_zeroed_key_is_all_zero_bytes() {
    fn all_zero<P: hist_core::KeyPrefix>() {
        let key = HistKey::<P>::zeroed();
        assert!(bytemuck::bytes_of(&key).iter().all(|&b| b == 0));
        assert_eq!(size_of::<HistKey<P>>(), size_of::<P>() + 4, "no padding");
    }
    all_zero::<()>();
    all_zero::<u32>();
    all_zero::<[u8; 8]>();
    all_zero::<[u8; 16]>();
    all_zero::<[u32; 3]>();
}

proptest! {
    #[test]
    fn every_value_lies_within_its_log2_slot(v: u64, max_slot in 0u32..=63) {
        assert_in_own_slot(v);
        let layout = Log2::new(max_slot);
        let slot = layout.slot(v);
        prop_assert!(slot <= layout.overflow_slot());
        prop_assert!(layout.bounds(slot).contains(&v));
    }

    #[test]
    fn every_value_lies_within_its_linear_slot(
        v: u64, base in 0u64..1_000_000, step in 1u64..10_000, max_slot in 0u32..1000,
    ) {
        let layout = Linear::new(base, step, max_slot);
        let slot = layout.slot(v);
        prop_assert!(slot <= layout.overflow_slot());
        if v >= base {
            prop_assert!(layout.bounds(slot).contains(&v), "{} in {}: {:?}", v, slot, layout.bounds(slot));
        } else {
            prop_assert_eq!(slot, 0);
        }
    }

    #[test]
    fn every_value_lies_within_its_log_linear_slot(
        bits in 0u32..64, low_bits: u64, precision in 0u32..=5, max_slot_fraction in 0.0f64..=1.0,
    ) {
        // Values of every bit width, not only the wide ones a uniform u64 gives.
        let v = low_bits >> (63 - bits);
        let widest = LogLinear::new(precision, ((65 - precision) << precision) - 1);
        let max_slot = (widest.max_slot() as f64 * max_slot_fraction) as u32;
        let layout = LogLinear::new(precision, max_slot);
        let slot = layout.slot(v);
        prop_assert!(slot <= layout.overflow_slot());
        let own = widest.slot(v);
        prop_assert!(widest.bounds(own).contains(&v), "{} in {}: {:?}", v, own, widest.bounds(own));
        // The slot is at most 2^-k of its first value wide: the precision promised.
        let bounds = widest.bounds(own);
        prop_assert!((bounds.end() - bounds.start()) <= bounds.start() >> precision);
        if own <= max_slot {
            prop_assert_eq!(slot, own);
        } else {
            prop_assert_eq!(slot, layout.overflow_slot());
        }
    }

    #[test]
    fn slots_are_monotonic(a: u64, b: u64) {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(FULL.slot(lo) <= FULL.slot(hi));
    }
}

/// Log-linear slots tile `u64`: each slot starts where the one before ends, every slot's first
/// and last value are in it, and precision 0 is log2 with 0 in a slot of its own.
#[test]
fn log_linear_slots_tile_the_values() {
    for precision in 0..=LogLinear::MAX_PRECISION {
        let layout = LogLinear::new(precision, ((65 - precision) << precision) - 1);
        let mut next = 0u64;
        for slot in 0..=layout.max_slot() {
            let bounds = layout.bounds(slot);
            assert_eq!(*bounds.start(), next, "k {precision} slot {slot}");
            assert_eq!(
                layout.slot(*bounds.start()),
                slot,
                "k {precision} slot {slot}"
            );
            assert_eq!(
                layout.slot(*bounds.end()),
                slot,
                "k {precision} slot {slot}"
            );
            next = bounds.end().wrapping_add(1);
        }
        assert_eq!(next, 0, "k {precision}: the last slot ends at u64::MAX");
        assert_eq!(layout.slot(u64::MAX), layout.max_slot());
    }
    let exp2zero = LogLinear::new(0, 64);
    let rows: Vec<_> = (0..5).map(|s| exp2zero.bounds(s)).collect();
    assert_eq!(rows, [0..=0, 1..=1, 2..=3, 4..=7, 8..=15]);
    // k = 2: 0..=3 one value each, then [4,4] [5,5] [6,6] [7,7], [8,9] [10,11] …
    let quarter = LogLinear::new(2, 20);
    let starts: Vec<u64> = (0..12).map(|s| *quarter.bounds(s).start()).collect();
    assert_eq!(starts, [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14]);
}

/// `--precision k` (`Layout::refined`): a log2 layout's range is kept at every precision (the
/// top finite slot ends where log2's does, the overflow slot starts where log2's does), the map
/// is sized for it exactly, and precision 0 is the log2 layout itself.
#[test]
fn a_refined_layout_keeps_the_log2_range() {
    use hist_core::{Layout, Settings};
    for max_slot in 0..=63 {
        let log2 = Layout::log2(max_slot);
        assert_eq!(log2.refined(0), log2);
        for precision in 1..=LogLinear::MAX_PRECISION {
            let fine = log2.refined(precision);
            let Layout::LogLinear(log_linear) = fine else {
                panic!("log2({max_slot}) at precision {precision} is {fine:?}");
            };
            assert_eq!(log_linear.precision(), precision);
            // Below precision k, the k + 1 lowest powers of two at least.
            let top = (*log2.bounds(max_slot).end()).max((2u64 << precision) - 1);
            assert_eq!(
                *fine.bounds(fine.max_slot()).end(),
                top,
                "{max_slot} k {precision}"
            );
            if top < u64::MAX {
                assert_eq!(
                    fine.slot(top + 1),
                    fine.overflow_slot(),
                    "{max_slot} k {precision}"
                );
            }
        }
    }
    // A precision user space never writes (above 5) is 5, not a panic: the kernel side runs it.
    assert_eq!(Layout::log2(26).refined(40), Layout::log2(26).refined(5));
    let linear = Layout::linear(0, 10, 20);
    assert_eq!(linear.refined(3), linear);

    // The maps of a tool, sized for its settings' precision: finite slots + overflow, × prefixes.
    macro_rules! desc {
        ($desc:ident, $name:literal, $max_slot:literal, $prefixes:literal) => {
            struct $desc;
            impl hist_core::HistDesc for $desc {
                type Prefix = u32;
                const NAME: &'static str = $name;
                const LAYOUT: Layout = Layout::log2($max_slot);
                const UNIT: hist_core::Unit = hist_core::Unit::Microseconds;
                const PREFIXES: u32 = $prefixes;
            }
        };
    }
    desc!(Latency, "LATENCY", 26, 5);
    desc!(Single, "SINGLE", 35, 1);
    let sized = |precision| {
        let settings = Settings {
            precision,
            ..Settings::default()
        };
        let mut maps = Vec::new();
        <(Latency, Single) as hist_core::HistDescs>::each_map(
            &settings,
            32_768,
            |name, entries| maps.push((name.concat(), entries)),
        );
        maps
    };
    // Each with its default prefix's array (`LATENCY_DEFAULT`), one histogram's size.
    assert_eq!(
        sized(0),
        [
            ("LATENCY".into(), 28 * 5),
            ("LATENCY_DEFAULT".into(), 28),
            ("SINGLE".into(), 37),
            ("SINGLE_DEFAULT".into(), 37)
        ]
    );
    // k = 3: 2^k one-value slots below 8, then 8 per power of two from 8 up to 2^27 (2^36).
    assert_eq!(
        sized(3),
        [
            ("LATENCY".into(), (8 + 8 * 24 + 1) * 5),
            ("LATENCY_DEFAULT".into(), 8 + 8 * 24 + 1),
            ("SINGLE".into(), 8 + 8 * 33 + 1),
            ("SINGLE_DEFAULT".into(), 8 + 8 * 33 + 1)
        ]
    );
    // A map this run does not use: one entry, whatever the precision.
    let mut maps = Vec::new();
    let settings = Settings {
        precision: 3,
        ..Settings::default()
    };
    <(Single, hist_core::Unused<Latency>) as hist_core::HistDescs>::each_map(
        &settings,
        32_768,
        |n, e| maps.push((n.concat(), e)),
    );
    let single = 8 + 8 * 33 + 1;
    assert_eq!(
        maps,
        [
            ("SINGLE".into(), single),
            ("SINGLE_DEFAULT".into(), single),
            ("LATENCY".into(), 1),
            ("LATENCY_DEFAULT".into(), 1)
        ]
    );
}

#[test]
fn start_maps_are_sized_for_their_keys_domain() {
    use hist_core::{HistDescs, Settings, StartDesc, StartDomain, Starts};
    struct ByThread;
    impl StartDesc for ByThread {
        type Key = u32;
        const NAME: &'static str = "BY_THREAD";
        const DOMAIN: StartDomain = StartDomain::Threads;
    }
    struct ByRequest;
    impl StartDesc for ByRequest {
        type Key = [u64; 2];
        const NAME: &'static str = "BY_REQUEST";
        const DOMAIN: StartDomain = StartDomain::InFlight(10_240);
    }
    let sized = |pid_max| {
        let mut maps = Vec::new();
        <(Starts<ByThread>, Starts<ByRequest>)>::each_map(&Settings::default(), pid_max, |n, e| {
            maps.push((n.concat(), e))
        });
        maps
    };
    assert_eq!(
        sized(32_768),
        [("BY_THREAD".into(), 32_768), ("BY_REQUEST".into(), 10_240)]
    );
    // systemd's pid_max: a map by thread is capped, one by request keeps its own bound.
    assert_eq!(
        sized(4_194_304),
        [("BY_THREAD".into(), 65_536), ("BY_REQUEST".into(), 10_240)]
    );
}
