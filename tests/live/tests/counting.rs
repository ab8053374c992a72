//! Exact counting on the live kernel: every getpid() of one child, made from two threads, is
//! counted once in every map kind of hist-ebpf, and read back through hist-user; read in many
//! short intervals while the events pour in, the intervals add up to every one of them.

mod common;

use hist_test_descs::{CountHash, CountPerCpuArray, CountPerCpuHash, CountSplit, MAX_SLOT};
use hist_user::{ArrayHistMap, DropCounters, HashHistMap, HistMap, IntervalReader, Snapshot};

const CALLS: u64 = 100_000;

fn total<P>(snapshot: &Snapshot<P>) -> u64 {
    snapshot.values().map(|hist| hist.total()).sum()
}

#[test]
fn every_syscall_of_the_child_is_counted_once_in_every_map_kind() {
    let (workload, mut ebpf) = common::getpid_traced_by("count_getpid", CALLS, 2);

    workload.run_to_end();

    let hash = HashHistMap::<u32>::new(ebpf.take_map("COUNT_HASH").unwrap(), MAX_SLOT).unwrap();
    let percpu_hash =
        HashHistMap::<u32>::new(ebpf.take_map("COUNT_PERCPU_HASH").unwrap(), MAX_SLOT).unwrap();
    let array = ArrayHistMap::new(ebpf.take_map("COUNT_ARRAY").unwrap(), MAX_SLOT).unwrap();
    let percpu_array =
        ArrayHistMap::new(ebpf.take_map("COUNT_PERCPU_ARRAY").unwrap(), MAX_SLOT).unwrap();

    // Each CPU's counters: the probe records prefix `cpu & 1`, so CPU c's histograms hold that
    // prefix alone, and together they are the merged snapshot, slot for slot.
    for (kind, per_cpu, merged) in [
        (
            "PerCpuArrayHist",
            percpu_array.snapshot_per_cpu(),
            percpu_array.snapshot(),
        ),
        (
            "PerCpuHashHist",
            percpu_hash.snapshot_per_cpu(),
            percpu_hash.snapshot(),
        ),
    ] {
        let per_cpu = per_cpu
            .unwrap()
            .expect("a per-CPU map has per-CPU histograms");
        let mut summed = Snapshot::<u32>::new();
        for (cpu, part) in per_cpu.iter().enumerate() {
            let prefixes: Vec<u32> = part.keys().copied().collect();
            assert!(
                prefixes.is_empty() || prefixes == [cpu as u32 & 1],
                "{kind}: CPU {cpu} counted prefixes {prefixes:?}"
            );
            for (prefix, hist) in part {
                summed
                    .entry(*prefix)
                    .or_insert_with(|| hist_user::Histogram::new(MAX_SLOT))
                    .merge(hist)
                    .unwrap();
            }
        }
        assert_eq!(summed, merged.unwrap(), "{kind}: the CPUs sum to the merge");
    }
    assert_eq!(
        array.snapshot_per_cpu().unwrap(),
        None,
        "ArrayHist is shared"
    );
    assert_eq!(hash.snapshot_per_cpu().unwrap(), None, "HashHist is shared");

    let hash = hash.snapshot().unwrap();
    assert_eq!(total(&hash), CALLS, "HashHist: {hash:?}");
    let percpu_hash = percpu_hash.snapshot().unwrap();
    assert_eq!(total(&percpu_hash), CALLS, "PerCpuHashHist");
    let array = array.snapshot().unwrap();
    assert_eq!(total(&array), CALLS, "ArrayHist");
    let percpu_array = percpu_array.snapshot().unwrap();
    assert_eq!(total(&percpu_array), CALLS, "PerCpuArrayHist");

    // The default prefix in its per-CPU array, the other in the hash: read as one map.
    let split_hash: aya::maps::HashMap<_, [u32; 2], u64> =
        aya::maps::HashMap::try_from(ebpf.map("COUNT_SPLIT").unwrap()).unwrap();
    let in_hash: Vec<[u32; 2]> = split_hash.keys().map(Result::unwrap).collect();
    assert!(
        in_hash.iter().all(|&[prefix, _]| prefix != 0),
        "prefix 0 in the hash: {in_hash:?}"
    );
    let split = HistMap::<CountSplit>::open(&mut ebpf).unwrap();
    assert_eq!(
        split.snapshot().unwrap(),
        hash,
        "HashHist beside a DefaultHist"
    );
    assert_eq!(
        split.snapshot_per_cpu().unwrap(),
        None,
        "its hash is shared"
    );

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

#[test]
fn intervals_of_a_busy_map_add_up_to_every_event() {
    // 2 000 000 on real hardware; fewer under emulation, which is that much slower.
    let calls = 2_000_000 / u64::from(common::time_scale());
    let (mut workload, mut ebpf) = common::getpid_traced_by("count_getpid", calls, 4);
    // The same events go to both maps: one read every 10 ms, one only at the end.
    let drops = DropCounters::open(&mut ebpf).unwrap();
    let mut intervals =
        IntervalReader::new(HistMap::<CountPerCpuHash>::open(&mut ebpf).unwrap(), drops);
    let cumulative = HistMap::<CountHash>::open(&mut ebpf).unwrap();

    workload.start();
    let mut summed = Snapshot::<u32>::new();
    let (mut busy, mut dropped) = (0, 0);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(10));
        let finished = workload.finished();
        let counts = intervals.read().unwrap();
        busy += usize::from(!counts.histograms.is_empty());
        dropped += counts.drops.total();
        for (prefix, hist) in counts.histograms {
            summed
                .entry(prefix)
                .or_insert_with(|| hist_user::Histogram::new(MAX_SLOT))
                .merge(&hist)
                .unwrap();
        }
        if finished {
            break;
        }
    }
    assert!(
        busy >= 20,
        "only {busy} intervals saw events: read more often"
    );
    assert_eq!(total(&summed), calls, "the intervals add up to every call");
    assert_eq!(summed, cumulative.snapshot().unwrap(), "slot by slot");
    assert_eq!(dropped, 0);
}

