//! What both sides of cpudist compile: its load-time settings and its histogram's description.
#![no_std]

use hist_core::{FieldPath, HistDesc, Layout, OpSpec, Settings, TracepointRole, Unit};

/// The histogram of all tasks, in a per-CPU array: the cheapest record there is.
pub struct Dist;

impl HistDesc for Dist {
    type Prefix = u32;
    const NAME: &'static str = "DIST";
    /// 2^36 µs is 19 hours; longer times count in the overflow slot.
    const LAYOUT: Layout = Layout::log2(35);
    const UNIT: Unit = Unit::Microseconds;
    const PREFIXES: u32 = 1;
}

/// One histogram per process (tgid, `-P`) or thread (tid, `-L`), in a hash map.
pub struct TaskDist;

impl HistDesc for TaskDist {
    type Prefix = u32;
    const NAME: &'static str = "TASK_DIST";
    const LAYOUT: Layout = Dist::LAYOUT;
    const UNIT: Unit = Dist::UNIT;
    /// Processes or threads tracked at once.
    const PREFIXES: u32 = 2048;
}

/// What cpudist's flags tell the probe, written into it at load time. All `u32`: no padding.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Config {
    /// `-p`, `-m`, and sums for `-e` and Prometheus.
    pub settings: Settings,
    /// `-O`: off-CPU time instead of on-CPU time.
    pub off_cpu: u32,
    /// `-I`: count the idle tasks (pid 0) too.
    pub include_idle: u32,
    /// One histogram of all tasks, or one per process (`-P`) or thread (`-L`).
    pub breakdown: Breakdown,
    /// Where `struct task_struct` keeps the task's state (`__state`; `state` before 5.14), from
    /// the kernel's BTF, for `tp_btf` to see a dying task's last switch; absent without BTF.
    pub task_state: FieldPath,
}

hist_core::tool_config!(Config);

hist_core::ops! {
    /// What cpudist's histograms are one per ([`Config::breakdown`]).
    pub struct Breakdown {
        /// One histogram of all tasks ([`Dist`]).
        ALL_TASKS = 0 => "all",
        /// One per process, `-P` ([`TaskDist`] by tgid).
        PER_PROCESS = 1 => "pid",
        /// One per thread, `-L` ([`TaskDist`] by tid).
        PER_THREAD = 2 => "tid",
    }
}

/// The scheduler switch: tp_btf where the kernel allows it, else the tracefs tracepoint.
pub const OPS: [OpSpec; 1] = [OpSpec::tracepoints(
    "sched_switch",
    &[(TracepointRole::Only, "sched", "sched_switch")],
)];
