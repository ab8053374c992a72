//! The start map of entry/exit latency: the entry timestamp of every operation in flight, one
//! per thread (and op). Its size follows the number of threads the kernel can have.
//!
//! A thread is in at most a few operations at once, so the kernel's `pid_max` bounds what the
//! map must hold, as bcc sizes its start maps. Preallocated, a hash map entry of an 8-byte key
//! and value costs about 80 bytes (measured with `bpftool map create`: 2.6 MB for 32 768
//! entries, 335 MB for 4 194 304), and systemd raises `pid_max` to 4 194 304: so the size is
//! `pid_max` capped at [`MAX_START_ENTRIES`] (5.2 MB). Entries leave the map when their
//! operation ends, or when their task exits, so it holds live threads only; more than
//! [`MAX_START_ENTRIES`] of them in flight at once count as drops
//! ([`DropCause::StartFull`](crate::DropCause::StartFull)), never silently.

/// The name of a tool's start map: `hist_user`'s `Tool::load` sizes the map of this name with
/// [`start_entries`].
pub const START_MAP: &str = "START";

/// The name of `hist_ebpf::task_start`'s map, the current task's start: a hash that
/// `hist_user`'s `Tool::load` sizes like [`START_MAP`], or task-local storage, which has no size.
pub const TASK_START_MAP: &str = "HIST_TASK_START";

/// The name of `hist_ebpf::op_start`'s map, when each task entered each op: a hash that
/// `hist_user`'s `Tool::load` sizes like [`START_MAP`], or task-local storage.
pub const OP_START_MAP: &str = "HIST_OP_START";

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
