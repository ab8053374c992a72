//! Tasks at the scheduler's tracepoints, by `tp_btf` or tracefs: what a run-queue tool's probes
//! see of a task (its ids, whether it stays runnable), and [`run_queue_probes!`](crate::run_queue_probes),
//! which writes those probes. At `tp_btf` a task's ids and state are read through the
//! [`TaskFields`] user space resolved at load; at tracefs the records have the pids but not the
//! process of the task woken or switched in.

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    programs::{BtfTracePointContext, TracePointContext},
};
use hist_core::sched::{
    RECORD_NEXT_PID, RECORD_PREV_STATE, RECORD_SLEEPING, RECORD_WAKEUP_PID, RunQueueStart,
    TaskFields,
};

use crate::{StartTimes, read_field};

/// A task a scheduler tracepoint names.
pub struct Task<'f> {
    /// Its thread id, when known without reading the task.
    pid: Option<u32>,
    /// Its process id, when known without reading the task (the current one).
    tgid: Option<u32>,
    /// The task, at `tp_btf` (a BTF pointer, as the program got it); 0 at tracefs.
    task: u64,
    fields: &'f TaskFields,
}

impl<'f> Task<'f> {
    /// The task whose ids and state `fields` locate at `task` (a `tp_btf` argument).
    #[inline(always)]
    pub fn at(task: u64, fields: &'f TaskFields) -> Self {
        Self {
            pid: None,
            tgid: None,
            task,
            fields,
        }
    }

    /// The current task, by the ids `bpf_get_current_pid_tgid` gives: a tracefs
    /// `sched_switch`'s outgoing task (at `tp_btf`, [`at`](Self::at) its argument reads them
    /// only when asked for).
    #[inline(always)]
    pub fn current() -> Self {
        let pid_tgid = bpf_get_current_pid_tgid();
        Self {
            pid: Some(pid_tgid as u32),
            tgid: Some((pid_tgid >> 32) as u32),
            task: 0,
            fields: &TaskFields::ABSENT,
        }
    }

    /// A task a tracefs record names by thread id alone.
    #[inline(always)]
    pub fn by_pid(pid: u32) -> Self {
        Self {
            pid: Some(pid),
            tgid: None,
            task: 0,
            fields: &TaskFields::ABSENT,
        }
    }

    /// Its thread id (0: an idle task).
    #[inline(always)]
    pub fn pid(&self) -> u32 {
        let read = || read_field::<u32>(self.task, &self.fields.pid);
        self.pid.or_else(read).unwrap_or(0)
    }

    /// Its process id; `None` where the hook does not tell (a tracefs record's woken or
    /// incoming task: a tool that needs it refuses that plan).
    #[inline(always)]
    pub fn tgid(&self) -> Option<u32> {
        self.tgid
            .or_else(|| read_field::<u32>(self.task, &self.fields.tgid))
    }

    /// The id of its cgroup (v2), its directory's inode number; 0 where the hook does not tell
    /// (a tracefs record).
    #[inline(always)]
    pub fn cgroup_id(&self) -> u64 {
        read_field::<u64>(self.task, &self.fields.cgroup).unwrap_or(0)
    }

    /// Its histogram's key when a tool's histograms are `per` ([`hist_core::sched::per`]): its
    /// process id, thread id, the low 32 bits of its cgroup's id, or its PID namespace's inode
    /// number; 0 for one of all.
    #[inline(always)]
    pub fn key(&self, per: u32) -> u32 {
        match per {
            hist_core::sched::per::PROCESS => self.tgid().unwrap_or(0),
            hist_core::sched::per::THREAD => self.pid(),
            hist_core::sched::per::CGROUP => self.cgroup_id() as u32,
            hist_core::sched::per::PIDNS => {
                read_field::<u32>(self.task, &self.fields.pidns).unwrap_or(0)
            }
            _ => 0,
        }
    }

    /// Notes that the task begins to wait now: in the task's own storage at `tp_btf` in
    /// builds with feature `task-storage` (no key to hash; freed with the task), else in
    /// `starts` by thread id.
    #[inline(always)]
    pub fn start_wait(&self, starts: &StartTimes<RunQueueStart>) {
        #[cfg(feature = "task-storage")]
        if self.task != 0 {
            match crate::task_start::of_task(self.task, true) {
                Some(start) => *start = crate::now_ns(),
                None => crate::drops::count(hist_core::DropCause::StartFull, 1),
            }
            return;
        }
        starts.start(&self.pid());
    }

    /// Ends the task's wait: the nanoseconds since [`start_wait`](Self::start_wait), `None`
    /// when it was not waiting (it began before tracing did, or was filtered out).
    #[inline(always)]
    pub fn waited_ns(&self, starts: &StartTimes<RunQueueStart>) -> Option<u64> {
        #[cfg(feature = "task-storage")]
        if self.task != 0 {
            let start = core::mem::replace(crate::task_start::of_task(self.task, false)?, 0);
            return (start != 0).then(|| crate::now_ns().saturating_sub(start));
        }
        starts.elapsed_ns(&self.pid())
    }
}

