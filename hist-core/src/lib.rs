//! Histogram building blocks shared by an eBPF program and the user-space tool that reads it.
//!
//! `no_std`, no allocation: the same types compile for `bpfel-unknown-none` and for the host,
//! so the kernel side and the user side agree on slot numbers, key layout and map size by
//! construction rather than by convention.
//!
//! * [`slot`]: how a value becomes a slot ([`Log2`], [`Linear`]), the overflow slot, the bounds
//!   of a slot, and [`map_entries`], the exact size of a histogram map.
//! * [`desc`]: [`HistDesc`], the one description of a histogram map (name, prefix, [`Layout`],
//!   [`Unit`], size) that both sides compile, and [`Settings`], the load-time settings.
//! * [`block`]: where a block request's disk and flags are ([`block::RequestFields`]), for
//!   block-I/O tools.
//! * [`field`]: [`FieldPath`], a kernel struct field's offsets on the running kernel, resolved
//!   from BTF at load (aya has no CO-RE for Rust probes).
//! * [`key`]: [`HistKey`], the composite `{prefix, slot}` map key, which cannot have padding.
//! * [`drops`]: [`DropCause`], why an event could not be counted, and the map that counts it.
//! * [`names`]: every name the eBPF object and user space must agree on (maps, sums, config,
//!   programs), checked when the eBPF side builds.
//! * [`sched`]: the scheduler's tracepoints and where a task's ids and state are
//!   ([`sched::TaskFields`]), for run-queue tools.
//! * [`start`]: the start maps of latency, per thread or keyed ([`StartDesc`]), and their
//!   sizes.
//!
//! # Porting from bcc
//!
//! | bcc / libbpf-tools | hist |
//! |---|---|
//! | `BPF_HISTOGRAM(dist)` | `hist_ebpf::ArrayHist<Dist>`, `Dist` a [`HistDesc`] with `PREFIXES = 1` |
//! | `BPF_HISTOGRAM(dist, struct key_t, N)` with `key_t { u32 pid; u64 slot; }` | `hist_ebpf::HashHist<Dist>` with `Prefix = u32`: [`map_entries`]`(max_slot, N)` entries |
//! | `dist.increment(bpf_log2l(delta))` | `DIST.record(prefix, delta)` |
//! | libbpf-tools `log2l(v)` (`bits.bpf.h`) | [`log2`]`(v)`: identical slots |
//! | bcc `bpf_log2l(v)` | [`log2`]`(v) + 1` for `v > 0`: bcc never uses slot 0 |
//!
//! bcc's `bpf_log2l` returns `log2(v) + 1`, so bcc's slot `i` holds `[2^(i-1), 2^i - 1]` and its
//! printer starts at index 1. Here slot `s` holds `[2^s, 2^(s+1) - 1]` (and slot 0 holds `{0, 1}`),
//! as in libbpf-tools. The printed rows (`0 -> 1`, `2 -> 3`, `4 -> 7`, …) are the same.
#![no_std]
// BPF inline assembly for the log2 slot (slot.rs): the eBPF build is nightly already (build-std).
#![cfg_attr(target_arch = "bpf", feature(asm_experimental_arch))]
#![deny(missing_docs)]

pub mod block;
pub mod desc;
pub mod drops;
pub mod field;
pub mod fs;
pub mod func;
pub mod key;
pub mod names;
pub mod sched;
pub mod slot;
pub mod start;

#[cfg(feature = "user")]
#[doc(hidden)]
pub use aya as __aya;
#[doc(hidden)]
pub use bytemuck as __bytemuck;
pub use desc::{HistDesc, HistDescs, Layout, Settings, Starts, ToolConfig, Unit, Unused};
pub use drops::{DROPS_MAP, DropCause};
pub use field::{FieldPath, MAX_FIELD_STEPS};
pub use key::{HistKey, KeyPrefix, TaskKey};
pub use names::{OpSpec, TracepointRole};
pub use slot::{
    Buckets, Linear, Log2, LogLinear, array_index, capped_slot, log2, log2_u64, map_entries,
    slots_per_prefix,
};
pub use start::{
    MAX_START_ENTRIES, OP_START_MAP, StartDesc, StartDomain, TASK_START_MAP, start_entries,
};
