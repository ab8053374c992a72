//! The scheduler's tracepoints, for run-queue tools (runqlat, runqslower): the ops a task's
//! wait passes ([`WAKEUP`], [`WAKEUP_NEW`], [`SWITCH`]) and where a task's ids and state are on
//! the running kernel ([`TaskFields`], resolved from BTF at load by
//! `hist_attach::kernel::sched::task_fields`, read by `hist_ebpf::sched`).

use crate::{FieldPath, OpSpec, StartDesc, StartDomain, names::TracepointRole::Only};

/// A task woken: it joins a run queue.
pub const WAKEUP: OpSpec = OpSpec::tracepoints("sched_wakeup", &[(Only, "sched", "sched_wakeup")]);
/// A new task woken for the first time.
pub const WAKEUP_NEW: OpSpec =
    OpSpec::tracepoints("sched_wakeup_new", &[(Only, "sched", "sched_wakeup_new")]);
/// A CPU switching tasks: the one leaving may stay runnable (preempted), the one coming in
/// leaves its run queue.
pub const SWITCH: OpSpec = OpSpec::tracepoints("sched_switch", &[(Only, "sched", "sched_switch")]);
/// From a task's wake-up (or preemption) to its switch-in: run-queue latency.
pub const WAKEUP_TO_RUN: [OpSpec; 3] = [WAKEUP, WAKEUP_NEW, SWITCH];

/// When each waiting task joined its run queue, by thread id: the start map of a run-queue tool,
/// declared `static RUN_QUEUE_START: hist_ebpf::StartTimes<RunQueueStart>`. A task waits in one
/// run queue at a time, so one entry per thread: the map is sized for the kernel's threads.
pub struct RunQueueStart;

impl StartDesc for RunQueueStart {
    type Key = u32;
    const NAME: &'static str = "RUN_QUEUE_START";
    const DOMAIN: StartDomain = StartDomain::Threads;
}

/// What a run-queue tool's histograms are per: the waiting task's process, thread or cgroup
/// (libbpf-tools' runqlat `-P`, `-L`, `--pidnss`, and `--per-cgroup`), or one for all; a `u32` to sit in a
/// config. `hist_ebpf::sched::Task::key` reads the task's.
pub mod per {
    /// One histogram of all tasks.
    pub const ALL: u32 = 0;
    /// A histogram per process id.
    pub const PROCESS: u32 = 1;
    /// A histogram per thread id.
    pub const THREAD: u32 = 2;
    /// A histogram per cgroup (v2), by the low 32 bits of its id.
    pub const CGROUP: u32 = 3;
    /// A histogram per PID namespace, by its inode number.
    pub const PIDNS: u32 = 4;
}

/// Where a task's ids and state are in `struct task_struct` on this kernel. `#[repr(C)]`, all
/// `u32`: no padding, so it can sit in a tool's config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct TaskFields {
    /// `task_struct.pid`: the thread id.
    pub pid: FieldPath,
    /// `task_struct.tgid`: the process id.
    pub tgid: FieldPath,
    /// `task_struct.__state` (`state` before 5.14): 0 is `TASK_RUNNING`.
    pub state: FieldPath,
    /// The id of its cgroup (v2), the inode number of the cgroup's directory:
    /// `task_struct.cgroups → css_set.dfl_cgrp → cgroup.kn → kernfs_node.id`.
    pub cgroup: FieldPath,
    /// The inode number of the PID namespace of its children (its own, but after a
    /// `setns`/`unshare`): `task_struct.nsproxy → nsproxy.pid_ns_for_children →
    /// pid_namespace.ns.inum`, bcc's.
    pub pidns: FieldPath,
}

impl TaskFields {
    /// No field resolved (no BTF): only the tracefs tracepoints can serve.
    pub const ABSENT: Self = Self {
        pid: FieldPath::ABSENT,
        tgid: FieldPath::ABSENT,
        state: FieldPath::ABSENT,
        cgroup: FieldPath::ABSENT,
        pidns: FieldPath::ABSENT,
    };
}

/// Offset of `pid_t pid` in the tracefs records of `sched_wakeup` and `sched_wakeup_new`
/// (after the common header and `comm[16]`), the same from 5.10 to 6.18.
pub const RECORD_WAKEUP_PID: usize = 24;
/// Offset of `prev_pid` in `sched_switch`'s record.
pub const RECORD_PREV_PID: usize = 24;
/// Offset of `long prev_state` in `sched_switch`'s record.
pub const RECORD_PREV_STATE: usize = 32;
/// Offset of `next_pid` in `sched_switch`'s record.
pub const RECORD_NEXT_PID: usize = 56;
/// The bits of the record's `prev_state` that say the task went to sleep: a task switched out
/// runnable shows 0, or `TASK_REPORT_MAX` (0x100) when preempted; a sleeping one one bit of
/// `TASK_REPORT` (0x7f) or `TASK_REPORT_IDLE` (0x80).
pub const RECORD_SLEEPING: u64 = 0xff;
