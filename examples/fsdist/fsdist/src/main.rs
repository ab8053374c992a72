//! fsdist: summarize file system operation latency (read, write, open, fsync, getattr) as
//! histograms, for one file system.
//!
//! A rebuild of libbpf-tools' `fsdist` on hist: same flags, same output, plus `-j`,
//! `--prometheus`, `--percentiles`, `--precision` and heatmaps. Copy this directory to start an
//! entry/exit latency tool whose functions are chosen at run time: `fsdist-common` describes
//! the histogram, `fsdist-ebpf` records, and this file picks the file system's functions
//! (`hist_core::fs`), attaches to them and prints.

use clap::Parser;
use fsdist_common::FsLatency;
use hist_tool::{
    CommonArgs, PidArg, Section, Timestamp, Tool, ToolError, View,
    hist_core::{
        HistDesc,
        fs::{FILE_SYSTEMS, FileSystem, Op},
    },
};

const EXAMPLES: &str = "examples:
    fsdist -t ext4             # show ext4 operations latency as a histogram
    fsdist -t nfs -p 1216      # trace nfs operations with PID 1216 only
    fsdist -t xfs 1 10         # trace xfs operations, 1s summaries, 10 times
    fsdist -t btrfs -m 5       # trace btrfs operation, 5s summaries, in ms
    fsdist -t ext4 -j 1        # one JSON object per second
    fsdist -t xfs --prometheus 127.0.0.1:9437   # serve /metrics";

/// Summarize file system operations latency.
#[derive(Parser)]
#[command(name = "fsdist", version, after_help = EXAMPLES)]
struct Args {
    /// which file system to trace: btrfs, ext4, nfs, xfs or f2fs
    #[arg(short = 't', long = "type", value_name = "FILESYSTEM", value_parser = file_system)]
    fs: &'static FileSystem,
    /// print timestamp
    #[arg(short = 'T', long)]
    timestamp: bool,
    #[command(flatten)]
    pid: PidArg,
    #[command(flatten)]
    common: CommonArgs,
}

/// `-t`'s value: one of [`FILE_SYSTEMS`].
fn file_system(name: &str) -> Result<&'static FileSystem, String> {
    FileSystem::named(name).ok_or_else(|| {
        let known: Vec<&str> = FILE_SYSTEMS.iter().map(|fs| fs.name).collect();
        format!("fsdist knows {}", known.join(", "))
    })
}

fn main() {
    hist_tool::exit_on_error("fsdist", run(Args::parse()));
}

fn run(args: Args) -> Result<(), ToolError> {
    let tool = Tool::new("fsdist", args.common, FsLatency::UNIT)?.with_pid(args.pid)?;
    // Built twice (build.rs): start times in the task itself where the kernel can.
    let settings = tool.settings();
    let loaded = tool.load::<FsLatency>(hist_tool::objects!("fsdist"), settings)?;
    // The same programs for every file system: the plan puts them on its functions.
    let tracing = loaded.attach(args.fs.ops)?;
    let banner = format!(
        "Tracing {} operation latency... Hit Ctrl-C to end.",
        args.fs.name
    );
    let metric = format!("{}dist_latency_seconds", args.fs.name);
    let view = View::new(banner, metric, "File system operation latency")
        .sections(Some(Section::Operation), |op: &Op| op.name().into())
        .quoted_sections()
        .timestamp(args.timestamp.then_some(Timestamp::Hms));
    tracing.run::<FsLatency>(&view)
}
