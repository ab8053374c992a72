//! Entry/exit latency in one call per probe, from kprobes, fentry or tracepoints alike: the
//! start map, the histogram, the sums and the unit together.
//!
//! [`latency_probes!`](crate::latency_probes) writes the programs; [`enter`] and [`exit`] are
//! what they call, for tools that write their own (a tracepoint pair, say).

use aya_ebpf::helpers::bpf_get_current_pid_tgid;
use hist_core::{HistDesc, Settings, TaskKey};

use crate::{Histogram, StartTimes, Sums, now_ns};

/// At the entry of `op`: remembers when the current thread entered it, unless `settings`
/// filter its process out.
#[inline(always)]
pub fn enter<P: hist_core::KeyPrefix>(start: &StartTimes<TaskKey<P>>, settings: &Settings, op: P) {
    let pid_tgid = bpf_get_current_pid_tgid();
    if settings.traces((pid_tgid >> 32) as u32) {
        start.start(&TaskKey::new(op, pid_tgid as u32));
    }
}

/// At the exit of `op`: records the time since the current thread's [`enter`] in `hist` (and
/// `sums`), in the unit of `settings`. Without a matching entry (filtered out, or entered
/// before tracing began) nothing is recorded.
#[inline(always)]
pub fn exit<H: Histogram>(
    start: &StartTimes<TaskKey<<H::Desc as HistDesc>::Prefix>>,
    hist: &H,
    sums: &Sums<H::Desc>,
    settings: &Settings,
    op: <H::Desc as HistDesc>::Prefix,
) {
    let tid = bpf_get_current_pid_tgid() as u32;
    if let Some(ns) = start.elapsed_ns_at(&TaskKey::new(op, tid), now_ns()) {
        record(hist, sums, settings, op, settings.to_unit(ns));
    }
}

/// Counts `value` in `hist`, and adds it to `sums` when `settings` ask for sums.
#[inline(always)]
pub fn record<H: Histogram>(
    hist: &H,
    sums: &Sums<H::Desc>,
    settings: &Settings,
    prefix: <H::Desc as HistDesc>::Prefix,
    value: u64,
) {
    hist.record(prefix, value);
    if settings.sums != 0 {
        sums.add(prefix, value);
    }
}

/// Writes the entry and exit programs of each op of an entry/exit latency tool, for every hook
/// a kernel may offer: `{op}_fentry` / `{op}_fexit` and `{op}_kprobe` / `{op}_kretprobe`
/// (the names `hist_user::plan` attaches). Which kernel function each program attaches to is
/// chosen at attach time, so one op can have alternatives (`nfs4_file_open`, else
/// `nfs_file_open`).
///
/// ```ignore
/// hist_ebpf::latency_probes! {
///     start: START, hist: LATENCY, sums: LATENCY_SUM, config: CONFIG;
///     read: Op::READ,
///     write: Op::WRITE,
/// }
/// ```
#[macro_export]
macro_rules! latency_probes {
    (
        start: $start:path, hist: $hist:path, sums: $sums:path, config: $config:path;
        $($op:ident: $prefix:expr),+ $(,)?
    ) => {$crate::__private::paste! {$(
        #[$crate::__private::aya_ebpf::macros::fentry]
        pub fn [<$op _fentry>](_ctx: $crate::__private::aya_ebpf::programs::FEntryContext) -> i32 {
            $crate::enter(&$start, &$crate::hist_core::ToolConfig::settings(&$config.get()), $prefix);
            0
        }

        #[$crate::__private::aya_ebpf::macros::fexit]
        pub fn [<$op _fexit>](_ctx: $crate::__private::aya_ebpf::programs::FExitContext) -> i32 {
            $crate::exit(&$start, &$hist, &$sums, &$crate::hist_core::ToolConfig::settings(&$config.get()), $prefix);
            0
        }

        #[$crate::__private::aya_ebpf::macros::kprobe]
        pub fn [<$op _kprobe>](_ctx: $crate::__private::aya_ebpf::programs::ProbeContext) -> u32 {
            $crate::enter(&$start, &$crate::hist_core::ToolConfig::settings(&$config.get()), $prefix);
            0
        }

        #[$crate::__private::aya_ebpf::macros::kretprobe]
        pub fn [<$op _kretprobe>](_ctx: $crate::__private::aya_ebpf::programs::RetProbeContext) -> u32 {
            $crate::exit(&$start, &$hist, &$sums, &$crate::hist_core::ToolConfig::settings(&$config.get()), $prefix);
            0
        }
    )+}};
}

/// What every eBPF object of a tool needs besides its maps and programs: its load-time
/// [`Config`](crate::Config) static `CONFIG` (read by the programs with `CONFIG.get()`, written
/// by `hist_user::Tool::load`), the license (GPL: tracing helpers require it) and the panic
/// handler (never called: the verifier rejects code that could reach it).
///
/// ```ignore
/// hist_ebpf::ebpf_program!(nfsdist_common::Config = nfsdist_common::Config::DEFAULT);
/// ```
#[macro_export]
macro_rules! ebpf_program {
    ($config:ty = $default:expr) => {
        #[unsafe(no_mangle)]
        static CONFIG: $crate::Config<$config> = $crate::Config::new($default);

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
