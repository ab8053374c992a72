//! fsdist's eBPF side: the time from entry to exit of each file operation, per op. Which file
//! system's functions the programs run on is the user side's choice, at attach time.
#![no_std]
#![no_main]

use fsdist_common::FsLatency;
use hist_ebpf::{PerCpuArrayHist, Settings, Sums, hist_core::fs::Op};

hist_ebpf::ebpf_program!(Settings);

hist_ebpf::maps! {
    /// The histogram, `(max_slot + 2) × ops` counters per CPU indexed `op × (max_slot + 2) +
    /// slot`, and its sums: named as `FsLatency::NAME` says, or the build fails.
    static LATENCY: PerCpuArrayHist<FsLatency>;
    static LATENCY_SUM: Sums<FsLatency>;
}

// `{op}_fentry`/`{op}_fexit` and `{op}_kprobe`/`{op}_kretprobe` for each op (`read` must be
// `Op::READ.name()`, or the build fails); the user side's attach plan picks the hook and the
// kernel function. When each task entered each op is kept by `hist_ebpf::op_start`.
hist_ebpf::latency_probes! {
    hist: LATENCY, sums: LATENCY_SUM, config: CONFIG;
    read: Op::READ,
    write: Op::WRITE,
    open: Op::OPEN,
    fsync: Op::FSYNC,
    getattr: Op::GETATTR,
}
