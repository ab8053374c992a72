//! cpudist: summarize on- and off-CPU time per task as a histogram.
//!
//! A rebuild of bcc's `tools/cpudist.py` on hist: same flags, same output. Copy this directory
//! to start a new tool: `cpudist-ebpf/` holds the probe, this file loads it, attaches it,
//! and prints the histogram every interval.
//!
//! On-CPU semantics: every time slice counts, however it ended (preempted or blocked), as in
//! bcc's Python tool. libbpf-tools' cpudist only counts slices that ended in preemption
//! (the outgoing task still `TASK_RUNNING`), which drops every slice that ended in a sleep:
//! a task that computes 5 ms then waits on I/O would show no on-CPU time at all there.

use std::{path::Path, time::Duration};

use anyhow::{Context as _, bail};
use aya::{
    Btf, Ebpf, EbpfLoader,
    programs::{BtfTracePoint, TracePoint},
};
use clap::{Parser, ValueEnum};
use cpudist_ebpf::MAX_SLOT;
use hist_user::{
    HashHistMap,
    interval::{Intervals, Wakeup, local_time_hms},
    kernel, render,
};

const EXAMPLES: &str = "examples:
    cpudist              # summarize on-CPU time as a histogram
    cpudist -O           # summarize off-CPU time as a histogram
    cpudist 1 10         # print 1 second summaries, 10 times
    cpudist -mT 1        # 1s summaries, milliseconds, and timestamps
    cpudist -P           # show each PID separately
    cpudist -p 185       # trace PID 185 only
    cpudist -I           # include CPU idle time";

/// Summarize on- and off-CPU time per task as a histogram.
#[derive(Parser)]
#[command(name = "cpudist", after_help = EXAMPLES)]
struct Args {
    /// measure off-CPU time
    #[arg(short = 'O', long)]
    offcpu: bool,
    /// include timestamp on output
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// millisecond histogram
    #[arg(short = 'm', long)]
    milliseconds: bool,
    /// print a histogram per process ID
    #[arg(short = 'P', long)]
    pids: bool,
    /// print a histogram per thread ID
    #[arg(short = 'L', long, conflicts_with = "pids")]
    tids: bool,
    /// trace this PID only
    #[arg(short = 'p', long, value_name = "PID")]
    pid: Option<u32>,
    /// include CPU idle time
    #[arg(short = 'I', long)]
    include_idle: bool,
    /// how to hook the scheduler: tp_btf/sched_switch, else the sched:sched_switch tracepoint
    #[arg(long, value_enum, default_value_t = Hook::Auto)]
    hook: Hook,
    /// output interval, in seconds
    #[arg(value_parser = parse_interval)]
    interval: Option<u64>,
    /// number of outputs
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Hook {
    /// tp_btf where the kernel allows it, else the tracepoint
    Auto,
    #[value(name = "tp_btf")]
    TpBtf,
    Tracepoint,
}

fn parse_interval(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("the interval must be at least 1 second".into()),
        Ok(seconds) => Ok(seconds),
        Err(_) => Err(format!("'{text}' is not a whole number of seconds")),
    }
}

fn main() {
    let args = Args::parse();
    if let Err(error) = run(args) {
        eprintln!("cpudist: {error:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    // Before anything else: Ctrl-C must end a wait, not the process, so that the histogram
    // gathered so far is printed (as bcc does on KeyboardInterrupt).
    let interval = Duration::from_secs(args.interval.unwrap_or(99_999_999));
    let intervals = Intervals::new(interval).context("blocking SIGINT")?;

    kernel::check_privileges()?;
    if let Some(pid) = args.pid
        && !Path::new(&format!("/proc/{pid}")).exists()
    {
        bail!("no process with PID {pid} (-p takes the PID of a running process)");
    }

    let mut ebpf = load(&args)?;
    let mut dist = HashHistMap::<u32>::new(ebpf.take_map("DIST").context("map DIST")?, MAX_SLOT)?;

    println!(
        "Tracing {}-CPU time... Hit Ctrl-C to end.",
        if args.offcpu { "off" } else { "on" }
    );
    let label = if args.milliseconds { "msecs" } else { "usecs" };
    let section = match (args.pids, args.tids) {
        (true, _) => Some("pid"),
        (_, true) => Some("tid"),
        _ => None,
    };

    let mut countdown = args.count.unwrap_or(99_999_999);
    loop {
        let wakeup = intervals.wait()?;
        println!();
        if args.timestamp {
            println!("{:<8}", local_time_hms());
        }
        let snapshot = dist.snapshot()?;
        match section {
            Some(section) => print!(
                "{}",
                render::log2_hist_sections(&snapshot, label, section, |id| pid_to_comm(*id))
            ),
            None => {
                if let Some(hist) = snapshot.get(&0) {
                    print!("{}", render::log2_hist(hist, label));
                }
            }
        }
        dist.clear()?;
        countdown -= 1;
        if wakeup == Wakeup::Interrupted || countdown == 0 {
            return Ok(());
        }
    }
}

/// Loads the probe with the settings baked in, and attaches it to the scheduler.
fn load(args: &Args) -> anyhow::Result<Ebpf> {
    let target_tgid = args.pid.unwrap_or(0);
    let (off_cpu, include_idle, milliseconds) = (
        args.offcpu as u8,
        args.include_idle as u8,
        args.milliseconds as u8,
    );
    let hist_by: u8 = if args.pids {
        1
    } else if args.tids {
        2
    } else {
        0
    };
    let mut ebpf = EbpfLoader::new()
        .override_global("TARGET_TGID", &target_tgid, true)
        .override_global("OFF_CPU", &off_cpu, true)
        .override_global("INCLUDE_IDLE", &include_idle, true)
        .override_global("MILLISECONDS", &milliseconds, true)
        .override_global("HIST_BY", &hist_by, true)
        .load(aya::include_bytes_aligned!(concat!(
            env!("OUT_DIR"),
            "/cpudist"
        )))
        .context("loading the eBPF object")?;

    if args.hook != Hook::Tracepoint {
        match attach_tp_btf(&mut ebpf) {
            Ok(()) => return Ok(ebpf),
            Err(error) if args.hook == Hook::Auto => {
                eprintln!(
                    "cpudist: tp_btf/sched_switch unavailable ({error:#}); using the sched:sched_switch tracepoint"
                );
            }
            Err(error) => return Err(error),
        }
    }
    kernel::ensure_tracefs()?;
    let program: &mut TracePoint = ebpf
        .program_mut("sched_switch_tp")
        .context("program")?
        .try_into()?;
    program.load().context("loading sched_switch_tp")?;
    program
        .attach("sched", "sched_switch")
        .context("attaching to sched:sched_switch")?;
    Ok(ebpf)
}

fn attach_tp_btf(ebpf: &mut Ebpf) -> anyhow::Result<()> {
    let btf = Btf::from_sys_fs().context("reading kernel BTF (/sys/kernel/btf/vmlinux)")?;
    let program: &mut BtfTracePoint = ebpf
        .program_mut("sched_switch_btf")
        .context("program")?
        .try_into()?;
    program
        .load("sched_switch", &btf)
        .context("loading tp_btf/sched_switch")?;
    program.attach().context("attaching tp_btf/sched_switch")?;
    Ok(())
}

/// `"1234 bash\n"` as bcc prints it (the comm file's newline included), or just the id when the
/// task is gone.
fn pid_to_comm(id: u32) -> String {
    match std::fs::read_to_string(format!("/proc/{id}/comm")) {
        Ok(comm) => format!("{id} {comm}"),
        Err(_) => id.to_string(),
    }
}
