//! Array-backed histograms indexed `prefix × (max_slot + 2) + slot`: for a few dense prefixes
//! (`0..PREFIXES`: an op of [`ops!`](hist_core::ops), or a `u32`), with no hashing and no
//! insertion. The kernel inlines an array lookup into a bounds check and an address, so a
//! record costs no helper call; per-CPU, it needs no atomic either (measured in cpudist: the
//! histogram of all tasks in a per-CPU array instead of a hash costs 0.30× libbpf-tools' cpudist
//! per event, 0.39× in the hash).

use core::marker::PhantomData;

use aya_ebpf::maps::{Array, PerCpuArray};
use hist_core::{DropCause, HistDesc, KeyPrefix, Layout};

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

/// The histogram of `H`'s default prefix (all zero: what a tool records when it does not split
/// its histogram by disk, process…) in a per-CPU array, beside the map `A` (a [`HashHist`](crate::HashHist))
/// that counts every other prefix: record into the pair `(&A, &DefaultHist<H>)`. The tool
/// whose flags split nothing then pays an inlined array lookup and a plain add per record, not
/// a hash lookup and an atomic add; user space reads the two as one histogram map. Declare it
/// with [`maps!`](crate::maps), named `{H::NAME}_DEFAULT`.
///
/// ```ignore
/// hist_ebpf::maps! {
///     static LATENCY: HashHist<BlockLatency>;
///     static LATENCY_DEFAULT: DefaultHist<BlockLatency>;
/// }
/// hist_ebpf::record(&(&LATENCY, &LATENCY_DEFAULT), &LATENCY_SUM, settings, key, value);
/// ```
#[repr(transparent)]
pub struct DefaultHist<H: HistDesc> {
    map: PerCpuArray<u64>,
    desc: PhantomData<H>,
}

impl<H: HistDesc> DefaultHist<H> {
    /// One histogram's counters, `max_slot + 2`, resized by user space at load for a refined
    /// layout.
    pub const fn new() -> Self {
        Self {
            map: PerCpuArray::with_max_entries(hist_core::map_entries(H::LAYOUT.max_slot(), 1), 0),
            desc: PhantomData,
        }
    }
}

impl<H: HistDesc> Default for DefaultHist<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H: HistDesc> DescribedMap for DefaultHist<H> {
    const DESC_NAME: &'static str = H::NAME;
    const NAME_SUFFIX: &'static str = hist_core::names::DEFAULT_SUFFIX;
}

impl<A: Histogram> Histogram for (&A, &DefaultHist<A::Desc>) {
    type Desc = A::Desc;

    /// The default prefix in the array, any other in `A`.
    #[inline(always)]
    fn add_in(
        &self,
        layout: &Layout,
        prefix: <A::Desc as HistDesc>::Prefix,
        slot: u32,
        count: u64,
    ) {
        let (keyed, default) = self;
        if !is_default(&prefix) {
            keyed.add_in(layout, prefix, slot, count);
            return;
        }
        let index = hist_core::array_index(0, slot, layout.max_slot());
        if let Some(value) = default.map.get_ptr_mut(index) {
            plain_add(value, count);
        }
    }
}

/// Whether every byte of `prefix` is zero (a prefix is `4·n` bytes, aligned to at most 4).
#[inline(always)]
fn is_default<P: KeyPrefix>(prefix: &P) -> bool {
    let mut bits = 0u32;
    for word in 0..size_of::<P>() / 4 {
        // SAFETY: a 4-byte word inside the prefix, read unaligned.
        bits |= unsafe {
            (prefix as *const P as *const u32)
                .add(word)
                .read_unaligned()
        };
    }
    bits == 0
}
