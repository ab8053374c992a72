//! What both sides of nfsdist compile: the operations (the histogram's key prefix) and the
//! description of the histogram map.
#![no_std]

use hist_core::{HistDesc, Layout, OpSpec, Unit};

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

/// Each op's kernel functions, in order of preference: NFSv4 opens go through `nfs4_file_open`.
pub const OPS: [OpSpec; 5] = [
    OpSpec::function(Op::READ.name(), &["nfs_file_read"], NFS),
    OpSpec::function(Op::WRITE.name(), &["nfs_file_write"], NFS),
    OpSpec::function(Op::OPEN.name(), &["nfs4_file_open", "nfs_file_open"], NFS),
    OpSpec::function(Op::FSYNC.name(), &["nfs_file_fsync"], NFS),
    OpSpec::function(Op::GETATTR.name(), &["nfs_getattr"], NFS),
];
/// The module that has them, for the error's hint when it is not loaded.
pub const NFS: Option<&str> = Some("nfs");
