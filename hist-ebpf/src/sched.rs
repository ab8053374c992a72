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
    RECORD_NEXT_PID, RECORD_PREV_STATE, RECORD_SLEEPING, RECORD_WAKEUP_PID, TaskFields,
};

use crate::read_field;

/// A task a scheduler tracepoint names.
pub struct Task {
    /// Its thread id.
    pid: u32,
    /// Its process id, when known without reading the task (the current one).
    tgid: Option<u32>,
    /// The task, at `tp_btf`; 0 at tracefs.
    task: u64,
    fields: TaskFields,
}

impl Task {
    /// The task whose ids and state `fields` locate at `task` (a `tp_btf` argument).
    #[inline(always)]
    pub fn at(task: u64, fields: TaskFields) -> Self {
        let pid = read_field::<u32>(task, &fields.pid).unwrap_or(0);
        Self {
            pid,
            tgid: None,
            task,
            fields,
        }
    }

    /// The current task: the one a `sched_switch` switches out.
    #[inline(always)]
    pub fn current() -> Self {
        let pid_tgid = bpf_get_current_pid_tgid();
        Self {
            pid: pid_tgid as u32,
            tgid: Some((pid_tgid >> 32) as u32),
            task: 0,
            fields: TaskFields::ABSENT,
        }
    }

    /// A task a tracefs record names by thread id alone.
    #[inline(always)]
    pub fn by_pid(pid: u32) -> Self {
        Self {
            pid,
            tgid: None,
            task: 0,
            fields: TaskFields::ABSENT,
        }
    }

    /// Its thread id (0: an idle task).
    #[inline(always)]
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its process id; `None` where the hook does not tell (a tracefs record's woken or
    /// incoming task: a tool that needs it refuses that plan).
    #[inline(always)]
    pub fn tgid(&self) -> Option<u32> {
        self.tgid
            .or_else(|| read_field::<u32>(self.task, &self.fields.tgid))
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
pub fn woken_record(ctx: &TracePointContext) -> Task {
    // SAFETY: the record holds `pid_t pid` at this offset.
    Task::by_pid(unsafe { ctx.read_at::<u32>(RECORD_WAKEUP_PID) }.unwrap_or(0))
}

/// The task a tracefs `sched_switch` record switches in.
#[inline(always)]
pub fn next_record(ctx: &TracePointContext) -> Task {
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
/// fn on_wakeup(task: &Task) { STARTS.start(&task.pid()) }
/// fn on_switch(prev: &Task, prev_runnable: bool, next: &Task) { let ns = STARTS.elapsed_ns(&next.pid()); }
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
            let fields = $fields;
            let runnable = $crate::sched::prev_runnable_btf(&ctx, &fields);
            let next = $crate::sched::Task::at(ctx.arg(2), fields);
            $switch(&$crate::sched::Task::current(), runnable, &next);
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
            $wakeup(&$crate::sched::Task::at(ctx.arg(0), $fields));
            0
        }

        #[$crate::__private::aya_ebpf::macros::tracepoint]
        pub fn [<$event _tp>](ctx: $crate::__private::aya_ebpf::programs::TracePointContext) -> u32 {
            $wakeup(&$crate::sched::woken_record(&ctx));
            0
        }
    }};
}
