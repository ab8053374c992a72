//! Histogram maps for aya eBPF programs.
//!
//! Declare one map, call [`Histogram::record`] in a probe, and read it from user space with
//! `hist-user`. Every map is sized with [`hist_core::map_entries`], so a histogram of
//! `prefixes` prefixes and finite slots `0..=MAX_SLOT` (plus the overflow slot) fits exactly.
//!
//! | map | key | when |
//! |---|---|---|
//! | [`HashHist`] / [`PerCpuHashHist`] | [`HistKey<P>`] | sparse prefixes: per pid, per tid, per comm |
//! | [`ArrayHist`] / [`PerCpuArrayHist`] | `prefix × (MAX_SLOT + 2) + slot` | a few dense prefixes (`0..PREFIXES`): no hashing; per-CPU needs no atomics |
//!
//! ```ignore
//! use aya_ebpf::macros::map;
//! use hist_ebpf::{HashHist, Histogram as _};
//!
//! #[map]
//! static LATENCY: HashHist<u32, 26> = HashHist::with_prefixes(1024);
//!
//! // in a probe:
//! LATENCY.record(pid, delta_us);
//! ```
//!
//! For entry/exit latency, [`StartTimes`] keeps the entry timestamp per task.
#![no_std]
#![deny(missing_docs)]
// BPF has an atomic add but no compare-and-swap, so the target offers no `AtomicU64::fetch_add`;
// the intrinsic compiles to the BPF `lock xadd` instruction.
#![cfg_attr(target_arch = "bpf", feature(core_intrinsics))]
#![cfg_attr(target_arch = "bpf", allow(internal_features))]

mod array;
mod hash;
mod start;

pub use array::{ArrayHist, PerCpuArrayHist};
pub use hash::{HashHist, PerCpuHashHist};
pub use hist_core::{self, HistKey, KeyPrefix};
pub use start::{StartTimes, now_ns};

use hist_core::{Buckets as _, Log2};

/// A histogram map: counts values into slots, per prefix.
pub trait Histogram {
    /// What selects one histogram in the map (a pid, an op code…).
    type Prefix: Copy;
    /// The highest finite slot; `MAX_SLOT + 1` is the overflow slot.
    const MAX_SLOT: u32;

    /// Adds `count` to `slot` of the histogram of `prefix`. A slot above the overflow slot
    /// counts in the overflow slot.
    fn add(&self, prefix: Self::Prefix, slot: u32, count: u64);

    /// Counts `value` in its log2 slot (`0 → {0,1}`, `s → [2^s, 2^(s+1)−1]`, else overflow).
    #[inline(always)]
    fn record(&self, prefix: Self::Prefix, value: u64) {
        self.add(prefix, Log2::new(Self::MAX_SLOT).slot(value), 1);
    }

    /// Counts `value` in the slot that `buckets` (e.g. a [`hist_core::Linear`]) gives it.
    #[inline(always)]
    fn record_in<B: hist_core::Buckets>(&self, buckets: &B, prefix: Self::Prefix, value: u64) {
        self.add(prefix, buckets.slot(value), 1);
    }
}

/// The overflow slot caps every slot index, so a map sized `(MAX_SLOT + 2) × prefixes` holds
/// every key a probe can produce.
#[inline(always)]
const fn capped(slot: u32, max_slot: u32) -> u32 {
    if slot > max_slot + 1 {
        max_slot + 1
    } else {
        slot
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
