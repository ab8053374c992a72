//! funclatency: time functions, in the kernel or in user space, as histograms of their latency.
//!
//! A rebuild of libbpf-tools' `funclatency` on hist: same flags and output, plus globs (a
//! histogram per function, as bcc's `-F`), `-c`, `-j`, `--prometheus`, `--percentiles` and
//! heatmaps. Copy this directory to start a tool on functions named at run time:
//! `funclatency-common` describes the histogram, `funclatency-ebpf` records, and this file
//! finds the functions, puts a copy of the programs on each and prints.

use clap::Parser;
use funclatency_common::FuncLatency;
use hist_tool::{
    CgroupArg, CommonArgs, PidArg, Section, Timestamp, Tool, ToolError, View,
    hist_attach::functions,
    hist_core::{HistDesc, Starts, Unit, func},
};

const EXAMPLES: &str = "examples:
    funclatency do_sys_open         # time the do_sys_open() kernel function
    funclatency -m do_nanosleep     # time do_nanosleep(), in milliseconds
    funclatency -u vfs_read         # time vfs_read(), in microseconds
    funclatency -p 181 vfs_read     # time process 181 only
    funclatency -p 181 c:read       # time the read() C library function
    funclatency -p 181 :foo         # time foo() from pid 181's userspace
    funclatency -i 2 -d 10 vfs_read # output every 2 seconds, for 10s
    funclatency -mTi 5 vfs_read     # output every 5 seconds, with timestamps
    funclatency 'vfs_*'             # a histogram per function: vfs_read, vfs_write, ...";

/// Time functions and print latency as a histogram.
#[derive(Parser)]
#[command(name = "funclatency", version, after_help = EXAMPLES)]
struct Args {
    /// microsecond histogram
    #[arg(short = 'u', long, conflicts_with = "milliseconds")]
    microseconds: bool,
    /// print timestamp
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// summary interval in seconds
    #[arg(short = 'i', long = "interval", value_name = "INTERVAL", value_parser = hist_tool::parse_interval)]
    every: Option<u64>,
    /// duration to trace, in seconds
    #[arg(short = 'd', long, value_name = "DURATION", value_parser = hist_tool::parse_interval)]
    duration: Option<u64>,
    /// the function: FUNC or a glob of kernel functions, LIBRARY:FUNC, PROGRAM:FUNC, :FUNC (-p's)
    pattern: String,
    #[command(flatten)]
    pid: PidArg,
    #[command(flatten)]
    cgroup: CgroupArg,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() {
    hist_tool::exit_on_error("funclatency", run(Args::parse()));
}

fn run(args: Args) -> Result<(), ToolError> {
    // libbpf-tools' -i and -d: print every INTERVAL, DURATION / INTERVAL times; -d alone, once.
    let mut common = args.common;
    common.interval = args.every.or(args.duration).or(common.interval);
    if let (Some(duration), Some(every)) = (args.duration, common.interval) {
        common.count = Some((duration / every).max(1));
    }
    let unit = if args.microseconds {
        Unit::Microseconds
    } else {
        FuncLatency::UNIT
    };
    let tool = Tool::new("funclatency", common, unit)?
        .with_pid(args.pid)?
        .with_cgroup(args.cgroup)?;
    let functions = functions::resolve(&args.pattern, args.pid.pid, func::MAX_FUNCS)?;
    let settings = tool.settings();
    let objects = hist_tool::objects!("funclatency");
    let loaded = tool.load::<(FuncLatency, Starts<func::FuncStart>)>(objects, settings)?;
    // Copy `i` of the programs on function `i`: its histogram is the one of prefix `i`.
    let tracing = loaded.attach_functions(&functions)?;
    let names: Vec<String> = functions.iter().map(|f| f.name().to_owned()).collect();
    let section = (names.len() > 1).then_some(Section::Named("Function"));
    let label = move |index: &u32| names.get(*index as usize).cloned().unwrap_or_default();
    let banner = format!("Tracing {}.  Hit Ctrl-C to exit", args.pattern);
    let view = View::new(banner, "funclatency_seconds", "Function latency")
        .sections(section, label)
        .timestamp(args.timestamp.then_some(Timestamp::Hms))
        .farewell(format!("Exiting trace of {}", args.pattern));
    tracing.run::<FuncLatency>(&view)
}
