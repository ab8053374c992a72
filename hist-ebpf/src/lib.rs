//! Histogram maps for aya eBPF programs.
//!
//! A histogram is declared from its shared description ([`HistDesc`], in a crate both sides
//! compile): the map type takes the description, sizes itself with
//! [`HistDesc::MAX_ENTRIES`] and slots values with [`HistDesc::LAYOUT`]. Call
//! [`Histogram::record`] in a probe and read the map from user space with `hist-user`.
//!
//! | map | key | when |
//! |---|---|---|
//! | [`HashHist`] / [`PerCpuHashHist`] | [`HistKey<P>`] | sparse prefixes: per pid, per tid, per comm; an op code |
//! | [`ArrayHist`] / [`PerCpuArrayHist`] | `prefix × (max_slot + 2) + slot` | a few dense prefixes (`0..PREFIXES`: an op, a `u32`): no hashing, no helper call; per-CPU needs no atomics |
//!
//! ```ignore
//! use hist_ebpf::{HashHist, Histogram as _};
//!
//! hist_ebpf::maps! {
//!     // Named as `Latency::NAME` says, or the build fails: user space finds it by that name.
//!     static LATENCY: HashHist<my_tool_common::Latency>;
//! }
//!
//! // in a probe:
//! LATENCY.record(op, delta_us);
//! ```
//!
//! For entry/exit latency, [`op_start`] keeps the entry timestamp per task and op (in the task
//! itself where the kernel allows: feature `task-storage`), and [`latency_probes!`] writes the kprobe/kretprobe and fentry/fexit programs of each op
//! ([`tracepoint_latency!`] those of a start/end tracepoint pair). An interval that a task
//! starts and ends itself, across switches (cpudist's off-CPU time), keeps its start with
//! [`task_start`]: in the task's own storage where the kernel has it (feature `task-storage`).
//! An operation that ends in another context keeps its start by key ([`StartTimes`], a hash;
//! [`StartSlots`], a direct-mapped table for keys unique while in flight); [`block`] and
//! [`sched`] give block and run-queue tools their requests and tasks.
//! Kernel struct fields are read through offsets user space resolved from BTF at load
//! ([`read_field`], [`hist_core::field`]). Load-time settings come in one typed value, [`Config`]; [`Sums`] keeps the per-prefix sum
//! that Prometheus' `_sum` needs. [`ebpf_program!`] writes the panic handler and license.
//! An event that finds a map full is counted by cause in the program's drop counters
//! ([`hist_core::drops`]), never lost without a count.
#![no_std]
#![deny(missing_docs)]
// BPF has an atomic add but no compare-and-swap, so the target offers no `AtomicU64::fetch_add`;
// the intrinsic compiles to the BPF `lock xadd` instruction.
#![cfg_attr(target_arch = "bpf", feature(core_intrinsics))]
#![cfg_attr(target_arch = "bpf", allow(internal_features))]

mod array;
pub mod block;
mod cgroup;
mod config;
mod declare;
mod drops;
mod field;
pub mod func;
mod hash;
mod latency;
pub mod op_start;
pub mod sched;
mod start;
mod start_slots;
pub mod task_start;

pub use array::{ArrayHist, DefaultHist, PerCpuArrayHist};
pub use cgroup::{in_traced_cgroup, traces_current};
pub use config::Config;
pub use declare::DescribedMap;
pub use field::{arg_at, read_btf_field, read_field};
pub use hash::{HashHist, PerCpuHashHist, Sums};
pub use hist_core::{
    self, FieldPath, HistDesc, HistKey, KeyPrefix, Layout, Settings, StartDesc, TaskKey, ToolConfig,
};
pub use latency::{enter, exit, record, record_latency};
pub use start::{StartTimes, now_ns};
pub use start_slots::StartSlots;

#[doc(hidden)]
pub mod __private {
    pub use aya_ebpf;
    pub use pastey::paste;
}

use hist_core::Buckets as _;

/// A histogram map: counts values into the slots of its description's layout, per prefix, or
/// of that layout refined at load time (`--precision k`, [`Settings::layout`]), for which user
/// space sized the map.
pub trait Histogram {
    /// The shared description of the map.
    type Desc: HistDesc;

    /// Adds `count` to `slot` of the histogram of `prefix`, in a map laid out by `layout`. A
    /// slot above the overflow slot counts in the overflow slot.
    fn add_in(
        &self,
        layout: &Layout,
        prefix: <Self::Desc as HistDesc>::Prefix,
        slot: u32,
        count: u64,
    );

    /// Adds `count` to `slot` of the histogram of `prefix`, in the description's layout.
    #[inline(always)]
    fn add(&self, prefix: <Self::Desc as HistDesc>::Prefix, slot: u32, count: u64) {
        self.add_in(&<Self::Desc as HistDesc>::LAYOUT, prefix, slot, count);
    }

    /// Counts `value` in its slot under the description's layout (log2: `0 → {0,1}`,
    /// `s → [2^s, 2^(s+1)−1]`; values above the top finite slot in the overflow slot).
    #[inline(always)]
    fn record(&self, prefix: <Self::Desc as HistDesc>::Prefix, value: u64) {
        self.record_in(&<Self::Desc as HistDesc>::LAYOUT, prefix, value);
    }

    /// Counts `value` in its slot under `layout`: the one the map was sized for.
    #[inline(always)]
    fn record_in(&self, layout: &Layout, prefix: <Self::Desc as HistDesc>::Prefix, value: u64) {
        self.add_in(layout, prefix, layout.slot(value), 1);
    }
}

/// Adds `count` to the shared counter behind `value` atomically (a BPF `lock xadd`).
#[inline(always)]
fn atomic_add(value: *mut u64, count: u64) {
    #[cfg(target_arch = "bpf")]
    // SAFETY: `value` points at an 8-byte aligned u64 map value that the kernel keeps alive for
    // the duration of the program; other CPUs only touch it atomically too.
    unsafe {
        use core::intrinsics::{AtomicOrdering::Relaxed, atomic_xadd};
        atomic_xadd::<u64, u64, { Relaxed }>(value, count);
    }
    // Host builds (docs, clippy) never run this; keep them compiling on stable.
    #[cfg(not(target_arch = "bpf"))]
    // SAFETY: as above.
    unsafe { core::sync::atomic::AtomicU64::from_ptr(value) }
        .fetch_add(count, core::sync::atomic::Ordering::Relaxed);
}

/// Adds `count` to this CPU's copy of a per-CPU counter: no other CPU writes it.
#[inline(always)]
fn plain_add(value: *mut u64, count: u64) {
    // SAFETY: `value` is this CPU's copy of the map value, and a BPF program runs to completion
    // on its CPU without another program of the same kind interleaving on that copy.
    unsafe { *value += count };
}
