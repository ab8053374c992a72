//! xfsreclaim's eBPF side: the time spent in the XFS superblock shrinker's two callbacks.
#![no_std]
#![no_main]

use aya_ebpf::macros::map;
use hist_ebpf::{HashHist, Settings, StartTimes, Sums, TaskKey};
use xfsreclaim_common::{Op, ReclaimLatency};

hist_ebpf::ebpf_program!(Settings = Settings::new(hist_ebpf::hist_core::Unit::Microseconds));

/// The histogram `{op, slot}`: `(26 + 2) × 2` entries, from its description.
#[map]
static XFS_RECLAIM_LATENCY: HashHist<ReclaimLatency> = HashHist::new();
#[map]
static XFS_RECLAIM_LATENCY_SUM: Sums<ReclaimLatency> = Sums::new();
/// When each thread entered each op.
#[map]
static START: StartTimes<TaskKey<Op>> = StartTimes::with_max_entries(10240);

hist_ebpf::latency_probes! {
    start: START, hist: XFS_RECLAIM_LATENCY, sums: XFS_RECLAIM_LATENCY_SUM, config: CONFIG;
    count: Op::COUNT,
    free: Op::FREE,
}
