//! Nothing is lost without a count: a probe records every getpid() of a child into maps too
//! small for it, next to one with room; what fits is exact, and the drop counters hold exactly
//! the events that did not fit, per cause.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use aya::maps::HashMap;
use hist_core::DropCause;
use hist_test_descs::{RoomyHist, TinyHist};
use hist_user::{DropCounters, HistMap};

const CALLS: u64 = 20_000;

#[test]
fn full_maps_count_exactly_what_they_could_not_hold() {
    let (workload, mut ebpf) = common::getpid_traced_by("drops_getpid", CALLS, 2);
    let drops = DropCounters::open(&mut ebpf)
        .unwrap()
        .expect("an object using hist-ebpf has drop counters");
    assert_eq!(drops.read().unwrap().total(), 0, "nothing dropped yet");

    workload.run_to_end();

    // Every event, per prefix, from the map with room.
    let roomy = HistMap::<RoomyHist>::open(&mut ebpf)
        .unwrap()
        .snapshot()
        .unwrap();
    let events: BTreeMap<u32, u64> = roomy.iter().map(|(p, h)| (*p, h.total())).collect();
    assert_eq!(events.values().sum::<u64>(), CALLS, "{events:?}");
    assert_eq!(events.len(), 5, "every prefix occurs: {events:?}");
    let events_outside = |kept: &BTreeSet<u32>| -> u64 {
        events
            .iter()
            .filter(|(prefix, _)| !kept.contains(prefix))
            .map(|(_, n)| n)
            .sum()
    };

    let tiny = HistMap::<TinyHist>::open(&mut ebpf).unwrap();
    let counted = tiny.snapshot().unwrap();
    let sums = tiny.sums().unwrap().expect("TINY_HIST_SUM");
    let start: HashMap<_, u32, u64> = HashMap::try_from(ebpf.map("TINY_START").unwrap()).unwrap();
    let started: BTreeSet<u32> = start.keys().collect::<Result<_, _>>().unwrap();
    let dropped = drops.read().unwrap();

    // The histogram: three prefixes fit, each counted exactly; the rest are drops.
    let kept: BTreeSet<u32> = counted.keys().copied().collect();
    assert_eq!(kept.len(), 3, "{counted:?}");
    for (prefix, hist) in &counted {
        assert_eq!(hist.total(), events[prefix], "prefix {prefix}");
    }
    assert_eq!(
        dropped.get(DropCause::HistogramFull),
        events_outside(&kept),
        "{dropped:?} {events:?}"
    );
    // The sums: one prefix fits.
    assert_eq!(sums.len(), 1, "{sums:?}");
    for (prefix, sum) in &sums {
        assert_eq!(*sum, events[prefix], "the sum of prefix {prefix}");
    }
    let summed = sums.keys().copied().collect();
    assert_eq!(
        dropped.get(DropCause::SumsFull),
        events_outside(&summed),
        "{dropped:?} {events:?}"
    );
    // The start map: three keys fit; every start of another key is a drop.
    assert_eq!(started.len(), 3, "{started:?}");
    assert_eq!(
        dropped.get(DropCause::StartFull),
        events_outside(&started),
        "{dropped:?} {events:?}"
    );
    assert!(dropped.get(DropCause::HistogramFull) > 0);
}
