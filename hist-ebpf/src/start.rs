//! The start-timestamp pattern for entry/exit latency: store `bpf_ktime_get_ns()` at entry,
//! take it back at exit.

use aya_ebpf::{bindings::BPF_ANY, helpers::bpf_ktime_get_ns, maps::HashMap};
use bytemuck::Pod;
use hist_core::DropCause;

use crate::drops;

/// Entry timestamps keyed by `K`: a [`TaskKey`](hist_core::TaskKey) (op and thread) for
/// [`enter`](crate::enter)/[`exit`](crate::exit), or any padding-free key (`K: Pod` rules
/// padding out, for the reason [`hist_core::key`] explains). A start that finds the map full
/// is counted as a drop ([`DropCause::StartFull`]).
#[repr(transparent)]
pub struct StartTimes<K: Pod> {
    map: HashMap<K, u64>,
}

impl<K: Pod> StartTimes<K> {
    /// A start map sized at load time: name its static [`START`](hist_core::START_MAP), and
    /// `hist_user`'s `Tool::load` gives it [`start_entries`](hist_core::start_entries)`(pid_max)`
    /// entries (see [`hist_core::start`]); 10 240 when loaded otherwise.
    pub const fn new() -> Self {
        Self::with_max_entries(10_240)
    }

    /// Room for `max_entries` operations in flight at once.
    pub const fn with_max_entries(max_entries: u32) -> Self {
        Self {
            map: HashMap::with_max_entries(max_entries, 0),
        }
    }

    /// Stores the current time as the start of `key`, replacing an older one.
    #[inline(always)]
    pub fn start(&self, key: &K) {
        self.start_at(key, now_ns());
    }

    /// Stores `ns` as the start of `key`; when the map is full, counts a
    /// [`DropCause::StartFull`] instead.
    #[inline(always)]
    pub fn start_at(&self, key: &K, ns: u64) {
        if self.map.insert(key, ns, BPF_ANY as u64).is_err() {
            drops::count(DropCause::StartFull, 1);
        }
    }

    /// Stores `ns` as the start of `key` and returns the start it replaces, `None` when there
    /// was none. One map lookup where an existing entry is overwritten in place: for keys whose
    /// next start follows at once on the end of the last (cpudist's off-CPU time, where a task
    /// leaving the CPU both ends one interval and starts the next), this is a third of
    /// [`elapsed_ns_at`](Self::elapsed_ns_at) then [`start_at`](Self::start_at): no delete, no
    /// insert. A new key that finds the map full counts as [`DropCause::StartFull`].
    #[inline(always)]
    pub fn replace_at(&self, key: &K, ns: u64) -> Option<u64> {
        match self.map.get_ptr_mut(key) {
            // SAFETY: the value of a live entry, valid for this run of the program; only the
            // owner of `key` (one task, on one CPU at a time) writes it.
            Some(start) => Some(unsafe { core::mem::replace(&mut *start, ns) }),
            None => {
                self.start_at(key, ns);
                None
            }
        }
    }

    /// Removes the start of `key` and returns it, `None` when there was none.
    #[inline(always)]
    pub fn take(&self, key: &K) -> Option<u64> {
        // SAFETY: the value is copied out before the entry is removed below.
        let start = unsafe { *self.map.get(key)? };
        let _ = self.map.remove(key);
        Some(start)
    }

    /// Removes the start of `key` and returns the nanoseconds since then, or `None` when no
    /// start was recorded (the operation began before tracing did, or was filtered out).
    #[inline(always)]
    pub fn elapsed_ns(&self, key: &K) -> Option<u64> {
        self.elapsed_ns_at(key, now_ns())
    }

    /// Like [`elapsed_ns`](Self::elapsed_ns), measured up to `now_ns`.
    #[inline(always)]
    pub fn elapsed_ns_at(&self, key: &K, now_ns: u64) -> Option<u64> {
        now_ns.checked_sub(self.take(key)?)
    }
}

impl<K: Pod> Default for StartTimes<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// Monotonic nanoseconds (`bpf_ktime_get_ns`).
#[inline(always)]
pub fn now_ns() -> u64 {
    // SAFETY: a BPF helper without arguments or side effects.
    unsafe { bpf_ktime_get_ns() }
}
