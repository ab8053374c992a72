//! runqlat's eBPF side: how long tasks wait in a run queue, from their wake-up (or, preempted,
//! their switch-out) to their switch-in, per process, per thread, or for all.
#![no_std]
#![no_main]

use hist_ebpf::{
    DefaultHist, HashHist, StartTimes, Sums, hist_core::sched::RunQueueStart, sched::Task,
};
use runqlat_common::{Config, RunqLatency};

hist_ebpf::ebpf_program!(Config);

hist_ebpf::maps! {
    static LATENCY: HashHist<RunqLatency>;
    // The one histogram when nothing splits it: a per-CPU array, no hash lookup.
    static LATENCY_DEFAULT: DefaultHist<RunqLatency>;
    static LATENCY_SUM: Sums<RunqLatency>;
    // By thread id where the task's own storage cannot serve (tracefs, or a build without it).
    static RUN_QUEUE_START: StartTimes<RunQueueStart>;
}

// sched_wakeup, sched_wakeup_new and sched_switch by tp_btf and by tracefs.
hist_ebpf::run_queue_probes!(CONFIG.get().task; wakeup: enqueue, switch: on_switch);

#[inline(always)]
fn enqueue(task: &Task) {
    let settings = CONFIG.get().settings;
    let filtered = settings.tgid != 0 && task.tgid() != Some(settings.tgid);
    if task.pid() == 0 || filtered || !hist_ebpf::in_traced_cgroup(&settings) {
        return;
    }
    task.start_wait(&RUN_QUEUE_START);
}

#[inline(always)]
fn on_switch(prev: &Task, prev_runnable: bool, next: &Task) {
    // A task preempted goes back to its run queue.
    if prev_runnable {
        enqueue(prev);
    }
    let Some(ns) = next.waited_ns(&RUN_QUEUE_START) else {
        return;
    };
    let config = CONFIG.get();
    let hist = (&LATENCY, &LATENCY_DEFAULT);
    let key = next.key(config.per);
    hist_ebpf::record_latency(&hist, &LATENCY_SUM, &config.settings, key, ns);
}
