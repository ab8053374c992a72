//! Array-backed histograms indexed `prefix × (max_slot + 2) + slot`: for a few dense prefixes
//! (`0..PREFIXES`: an op of [`ops!`](hist_core::ops), or a `u32`), with no hashing and no
//! insertion. The kernel inlines an array lookup into a bounds check and an address, so a
//! record costs no helper call; per-CPU, it needs no atomic either (measured in cpudist: the
//! histogram of all tasks in a per-CPU array instead of a hash costs 0.30× libbpf-tools' cpudist
//! per event, 0.39× in the hash).

use core::marker::PhantomData;

use aya_ebpf::maps::{Array, PerCpuArray};
use hist_core::{DropCause, HistDesc, Layout};

use crate::{DescribedMap, Histogram, atomic_add, drops, plain_add};

macro_rules! array_hist {
    ($(#[$doc:meta])* $name:ident, $map:ident, $add:expr) => {
        $(#[$doc])*
        #[repr(transparent)]
        pub struct $name<H: HistDesc> where H::Prefix: Into<u32> {
            map: $map<u64>,
            desc: PhantomData<H>,
        }

        impl<H: HistDesc> $name<H> where H::Prefix: Into<u32> {
            /// The map of `H`: [`HistDesc::MAX_ENTRIES`] = `(max_slot + 2) × PREFIXES` counters,
            /// resized by user space at load for a refined layout.
            pub const fn new() -> Self {
                Self { map: $map::with_max_entries(H::MAX_ENTRIES, 0), desc: PhantomData }
            }
        }

        impl<H: HistDesc> Default for $name<H> where H::Prefix: Into<u32> {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<H: HistDesc> DescribedMap for $name<H> where H::Prefix: Into<u32> {
            const DESC_NAME: &'static str = H::NAME;
            const NAME_SUFFIX: &'static str = "";
        }

        impl<H: HistDesc> Histogram for $name<H> where H::Prefix: Into<u32> {
            type Desc = H;

            /// The prefix is the histogram's index, `0..PREFIXES`; others have no room, and
            /// count as [`DropCause::HistogramFull`].
            #[inline(always)]
            fn add_in(&self, layout: &Layout, prefix: H::Prefix, slot: u32, count: u64) {
                let prefix: u32 = prefix.into();
                if prefix >= H::PREFIXES {
                    drops::count(DropCause::HistogramFull, count);
                    return;
                }
                let index = hist_core::array_index(prefix, slot, layout.max_slot());
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
