//! The start time of the current task, for an interval that a task both starts and ends (cpudist's
//! off-CPU time runs from one of its switch-outs to the next).
//!
//! Built with feature `task-storage`, the start lives in the task itself
//! (`BPF_MAP_TYPE_TASK_STORAGE`, Linux 5.11; tracing programs may use it since 5.13): the kernel
//! finds it from the task without hashing a key, and frees it with the task. Built without, it
//! lives in a hash keyed by thread, sized by user space from `pid_max`. A tool builds its
//! object both ways and `hist_user`'s `Tool::load` picks the one the kernel can run, so the
//! probe's source is the same for both.
//!
//! The map is this crate's, named [`hist_core::TASK_START_MAP`]: one per object.

#[cfg(feature = "task-storage")]
use aya_ebpf::{
    bindings::BPF_LOCAL_STORAGE_GET_F_CREATE,
    helpers::generated::{bpf_get_current_task_btf, bpf_task_storage_get},
};
#[cfg(not(feature = "task-storage"))]
use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_smp_processor_id},
    macros::map,
    maps::HashMap,
};
use hist_core::DropCause;

use crate::drops;

/// A task storage map's BTF definition of values `V`, as libbpf reads it: each field's
/// pointed-to type carries one attribute (`[i32; 29]` is `BPF_MAP_TYPE_TASK_STORAGE`; flags 1
/// is `BPF_F_NO_PREALLOC`, which local storage requires; it has no `max_entries`).
#[cfg(feature = "task-storage")]
#[repr(C)]
pub(crate) struct TaskStorage<V> {
    r#type: *const [i32; 29],
    key: *const i32,
    value: *const V,
    max_entries: *const [i32; 0],
    map_flags: *const [i32; 1],
}

// SAFETY: placeholders that only describe the map in BTF; nothing reads them.
#[cfg(feature = "task-storage")]
unsafe impl<V> Sync for TaskStorage<V> {}

#[cfg(feature = "task-storage")]
impl<V> TaskStorage<V> {
    pub(crate) const fn new() -> Self {
        Self {
            r#type: core::ptr::null(),
            key: core::ptr::null(),
            value: core::ptr::null(),
            max_entries: core::ptr::null(),
            map_flags: core::ptr::null(),
        }
    }

    /// The value of `task` (a BTF pointer to a task: a tp_btf argument as the program got it),
    /// created zeroed when `create` and the task has none; `None` when it has none (or there
    /// was no memory to create it).
    #[inline(always)]
    pub(crate) fn of(&self, task: u64, create: bool) -> Option<&mut V> {
        let flags = if create {
            BPF_LOCAL_STORAGE_GET_F_CREATE.into()
        } else {
            0
        };
        // SAFETY: the map is a task storage map; the verifier checks that `task` is a task's
        // BTF pointer. The helper returns the task's value or null.
        let value = unsafe {
            bpf_task_storage_get(
                core::ptr::from_ref(self).cast_mut().cast(),
                task as *mut _,
                core::ptr::null_mut(),
                flags,
            )
        };
        // SAFETY: the task's value; a tool's programs write it one at a time per task (its
        // wake-up, then its switch-in).
        unsafe { value.cast::<V>().as_mut() }
    }

    /// The current task's value, created zeroed when `create` and the task has none; `None`
    /// when it has none (or there was no memory to create it).
    #[inline(always)]
    pub(crate) fn current(&self, create: bool) -> Option<&mut V> {
        let flags = if create {
            BPF_LOCAL_STORAGE_GET_F_CREATE.into()
        } else {
            0
        };
        // SAFETY: the map is a task storage map and the task the BTF pointer to the current
        // one; the helper returns the task's value or null.
        let value = unsafe {
            bpf_task_storage_get(
                core::ptr::from_ref(self).cast_mut().cast(),
                bpf_get_current_task_btf(),
                core::ptr::null_mut(),
                flags,
            )
        };
        // SAFETY: the current task's own value, which only this task's programs write (one
        // program runs at a time in a task).
        unsafe { value.cast::<V>().as_mut() }
    }
}

#[cfg(feature = "task-storage")]
#[unsafe(link_section = ".maps")]
#[unsafe(export_name = "HIST_TASK_START")]
static TASK_START: TaskStorage<u64> = TaskStorage::new();

/// Keyed `[tid, cpu]`: the cpu is 0 except for the idle tasks, which all have tid 0 (one per
/// CPU).
#[cfg(not(feature = "task-storage"))]
#[map(name = "HIST_TASK_START")]
static TASK_START: HashMap<[u32; 2], u64> = HashMap::with_max_entries(10_240, 0);
hist_core::assert_name!("HIST_TASK_START", hist_core::TASK_START_MAP);

/// The start kept in `task` itself (a BTF pointer to a task: a tp_btf argument as the program
/// got it), created zero when `create` and it has none: in builds with feature `task-storage` only, where
/// the map is the task's storage. Run-queue tools keep there when the task they wake began to
/// wait (`hist_ebpf::sched`).
#[cfg(feature = "task-storage")]
#[inline(always)]
pub fn of_task(task: u64, create: bool) -> Option<&'static mut u64> {
    TASK_START.of(task, create)
}

/// Stores `now` as the current task's start and returns the start it replaces, `None` when it
/// had none. When `exits()` says the task is switching out for the last time, the start is
/// removed instead, so that a hash keeps live tasks only (task storage is freed with the task:
/// `exits` is not called). A start that finds no room counts as [`DropCause::StartFull`].
#[inline(always)]
pub fn replace_current(now: u64, exits: impl FnOnce() -> bool) -> Option<u64> {
    #[cfg(feature = "task-storage")]
    {
        let _ = exits;
        let Some(start) = TASK_START.current(true) else {
            drops::count(DropCause::StartFull, 1);
            return None;
        };
        let last = core::mem::replace(start, now);
        (last != 0).then_some(last)
    }
    #[cfg(not(feature = "task-storage"))]
    {
        let tid = bpf_get_current_pid_tgid() as u32;
        // SAFETY: a helper without arguments.
        let cpu = if tid == 0 {
            unsafe { bpf_get_smp_processor_id() }
        } else {
            0
        };
        let key = [tid, cpu];
        if exits() {
            // SAFETY: the value is copied out before the entry is removed.
            let last = unsafe { *TASK_START.get(&key)? };
            let _ = TASK_START.remove(&key);
            return Some(last);
        }
        match TASK_START.get_ptr_mut(&key) {
            // SAFETY: a live entry of this task, which only this task's switch-outs write.
            Some(start) => Some(unsafe { core::mem::replace(&mut *start, now) }),
            None => {
                if TASK_START.insert(&key, &now, 0).is_err() {
                    drops::count(DropCause::StartFull, 1);
                }
                None
            }
        }
    }
}
