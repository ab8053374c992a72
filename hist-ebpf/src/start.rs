//! The start-timestamp pattern of latency: store `bpf_ktime_get_ns()` when an operation starts,
//! take it back when it ends, under a key that both places know.

use core::marker::PhantomData;

use aya_ebpf::{
    bindings::{BPF_ANY, BPF_NOEXIST},
    helpers::bpf_ktime_get_ns,
    maps::HashMap,
};
use hist_core::{DropCause, StartDesc, StartDomain};

use crate::{DescribedMap, drops};

/// `-EEXIST`: what an insert-if-absent returns when the key is there already.
const EEXIST: i32 = -17;

/// Start timestamps keyed by the key of the description `S` (a [`StartDesc`]): a request
/// pointer, `{dev, sector}`, the pid of a task that another one wakes; any padding-free key
/// (`Pod` rules padding out, for the reason [`hist_core::key`] explains). The start and the end
/// may run in different tasks, on different CPUs, from any kind of program (fentry, kprobe,
/// tp_btf, raw or classic tracepoint): the key is all they share. A start that finds the map
/// full is counted as a drop ([`DropCause::StartFull`]).
///
/// Declare it with [`maps!`](crate::maps), named `S::NAME`; user space sizes it for
/// `S::DOMAIN` at load (`hist_core::Starts<S>`).
#[repr(transparent)]
pub struct StartTimes<S: StartDesc> {
    map: HashMap<S::Key, u64>,
    desc: PhantomData<S>,
}

impl<S: StartDesc> StartTimes<S> {
    /// The map of `S`: [`StartDomain::InFlight`]'s bound, or for [`StartDomain::Threads`]
    /// 10 240 entries until user space sizes it from the kernel's `pid_max` at load.
    pub const fn new() -> Self {
        let entries = match S::DOMAIN {
            StartDomain::Threads => 10_240,
            StartDomain::InFlight(entries) | StartDomain::Slots(entries) => entries,
        };
        Self {
            map: HashMap::with_max_entries(entries, 0),
            desc: PhantomData,
        }
    }

    /// Stores the current time as the start of `key`, replacing an older one.
    #[inline(always)]
    pub fn start(&self, key: &S::Key) {
        self.start_at(key, now_ns());
    }

    /// Stores `ns` as the start of `key`, replacing an older one; when the map is full, counts a
    /// [`DropCause::StartFull`] instead.
    #[inline(always)]
    pub fn start_at(&self, key: &S::Key, ns: u64) {
        if self.map.insert(key, ns, BPF_ANY as u64).is_err() {
            drops::count(DropCause::StartFull, 1);
        }
    }

    /// Stores the current time as the start of `key` unless it has one: the first of two
    /// starts wins (biolatency `-Q`: from the insert into the queue, not the issue).
    #[inline(always)]
    pub fn start_if_absent(&self, key: &S::Key) {
        self.start_if_absent_at(key, now_ns());
    }

    /// Stores `ns` as the start of `key` unless it has one; when the map is full, counts a
    /// [`DropCause::StartFull`] instead.
    #[inline(always)]
    pub fn start_if_absent_at(&self, key: &S::Key, ns: u64) {
        match self.map.insert(key, ns, BPF_NOEXIST as u64) {
            Ok(()) | Err(EEXIST) => {}
            Err(_) => drops::count(DropCause::StartFull, 1),
        }
    }

    /// Stores `ns` as the start of `key` and returns the start it replaces, `None` when there
    /// was none. One map lookup where an existing entry is overwritten in place: for keys whose
    /// next start follows at once on the end of the last (cpudist's off-CPU time, where a task
    /// leaving the CPU both ends one interval and starts the next), this is a third of
    /// [`elapsed_ns_at`](Self::elapsed_ns_at) then [`start_at`](Self::start_at): no delete, no
    /// insert. A new key that finds the map full counts as [`DropCause::StartFull`].
    #[inline(always)]
    pub fn replace_at(&self, key: &S::Key, ns: u64) -> Option<u64> {
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
    pub fn take(&self, key: &S::Key) -> Option<u64> {
        // SAFETY: the value is copied out before the entry is removed below.
        let start = unsafe { *self.map.get(key)? };
        let _ = self.map.remove(key);
        Some(start)
    }

    /// Removes the start of `key` and returns the nanoseconds since then, or `None` when no
    /// start was recorded (the operation began before tracing did, or was filtered out).
    #[inline(always)]
    pub fn elapsed_ns(&self, key: &S::Key) -> Option<u64> {
        self.elapsed_ns_at(key, now_ns())
    }

    /// Like [`elapsed_ns`](Self::elapsed_ns), measured up to `now_ns`.
    #[inline(always)]
    pub fn elapsed_ns_at(&self, key: &S::Key, now_ns: u64) -> Option<u64> {
        now_ns.checked_sub(self.take(key)?)
    }
}

impl<S: StartDesc> Default for StartTimes<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: StartDesc> DescribedMap for StartTimes<S> {
    const DESC_NAME: &'static str = S::NAME;
    const NAME_SUFFIX: &'static str = "";
}

/// Monotonic nanoseconds (`bpf_ktime_get_ns`).
#[inline(always)]
pub fn now_ns() -> u64 {
    // SAFETY: a BPF helper without arguments or side effects.
    unsafe { bpf_ktime_get_ns() }
}
