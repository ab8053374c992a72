//! Block requests at the block tracepoints, by `tp_btf` or tracefs: what a block tool's probes
//! see of a request (its start-map key, disk and flags), and [`block_request_probes!`](crate::block_request_probes), which
//! writes those probes. The request's disk and flags are read through the [`RequestFields`]
//! user space resolved at load, as libbpf-tools' `get_disk()` and `BPF_CORE_READ(rq,
//! cmd_flags)` do with CO-RE.

use aya_ebpf::{
    EbpfContext as _,
    programs::{BtfTracePointContext, TracePointContext},
};
use hist_core::block::{DiskFlags, RECORD_DEV, RECORD_SECTOR, Request, RequestFields, kernel_dev};

use crate::read_btf_field;

/// What a request's address is measured from ([`BlockRequest::at_btf`]).
static REQUEST_ANCHOR: u8 = 0;

/// A request at a block tracepoint.
pub struct BlockRequest<'f> {
    key: Request,
    /// Its address at `tp_btf`, 0 at tracefs.
    rq: u64,
    /// Its disk, from the tracefs record.
    record_dev: u32,
    fields: &'f RequestFields,
}

impl<'f> BlockRequest<'f> {
    /// At `tp_btf` on `block_rq_insert` or `block_rq_issue` (`first_arg: false`, whose request
    /// is the first or the second argument depending on the kernel) or on `block_rq_complete`
    /// (`first_arg: true`).
    ///
    /// `fields` must come from the loaded config (`CONFIG.get()`): the config is read-only and
    /// frozen once loaded, so the verifier knows `rq_arg` and never checks the branch this
    /// kernel does not take, whose second argument a 5.11+ tracepoint does not have.
    #[inline(always)]
    pub fn at_btf(ctx: &BtfTracePointContext, fields: &'f RequestFields, first_arg: bool) -> Self {
        let args = ctx.as_ptr() as *const u64;
        // SAFETY: the tracepoint's arguments: the first, or the second where this kernel's
        // tracepoint has one (the verifier checks the branch it takes).
        let rq = unsafe {
            if first_arg || fields.rq_arg == 0 {
                core::ptr::read_volatile(args)
            } else {
                core::ptr::read_volatile(args.add(1))
            }
        };
        // `StartSlots` hashes the key, and the verifier allows no arithmetic on a pointer but
        // the difference of two (to a program that may see kernel addresses: CAP_PERFMON), a
        // number: the request's distance from a static of this object, the same at its issue
        // and at its completion. The pointer itself stays one, for `read_btf_field`.
        let anchor = &REQUEST_ANCHOR as *const u8 as u64;
        let key = Request {
            id: rq.wrapping_sub(anchor),
            sector: 0,
        };
        let record_dev = 0;
        Self {
            key,
            rq,
            record_dev,
            fields,
        }
    }

