//! Hash-map-backed histograms, keyed by [`HistKey`]: for sparse prefixes such as pids.

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    maps::{HashMap, PerCpuHashMap},
};
use hist_core::{HistKey, KeyPrefix, map_entries};

use crate::{Histogram, atomic_add, capped, plain_add};

macro_rules! hash_hist {
    ($(#[$doc:meta])* $name:ident, $map:ident, $add:expr) => {
        $(#[$doc])*
        #[repr(transparent)]
        pub struct $name<P: KeyPrefix, const MAX_SLOT: u32> {
            map: $map<HistKey<P>, u64>,
        }

        impl<P: KeyPrefix, const MAX_SLOT: u32> $name<P, MAX_SLOT> {
            /// A map for up to `prefixes` histograms: `(MAX_SLOT + 2) × prefixes` entries.
            pub const fn with_prefixes(prefixes: u32) -> Self {
                Self { map: $map::with_max_entries(map_entries(MAX_SLOT, prefixes), 0) }
            }
        }

        impl<P: KeyPrefix, const MAX_SLOT: u32> Histogram for $name<P, MAX_SLOT> {
            type Prefix = P;
            const MAX_SLOT: u32 = MAX_SLOT;

            #[inline(always)]
            fn add(&self, prefix: P, slot: u32, count: u64) {
                let key = HistKey::new(prefix, capped(slot, MAX_SLOT));
                if let Some(value) = self.map.get_ptr_mut(&key) {
                    $add(value, count);
                    return;
                }
                // Insert-if-absent, then add: when another CPU inserted the key first our
                // insert fails with EEXIST and the add below lands on its entry instead.
                let _ = self.map.insert(&key, &0, BPF_NOEXIST as u64);
                if let Some(value) = self.map.get_ptr_mut(&key) {
                    $add(value, count);
                }
            }
        }
    };
}

hash_hist!(
    /// A histogram in a `BPF_MAP_TYPE_HASH`, counters incremented atomically.
    HashHist,
    HashMap,
    atomic_add
);

hash_hist!(
    /// A histogram in a `BPF_MAP_TYPE_PERCPU_HASH`: each CPU counts in its own copy, no atomics;
    /// user space sums the copies.
    PerCpuHashHist,
    PerCpuHashMap,
    plain_add
);
