//! The start maps of latency: when each operation in flight began, keyed by what ends it.
//!
//! * **Per thread** (entry/exit of a function in one task): `hist_ebpf::op_start` and
//!   `hist_ebpf::task_start` keep it, keyed by thread, in maps of their own.
//! * **Keyed** (anything that ends elsewhere: a block request completed in an interrupt, a task
//!   that another one wakes): a tool describes its start map with a [`StartDesc`], a
//!   padding-free key and the domain of that key, and declares a `hist_ebpf::StartTimes` of it.
//!
//! A map is sized for its key's [`StartDomain`]. A thread is in at most a few operations at
//! once, so the kernel's `pid_max` bounds what a map by thread must hold, as bcc sizes its start
//! maps. Preallocated, a hash map entry of an 8-byte key and value costs about 80 bytes
//! (measured with `bpftool map create`: 2.6 MB for 32 768 entries, 335 MB for 4 194 304), and
//! systemd raises `pid_max` to 4 194 304: so the size is `pid_max` capped at
//! [`MAX_START_ENTRIES`] (5.2 MB). Entries leave the map when their operation ends, or when their
//! task exits, so it holds live threads only; more than [`MAX_START_ENTRIES`] of them in flight
//! at once count as drops ([`DropCause::StartFull`](crate::DropCause::StartFull)), never
//! silently. Requests in flight have a bound of their own ([`StartDomain::InFlight`]).

use bytemuck::Pod;

/// The name of `hist_ebpf::task_start`'s map, the current task's start: a hash that
/// `hist_tool`'s `Tool::load` sizes for [`StartDomain::Threads`], or task-local storage, which
/// has no size.
pub const TASK_START_MAP: &str = "HIST_TASK_START";

/// The name of `hist_ebpf::op_start`'s map, when each task entered each op: a hash that
/// `hist_tool`'s `Tool::load` sizes for [`StartDomain::Threads`], or task-local storage.
pub const OP_START_MAP: &str = "HIST_OP_START";

/// How many starts a start map must hold at once: what its key can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartDomain {
    /// One start per thread (a pid, a thread and an op): [`start_entries`]`(pid_max)`.
    Threads,
    /// At most this many in flight at once: block requests (libbpf-tools' biolatency keeps
    /// 10 240), connections. One more in flight counts as a drop.
    InFlight(u32),
    /// A direct-mapped table of this many slots (a power of two), for keys that stay unique
    /// while in flight (a kernel object's address): `hist_ebpf::StartSlots`. A key's slot is
    /// picked by a hash of the key; a start that takes a slot another key still holds counts a
    /// drop. Made for the many keys that are few in flight at once: size it well above that.
    Slots(u32),
}

impl StartDomain {
    /// The map's size on a kernel whose `pid_max` is `pid_max`.
    ///
    /// ```
    /// use hist_core::StartDomain;
    /// assert_eq!(StartDomain::Threads.entries(4_194_304), 65_536);
    /// assert_eq!(StartDomain::InFlight(10_240).entries(4_194_304), 10_240);
    /// ```
    pub const fn entries(self, pid_max: u32) -> u32 {
        match self {
            Self::Threads => start_entries(pid_max),
            Self::InFlight(entries) | Self::Slots(entries) => entries,
        }
    }
}

/// The description of a keyed start map, shared by both sides like a
/// [`HistDesc`](crate::HistDesc): the eBPF side declares `hist_ebpf::StartTimes<Self>` from it
/// (named [`NAME`](Self::NAME), checked when it builds), user space sizes it for
/// [`DOMAIN`](Self::DOMAIN) at load (`hist_core::Starts<Self>` in `Tool::load`'s maps).
///
/// ```
/// use hist_core::{StartDesc, StartDomain};
///
/// /// A block request: the device and the sector it starts at. `Pod`: no padding, or it
/// /// does not build (padding bytes are uninitialized stack: see `hist_core::key`).
/// #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
/// #[repr(C)]
/// pub struct Request {
///     pub dev: u64,
///     pub sector: u64,
/// }
///
/// pub struct RequestStart;
/// impl StartDesc for RequestStart {
///     type Key = Request;
///     const NAME: &'static str = "REQUEST_START";
///     const DOMAIN: StartDomain = StartDomain::InFlight(10_240);
/// }
/// ```
pub trait StartDesc {
    /// What a start is found by at the end: padding-free, as `Pod` proves.
    type Key: Pod;
    /// The map's name in the eBPF object: the identifier of its static.
    const NAME: &'static str;
    /// How many starts it must hold at once.
    const DOMAIN: StartDomain;
}

/// The slot of a key in a table of `slots` slots ([`StartDomain::Slots`], a power of two), from
/// the key's 8-byte words: a multiplicative (Fibonacci) hash, the same in a probe
/// (`hist_ebpf::StartSlots`) and in user space, where a test picks keys that collide.
///
/// ```
/// let slot = hist_core::start::slot_of(&[0xffff_8881_0a3c_0000, 0], 32_768);
/// assert!(slot < 32_768);
/// assert_eq!(hist_core::start::slot_of(&[7], 1), 0);
/// ```
pub const fn slot_of(words: &[u64], slots: u32) -> u32 {
    let mut hash = 0;
    let mut i = 0;
    while i < words.len() {
        hash = slot_hash(hash, words[i]);
        i += 1;
    }
    slot_index(hash, slots)
}

/// One step of [`slot_of`]'s hash: the hash so far with the next word mixed in.
#[inline(always)]
pub const fn slot_hash(hash: u64, word: u64) -> u64 {
    (hash ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The last step of [`slot_of`]: the hash's high half, masked to the table.
#[inline(always)]
pub const fn slot_index(hash: u64, slots: u32) -> u32 {
    (hash >> 32) as u32 & (slots - 1)
}

/// The most entries a start map gets, whatever `pid_max` is.
pub const MAX_START_ENTRIES: u32 = 65_536;

/// The size of a start map on a kernel whose `pid_max` is `pid_max`: `pid_max`, capped at
/// [`MAX_START_ENTRIES`], at least 1.
///
/// ```
/// assert_eq!(hist_core::start_entries(32_768), 32_768);
/// assert_eq!(hist_core::start_entries(4_194_304), 65_536);
/// ```
pub const fn start_entries(pid_max: u32) -> u32 {
    if pid_max > MAX_START_ENTRIES {
        MAX_START_ENTRIES
    } else if pid_max == 0 {
        1
    } else {
        pid_max
    }
}
