//! Entry/exit latency in one call per probe, from kprobes, fentry or tracepoints alike: the
//! start map, the histogram, the sums and the unit together.
//!
//! [`latency_probes!`](crate::latency_probes) writes the fentry/fexit and kprobe/kretprobe
//! programs of kernel functions, [`tracepoint_latency!`](crate::tracepoint_latency) those of a
//! start/end tracepoint pair; [`enter`] and [`exit`] are what they call, for tools that write
//! their own programs.

use aya_ebpf::helpers::bpf_get_current_pid_tgid;
use hist_core::{HistDesc, Settings};

use crate::{Histogram, Sums, now_ns, op_start, traces_current};

/// At the entry of `op`: remembers when the current task entered it ([`op_start`]), unless
/// `settings` filter its process (`-p`) or its cgroup (`-c`) out.
#[inline(always)]
pub fn enter<P: Into<u32>>(settings: &Settings, op: P) {
    let pid_tgid = bpf_get_current_pid_tgid();
    if traces_current(settings, (pid_tgid >> 32) as u32) {
        op_start::enter(op.into(), now_ns());
    }
}

/// At the exit of `op`: records the time since the current task's [`enter`] in `hist` (and
/// `sums`), in the unit of `settings`. Without a matching entry (filtered out, or entered
/// before tracing began) nothing is recorded.
#[inline(always)]
pub fn exit<H: Histogram>(
    hist: &H,
    sums: &Sums<H::Desc>,
    settings: &Settings,
    op: <H::Desc as HistDesc>::Prefix,
) where
    <H::Desc as HistDesc>::Prefix: Into<u32>,
{
    let now = now_ns();
    if let Some(ns) = op_start::exit(op.into()).and_then(|start| now.checked_sub(start)) {
        record_latency(hist, sums, settings, op, ns);
    }
}

/// Counts a latency of `ns` nanoseconds in `hist` (and `sums`), in the unit of `settings`
/// (`-m`, `-u`): [`record`] of [`Settings::to_unit`]`(ns)`.
#[inline(always)]
pub fn record_latency<H: Histogram>(
    hist: &H,
    sums: &Sums<H::Desc>,
    settings: &Settings,
    prefix: <H::Desc as HistDesc>::Prefix,
    ns: u64,
) {
    record(hist, sums, settings, prefix, settings.to_unit(ns));
}

/// Counts `value` in `hist`, in the layout `settings` ask for ([`Settings::layout`]), and adds
/// it to `sums` when they ask for sums.
#[inline(always)]
pub fn record<H: Histogram>(
    hist: &H,
    sums: &Sums<H::Desc>,
    settings: &Settings,
    prefix: <H::Desc as HistDesc>::Prefix,
    value: u64,
) {
    // Precision 0 keeps the description's layout, a constant: the log2 path as compiled, and
    // the verifier, which sees the loaded settings, drops the other one.
    if settings.precision == 0 {
        hist.record(prefix, value);
    } else {
        hist.record_in(&settings.layout::<H::Desc>(), prefix, value);
    }
    if settings.sums != 0 {
        sums.add(prefix, value);
    }
}

