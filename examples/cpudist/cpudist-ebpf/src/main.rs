//! cpudist's eBPF side: at every context switch, the time the outgoing task spent on the CPU
//! (default) or off it (`-O`), in a log2 histogram per process, per thread, or for all.
//!
//! Both measurements are taken at switch-out only, because there the outgoing task is the
//! current one, so `bpf_get_current_pid_tgid()` gives its pid and tgid without reading
//! `task_struct` (no CO-RE needed, and the same code serves `tp_btf` and the plain tracepoint):
//!
//! * a task got this CPU at the previous switch on this CPU (`SWITCHED_IN`, per CPU), so its
//!   on-CPU time is `now − SWITCHED_IN`;
//! * its off-CPU time is from its previous switch-out (`LEFT_CPU`) to that switch-in; it is
//!   recorded one time slice late, when the task leaves the CPU again (or exits).
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod program {
    use aya_ebpf::{
        helpers::{bpf_get_current_pid_tgid, bpf_get_smp_processor_id},
        macros::{btf_tracepoint, map, tracepoint},
        maps::PerCpuArray,
        programs::{BtfTracePointContext, TracePointContext},
    };
    use cpudist_ebpf::MAX_SLOT;
    use hist_ebpf::{HashHist, Histogram as _, StartTimes, now_ns};

    // Settings, written by user space at load time (`EbpfLoader::override_global`).
    // Read them with `read_volatile`: the compiler would otherwise fold the initial values.
    #[unsafe(no_mangle)]
    static TARGET_TGID: u32 = 0; // 0: every process
    #[unsafe(no_mangle)]
    static OFF_CPU: u8 = 0;
    #[unsafe(no_mangle)]
    static INCLUDE_IDLE: u8 = 0;
    #[unsafe(no_mangle)]
    static MILLISECONDS: u8 = 0;
    #[unsafe(no_mangle)]
    static HIST_BY: u8 = 0; // 0: one histogram, 1: per process (tgid), 2: per thread (tid)

    /// Histograms in which the outgoing tasks of tracked processes/threads land.
    const MAX_PREFIXES: u32 = 2048;
    /// Tasks whose switch-out time is remembered in off-CPU mode.
    const MAX_TASKS: u32 = 10240;

    #[map]
    static DIST: HashHist<u32, MAX_SLOT> = HashHist::with_prefixes(MAX_PREFIXES);

    /// When the current task of each CPU was switched in.
    #[map]
    static SWITCHED_IN: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

    /// When each task last left a CPU, keyed `[tid, cpu]`: the cpu is 0 except for the idle
    /// tasks, which all have tid 0 (one per CPU).
    #[map]
    static LEFT_CPU: StartTimes<[u32; 2]> = StartTimes::with_max_entries(MAX_TASKS);

    #[btf_tracepoint(function = "sched_switch")]
    pub fn sched_switch_btf(_ctx: BtfTracePointContext) -> i32 {
        on_switch();
        0
    }

    #[tracepoint]
    pub fn sched_switch_tp(_ctx: TracePointContext) -> u32 {
        on_switch();
        0
    }

    fn setting<T: Copy>(value: &T) -> T {
        // SAFETY: a valid static, read as it is in the loaded object.
        unsafe { core::ptr::read_volatile(value) }
    }

    #[inline(always)]
    fn on_switch() {
        let now = now_ns();
        let Some(switched_in) = SWITCHED_IN.get_ptr_mut(0) else {
            return;
        };
        // SAFETY: this CPU's own slot of a per-CPU array; nothing else writes it meanwhile.
        let switched_in = unsafe { core::mem::replace(&mut *switched_in, now) };

        let pid_tgid = bpf_get_current_pid_tgid();
        let (tgid, tid) = ((pid_tgid >> 32) as u32, pid_tgid as u32);
        if tid == 0 && setting(&INCLUDE_IDLE) == 0 {
            return;
        }
        let target = setting(&TARGET_TGID);
        if target != 0 && tgid != target {
            return;
        }

        let on_cpu_since = (switched_in != 0).then_some(switched_in);
        let delta_ns = if setting(&OFF_CPU) != 0 {
            // SAFETY: BPF helper without arguments.
            let cpu = if tid == 0 {
                unsafe { bpf_get_smp_processor_id() }
            } else {
                0
            };
            let key = [tid, cpu];
            let off_cpu = on_cpu_since.and_then(|since| LEFT_CPU.elapsed_ns_at(&key, since));
            LEFT_CPU.start_at(&key, now);
            off_cpu
        } else {
            on_cpu_since.map(|since| now - since)
        };
        let Some(delta_ns) = delta_ns else {
            return;
        };

        let delta = if setting(&MILLISECONDS) != 0 {
            delta_ns / 1_000_000
        } else {
            delta_ns / 1_000
        };
        let prefix = match setting(&HIST_BY) {
            1 => tgid,
            2 => tid,
            _ => 0,
        };
        DIST.record(prefix, delta);
    }

    #[cfg(not(test))]
    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }

    #[unsafe(link_section = "license")]
    #[unsafe(no_mangle)]
    static LICENSE: [u8; 4] = *b"GPL\0";
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