/// Whether `sched_switch`'s outgoing task stays runnable (preempted) at `tp_btf`: its state is
/// `TASK_RUNNING`, as libbpf-tools' runqlat asks.
#[inline(always)]
pub fn prev_runnable_btf(ctx: &BtfTracePointContext, fields: &TaskFields) -> bool {
    let prev: u64 = ctx.arg(1);
    read_field::<u32>(prev, &fields.state) == Some(0)
}

/// The same at tracefs, from the record's `prev_state`.
#[inline(always)]
pub fn prev_runnable_record(ctx: &TracePointContext) -> bool {
    // SAFETY: sched_switch's record holds `long prev_state` at this offset.
    let state = unsafe { ctx.read_at::<u64>(RECORD_PREV_STATE) }.unwrap_or(u64::MAX);
    state & RECORD_SLEEPING == 0
}

/// The task a tracefs `sched_wakeup`/`sched_wakeup_new` record names.
#[inline(always)]
pub fn woken_record(ctx: &TracePointContext) -> Task<'static> {
    // SAFETY: the record holds `pid_t pid` at this offset.
    Task::by_pid(unsafe { ctx.read_at::<u32>(RECORD_WAKEUP_PID) }.unwrap_or(0))
}

/// The task a tracefs `sched_switch` record switches in.
#[inline(always)]
pub fn next_record(ctx: &TracePointContext) -> Task<'static> {
    // SAFETY: the record holds `pid_t next_pid` at this offset.
    Task::by_pid(unsafe { ctx.read_at::<u32>(RECORD_NEXT_PID) }.unwrap_or(0))
}

/// Writes the probes of a run-queue tool: `sched_wakeup`, `sched_wakeup_new` and `sched_switch`,
/// each `_btf` (tp_btf) and `_tp` (tracefs), as `hist_core::sched`'s ops name them. They call
/// `$wakeup(&task)` for a task woken, and `$switch(&prev, prev_runnable, &next)` at a switch,
/// where `prev` is the current task. `$fields` is the loaded config's `TaskFields`
/// (`CONFIG.get().task`).
///
/// ```ignore
/// hist_ebpf::run_queue_probes!(CONFIG.get().task; wakeup: on_wakeup, switch: on_switch);
/// fn on_wakeup(task: &Task) { task.start_wait(&RUN_QUEUE_START) }
/// fn on_switch(prev: &Task, prev_runnable: bool, next: &Task) { let ns = next.waited_ns(&RUN_QUEUE_START); }
/// ```
#[macro_export]
macro_rules! run_queue_probes {
    ($fields:expr; wakeup: $wakeup:path, switch: $switch:path $(,)?) => {
        $crate::run_queue_probes!(@wakeup $fields, sched_wakeup, "sched_wakeup", WAKEUP, $wakeup);
        $crate::run_queue_probes!(@wakeup $fields, sched_wakeup_new, "sched_wakeup_new", WAKEUP_NEW, $wakeup);
        $crate::hist_core::assert_program_name!(sched_switch_btf, [$crate::hist_core::sched::SWITCH.program], $crate::hist_core::names::ProgramSuffix::TpBtf);
        $crate::hist_core::assert_program_name!(sched_switch_tp, [$crate::hist_core::sched::SWITCH.program], $crate::hist_core::names::ProgramSuffix::Tracepoint);

        #[$crate::__private::aya_ebpf::macros::btf_tracepoint(function = "sched_switch")]
        pub fn sched_switch_btf(ctx: $crate::__private::aya_ebpf::programs::BtfTracePointContext) -> i32 {
            let fields = &$fields;
            let runnable = $crate::sched::prev_runnable_btf(&ctx, fields);
            let next = $crate::sched::Task::at(ctx.arg(2), fields);
            // The outgoing task is the current one; its ids read from it only where asked for.
            $switch(&$crate::sched::Task::at(ctx.arg(1), fields), runnable, &next);
            0
        }

        #[$crate::__private::aya_ebpf::macros::tracepoint]
        pub fn sched_switch_tp(ctx: $crate::__private::aya_ebpf::programs::TracePointContext) -> u32 {
            let runnable = $crate::sched::prev_runnable_record(&ctx);
            let next = $crate::sched::next_record(&ctx);
            $switch(&$crate::sched::Task::current(), runnable, &next);
            0
        }
    };
    (@wakeup $fields:expr, $event:ident, $name:literal, $op:ident, $wakeup:path) => {$crate::__private::paste! {
        // The attach plan finds them by the op's name and hook.
        $crate::hist_core::assert_program_name!([<$event _btf>], [$crate::hist_core::sched::$op.program], $crate::hist_core::names::ProgramSuffix::TpBtf);
        $crate::hist_core::assert_program_name!([<$event _tp>], [$crate::hist_core::sched::$op.program], $crate::hist_core::names::ProgramSuffix::Tracepoint);

        #[$crate::__private::aya_ebpf::macros::btf_tracepoint(function = $name)]
        pub fn [<$event _btf>](ctx: $crate::__private::aya_ebpf::programs::BtfTracePointContext) -> i32 {
            $wakeup(&$crate::sched::Task::at(ctx.arg(0), &$fields));
            0
        }

        #[$crate::__private::aya_ebpf::macros::tracepoint]
        pub fn [<$event _tp>](ctx: $crate::__private::aya_ebpf::programs::TracePointContext) -> u32 {
            $wakeup(&$crate::sched::woken_record(&ctx));
            0
        }
    }};
}