    /// At a tracefs block tracepoint: the record's disk and sector.
    #[inline(always)]
    pub fn at_record(ctx: &TracePointContext) -> BlockRequest<'static> {
        // SAFETY: the block_rq_* records hold `dev_t dev` and `sector_t sector` at these offsets.
        let record_dev = unsafe { ctx.read_at::<u32>(RECORD_DEV) }.unwrap_or(0);
        // SAFETY: as above.
        let sector = unsafe { ctx.read_at::<u64>(RECORD_SECTOR) }.unwrap_or(0);
        let key = Request {
            id: record_dev as u64,
            sector,
        };
        let fields = &RequestFields::ABSENT;
        BlockRequest {
            key,
            rq: 0,
            record_dev,
            fields,
        }
    }

    /// What its start is kept by (`StartTimes<hist_core::block::RequestStart>`).
    #[inline(always)]
    pub fn key(&self) -> &Request {
        &self.key
    }

    /// The device number of its whole disk ([`kernel_dev`]), as `/proc/partitions` numbers it;
    /// 0 when it has none.
    #[inline(always)]
    pub fn dev(&self) -> u32 {
        if self.rq == 0 {
            return self.record_dev;
        }
        let Some(disk) = read_btf_field::<u64>(self.rq, &self.fields.disk) else {
            return 0;
        };
        let major = read_btf_field::<u32>(disk, &self.fields.major).unwrap_or(0);
        let minor = read_btf_field::<u32>(disk, &self.fields.first_minor).unwrap_or(0);
        kernel_dev(major, minor)
    }

    /// Its histogram's key when a tool splits by disk (`per_disk`) and by flags (`per_flags`),
    /// libbpf-tools' biolatency's `-D` and `-F`; 0 for what it does not split by, which is
    /// then not read.
    #[inline(always)]
    pub fn disk_flags(&self, per_disk: bool, per_flags: bool) -> DiskFlags {
        DiskFlags {
            dev: if per_disk { self.dev() } else { 0 },
            flags: if per_flags { self.flags() } else { 0 },
        }
    }

    /// Its `cmd_flags` (op in the low 8 bits, then `REQ_*` flags); 0 at tracefs, whose records
    /// have none (a tool that shows flags refuses the tracefs plan).
    #[inline(always)]
    pub fn flags(&self) -> u32 {
        read_btf_field::<u32>(self.rq, &self.fields.cmd_flags).unwrap_or(0)
    }
}

/// Writes the probes of a block tool: `block_rq_{insert,issue,complete}_btf` (tp_btf) and
/// `_tp` (tracefs), as `hist_core::block`'s ops name them, each calling `$start(&request,
/// inserted)` at an insert (`true`) or issue (`false`), `$complete(&request)` at a completion.
/// `$fields` is the loaded config's `RequestFields` (`CONFIG.get().request`).
///
/// ```ignore
/// hist_ebpf::block_request_probes!(CONFIG.get().request; start: on_start, complete: on_complete);
/// fn on_start(request: &BlockRequest, inserted: bool) { STARTS.start(request.key()) }
/// fn on_complete(request: &BlockRequest) { let ns = STARTS.elapsed_ns(request.key()); }
/// ```
#[macro_export]
macro_rules! block_request_probes {
    ($fields:expr; start: $start:path, complete: $complete:path $(,)?) => {
        $crate::block_request_probes!(@op $fields, block_rq_insert, "block_rq_insert", INSERT, false, |request| $start(request, true));
        $crate::block_request_probes!(@op $fields, block_rq_issue, "block_rq_issue", ISSUE, false, |request| $start(request, false));
        $crate::block_request_probes!(@op $fields, block_rq_complete, "block_rq_complete", COMPLETE, true, |request| $complete(request));
    };
    (@op $fields:expr, $event:ident, $name:literal, $op:ident, $first:literal, |$request:ident| $call:expr) => {$crate::__private::paste! {
        // The attach plan finds them by the op's name and hook.
        $crate::hist_core::assert_program_name!([<$event _btf>], [$crate::hist_core::block::$op.program], $crate::hist_core::names::ProgramSuffix::TpBtf);
        $crate::hist_core::assert_program_name!([<$event _tp>], [$crate::hist_core::block::$op.program], $crate::hist_core::names::ProgramSuffix::Tracepoint);

        #[$crate::__private::aya_ebpf::macros::btf_tracepoint(function = $name)]
        pub fn [<$event _btf>](ctx: $crate::__private::aya_ebpf::programs::BtfTracePointContext) -> i32 {
            let $request = &$crate::block::BlockRequest::at_btf(&ctx, &$fields, $first);
            $call;
            0
        }

        #[$crate::__private::aya_ebpf::macros::tracepoint]
        pub fn [<$event _tp>](ctx: $crate::__private::aya_ebpf::programs::TracePointContext) -> u32 {
            let $request = &$crate::block::BlockRequest::at_record(&ctx);
            $call;
            0
        }
    }};
}
