//! What both sides of fsdist (and nfsdist) compile: the description of the histogram map. The
//! operations (its key prefix) and each file system's functions are `hist_core::fs`'s.
#![no_std]

use hist_core::{HistDesc, Layout, Unit, fs::Op};

/// Latency of file operations, per op, in µs (ms with `-m`).
pub struct FsLatency;

impl HistDesc for FsLatency {
    type Prefix = Op;
    const NAME: &'static str = "LATENCY";
    /// Up to 2^27 µs (2 min): slower operations count in the overflow slot.
    const LAYOUT: Layout = Layout::log2(26);
    const UNIT: Unit = Unit::Microseconds;
    const PREFIXES: u32 = Op::ALL.len() as u32;
}
