//! funclatency's eBPF side: the time from entry to exit of each traced function. The user side
//! loads one copy of each program per function the pattern matched.
#![no_std]
#![no_main]

use funclatency_common::FuncLatency;
use hist_ebpf::{DefaultHist, HashHist, Settings, StartTimes, Sums, hist_core::func::FuncStart};

hist_ebpf::ebpf_program!(Settings);

hist_ebpf::maps! {
    /// A hash: of the 1000 functions a pattern may match, a run uses a few.
    static LATENCY: HashHist<FuncLatency>;
    // Function 0's: a per-CPU array, no hash lookup.
    static LATENCY_DEFAULT: DefaultHist<FuncLatency>;
    static LATENCY_SUM: Sums<FuncLatency>;
    // Past the first functions (whose starts are in the task), by function and thread.
    static FUNC_START: StartTimes<FuncStart>;
}

// `func_fentry`/`func_fexit` and `func_kprobe`/`func_kretprobe` (uprobes too), each copy
// recording as the function it was loaded for.
hist_ebpf::function_latency_probes!(hist: &(&LATENCY, &LATENCY_DEFAULT), sums: LATENCY_SUM, starts: FUNC_START, config: CONFIG);