/// `IntervalReader::per_cpu` (`--per-cpu`): each interval's CPUs add up to the interval, and
/// each CPU's intervals to what that CPU counted, as a map the same probe fills on the same CPU
/// holds it at the end.
#[test]
fn intervals_by_cpu_add_up_by_cpu() {
    let calls = 200_000 / u64::from(common::time_scale());
    let (mut workload, mut ebpf) = common::getpid_traced_by("count_getpid", calls, 4);
    let map = HistMap::<CountPerCpuArray>::open(&mut ebpf).unwrap();
    let mut intervals = IntervalReader::new(map, None).per_cpu().unwrap();
    let cumulative = HistMap::<CountPerCpuHash>::open(&mut ebpf).unwrap();
    let shared = HistMap::<CountHash>::open(&mut ebpf).unwrap();
    let refused = IntervalReader::new(shared, None).per_cpu().err();
    assert!(
        refused.is_some_and(|e| e.to_string().contains("shared by all CPUs")),
        "a shared map has no per-CPU intervals"
    );

    workload.start();
    let mut by_cpu: Vec<Snapshot<u32>> = Vec::new();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(10));
        let finished = workload.finished();
        let counts = intervals.read().unwrap();
        let parts = counts.per_cpu.expect("read by CPU");
        by_cpu.resize_with(parts.len(), Snapshot::new);
        let mut merged = Snapshot::<u32>::new();
        for (cpu, part) in parts.iter().enumerate() {
            for (prefix, hist) in part {
                for sum in [&mut merged, &mut by_cpu[cpu]] {
                    sum.entry(*prefix)
                        .or_insert_with(|| hist_user::Histogram::new(MAX_SLOT))
                        .merge(hist)
                        .unwrap();
                }
            }
        }
        assert_eq!(merged, counts.histograms, "an interval's CPUs add up to it");
        if finished {
            break;
        }
    }
    let at_end = cumulative
        .snapshot_per_cpu()
        .unwrap()
        .expect("a per-CPU map");
    assert_eq!(by_cpu.len(), at_end.len(), "one part per possible CPU");
    assert_eq!(
        by_cpu, at_end,
        "each CPU's intervals add up to what it counted"
    );
    let total: u64 = by_cpu.iter().map(total).sum();
    assert_eq!(total, calls);
}
