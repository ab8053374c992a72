//! Block requests, for block-I/O tools (biolatency, biosnoop, biotop): the tracepoints a request
//! passes ([`INSERT`], [`ISSUE`], [`COMPLETE`]), the start map that follows it from one to the
//! next ([`RequestStart`]), and where its facts are on the running kernel ([`RequestFields`]).
//!
//! A request completes in another context than the one that issued it (an interrupt, another
//! CPU), so its start is kept by request, not by thread: by its address at `tp_btf`, by its disk
//! and first sector at the tracefs tracepoints, whose records have no pointer. libbpf-tools
//! reads the request's disk and flags with CO-RE; here user space resolves their offsets from
//! BTF at load (`hist_attach::kernel::block::BlockFacts`) into a [`RequestFields`] in the tool's
//! config, and `hist_ebpf::block` reads through it.

use crate::{FieldPath, OpSpec, StartDesc, StartDomain, names::TracepointRole::Only};

/// A request inserted into its queue (an I/O scheduler's, or the dispatch list).
pub const INSERT: OpSpec =
    OpSpec::tracepoints("block_rq_insert", &[(Only, "block", "block_rq_insert")]);
/// A request issued to the device.
pub const ISSUE: OpSpec =
    OpSpec::tracepoints("block_rq_issue", &[(Only, "block", "block_rq_issue")]);
/// A request completed (by the device, or in part).
pub const COMPLETE: OpSpec =
    OpSpec::tracepoints("block_rq_complete", &[(Only, "block", "block_rq_complete")]);
/// From issue to completion: the device's time.
pub const ISSUE_TO_COMPLETE: [OpSpec; 2] = [ISSUE, COMPLETE];
/// From insert (or issue, for a request that had none) to completion: queued time included.
pub const INSERT_TO_COMPLETE: [OpSpec; 3] = [INSERT, ISSUE, COMPLETE];

/// The ops from the request's issue to its completion, or with `queued` from its insert into the
/// queue (libbpf-tools' `-Q`): [`ISSUE_TO_COMPLETE`] or [`INSERT_TO_COMPLETE`].
pub const fn ops(queued: bool) -> &'static [OpSpec] {
    if queued {
        &INSERT_TO_COMPLETE
    } else {
        &ISSUE_TO_COMPLETE
    }
}

/// A request in flight, as both kinds of hook can name it: at `tp_btf` its `struct request *`
/// (and sector 0); at the tracefs tracepoints its disk's device number and its first sector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Request {
    /// The request's address, or its disk's device number.
    pub id: u64,
    /// Its first sector, at the tracefs tracepoints.
    pub sector: u64,
}

/// What a block histogram is one of, libbpf-tools' biolatency's key: the requests' disk (a
/// histogram per disk) and flags (per set of flags), each 0 when the tool does not split by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct DiskFlags {
    /// The whole disk's device number ([`kernel_dev`]).
    pub dev: u32,
    /// The requests' `cmd_flags`.
    pub flags: u32,
}

crate::key_prefix!(DiskFlags);

/// When each request in flight started: the start map of a block tool, declared
/// `static BLOCK_REQUEST_START: hist_ebpf::StartSlots<RequestStart>`. A request's address is
/// unique while it is in flight, so a direct-mapped table serves, without a hash map's update
/// and delete per request.
pub struct RequestStart;

impl StartDesc for RequestStart {
    type Key = Request;
    const NAME: &'static str = "BLOCK_REQUEST_START";
    /// 32 768 slots of 24 bytes (768 KiB): a device queue holds at most a few hundred
    /// requests, so two in flight at once share a slot rarely, and each time counts a drop.
    const DOMAIN: StartDomain = StartDomain::Slots(32_768);
}

/// Where a block request's facts are on this kernel. `#[repr(C)]`, all `u32`: no padding, so
/// it can sit in a tool's config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct RequestFields {
    /// Which argument of `block_rq_insert` and `block_rq_issue` is the request: 0 since Linux
    /// 5.11 (`rq`), 1 before (`q, rq`). `block_rq_complete`'s is always the first.
    pub rq_arg: u32,
    /// The request's disk, a `struct gendisk *`: `request.q → request_queue.disk` (5.16+),
    /// else `request.rq_disk`.
    pub disk: FieldPath,
    /// `gendisk.major`.
    pub major: FieldPath,
    /// `gendisk.first_minor`: with `major`, the whole disk's device number.
    pub first_minor: FieldPath,
    /// `request.cmd_flags`: the op in the low 8 bits, then `REQ_*` flags.
    pub cmd_flags: FieldPath,
}

impl RequestFields {
    /// No field resolved (no BTF): only the tracefs tracepoints can be used, which carry the
    /// disk in their records.
    pub const ABSENT: Self = Self {
        rq_arg: 0,
        disk: FieldPath::ABSENT,
        major: FieldPath::ABSENT,
        first_minor: FieldPath::ABSENT,
        cmd_flags: FieldPath::ABSENT,
    };
}

/// A device number as the kernel keeps it (`MKDEV`: 20 bits of minor), which is what
/// `/proc/partitions`' numbers become and what the block tracepoints' records hold.
///
/// ```
/// assert_eq!(hist_core::block::kernel_dev(7, 1), 7 << 20 | 1);
/// ```
pub const fn kernel_dev(major: u32, minor: u32) -> u32 {
    (major << 20) | minor
}

/// Offset of `dev_t dev` in the tracefs records of `block_rq_insert`, `block_rq_issue` and
/// `block_rq_complete` (after the 8-byte common header), the same from 5.10 to 6.18.
pub const RECORD_DEV: usize = 8;
/// Offset of `sector_t sector` in those records.
pub const RECORD_SECTOR: usize = 16;
