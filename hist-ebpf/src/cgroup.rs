//! `-c CGROUP`: whether the current task is in the cgroup the user side chose, or below it.
//!
//! libbpf-tools' way: a cgroup array of one slot, which user space fills with the cgroup's
//! directory after loading, and `bpf_current_task_under_cgroup` (Linux 4.9), which walks the
//! current task's cgroup v2 ancestors. It asks about the *current* task: at a wake-up that is
//! the waker, at a block request's issue the submitter.

use aya_ebpf::{macros::map, maps::CgroupArray};
use hist_core::Settings;

/// Slot 0: the cgroup of `-c`. Named [`hist_core::names::CGROUP_MAP`], where user space looks
/// for it; linked in only when a program checks it.
#[map(name = "HIST_CGROUP")]
static CGROUP: CgroupArray = CgroupArray::with_max_entries(1, 0);
hist_core::assert_name!("HIST_CGROUP", hist_core::names::CGROUP_MAP);

/// Whether `settings` trace the current task for its cgroup: always without `-c`
/// ([`Settings::cgroup`] 0), else when it is in that cgroup or below it.
#[inline(always)]
pub fn in_traced_cgroup(settings: &Settings) -> bool {
    settings.cgroup == 0 || CGROUP.current_task_under_cgroup(0) == Ok(true)
}

/// Whether `settings` trace the current task, of process `tgid`: `-p` and `-c` together.
#[inline(always)]
pub fn traces_current(settings: &Settings, tgid: u32) -> bool {
    settings.traces(tgid) && in_traced_cgroup(settings)
}
