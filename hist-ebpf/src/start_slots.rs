//! Start timestamps in a direct-mapped table: for keys that stay unique while in flight.

use core::marker::PhantomData;

use aya_ebpf::maps::Array;
use hist_core::{
    DropCause, StartDesc, StartDomain,
    start::{slot_hash, slot_index},
};

use crate::{DescribedMap, drops, now_ns};

/// A slot of the table: the key that holds it and its start (0: free).
#[derive(Clone, Copy)]
#[repr(C)]
struct Slot<K> {
    key: K,
    start: u64,
}

/// Start timestamps of the description `S` ([`StartDomain::Slots`]) in an array whose slot for
/// a key is picked by a hash of the key: a lookup the verifier inlines into a few instructions,
/// where a hash map costs a helper call per update and per delete. For keys that stay unique
/// while in flight, as a kernel object's address does (a block request: `hist_core::block`).
///
/// A start that takes a slot another key still holds counts a [`DropCause::StartFull`]: that
/// key's end will find no start. Declare it with [`maps!`](crate::maps), named `S::NAME`.
#[repr(transparent)]
pub struct StartSlots<S: StartDesc> {
    map: Array<Slot<S::Key>>,
    desc: PhantomData<S>,
}

impl<S: StartDesc> StartSlots<S>
where
    S::Key: PartialEq,
{
    /// The table's size, a power of two (the build fails otherwise).
    const SLOTS: u32 = match S::DOMAIN {
        StartDomain::Slots(slots) if slots.is_power_of_two() => slots,
        _ => panic!("StartSlots needs StartDomain::Slots(a power of two)"),
    };

    /// The table of `S`.
    pub const fn new() -> Self {
        Self {
            map: Array::with_max_entries(Self::SLOTS, 0),
            desc: PhantomData,
        }
    }

    /// The slot of `key` ([`hist_core::start::slot_of`] of its 8-byte words). A key must hold
    /// numbers, not a pointer the verifier knows as one (a tp_btf argument as is), on which it
    /// allows no arithmetic: copy such a pointer with `bpf_probe_read_kernel`.
    #[inline(always)]
    fn slot(&self, key: &S::Key) -> Option<*mut Slot<S::Key>> {
        let mut hash = 0u64;
        for word in 0..size_of::<S::Key>() / 8 {
            // SAFETY: a word inside the key, read unaligned.
            let value = unsafe {
                (key as *const S::Key as *const u64)
                    .add(word)
                    .read_unaligned()
            };
            hash = slot_hash(hash, value);
        }
        self.map.get_ptr_mut(slot_index(hash, Self::SLOTS))
    }

    /// Stores the current time as the start of `key`, replacing an older one.
    #[inline(always)]
    pub fn start(&self, key: &S::Key) {
        self.start_at(key, now_ns());
    }

    /// Stores `ns` as the start of `key`, replacing an older one.
    #[inline(always)]
    pub fn start_at(&self, key: &S::Key, ns: u64) {
        self.take_slot(key, ns, false);
    }

    /// Stores the current time as the start of `key` unless it has one: the first of two starts
    /// wins (biolatency `-Q`).
    #[inline(always)]
    pub fn start_if_absent(&self, key: &S::Key) {
        self.start_if_absent_at(key, now_ns());
    }

    /// Stores `ns` as the start of `key` unless it has one.
    #[inline(always)]
    pub fn start_if_absent_at(&self, key: &S::Key, ns: u64) {
        self.take_slot(key, ns, true);
    }

    #[inline(always)]
    fn take_slot(&self, key: &S::Key, ns: u64, keep: bool) {
        let Some(slot) = self.slot(key) else {
            return;
        };
        // SAFETY: a slot of the array, valid for this run of the program. Another CPU may
        // write it at once only for a key of the same slot, a collision counted below.
        let slot = unsafe { &mut *slot };
        let held = slot.start != 0;
        if held && slot.key == *key {
            if keep {
                return;
            }
        } else if held {
            drops::count(DropCause::StartFull, 1);
        }
        slot.key = *key;
        slot.start = ns;
    }

    /// Frees the slot of `key` and returns the nanoseconds since its start, or `None` when it
    /// has none (its start came before tracing did, was filtered out, or lost its slot).
    #[inline(always)]
    pub fn elapsed_ns(&self, key: &S::Key) -> Option<u64> {
        self.elapsed_ns_at(key, now_ns())
    }

    /// Like [`elapsed_ns`](Self::elapsed_ns), measured up to `now_ns`.
    #[inline(always)]
    pub fn elapsed_ns_at(&self, key: &S::Key, now_ns: u64) -> Option<u64> {
        // SAFETY: as in `take_slot`.
        let slot = unsafe { &mut *self.slot(key)? };
        if slot.start == 0 || slot.key != *key {
            return None;
        }
        let start = core::mem::replace(&mut slot.start, 0);
        now_ns.checked_sub(start)
    }
}

impl<S: StartDesc> DescribedMap for StartSlots<S> {
    const DESC_NAME: &'static str = S::NAME;
    const NAME_SUFFIX: &'static str = "";
}
