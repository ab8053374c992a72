//! Entry/exit latency of functions chosen at run time: one program per hook, loaded once per
//! function by the user side, each copy reading its function's index from its own element of
//! the index table ([`hist_core::func`] explains why).

use aya_ebpf::helpers::bpf_get_current_pid_tgid;
use hist_core::{
    HistDesc, Settings, TaskKey,
    func::{FUNC_INDICES, FuncStart, MAX_FUNCS},
};

use crate::{Histogram, StartTimes, Sums, now_ns, op_start, record_latency, traces_current};

/// The index table, in its own section; named [`hist_core::func::FUNC_INDEX_SYMBOL`].
#[unsafe(no_mangle)]
#[unsafe(link_section = ".rodata.hist_func")]
static HIST_FUNC: [u32; MAX_FUNCS] = FUNC_INDICES;

/// The index of the function this copy of the program is on: element 0 of the table as
/// compiled, element `i` in copy `i`.
#[inline(always)]
pub fn func_index() -> u32 {
    // SAFETY: a read of the first element of a static; volatile, so that the compiler reads
    // the loaded table rather than folding the constant 0 into the code.
    unsafe { core::ptr::read_volatile(&HIST_FUNC[0]) }
}

/// At a function's entry: remembers when the current thread entered it, unless `settings`
/// filter it out (`-p`, `-c`). The first [`op_start::MAX_OPS`] functions keep their starts
/// where [`op_start`] keeps an op's (in the task itself, where the object is built for task
/// storage), the others in `starts` by function and thread. The index is a constant of the
/// loaded copy, so the verifier keeps one of the two paths.
#[inline(always)]
pub fn enter(starts: &StartTimes<FuncStart>, settings: &Settings) {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !traces_current(settings, (pid_tgid >> 32) as u32) {
        return;
    }
    let index = func_index();
    if index < op_start::MAX_OPS {
        op_start::enter(index, now_ns());
    } else {
        starts.start(&TaskKey::new(index, pid_tgid as u32));
    }
}

/// At its exit: records the time since the entry in the histogram of the function's index.
#[inline(always)]
pub fn exit<H>(hist: &H, sums: &Sums<H::Desc>, starts: &StartTimes<FuncStart>, settings: &Settings)
where
    H: Histogram,
    H::Desc: HistDesc<Prefix = u32>,
{
    let index = func_index();
    let ns = if index < op_start::MAX_OPS {
        let now = now_ns();
        op_start::exit(index).and_then(|start| now.checked_sub(start))
    } else {
        starts.elapsed_ns(&TaskKey::new(index, bpf_get_current_pid_tgid() as u32))
    };
    if let Some(ns) = ns {
        record_latency(hist, sums, settings, index, ns);
    }
}

/// Writes the programs of a tool that times functions named at run time: `func_fentry` /
/// `func_fexit` and `func_kprobe` / `func_kretprobe` (which serve uprobes too: the same program
/// type), each recording into the histogram of its copy's function index: `hist` is a
/// reference to a [`Histogram`] (the pair of a hash and its [`DefaultHist`](crate::DefaultHist),
/// so that function 0, the only one of most runs, counts in a per-CPU array).
///
/// ```ignore
/// hist_ebpf::function_latency_probes!(hist: &(&LATENCY, &LATENCY_DEFAULT), sums: LATENCY_SUM, starts: FUNC_START, config: CONFIG);
/// ```
#[macro_export]
macro_rules! function_latency_probes {
    (hist: $hist:expr, sums: $sums:path, starts: $starts:path, config: $config:path $(,)?) => {
        #[$crate::__private::aya_ebpf::macros::fentry]
        pub fn func_fentry(_ctx: $crate::__private::aya_ebpf::programs::FEntryContext) -> i32 {
            $crate::func::enter(
                &$starts,
                &$crate::hist_core::ToolConfig::settings($config.get()),
            );
            0
        }

        #[$crate::__private::aya_ebpf::macros::fexit]
        pub fn func_fexit(_ctx: $crate::__private::aya_ebpf::programs::FExitContext) -> i32 {
            $crate::func::exit(
                $hist,
                &$sums,
                &$starts,
                &$crate::hist_core::ToolConfig::settings($config.get()),
            );
            0
        }

        #[$crate::__private::aya_ebpf::macros::kprobe]
        pub fn func_kprobe(_ctx: $crate::__private::aya_ebpf::programs::ProbeContext) -> u32 {
            $crate::func::enter(
                &$starts,
                &$crate::hist_core::ToolConfig::settings($config.get()),
            );
            0
        }

        #[$crate::__private::aya_ebpf::macros::kretprobe]
        pub fn func_kretprobe(_ctx: $crate::__private::aya_ebpf::programs::RetProbeContext) -> u32 {
            $crate::func::exit(
                $hist,
                &$sums,
                &$starts,
                &$crate::hist_core::ToolConfig::settings($config.get()),
            );
            0
        }
    };
}
