//! When the current task entered each operation, for entry/exit latency ([`crate::enter`],
//! [`crate::exit`], and the programs of [`latency_probes!`](crate::latency_probes)).
//!
//! A task may be inside several operations at once (one calls the other), so each op has its
//! own start: op `i` of the first [`MAX_OPS`]. Built with feature `task-storage`, the starts
//! live in the task itself (see [`crate::task_start`] for when the kernel has that): one
//! lookup from the task, no key to hash, no entry to insert or delete, freed with the task.
//! Built without, they live in a hash keyed `{op, tid}`, sized by user space from `pid_max`.
//!
//! The map is this crate's, named [`hist_core::OP_START_MAP`]: one per object.

#[cfg(not(feature = "task-storage"))]
use aya_ebpf::{helpers::bpf_get_current_pid_tgid, macros::map, maps::HashMap};
use hist_core::DropCause;
#[cfg(not(feature = "task-storage"))]
use hist_core::TaskKey;

use crate::drops;
#[cfg(feature = "task-storage")]
use crate::task_start::TaskStorage;

/// How many ops a task can have starts for: ops `0..MAX_OPS`. An op outside is not timed and
/// its entries count as [`DropCause::StartFull`].
pub const MAX_OPS: u32 = 8;

#[cfg(feature = "task-storage")]
#[unsafe(link_section = ".maps")]
#[unsafe(export_name = "HIST_OP_START")]
static OP_START: TaskStorage<[u64; MAX_OPS as usize]> = TaskStorage::new();

#[cfg(not(feature = "task-storage"))]
#[map(name = "HIST_OP_START")]
static OP_START: HashMap<TaskKey<u32>, u64> = HashMap::with_max_entries(10_240, 0);
hist_core::assert_name!("HIST_OP_START", hist_core::OP_START_MAP);

/// Stores `now` as the time the current task entered `op`, replacing an older start of it.
#[inline(always)]
pub fn enter(op: u32, now: u64) {
    if op >= MAX_OPS {
        drops::count(DropCause::StartFull, 1);
        return;
    }
    #[cfg(feature = "task-storage")]
    let stored = OP_START
        .current(true)
        .map(|starts| starts[op as usize] = now);
    #[cfg(not(feature = "task-storage"))]
    let stored = {
        let key = TaskKey::new(op, bpf_get_current_pid_tgid() as u32);
        OP_START.insert(&key, &now, 0).ok()
    };
    if stored.is_none() {
        drops::count(DropCause::StartFull, 1);
    }
}

/// Takes back the time the current task entered `op`; `None` when it has none (it entered
/// before tracing began, or its entry was filtered out).
#[inline(always)]
pub fn exit(op: u32) -> Option<u64> {
    if op >= MAX_OPS {
        return None;
    }
    #[cfg(feature = "task-storage")]
    {
        let start = core::mem::take(&mut OP_START.current(false)?[op as usize]);
        (start != 0).then_some(start)
    }
    #[cfg(not(feature = "task-storage"))]
    {
        let key = TaskKey::new(op, bpf_get_current_pid_tgid() as u32);
        // SAFETY: the value is copied out before the entry is removed.
        let start = unsafe { *OP_START.get(&key)? };
        let _ = OP_START.remove(&key);
        Some(start)
    }
}
