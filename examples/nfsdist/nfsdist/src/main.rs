//! nfsdist: summarize NFS operation latency (read, write, open, fsync, getattr) as histograms.
//!
//! A rebuild of bcc's `tools/nfsdist.py` on hist, with libbpf-tools' fsync: same flags, same
//! output. It is fsdist's `-t nfs` with bcc's face: fsdist's histogram, programs and NFS
//! functions (`examples/fsdist`), bcc's flags and sections.

use clap::Parser;
use fsdist_common::FsLatency;
use hist_tool::{
    CommonArgs, PidArg, Section, Timestamp, Tool, ToolError, View,
    hist_core::{
        HistDesc,
        fs::{NFS, Op},
    },
};

const EXAMPLES: &str = "examples:
    nfsdist            # show operation latency as a histogram
    nfsdist -p 181     # trace PID 181 only
    nfsdist 1 10       # print 1 second summaries, 10 times
    nfsdist -m 5       # 5s summaries, milliseconds
    nfsdist -j 1       # one JSON object per second
    nfsdist --prometheus 127.0.0.1:9435   # serve /metrics
    nfsdist --percentiles 1 5          # p50, p90, p99, p99.9 after each histogram
    nfsdist --precision 2 5            # 4 buckets per power of two: within 25%
    nfsdist --per-cpu 5                # the ops' histograms of each CPU
    nfsdist --heatmap nfs.svg 1 60     # a heatmap of one minute, all ops (.svg or .png)";

/// Summarize NFS operation latency.
#[derive(Parser)]
#[command(name = "nfsdist", version, after_help = EXAMPLES)]
struct Args {
    /// don't include timestamp on interval output
    #[arg(short = 'T', long)]
    notimestamp: bool,
    #[command(flatten)]
    pid: PidArg,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() {
    hist_tool::exit_on_error("nfsdist", run(Args::parse()));
}

fn run(args: Args) -> Result<(), ToolError> {
    let tool = Tool::new("nfsdist", args.common, FsLatency::UNIT)?.with_pid(args.pid)?;
    // Built twice (build.rs): start times in the task itself where the kernel can.
    let settings = tool.settings();
    let loaded = tool.load::<FsLatency>(hist_tool::objects!("fsdist"), settings)?;
    let tracing = loaded.attach(NFS.ops)?;
    let banner = "Tracing NFS operation latency... Hit Ctrl-C to end.";
    let view = View::new(banner, "nfsdist_latency_seconds", "NFS operation latency")
        .sections(Some(Section::Operation), |op: &Op| op.name().into())
        .timestamp((!args.notimestamp).then_some(Timestamp::HmsColon));
    tracing.run::<FsLatency>(&view)
}
