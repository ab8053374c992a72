//! Array-backed histograms indexed `prefix × (MAX_SLOT + 2) + slot`: for a few dense prefixes
//! (`0..PREFIXES`, e.g. an op code), with no hashing and no insertion.

use aya_ebpf::maps::{Array, PerCpuArray};
use hist_core::map_entries;

use crate::{Histogram, atomic_add, capped, plain_add};

macro_rules! array_hist {
    ($(#[$doc:meta])* $name:ident, $map:ident, $add:expr) => {
        $(#[$doc])*
        #[repr(transparent)]
        pub struct $name<const MAX_SLOT: u32, const PREFIXES: u32> {
            map: $map<u64>,
        }

        impl<const MAX_SLOT: u32, const PREFIXES: u32> $name<MAX_SLOT, PREFIXES> {
            /// A map of `(MAX_SLOT + 2) × PREFIXES` counters.
            pub const fn new() -> Self {
                Self { map: $map::with_max_entries(map_entries(MAX_SLOT, PREFIXES), 0) }
            }
        }

        impl<const MAX_SLOT: u32, const PREFIXES: u32> Default for $name<MAX_SLOT, PREFIXES> {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<const MAX_SLOT: u32, const PREFIXES: u32> Histogram for $name<MAX_SLOT, PREFIXES> {
            /// The prefix is the histogram's index, `0..PREFIXES`; others are not counted.
            type Prefix = u32;
            const MAX_SLOT: u32 = MAX_SLOT;

            #[inline(always)]
            fn add(&self, prefix: u32, slot: u32, count: u64) {
                if prefix >= PREFIXES {
                    return;
                }
                let index = prefix * (MAX_SLOT + 2) + capped(slot, MAX_SLOT);
                if let Some(value) = self.map.get_ptr_mut(index) {
                    $add(value, count);
                }
            }
        }
    };
}

array_hist!(
    /// A histogram in a `BPF_MAP_TYPE_ARRAY`, counters incremented atomically.
    ArrayHist,
    Array,
    atomic_add
);

array_hist!(
    /// A histogram in a `BPF_MAP_TYPE_PERCPU_ARRAY`: the fast path, no hashing and no atomics;
    /// user space sums the per-CPU copies.
    PerCpuArrayHist,
    PerCpuArray,
    plain_add
);
