// The library target lets the user crate name this crate as a build-dependency, so cargo
// rebuilds it when the eBPF code (or hist-ebpf) changes. The program is in main.rs.
#![no_std]

/// Highest finite log2 slot: 2^36 µs is 19 hours; longer times count in the overflow slot.
pub const MAX_SLOT: u32 = 35;
