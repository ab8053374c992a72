//! What both sides of nfsdist compile: the operations (the histogram's key prefix) and the
//! description of the histogram map.
#![no_std]

use hist_core::{HistDesc, Layout, Unit};

hist_core::ops! {
    /// An NFS operation: the section `operation = read` of the output.
    pub struct Op {
        READ = 0 => "read",
        WRITE = 1 => "write",
        OPEN = 2 => "open",
        FSYNC = 3 => "fsync",
        GETATTR = 4 => "getattr",
    }
}

/// Latency of NFS operations, per op, in µs (ms with `-m`).
pub struct NfsLatency;

impl HistDesc for NfsLatency {
    type Prefix = Op;
    const NAME: &'static str = "LATENCY";
    /// Up to 2^27 µs (2 min): slower operations count in the overflow slot.
    const LAYOUT: Layout = Layout::log2(26);
    const UNIT: Unit = Unit::Microseconds;
    const PREFIXES: u32 = Op::ALL.len() as u32;
}
