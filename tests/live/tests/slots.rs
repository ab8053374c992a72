//! The slot functions as the kernel runs them: the BPF form of `log2_u64` (hand-written BPF
//! assembly, hist-core's `slot.rs`) and the layouts' `slot` give, for every power-of-two
//! boundary and for pseudo-random values, the slots that the host's `leading_zeros` form gives.

mod common;

use aya::{
    EbpfLoader,
    maps::{Array, MapData},
};
use hist_core::{Buckets as _, log2_u64};
use hist_live_tests::{
    PROBES,
    descs::{SLOT_LAYOUTS, SLOT_VALUES},
};

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
