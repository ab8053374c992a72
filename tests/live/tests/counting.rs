//! Exact counting on the live kernel: every getpid() of one child, made from two threads, is
//! counted once in every map kind of hist-ebpf, and read back through hist-user.

mod common;

use aya::EbpfLoader;
use hist_live_tests::PROBES;
use hist_user::{ArrayHistMap, HashHistMap, Snapshot};

const MAX_SLOT: u32 = 11;
const CALLS: u64 = 100_000;

fn total<P>(snapshot: &Snapshot<P>) -> u64 {
    snapshot.values().map(|hist| hist.total()).sum()
}

#[test]
fn every_syscall_of_the_child_is_counted_once_in_every_map_kind() {
    let workload = common::Workload::spawn(&["getpid", &CALLS.to_string(), "2"]);
    let tgid = workload.pid();
    let mut ebpf = EbpfLoader::new()
        .override_global("TARGET_TGID", &tgid, true)
        .load(PROBES)
        .expect("load test probes");
    common::attach_tracepoint(&mut ebpf, "count_getpid", "syscalls", "sys_enter_getpid");

    workload.run_to_end();

    let hash = HashHistMap::<u32>::new(ebpf.take_map("COUNT_HASH").unwrap(), MAX_SLOT).unwrap();
    let percpu_hash =
        HashHistMap::<u32>::new(ebpf.take_map("COUNT_PERCPU_HASH").unwrap(), MAX_SLOT).unwrap();
    let array = ArrayHistMap::new(ebpf.take_map("COUNT_ARRAY").unwrap(), MAX_SLOT).unwrap();
    let percpu_array =
        ArrayHistMap::new(ebpf.take_map("COUNT_PERCPU_ARRAY").unwrap(), MAX_SLOT).unwrap();

    let hash = hash.snapshot().unwrap();
    assert_eq!(total(&hash), CALLS, "HashHist: {hash:?}");
    let percpu_hash = percpu_hash.snapshot().unwrap();
    assert_eq!(total(&percpu_hash), CALLS, "PerCpuHashHist");
    let array = array.snapshot().unwrap();
    assert_eq!(total(&array), CALLS, "ArrayHist");
    let percpu_array = percpu_array.snapshot().unwrap();
    assert_eq!(total(&percpu_array), CALLS, "PerCpuArrayHist");

    // All four saw the same events, so they agree slot by slot too.
    assert_eq!(hash, percpu_hash);
    assert_eq!(array, percpu_array);
    assert_eq!(hash, array);
    // Values are 13-bit: some land above slot 11, in the overflow slot.
    assert!(
        hash.values().any(|h| h.overflow() > 0),
        "overflow slot never used: {hash:?}"
    );
}
