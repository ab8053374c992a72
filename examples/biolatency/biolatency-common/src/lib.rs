//! What both sides of biolatency compile: its settings and its histogram's description. The
//! block requests' ops and start map are `hist_core::block`'s.
#![no_std]

use hist_core::{
    HistDesc, Layout, Settings, Unit,
    block::{DiskFlags, RequestFields},
};

/// Block I/O latency per disk and flags, in µs (ms with `-m`).
pub struct BlockLatency;

impl HistDesc for BlockLatency {
    /// The disk (`-D`) and flags (`-F`) of the requests, 0 when not asked.
    type Prefix = DiskFlags;
    const NAME: &'static str = "LATENCY";
    /// Up to 2^27 µs (2 min): slower requests count in the overflow slot.
    const LAYOUT: Layout = Layout::log2(26);
    const UNIT: Unit = Unit::Microseconds;
    /// Disks × sets of flags counted at once.
    const PREFIXES: u32 = 256;
}

/// What biolatency's flags tell the probes. All `u32`: no padding.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Config {
    /// `-m`, and sums for Prometheus.
    pub settings: Settings,
    /// `-Q`: from the request's insert into the queue, when it has one, not its issue.
    pub queued: u32,
    /// `-D`: a histogram per disk.
    pub per_disk: u32,
    /// `-F`: a histogram per set of flags.
    pub per_flags: u32,
    /// `-d`: this disk's device number only; 0 for all.
    pub disk: u32,
    /// Where `tp_btf` finds the request, its disk and its flags on this kernel.
    pub request: RequestFields,
}

hist_core::tool_config!(Config);
