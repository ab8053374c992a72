//! What both sides of xfsreclaim compile: the operations (the histogram's key prefix), the
//! descriptions of the histogram maps, as in ebpf_exporter's XFS reclaim example, and the
//! load-time settings.
#![no_std]

use hist_core::{HistDesc, Layout, OpSpec, Settings, TracepointRole, Unit};

hist_core::ops! {
    /// A reclaim operation of the XFS superblock shrinker, numbered as ebpf_exporter did.
    pub struct Op {
        /// Counting the reclaimable inodes: `xfs_fs_nr_cached_objects`.
        COUNT = 1 => "count",
        /// Freeing them: `xfs_fs_free_cached_objects`.
        FREE = 2 => "free",
        /// The fallback without kprobes or fentry: a whole scan of an XFS superblock's shrinker
        /// (dentries, inodes, then XFS's own freeing), between `vmscan:mm_shrink_slab_start/end`.
        SCAN = 3 => "scan",
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
    const PREFIXES: u32 = 2; // count, free
}

/// The fallback's histogram: scans of XFS superblock shrinkers, in µs.
pub struct ScanLatency;

impl HistDesc for ScanLatency {
    type Prefix = Op;
    const NAME: &'static str = "XFS_SCAN_LATENCY";
    const LAYOUT: Layout = Layout::log2(26);
    const UNIT: Unit = Unit::Microseconds;
    const PREFIXES: u32 = 1; // scan
}

/// The settings, and for the fallback where this kernel keeps the superblock of a shrinker and
/// the name of its file system: byte offsets read from the kernel's BTF at load time (Rust eBPF
/// has no CO-RE). All `u32`: no padding.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Config {
    /// What every tool has: `-p`, the unit, sums, precision.
    pub settings: Settings,
    /// `shrinker.private_data` (Linux 6.7+: a pointer to the superblock), or 0 when the
    /// shrinker is embedded in the superblock at `super_block.s_shrink` (`shrinker_in_sb`).
    pub private_data: u32,
    /// `super_block.s_shrink`, when `private_data` is 0.
    pub shrinker_in_sb: u32,
    /// `super_block.s_type`.
    pub s_type: u32,
    /// `file_system_type.name`.
    pub fs_name: u32,
}

hist_core::tool_config!(Config);

/// The module that has the functions when they are not built in, for the error's hint.
pub const XFS: Option<&str> = Some("xfs");
/// The ops' kernel functions: the superblock shrinker's two callbacks.
pub const OPS: [OpSpec; 2] = [
    OpSpec::function(Op::COUNT.name(), &["xfs_fs_nr_cached_objects"], XFS),
    OpSpec::function(Op::FREE.name(), &["xfs_fs_free_cached_objects"], XFS),
];

/// The fallback: from `mm_shrink_slab_start` to `_end` of an XFS superblock's shrinker.
pub const SCAN: [OpSpec; 1] = [OpSpec::tracepoints(
    Op::SCAN.name(),
    &[
        (TracepointRole::Start, "vmscan", "mm_shrink_slab_start"),
        (TracepointRole::End, "vmscan", "mm_shrink_slab_end"),
    ],
)];
