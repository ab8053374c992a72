//! What both sides of runqlat compile: its settings and its histogram's description. The
//! scheduler's ops and the run-queue start map are `hist_core::sched`'s.
#![no_std]

use hist_core::{HistDesc, Layout, Settings, Unit, sched::TaskFields};

/// Run-queue latency, in µs (ms with `-m`).
pub struct RunqLatency;

impl HistDesc for RunqLatency {
    /// The process (`-P`), thread (`-L`) or cgroup (`--per-cgroup`) that waited; 0 for one
    /// histogram of all.
    type Prefix = u32;
    const NAME: &'static str = "LATENCY";
    /// Up to 2^27 µs (2 min): longer waits count in the overflow slot.
    const LAYOUT: Layout = Layout::log2(26);
    const UNIT: Unit = Unit::Microseconds;
    /// Processes, threads or cgroups counted at once: more count as drops.
    const PREFIXES: u32 = 2048;
}

/// What runqlat's flags tell the probes. All `u32`: no padding.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Config {
    /// `-p`, `-m`, and sums for Prometheus.
    pub settings: Settings,
    /// What the histograms are per (`-P`, `-L`, `--pidnss`, `--per-cgroup`):
    /// `hist_core::sched::per`.
    pub per: u32,
    /// Where `tp_btf` finds a task's ids and state on this kernel.
    pub task: TaskFields,
}

hist_core::tool_config!(Config);