/// Writes the entry and exit programs of each op of an entry/exit latency tool, for every hook
/// a kernel may offer: `{op}_fentry` / `{op}_fexit` and `{op}_kprobe` / `{op}_kretprobe`
/// (the names `hist_attach::plan` attaches). Each `op` must be its prefix's name
/// (`read: Op::READ`, with `READ = 0 => "read"` in [`ops!`](hist_core::ops)), or the build
/// fails: the user side's plan names the programs by `Op::READ.name()`. Which kernel function each program attaches to is
/// chosen at attach time, so one op can have alternatives (`nfs4_file_open`, else
/// `nfs_file_open`).
///
/// ```ignore
/// hist_ebpf::latency_probes! {
///     hist: LATENCY, sums: LATENCY_SUM, config: CONFIG;
///     read: Op::READ,
///     write: Op::WRITE,
/// }
/// ```
#[macro_export]
macro_rules! latency_probes {
    (
        hist: $hist:path, sums: $sums:path, config: $config:path;
        $($op:ident: $prefix:expr),+ $(,)?
    ) => {$crate::__private::paste! {$(
        // The attach plan finds these by the op's name (`Op::READ.name()`) and the hook.
        $crate::hist_core::assert_program_name!([<$op _fentry>], [$prefix.name()], $crate::hist_core::names::ProgramSuffix::Fentry);
        $crate::hist_core::assert_program_name!([<$op _fexit>], [$prefix.name()], $crate::hist_core::names::ProgramSuffix::Fexit);
        $crate::hist_core::assert_program_name!([<$op _kprobe>], [$prefix.name()], $crate::hist_core::names::ProgramSuffix::Kprobe);
        $crate::hist_core::assert_program_name!([<$op _kretprobe>], [$prefix.name()], $crate::hist_core::names::ProgramSuffix::Kretprobe);

        #[$crate::__private::aya_ebpf::macros::fentry]
        pub fn [<$op _fentry>](_ctx: $crate::__private::aya_ebpf::programs::FEntryContext) -> i32 {
            $crate::enter(&$crate::hist_core::ToolConfig::settings($config.get()), $prefix);
            0
        }

        #[$crate::__private::aya_ebpf::macros::fexit]
        pub fn [<$op _fexit>](_ctx: $crate::__private::aya_ebpf::programs::FExitContext) -> i32 {
            $crate::exit(&$hist, &$sums, &$crate::hist_core::ToolConfig::settings($config.get()), $prefix);
            0
        }

        #[$crate::__private::aya_ebpf::macros::kprobe]
        pub fn [<$op _kprobe>](_ctx: $crate::__private::aya_ebpf::programs::ProbeContext) -> u32 {
            $crate::enter(&$crate::hist_core::ToolConfig::settings($config.get()), $prefix);
            0
        }

        #[$crate::__private::aya_ebpf::macros::kretprobe]
        pub fn [<$op _kretprobe>](_ctx: $crate::__private::aya_ebpf::programs::RetProbeContext) -> u32 {
            $crate::exit(&$hist, &$sums, &$crate::hist_core::ToolConfig::settings($config.get()), $prefix);
            0
        }
    )+}};
}

