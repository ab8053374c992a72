//! xfsreclaim's eBPF side: the time spent in the XFS superblock shrinker's two callbacks, and,
//! for kernels without kprobes or fentry, in whole scans of XFS superblock shrinkers.
#![no_std]
#![no_main]

use aya_ebpf::helpers::bpf_probe_read_kernel;
use hist_ebpf::{PerCpuHashHist, Sums};
use xfsreclaim_common::{Config, Op, ReclaimLatency, ScanLatency};

hist_ebpf::ebpf_program!(Config);

hist_ebpf::maps! {
    /// The histogram `{op, slot}`, ebpf_exporter's key: `(26 + 2) × 2` entries, from its
    /// description, each with a counter per CPU (no atomics; `--per-cpu` shows them).
    static XFS_RECLAIM_LATENCY: PerCpuHashHist<ReclaimLatency>;
    static XFS_RECLAIM_LATENCY_SUM: Sums<ReclaimLatency>;
    static XFS_SCAN_LATENCY: PerCpuHashHist<ScanLatency>;
    static XFS_SCAN_LATENCY_SUM: Sums<ScanLatency>;
}

hist_ebpf::latency_probes! {
    hist: XFS_RECLAIM_LATENCY, sums: XFS_RECLAIM_LATENCY_SUM, config: CONFIG;
    count: Op::COUNT,
    free: Op::FREE,
}

// The fallback: from `mm_shrink_slab_start` to `_end` of the shrinkers of XFS superblocks. The
// shrinker (`struct shrinker *shr`) is the start event's first argument, at offset 8 of its
// tracefs record.
hist_ebpf::tracepoint_latency! {
    hist: XFS_SCAN_LATENCY, sums: XFS_SCAN_LATENCY_SUM, config: CONFIG;
    scan: Op::SCAN, "mm_shrink_slab_start"(arg 0 at 8) if is_xfs => "mm_shrink_slab_end",
}

/// Whether the shrinker belongs to an XFS superblock: `sb->s_type->name` is `"xfs"`, with the
/// offsets user space read from this kernel's BTF. A shrinker of anything else gives a pointer
/// that reads fail on or that leads elsewhere.
#[inline(always)]
fn is_xfs(shrinker: u64) -> bool {
    let config = CONFIG.get();
    let read = |address: u64| {
        // SAFETY: bpf_probe_read_kernel checks the address; a bad one is an error, not a fault.
        unsafe { bpf_probe_read_kernel(address as *const u64) }
    };
    let type_name = || {
        let sb = match config.private_data {
            0 => shrinker.wrapping_sub(config.shrinker_in_sb as u64),
            offset => read(shrinker + offset as u64)?,
        };
        let fs_type = read(sb + config.s_type as u64)?;
        let name = read(fs_type + config.fs_name as u64)?;
        // SAFETY: as above.
        unsafe { bpf_probe_read_kernel(name as *const [u8; 4]) }
    };
    type_name() == Ok(*b"xfs\0")
}
