//! Keys on the live kernel: the raw bytes of every key that hist-ebpf writes into a hash map,
//! read back in user space, hold no garbage, and there is exactly one map entry per logical
//! key. A naive padded key, written by the same probe, shows the failure this prevents.

mod common;

use std::{collections::BTreeSet, thread, time::Duration};

use aya::{
    Ebpf,
    maps::{HashMap, MapData},
};
use hist_live_tests::PROBES;

/// `MAX_SLOT` of the probe; its overflow slot is 12.
const OVERFLOW_SLOT: u32 = 12;
/// The probe's prefixes are `0..KEY_OPS`.
const KEY_OPS: u32 = 3;

fn raw_keys<const N: usize>(ebpf: &mut Ebpf, name: &str) -> Vec<[u8; N]> {
    let map: HashMap<MapData, [u8; N], u64> =
        HashMap::try_from(ebpf.take_map(name).expect(name)).expect(name);
    map.keys().collect::<Result<_, _>>().expect(name)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn run_keys_probe() -> Ebpf {
    let mut ebpf = Ebpf::load(PROBES).expect("load test probes");
    common::attach_tracepoint(&mut ebpf, "keys_sched_switch", "sched", "sched_switch");
    // Context switches happen all the time; make sure there are plenty.
    for _ in 0..200 {
        thread::sleep(Duration::from_micros(500));
    }
    ebpf
}

#[test]
fn hist_keys_have_no_garbage_and_one_entry_per_logical_key() {
    let mut ebpf = run_keys_probe();

    // HashHist<u32, 11>: HistKey<u32> is { prefix: u32, slot: u32 }, 8 bytes, no padding.
    let keys = raw_keys::<8>(&mut ebpf, "KEYS_HIST");
    let logical: BTreeSet<(u32, u32)> = keys.iter().map(|k| (u32_at(k, 0), u32_at(k, 4))).collect();
    assert!(
        keys.len() >= 6,
        "too few keys to tell anything: {logical:?}"
    );
    assert_eq!(keys.len(), logical.len(), "one entry per logical key");
    for &(prefix, slot) in &logical {
        assert!(
            prefix < KEY_OPS && slot <= OVERFLOW_SLOT,
            "garbage key {prefix}/{slot}"
        );
    }
    assert!(
        logical.iter().any(|&(_, slot)| slot == OVERFLOW_SLOT),
        "values above the top slot must reach the overflow slot: {logical:?}"
    );

    // HistKey<[u8; 8]> built with HistKey::zeroed() and one prefix byte written: the other
    // seven prefix bytes must still be zero on the kernel's side.
    let keys = raw_keys::<12>(&mut ebpf, "KEYS_ZEROED");
    assert!(keys.len() >= 6, "too few keys: {keys:?}");
    let logical: BTreeSet<(u8, u32)> = keys.iter().map(|k| (k[0], u32_at(k, 8))).collect();
    assert_eq!(keys.len(), logical.len(), "one entry per logical key");
    for key in &keys {
        assert!(
            (b'a'..b'a' + KEY_OPS as u8).contains(&key[0]),
            "bad op byte: {key:?}"
        );
        assert_eq!(key[1..8], [0; 7], "zeroed prefix bytes changed: {key:?}");
    }
}

#[test]
fn a_naive_padded_key_carries_garbage() {
    let mut ebpf = run_keys_probe();
    // { op: u8, [7 bytes of padding], slot: u64 } built with a struct literal.
    let keys = raw_keys::<16>(&mut ebpf, "KEYS_PADDED");
    let logical: BTreeSet<(u8, u64)> = keys
        .iter()
        .map(|k| (k[0], u64::from_le_bytes(k[8..16].try_into().unwrap())))
        .collect();
    let with_garbage = keys.iter().filter(|k| k[1..8] != [0; 7]).count();
    println!(
        "padded key: {} entries for {} logical keys, {with_garbage} with non-zero padding",
        keys.len(),
        logical.len()
    );
    // This is what the test above guards against: if the padding ever came out clean here,
    // the detector would prove nothing, so this must fail loudly.
    assert!(
        with_garbage > 0 || keys.len() > logical.len(),
        "the padded key showed no garbage: the key test cannot tell good keys from bad"
    );
}