/// Writes the programs of an op whose latency runs from one tracepoint to another in the same
/// thread, for tp_btf and for the tracefs tracepoint alike: `{op}_start_btf` / `{op}_start_tp`
/// at the start event and `{op}_end_btf` / `{op}_end_tp` at the end event (the names
/// `hist_attach::plan::OpSpec::tracepoints` attaches, with the stems `{op}_start` and `{op}_end`).
///
/// The start may be filtered on one pointer-sized argument of the start event, given as its
/// tp_btf argument index and its offset in the tracefs record (`cat .../format`):
///
/// ```ignore
/// hist_ebpf::tracepoint_latency! {
///     hist: SCAN_LATENCY, sums: SCAN_LATENCY_SUM, config: CONFIG;
///     // mm_shrink_slab_start's first argument, `struct shrinker *shr`, at offset 8
///     scan: Op::SCAN, "mm_shrink_slab_start"(arg 0 at 8) if is_xfs => "mm_shrink_slab_end",
/// }
/// ```
#[macro_export]
macro_rules! tracepoint_latency {
    (
        hist: $hist:path, sums: $sums:path, config: $config:path;
        $op:ident: $prefix:expr, $from:tt(arg $arg:literal at $offset:literal) if $filter:path
            => $to:tt $(,)?
    ) => {$crate::__private::paste! {
        // The attach plan finds these by the op's name (`Op::SCAN.name()`), role and hook.
        $crate::hist_core::assert_program_name!([<$op _start_btf>], [$prefix.name(), $crate::hist_core::names::START_STEM_SUFFIX], $crate::hist_core::names::ProgramSuffix::TpBtf);
        $crate::hist_core::assert_program_name!([<$op _start_tp>], [$prefix.name(), $crate::hist_core::names::START_STEM_SUFFIX], $crate::hist_core::names::ProgramSuffix::Tracepoint);
        $crate::hist_core::assert_program_name!([<$op _end_btf>], [$prefix.name(), $crate::hist_core::names::END_STEM_SUFFIX], $crate::hist_core::names::ProgramSuffix::TpBtf);
        $crate::hist_core::assert_program_name!([<$op _end_tp>], [$prefix.name(), $crate::hist_core::names::END_STEM_SUFFIX], $crate::hist_core::names::ProgramSuffix::Tracepoint);

        #[$crate::__private::aya_ebpf::macros::btf_tracepoint(function = $from)]
        pub fn [<$op _start_btf>](ctx: $crate::__private::aya_ebpf::programs::BtfTracePointContext) -> i32 {
            if $filter(ctx.arg($arg)) {
                $crate::enter(&$crate::hist_core::ToolConfig::settings($config.get()), $prefix);
            }
            0
        }

        #[$crate::__private::aya_ebpf::macros::tracepoint]
        pub fn [<$op _start_tp>](ctx: $crate::__private::aya_ebpf::programs::TracePointContext) -> u32 {
            // SAFETY: the tracefs record holds a pointer-sized field at this offset.
            if $filter(unsafe { ctx.read_at::<u64>($offset) }.unwrap_or(0)) {
                $crate::enter(&$crate::hist_core::ToolConfig::settings($config.get()), $prefix);
            }
            0
        }

        #[$crate::__private::aya_ebpf::macros::btf_tracepoint(function = $to)]
        pub fn [<$op _end_btf>](_ctx: $crate::__private::aya_ebpf::programs::BtfTracePointContext) -> i32 {
            $crate::exit(&$hist, &$sums, &$crate::hist_core::ToolConfig::settings($config.get()), $prefix);
            0
        }

        #[$crate::__private::aya_ebpf::macros::tracepoint]
        pub fn [<$op _end_tp>](_ctx: $crate::__private::aya_ebpf::programs::TracePointContext) -> u32 {
            $crate::exit(&$hist, &$sums, &$crate::hist_core::ToolConfig::settings($config.get()), $prefix);
            0
        }
    }};
}

/// What every eBPF object of a tool needs besides its maps and programs: its load-time
/// [`Config`](crate::Config) static `CONFIG` of type `$config` (read by the programs with
/// `CONFIG.get()`, written by `hist_tool::Tool::load` before loading; all zero until then),
/// the license (GPL: tracing helpers require it) and the panic handler (never called: the
/// verifier rejects code that could reach it).
///
/// ```ignore
/// hist_ebpf::ebpf_program!(hist_ebpf::Settings);
/// ```
#[macro_export]
macro_rules! ebpf_program {
    ($config:ty) => {
        #[unsafe(no_mangle)]
        static CONFIG: $crate::Config<$config> = $crate::Config::new(
            // SAFETY: a `ToolConfig` is `bytemuck::Pod`, for which all-zero bytes are valid.
            unsafe { ::core::mem::zeroed::<$config>() },
        );
        const _: fn() = || {
            fn is_tool_config<T: $crate::ToolConfig>() {}
            is_tool_config::<$config>();
        };
        // User space writes it by this name.
        $crate::hist_core::assert_name!(CONFIG, $crate::hist_core::names::CONFIG);

        #[unsafe(link_section = "license")]
        #[unsafe(no_mangle)]
        static LICENSE: [u8; 4] = *b"GPL\0";

        #[cfg(not(test))]
        #[panic_handler]
        fn panic(_info: &core::panic::PanicInfo) -> ! {
            loop {}
        }
    };
}
