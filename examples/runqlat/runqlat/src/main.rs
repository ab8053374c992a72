//! runqlat: summarize run queue (scheduler) latency as a histogram.
//!
//! A rebuild of libbpf-tools' `runqlat` on hist: same flags, same output, plus `-j`,
//! `--prometheus`, `--percentiles`, `--precision` and heatmaps. Copy this directory to start a
//! tool timing something one task starts and another ends: `runqlat-common` describes the
//! histogram, `runqlat-ebpf` keeps each waiting task's start by thread id and records, and this
//! file reads the kernel's task fields, loads, attaches and prints.

use clap::Parser;
use hist_tool::{
    CgroupArg, CommonArgs, PidArg, Section, Timestamp, Tool, ToolError, View,
    hist_core::{HistDesc, Starts, sched},
    kernel,
    plan::Hook,
};
use runqlat_common::{Config, RunqLatency};

const EXAMPLES: &str = "examples:
    runqlat         # summarize run queue latency as a histogram
    runqlat 1 10    # print 1 second summaries, 10 times
    runqlat -mT 1   # 1s summaries, milliseconds, and timestamps
    runqlat -P      # show each PID separately
    runqlat --pidnss          # show each PID namespace separately
    runqlat --per-cgroup      # show each cgroup separately
    runqlat -p 185  # trace PID 185 only
    runqlat -c /sys/fs/cgroup/system.slice   # trace tasks of that cgroup only
    runqlat --percentiles 5   # p50, p90, p99, p99.9 after each histogram";

/// Summarize run queue (scheduler) latency as a histogram.
#[derive(Parser)]
#[command(name = "runqlat", version, after_help = EXAMPLES)]
struct Args {
    /// include timestamp on output
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// print a histogram per process ID
    #[arg(short = 'P', long, conflicts_with = "tids")]
    pids: bool,
    /// print a histogram per thread ID
    #[arg(short = 'L', long)]
    tids: bool,
    /// print a histogram per PID namespace
    #[arg(long, conflicts_with_all = ["pids", "tids"])]
    pidnss: bool,
    /// print a histogram per cgroup (v2), named by its path
    #[arg(long, conflicts_with_all = ["pids", "tids", "pidnss"])]
    per_cgroup: bool,
    #[command(flatten)]
    pid: PidArg,
    #[command(flatten)]
    cgroup: CgroupArg,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() {
    hist_tool::exit_on_error("runqlat", run(Args::parse()));
}

fn run(args: Args) -> Result<(), ToolError> {
    // What the histograms are per, their sections, and each one's label.
    let named = |name| Some(Section::Named(name));
    let (per, section, label): (_, _, fn(&u32) -> String) = match (args.pids, args.tids) {
        (true, _) => (sched::per::PROCESS, Some(Section::Pid), hist_tool::pid_comm),
        (_, true) => (sched::per::THREAD, Some(Section::Tid), hist_tool::pid_comm),
        _ if args.pidnss => (sched::per::PIDNS, named("pidns"), u32::to_string),
        _ if args.per_cgroup => (sched::per::CGROUP, named("cgroup"), hist_tool::cgroup_label),
        _ => (sched::per::ALL, None, hist_tool::pid_comm),
    };
    // The tracefs records name a woken task by thread id only.
    let by_task = per != sched::per::ALL && per != sched::per::THREAD || args.pid.pid.is_some();
    let tool = Tool::new("runqlat", args.common, RunqLatency::UNIT)?
        .with_pid(args.pid)?
        .with_cgroup(args.cgroup)?;
    let config = Config {
        settings: tool.settings(),
        per,
        task: kernel::sched::task_fields()?,
    };
    let objects = hist_tool::objects!("runqlat");
    let loaded = tool.load::<(RunqLatency, Starts<sched::RunQueueStart>)>(objects, config)?;
    let tracing = loaded.attach(&sched::WAKEUP_TO_RUN)?;
    if by_task && tracing.hooks().any(|hook| hook == Hook::Tracepoint) {
        let why = "-P, --pidnss, --per-cgroup and -p need tp_btf: the sched tracepoints' records name a woken task by thread id only";
        return Err(ToolError::Usage(why.into()));
    }
    let banner = "Tracing run queue latency... Hit Ctrl-C to end.";
    let view = View::new(banner, "runqlat_seconds", "Run queue (scheduler) latency")
        .sections(section, label)
        .timestamp(args.timestamp.then_some(Timestamp::Hms))
        .retire_when((args.pids || args.tids).then_some(hist_tool::task_gone));
    tracing.run::<RunqLatency>(&view)
}
