//! Keyed start times (`hist_ebpf::StartTimes`, and the direct-mapped `StartSlots`), in the
//! kernel, on timestamps the probe chose:
//! a later start replaces, insert-if-absent keeps the first, an end takes the start away, and a
//! full map refuses a new key with a drop each time but lets a key it holds start again. No
//! clock: every value is exact.

mod common;

use aya::maps::{Array, HashMap, IterableMap as _, MapData};
use hist_core::{DropCause, StartDesc as _};
use hist_test_descs::{KEYED_RESULTS, Request, RequestStart, START_SLOTS_RESULTS, TinySlots};
use hist_user::DropCounters;

#[test]
fn keyed_starts_replace_keep_the_first_and_count_a_full_map() {
    let (workload, mut ebpf) = common::getpid_traced_by("keyed_getpid", 1, 1);
    let drops = DropCounters::open(&mut ebpf)
        .unwrap()
        .expect("drop counters");
    workload.run_to_end();

    let out: Array<MapData, u64> = Array::try_from(ebpf.take_map("KEYED_OUT").unwrap()).unwrap();
    let results: Vec<u64> = (0..KEYED_RESULTS)
        .map(|i| out.get(&i, 0).unwrap())
        .collect();
    let none = u64::MAX;
    assert_eq!(
        results,
        [
            1000 - 300, // a later start replaces
            none,       // the end took it
            1000 - 100, // insert-if-absent keeps the first
            none,       // a full map has no room for a new key
            50 - 40,    // a key it holds starts again
            10,         // and the others keep theirs
        ]
    );
    // The two refused starts of the new key, and nothing else.
    let dropped = drops.read().unwrap();
    assert_eq!(dropped.get(DropCause::StartFull), 2, "{dropped:?}");
    assert_eq!(dropped.total(), 2, "{dropped:?}");

    // Declared from its description: its name, its key, its domain; every start was taken.
    let starts: HashMap<MapData, [u64; 2], u64> =
        HashMap::try_from(ebpf.take_map(RequestStart::NAME).unwrap()).unwrap();
    let info = starts.map().info().unwrap();
    assert_eq!(info.key_size() as usize, size_of::<Request>());
    assert_eq!(info.max_entries(), 2);
    assert_eq!(starts.keys().count(), 0);
}

#[test]
fn start_slots_replace_keep_the_first_and_count_a_shared_slot() {
    let (workload, mut ebpf) = common::getpid_traced_by("start_slots_getpid", 1, 1);
    let drops = DropCounters::open(&mut ebpf)
        .unwrap()
        .expect("drop counters");
    workload.run_to_end();

    let out: Array<MapData, u64> =
        Array::try_from(ebpf.take_map("START_SLOTS_OUT").unwrap()).unwrap();
    let results: Vec<u64> = (0..START_SLOTS_RESULTS)
        .map(|i| out.get(&i, 0).unwrap())
        .collect();
    let none = u64::MAX;
    assert_eq!(
        results,
        [
            1000 - 300, // a later start replaces
            none,       // the end freed it
            1000 - 100, // insert-if-absent keeps the first
            none,       // b took a's slot
            50 - 20,    // and ends with its own start
            10 - 5,     // a freed slot and another one, no drop
        ]
    );
    // b's start over a's, and nothing else.
    let dropped = drops.read().unwrap();
    assert_eq!(dropped.get(DropCause::StartFull), 1, "{dropped:?}");
    assert_eq!(dropped.total(), 1, "{dropped:?}");

    // An array of its description's size, of `{key, start}` slots.
    let slots: Array<MapData, [u64; 2]> =
        Array::try_from(ebpf.take_map(TinySlots::NAME).unwrap()).unwrap();
    let info = slots.map().info().unwrap();
    assert_eq!(info.max_entries(), 4);
    assert_eq!(info.value_size(), 16);
}
