//! What both sides of xfsreclaim compile: the operations (the histogram's key prefix) and the
//! description of the histogram map, as in ebpf_exporter's XFS reclaim example.
#![no_std]

use hist_core::{HistDesc, Layout, Unit};

hist_core::ops! {
    /// A reclaim operation of the XFS superblock shrinker, numbered as ebpf_exporter did.
    pub struct Op {
        /// Counting the reclaimable inodes: `xfs_fs_nr_cached_objects`.
        COUNT = 1 => "count",
        /// Freeing them: `xfs_fs_free_cached_objects`.
        FREE = 2 => "free",
    }
}

/// XFS reclaim latency per operation in µs: 27 finite slots (up to 2^27 µs, 134 s) and the
/// overflow slot, in a map of `(26 + 2) × 2` entries, as the original sized it.
pub struct ReclaimLatency;

impl HistDesc for ReclaimLatency {
    type Prefix = Op;
    const NAME: &'static str = "XFS_RECLAIM_LATENCY";
    const LAYOUT: Layout = Layout::log2(26);
    const UNIT: Unit = Unit::Microseconds;
    const PREFIXES: u32 = Op::ALL.len() as u32;
}
