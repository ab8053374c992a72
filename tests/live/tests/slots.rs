//! The slot functions as the kernel runs them: the BPF form of `log2_u64` (hand-written BPF
//! assembly, hist-core's `slot.rs`) and the layouts' `slot` give, for every power-of-two
//! boundary and for pseudo-random values, the slots that the host's `leading_zeros` form gives;
//! and live values (a workload's on-CPU slices), recorded once in log2 and once in log-linear
//! slots by one probe, nest exactly.

mod common;

use aya::{
    EbpfLoader,
    maps::{Array, MapData},
};
use hist_core::{Buckets as _, HistDesc as _, log2_u64};
use hist_live_tests::PROBES;
use hist_test_descs::{NestFine, NestLog2, SLOT_LAYOUTS, SLOT_VALUES};
use hist_user::{HistMap, Snapshot};

/// Every `2^k − 1`, `2^k`, `2^k + 1`, the layouts' own bounds, and pseudo-random values of every
/// width (a fixed xorshift sequence, so a failure is reproducible).
fn values() -> Vec<u64> {
    let mut values = vec![0, 1, 2, 3, u64::MAX, u64::MAX - 1];
    for k in 1..64 {
        let power = 1u64 << k;
        values.extend([power - 1, power, power + 1]);
    }
    for layout in SLOT_LAYOUTS {
        for slot in 0..=layout.overflow_slot() {
            let bounds = layout.bounds(slot);
            values.extend([*bounds.start(), *bounds.end()]);
        }
    }
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..1024 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        values.push(state >> (i % 64));
    }
    values
}

#[test]
fn bpf_slots_equal_the_hosts_for_every_boundary_and_random_values() {
    let tgid = std::process::id();
    let mut ebpf = EbpfLoader::new()
        .override_global("TARGET_TGID", &tgid, true)
        .load(PROBES)
        .expect("load test probes");
    common::attach_tracepoint(&mut ebpf, "slots_getpid", "syscalls", "sys_enter_getpid");
    let mut input: Array<MapData, u64> =
        Array::try_from(ebpf.take_map("SLOT_IN").unwrap()).unwrap();
    let output: Array<MapData, [u32; 4]> =
        Array::try_from(ebpf.take_map("SLOT_OUT").unwrap()).unwrap();

    let values = values();
    let mut checked = 0;
    for round in values.chunks(SLOT_VALUES as usize) {
        for index in 0..SLOT_VALUES {
            // Unused places of the last round repeat its first value.
            let value = round.get(index as usize).copied().unwrap_or(round[0]);
            input.set(index, value, 0).unwrap();
        }
        // SAFETY: getpid has no preconditions; the probe runs on its way in.
        unsafe { libc::syscall(libc::SYS_getpid) };
        for (index, &value) in round.iter().enumerate() {
            let got = output.get(&(index as u32), 0).unwrap();
            let want = [
                log2_u64(value),
                SLOT_LAYOUTS[0].slot(value),
                SLOT_LAYOUTS[1].slot(value),
                SLOT_LAYOUTS[2].slot(value),
            ];
            assert_eq!(
                got, want,
                "value {value} ({value:#x}): BPF {got:?}, host {want:?}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, values.len());
    assert!(checked > 1000, "{checked} values");
}

/// The one histogram of a snapshot of a `PREFIXES = 1` map, after the probe stopped writing to
/// it: read until two readings 100 ms apart agree (a task's last switch may still be recording
/// on another CPU when the parent reaps it).
fn settled<D: hist_core::HistDesc<Prefix = u32>>(map: &HistMap<D>) -> hist_user::Histogram {
    let read = || -> Snapshot<u32> { map.snapshot().unwrap() };
    let mut last = read();
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let now = read();
        if now == last {
            break;
        }
        last = now;
    }
    last.remove(&0)
        .unwrap_or_else(|| panic!("{} counted nothing", D::NAME))
}

/// A workload's 300 on-CPU slices (a sleep of 1 ms after each), in ns, counted by one probe in a
/// log2 histogram and in a precision-3 one over the same range: every fine bucket lies inside
/// one log2 slot, and each log2 slot's count is exactly the sum of its 8 sub-buckets'. This is
/// the fine-grained oracle of `--precision`: no clock but the kernel's, and one reading of it
/// per event for both histograms.
#[test]
fn log2_and_precision_3_histograms_of_the_same_events_nest_exactly() {
    let workload = common::Workload::spawn(&["sleep", "1", "300"]);
    let mut ebpf = EbpfLoader::new()
        .override_global("TARGET_TGID", &workload.pid(), true)
        .load(PROBES)
        .expect("load test probes");
    common::attach_tracepoint(&mut ebpf, "nest_sched_switch", "sched", "sched_switch");
    workload.run_to_end();
    let log2 = settled(&HistMap::<NestLog2>::open(&mut ebpf).unwrap());
    let fine_map = HistMap::<NestFine>::open(&mut ebpf).unwrap();
    let fine = settled(&fine_map);
    let (log2_layout, fine_layout) = (NestLog2::LAYOUT, fine_map.layout());
    assert_eq!(fine.max_slot(), fine_layout.max_slot());

    let mut nested = hist_user::Histogram::new(log2.max_slot());
    for slot in 0..=fine_layout.overflow_slot() {
        let bounds = fine_layout.bounds(slot);
        let (low, high) = (*bounds.start(), *bounds.end());
        let parent = log2_layout.slot(low);
        assert_eq!(
            parent,
            log2_layout.slot(high),
            "fine bucket {slot} ({bounds:?}) straddles log2 slots"
        );
        nested.add(parent, fine.count(slot));
    }
    assert_eq!(nested, log2, "log2 {log2:?}\nfine {fine:?}");
    // Enough live values, spread over more than one log2 slot, that the nesting was tested on
    // them. Not one per sleep: a 1 ms nanosleep whose timer fires before the task gets to
    // schedule() returns without a switch (`do_nanosleep`), which slow emulated CPUs make
    // happen (298 slices for 300 sleeps in a 6.1 guest). Half of them is plenty.
    assert!(log2.total() >= 150, "{log2:?}");
    let used = log2.finite().iter().filter(|&&count| count > 0).count();
    let fine_used = fine.finite().iter().filter(|&&count| count > 0).count();
    assert!(used >= 2 && fine_used > used, "{log2:?}\n{fine:?}");
}
