//! biolatency's eBPF side: the time from a block request's issue to the device (or, with `-Q`,
//! its insert into the queue) to its completion, per disk and flags.
#![no_std]
#![no_main]

use biolatency_common::{BlockLatency, Config};
use hist_ebpf::hist_core::block::RequestStart;
use hist_ebpf::{DefaultHist, HashHist, StartSlots, Sums, block::BlockRequest};

hist_ebpf::ebpf_program!(Config);

hist_ebpf::maps! {
    static LATENCY: HashHist<BlockLatency>;
    // The one histogram when nothing splits it: a per-CPU array, no hash lookup.
    static LATENCY_DEFAULT: DefaultHist<BlockLatency>;
    static LATENCY_SUM: Sums<BlockLatency>;
    // Kept by request: a request completes in another context than the one that issued it.
    static BLOCK_REQUEST_START: StartSlots<RequestStart>;
}

// block_rq_{insert,issue,complete} by tp_btf and by tracefs; the user side's plan picks one.
hist_ebpf::block_request_probes!(CONFIG.get().request; start: on_start, complete: on_complete);

#[inline(always)]
fn on_start(request: &BlockRequest, inserted: bool) {
    let config = CONFIG.get();
    let other_disk = config.disk != 0 && request.dev() != config.disk;
    if other_disk || !hist_ebpf::in_traced_cgroup(&config.settings) {
        return;
    }
    // With -Q, an insert starts a request and its issue keeps that start; a request issued
    // without an insert (no I/O scheduler) starts at its issue.
    if config.queued != 0 && !inserted {
        BLOCK_REQUEST_START.start_if_absent(request.key());
    } else {
        BLOCK_REQUEST_START.start(request.key());
    }
}

#[inline(always)]
fn on_complete(request: &BlockRequest) {
    let Some(ns) = BLOCK_REQUEST_START.elapsed_ns(request.key()) else {
        return;
    };
    let config = CONFIG.get();
    let key = request.disk_flags(config.per_disk != 0, config.per_flags != 0);
    let hist = (&LATENCY, &LATENCY_DEFAULT);
    hist_ebpf::record_latency(&hist, &LATENCY_SUM, &config.settings, key, ns);
}
