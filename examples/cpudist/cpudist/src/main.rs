//! cpudist: summarize on- and off-CPU time per task as a histogram.
//!
//! A rebuild of bcc's `tools/cpudist.py` on hist: same flags, same output, plus `-j` and
//! `--prometheus`. Copy this directory to start a tool that records values its probe computes:
//! `cpudist-common` describes the histogram and the settings, `cpudist-ebpf` records, and this
//! file loads, attaches and prints.
//!
//! On-CPU semantics: every time slice counts, however it ended (preempted or blocked), as in
//! bcc's Python tool; libbpf-tools' cpudist counts only slices that ended in preemption.

use clap::Parser;
use cpudist_common::{Breakdown, Config, Dist, TaskDist};
use hist_tool::{
    CgroupArg, CommonArgs, PidArg, Section, Timestamp, Tool, ToolError, View,
    hist_core::{FieldPath, HistDesc, Unused},
    kernel::{self, KernelBtf},
};

const EXAMPLES: &str = "examples:
    cpudist              # summarize on-CPU time as a histogram
    cpudist -O           # summarize off-CPU time as a histogram
    cpudist 1 10         # print 1 second summaries, 10 times
    cpudist -mT 1        # 1s summaries, milliseconds, and timestamps
    cpudist -P           # show each PID separately
    cpudist -p 185       # trace PID 185 only
    cpudist -c /sys/fs/cgroup/system.slice   # trace tasks of that cgroup only
    cpudist -I           # include CPU idle time
    cpudist -e           # show the average per histogram
    cpudist -j 1         # one JSON object per second
    cpudist --percentiles 1 5        # p50, p90, p99, p99.9 after each histogram
    cpudist --precision 3 1 5        # 8 buckets per power of two: within 12.5%
    cpudist --per-cpu 1 5            # a histogram per CPU
    cpudist -O --heatmap off.svg 1 60   # a heatmap of one minute (.svg or .png)";

/// Summarize on- and off-CPU time per task as a histogram.
#[derive(Parser)]
#[command(name = "cpudist", version, after_help = EXAMPLES)]
struct Args {
    /// measure off-CPU time
    #[arg(short = 'O', long)]
    offcpu: bool,
    /// include timestamp on output
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// print a histogram per process ID
    #[arg(short = 'P', long, conflicts_with = "per_cpu")]
    pids: bool,
    /// print a histogram per thread ID (wins over -P, as in bcc)
    #[arg(short = 'L', long, conflicts_with = "per_cpu")]
    tids: bool,
    /// include CPU idle time
    #[arg(short = 'I', long)]
    include_idle: bool,
    /// show extension summary (average/total/count)
    #[arg(short = 'e', long, conflicts_with = "per_cpu")]
    extension: bool,
    #[command(flatten)]
    pid: PidArg,
    #[command(flatten)]
    cgroup: CgroupArg,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() {
    hist_tool::exit_on_error("cpudist", run(Args::parse()));
}

fn run(args: Args) -> Result<(), ToolError> {
    let tool = Tool::new("cpudist", args.common, Dist::UNIT)?
        .with_pid(args.pid)?
        .with_cgroup(args.cgroup)?;
    let mut settings = tool.settings();
    settings.sums |= args.extension as u32;
    let (breakdown, section) = match (args.pids, args.tids) {
        (_, true) => (Breakdown::PER_THREAD, Some(Section::Tid)),
        (true, _) => (Breakdown::PER_PROCESS, Some(Section::Pid)),
        _ => (Breakdown::ALL_TASKS, None),
    };
    let config = Config {
        settings,
        off_cpu: args.offcpu as u32,
        include_idle: args.include_idle as u32,
        breakdown,
        // Where tp_btf reads a task's state (the tracefs record has it; no BTF, no tp_btf).
        task_state: match args.offcpu.then(KernelBtf::load) {
            Some(Ok(btf)) => btf.resolve_field(&kernel::TASK_STATE)?,
            _ => FieldPath::ABSENT,
        },
    };
    // Built twice (build.rs): start times in the task itself where the kernel can. The maps are
    // sized for `--precision`; the per-task hash (7 MB at log2) only when it is used.
    let objects = hist_tool::objects!("cpudist");
    let per_task = breakdown != Breakdown::ALL_TASKS;
    let loaded = match per_task {
        true => tool.load::<(Dist, TaskDist)>(objects, config)?,
        false => tool.load::<(Dist, Unused<TaskDist>)>(objects, config)?,
    };
    let tracing = loaded.attach(&cpudist_common::OPS)?;
    let on_off = if args.offcpu { "off" } else { "on" };
    let banner = format!("Tracing {on_off}-CPU time... Hit Ctrl-C to end.");
    let help = if args.offcpu {
        "Time tasks spent off a CPU, per scheduler switch"
    } else {
        "Time tasks spent on a CPU, per scheduler switch"
    };
    let view = View::new(banner, format!("cpudist_{on_off}cpu_seconds"), help)
        .sections(section, hist_tool::pid_comm)
        .timestamp(args.timestamp.then_some(Timestamp::Hms))
        .averages(args.extension)
        .retire_when(per_task.then_some(hist_tool::task_gone));
    if per_task {
        tracing.run::<TaskDist>(&view)
    } else {
        tracing.run::<Dist>(&view)
    }
}
