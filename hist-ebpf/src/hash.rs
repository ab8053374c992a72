//! Hash-map-backed histograms keyed by [`HistKey`] (for sparse prefixes such as pids), and the
//! per-prefix [`Sums`] kept beside a histogram.

use core::marker::PhantomData;

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    maps::{HashMap, PerCpuHashMap},
};
use hist_core::{DropCause, HistDesc, HistKey, Layout};

use crate::{DescribedMap, Histogram, atomic_add, drops, plain_add};

/// Adds `count` to the value of `key`, inserting a zero first when the key is new; `false` when
/// the map is full and nothing was added.
macro_rules! add_to_key {
    ($map:expr, $key:expr, $count:expr, $add:expr) => {{
        let (map, key, count) = ($map, $key, $count);
        if let Some(value) = map.get_ptr_mut(key) {
            $add(value, count);
            true
        } else {
            // Insert-if-absent, then add: when another CPU inserted the key first our insert
            // fails with EEXIST and the add below lands on its entry instead. When the lookup
            // still fails, the insert failed for want of room (E2BIG).
            let _ = map.insert(key, &0, BPF_NOEXIST as u64);
            match map.get_ptr_mut(key) {
                Some(value) => {
                    $add(value, count);
                    true
                }
                None => false,
            }
        }
    }};
}

macro_rules! hash_hist {
    ($(#[$doc:meta])* $name:ident, $map:ident, $add:expr) => {
        $(#[$doc])*
        #[repr(transparent)]
        pub struct $name<H: HistDesc> {
            map: $map<HistKey<H::Prefix>, u64>,
            desc: PhantomData<H>,
        }

        impl<H: HistDesc> $name<H> {
            /// The map of `H`: [`HistDesc::MAX_ENTRIES`] = `(max_slot + 2) × PREFIXES` entries,
            /// resized by user space at load for a refined layout.
            pub const fn new() -> Self {
                Self { map: $map::with_max_entries(H::MAX_ENTRIES, 0), desc: PhantomData }
            }
        }

        impl<H: HistDesc> Default for $name<H> {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<H: HistDesc> DescribedMap for $name<H> {
            const DESC_NAME: &'static str = H::NAME;
            const NAME_SUFFIX: &'static str = "";
        }

        impl<H: HistDesc> Histogram for $name<H> {
            type Desc = H;

            #[inline(always)]
            fn add_in(&self, layout: &Layout, prefix: H::Prefix, slot: u32, count: u64) {
                let key = HistKey::new(prefix, hist_core::capped_slot(slot, layout.max_slot()));
                if !add_to_key!(&self.map, &key, count, $add) {
                    drops::count(DropCause::HistogramFull, count);
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

/// The sum of the recorded values per prefix of the histogram `H`, for Prometheus' `_sum`
/// (and averages). A separate map of `PREFIXES` entries, outside the slot space, so the
/// histogram's own size stays exact; the kernel side only adds to it when
/// [`Settings::sums`](hist_core::Settings) asks for it. Its static is named `{H::NAME}_SUM`,
/// by which user space opens it: declare it with [`maps!`](crate::maps), which checks that.
#[repr(transparent)]
pub struct Sums<H: HistDesc> {
    map: HashMap<H::Prefix, u64>,
    desc: PhantomData<H>,
}

impl<H: HistDesc> Sums<H> {
    /// A map of `H::PREFIXES` sums.
    pub const fn new() -> Self {
        Self {
            map: HashMap::with_max_entries(H::PREFIXES, 0),
            desc: PhantomData,
        }
    }

    /// Adds `value` to the sum of `prefix`, atomically.
    #[inline(always)]
    pub fn add(&self, prefix: H::Prefix, value: u64) {
        if !add_to_key!(&self.map, &prefix, value, atomic_add) {
            drops::count(DropCause::SumsFull, 1);
        }
    }
}

impl<H: HistDesc> DescribedMap for Sums<H> {
    const DESC_NAME: &'static str = H::NAME;
    const NAME_SUFFIX: &'static str = hist_core::names::SUM_SUFFIX;
}

impl<H: HistDesc> Default for Sums<H> {
    fn default() -> Self {
        Self::new()
    }
}
