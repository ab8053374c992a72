//! Tasks, for run-queue tools (runqlat, runqslower): where a task's ids and state are on this
//! kernel ([`task_fields`]), for `hist_ebpf::sched`'s probes.

use hist_core::sched::TaskFields;

use super::{KernelBtf, KernelError, KernelField, TASK_STATE};

/// A task's thread id.
pub const TASK_PID: KernelField = KernelField {
    name: "the thread id of a task",
    chains: &[&["task_struct.pid"]],
};
/// A task's process id.
pub const TASK_TGID: KernelField = KernelField {
    name: "the process id of a task",
    chains: &[&["task_struct.tgid"]],
};

/// The id of a task's cgroup (v2): its directory's inode number.
pub const TASK_CGROUP: KernelField = KernelField {
    name: "the cgroup of a task",
    chains: &[&[
        "task_struct.cgroups",
        "css_set.dfl_cgrp",
        "cgroup.kn",
        "kernfs_node.id",
    ]],
};

/// The inode number of a task's PID namespace (that of its children, as bcc reads it).
pub const TASK_PIDNS: KernelField = KernelField {
    name: "the PID namespace of a task",
    chains: &[&[
        "task_struct.nsproxy",
        "nsproxy.pid_ns_for_children",
        "pid_namespace.ns",
        "+ns_common.inum",
    ]],
};

/// Where a task's [`TASK_PID`], [`TASK_TGID`], [`TASK_STATE`], [`TASK_CGROUP`] and [`TASK_PIDNS`] are on this
/// kernel, from its BTF; [`TaskFields::ABSENT`] when the kernel has no BTF (only the tracefs
/// tracepoints can serve then).
///
/// # Errors
///
/// [`KernelError::FieldAbsent`] when BTF lacks one of them, and as
/// [`KernelBtf::resolve_field`].
pub fn task_fields() -> Result<TaskFields, KernelError> {
    let Ok(btf) = KernelBtf::load() else {
        return Ok(TaskFields::ABSENT);
    };
    Ok(TaskFields {
        pid: btf.require_field(&TASK_PID)?,
        tgid: btf.require_field(&TASK_TGID)?,
        state: btf.require_field(&TASK_STATE)?,
        cgroup: btf.resolve_field(&TASK_CGROUP)?,
        pidns: btf.resolve_field(&TASK_PIDNS)?,
    })
}
