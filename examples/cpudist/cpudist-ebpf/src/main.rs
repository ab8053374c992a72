//! cpudist's eBPF side: at every context switch, the time the outgoing task spent on the CPU
//! (default) or off it (`-O`), in a log2 histogram per process, per thread, or for all.
//!
//! Both are measured at switch-out only, where the outgoing task is the current one, so
//! `bpf_get_current_pid_tgid()` gives its ids without reading `task_struct` (no CO-RE, and the
//! same code serves `tp_btf` and the plain tracepoint):
//!
//! * the task got this CPU at the previous switch on this CPU (`SWITCHED_IN`, per CPU), so its
//!   on-CPU time is `now − SWITCHED_IN`;
//! * its off-CPU time runs from its previous switch-out (kept by `hist_ebpf::task_start`, in
//!   the task itself where the kernel allows) to that switch-in; it is recorded one time slice
//!   late, when the task leaves the CPU again.
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{btf_tracepoint, map, tracepoint},
    maps::PerCpuArray,
    programs::{BtfTracePointContext, TracePointContext},
};
use cpudist_common::{Breakdown, Config, Dist, TaskDist};
use hist_ebpf::{HashHist, PerCpuArrayHist, Sums, now_ns, task_start};

hist_ebpf::ebpf_program!(Config);

hist_ebpf::maps! {
    static DIST: PerCpuArrayHist<Dist>;
    static DIST_SUM: Sums<Dist>;
    static TASK_DIST: HashHist<TaskDist>;
    static TASK_DIST_SUM: Sums<TaskDist>;
}

/// When the current task of each CPU was switched in.
#[map]
static SWITCHED_IN: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// `TASK_DEAD`: the state of a task switching out for the last time.
const TASK_DEAD: u32 = 0x80;
/// `EXIT_ZOMBIE | EXIT_DEAD`: how the tracefs record's `prev_state` shows that last switch.
const EXITED: u64 = 0x30;
/// The offset of `prev_state` in the tracefs record (`.../sched_switch/format`): after the
/// 8-byte common header, `prev_comm[16]`, `prev_pid` and `prev_prio`.
const PREV_STATE: usize = 32;

// The user side's attach plan picks one of the two. Whether the outgoing task is dying is
// only asked for off-CPU time, where it decides whether the task starts a new interval.
#[btf_tracepoint(function = "sched_switch")]
pub fn sched_switch_btf(ctx: BtfTracePointContext) -> i32 {
    on_switch(|| {
        // `prev`, the task leaving the CPU, is the second argument.
        let prev: u64 = ctx.arg(1);
        hist_ebpf::read_field::<u32>(prev, &CONFIG.get().task_state) == Some(TASK_DEAD)
    });
    0
}

#[tracepoint]
pub fn sched_switch_tp(ctx: TracePointContext) -> u32 {
    on_switch(|| {
        // SAFETY: the record holds the `long prev_state` at this offset.
        let state = unsafe { ctx.read_at::<u64>(PREV_STATE) }.unwrap_or(0);
        state & EXITED != 0
    });
    0
}

#[inline(always)]
fn on_switch(prev_exits: impl FnOnce() -> bool) {
    let now = now_ns();
    let Some(switched_in) = SWITCHED_IN.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's own slot of a per-CPU array; nothing else writes it meanwhile.
    let switched_in = unsafe { core::mem::replace(&mut *switched_in, now) };

    let config = CONFIG.get();
    let pid_tgid = bpf_get_current_pid_tgid();
    let (tgid, tid) = ((pid_tgid >> 32) as u32, pid_tgid as u32);
    if (tid == 0 && config.include_idle == 0) || !hist_ebpf::traces_current(&config.settings, tgid)
    {
        return;
    }
    let on_cpu_since = (switched_in != 0).then_some(switched_in);
    let delta_ns = if config.off_cpu != 0 {
        // The task's last switch-out, replaced by this one.
        let left = task_start::replace_current(now, prev_exits);
        on_cpu_since
            .zip(left)
            .and_then(|(since, left)| since.checked_sub(left))
    } else {
        on_cpu_since.map(|since| now - since)
    };
    let Some(delta_ns) = delta_ns else {
        return;
    };
    let (settings, value) = (&config.settings, config.settings.to_unit(delta_ns));
    let by_process = config.breakdown == Breakdown::PER_PROCESS;
    let task = if by_process { tgid } else { tid };
    match config.breakdown {
        Breakdown::ALL_TASKS => hist_ebpf::record(&DIST, &DIST_SUM, settings, 0, value),
        _ => hist_ebpf::record(&TASK_DIST, &TASK_DIST_SUM, settings, task, value),
    }
}
