//! eBPF programs for the live-kernel tests: key layout (`keys_*`) and exact counting
//! (`count_getpid`). Every map kind of hist-ebpf is exercised.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod probes;

#[cfg(not(target_arch = "bpf"))]
fn main() {}
