//! biolatency: summarize block device I/O latency as a histogram.
//!
//! A rebuild of libbpf-tools' `biolatency` on hist: same flags, same output, plus `-j`,
//! `--prometheus`, `--percentiles`, `--precision` and heatmaps. Copy this directory to start a
//! tool whose operations end in another context than they began: `biolatency-common` describes
//! the histogram, `biolatency-ebpf` keeps each request's start by request and records, and this
//! file reads the kernel's block facts, loads, attaches and prints.

use biolatency_common::{BlockLatency, Config};
use clap::Parser;
use hist_tool::{
    CgroupArg, CommonArgs, Section, Timestamp, Tool, ToolError, View,
    hist_core::{HistDesc, Starts, block, block::DiskFlags},
    kernel::block::BlockFacts,
    plan::Hook,
};

const EXAMPLES: &str = "examples:
    biolatency              # summarize block I/O latency as a histogram
    biolatency 1 10         # print 1 second summaries, 10 times
    biolatency -mT 1        # 1s summaries, milliseconds, and timestamps
    biolatency -Q           # include OS queued time in I/O time
    biolatency -D           # show each disk device separately
    biolatency -F           # show I/O flags separately
    biolatency -d sdc       # trace sdc only
    biolatency -c /sys/fs/cgroup/system.slice   # trace tasks of that cgroup only
    biolatency -D --prometheus 127.0.0.1:9436   # serve /metrics, a disk label";

/// Summarize block device I/O latency as a histogram.
#[derive(Parser)]
#[command(name = "biolatency", version, after_help = EXAMPLES)]
struct Args {
    /// include timestamp on output
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// include OS queued time in I/O time
    #[arg(short = 'Q', long)]
    queued: bool,
    /// print a histogram per disk device
    #[arg(short = 'D', long)]
    disks: bool,
    /// print a histogram per set of I/O flags
    #[arg(short = 'F', long)]
    flags: bool,
    /// trace this disk only
    #[arg(short = 'd', long, value_name = "DISK")]
    disk: Option<String>,
    #[command(flatten)]
    cgroup: CgroupArg,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() {
    hist_tool::exit_on_error("biolatency", run(Args::parse()));
}

fn run(args: Args) -> Result<(), ToolError> {
    let tool =
        Tool::new("biolatency", args.common, BlockLatency::UNIT)?.with_cgroup(args.cgroup)?;
    let facts = BlockFacts::load()?;
    let config = Config {
        settings: tool.settings(),
        queued: args.queued as u32,
        per_disk: args.disks as u32,
        per_flags: args.flags as u32,
        disk: facts.disk_dev(args.disk.as_deref())?,
        request: facts.fields,
    };
    let objects = hist_tool::objects!("biolatency", single);
    let loaded = tool.load::<(BlockLatency, Starts<block::RequestStart>)>(objects, config)?;
    let tracing = loaded.attach(block::ops(args.queued))?;
    if args.flags && tracing.hooks().any(|hook| hook == Hook::Tracepoint) {
        let why = "-F needs tp_btf: the block tracepoints' records have no request flags";
        return Err(ToolError::Usage(why.into()));
    }
    let label = move |key: &DiskFlags| facts.label(key, args.disks, args.flags);
    let name = if args.disks { "disk" } else { "flags" };
    let section = (args.disks || args.flags).then_some(Section::Named(name));
    let banner = "Tracing block device I/O... Hit Ctrl-C to end.";
    let view = View::new(banner, "biolatency_seconds", "Block device I/O latency")
        .sections(section, label)
        .timestamp(args.timestamp.then_some(Timestamp::Hms));
    tracing.run::<BlockLatency>(&view)
}
