//! xfsreclaim: latency of XFS inode reclaim, as text histograms or Prometheus metrics.
//!
//! The XFS reclaim monitor of ebpf_exporter, rebuilt on hist as a tool with bcc's flags: the
//! time the XFS superblock shrinker spends counting (`xfs_fs_nr_cached_objects`) and freeing
//! (`xfs_fs_free_cached_objects`) reclaimable inodes when the kernel needs memory. Where neither
//! kprobes nor fentry can reach them, it falls back to what tracepoints can see: whole scans of
//! XFS superblock shrinkers (`operation = scan`).

use clap::Parser;
use hist_tool::{
    CommonArgs, Section, Timestamp, Tool, ToolError, View,
    hist_core::{HistDesc, Settings},
    kernel::{KernelBtf, KernelError},
};
use xfsreclaim_common::{Config, OPS, Op, ReclaimLatency, SCAN, ScanLatency};

const EXAMPLES: &str = "examples:
    xfsreclaim                 # histograms of reclaim latency until Ctrl-C
    xfsreclaim 10 6            # 10 second summaries, 6 times
    xfsreclaim --prometheus 127.0.0.1:9435   # serve /metrics as ebpf_exporter did
    xfsreclaim --percentiles 10         # p50, p90, p99, p99.9 after each histogram
    xfsreclaim --precision 3 10         # 8 buckets per power of two: within 12.5%
    xfsreclaim --per-cpu 5              # the ops' histograms of each CPU
    xfsreclaim --heatmap reclaim.png 10 360   # a heatmap of an hour (.svg or .png)";

/// Summarize XFS inode reclaim latency (without kprobes or fentry: XFS shrinker scans).
#[derive(Parser)]
#[command(name = "xfsreclaim", version, after_help = EXAMPLES)]
struct Args {
    /// don't include timestamp on interval output
    #[arg(short = 'T', long)]
    notimestamp: bool,
    #[command(flatten)]
    common: CommonArgs,
}

/// What a run measures: the reclaim callbacks, or where no hook reaches them, whole scans.
enum Measured {
    Reclaim,
    Scans,
}

fn main() {
    hist_tool::exit_on_error("xfsreclaim", run(Args::parse()));
}

fn run(args: Args) -> Result<(), ToolError> {
    let tool = Tool::new("xfsreclaim", args.common, ReclaimLatency::UNIT)?;
    let config = superblock_offsets(tool.settings())?;
    // Built twice (build.rs): start times in the task itself where the kernel can.
    let objects = hist_tool::objects!("xfsreclaim");
    let loaded = tool.load::<(ReclaimLatency, ScanLatency)>(objects, config)?;
    let alternatives = [(Measured::Reclaim, &OPS[..]), (Measured::Scans, &SCAN[..])];
    let (tracing, measured) = loaded.attach_first(alternatives)?;
    let what = match measured {
        Measured::Reclaim => "reclaim latency",
        Measured::Scans => "shrinker scans (no kprobe or fentry)",
    };
    let banner = format!("Tracing XFS {what}... Hit Ctrl-C to end.");
    let help = "Latency of XFS inode reclaim operations";
    let view = View::new(banner, "xfs_reclaim_latency_seconds", help)
        .sections(Some(Section::Operation), |op: &Op| op.name().into())
        .timestamp((!args.notimestamp).then_some(Timestamp::HmsColon));
    match measured {
        Measured::Reclaim => tracing.run::<ReclaimLatency>(&view),
        Measured::Scans => tracing.run::<ScanLatency>(&view),
    }
}

/// The settings, and where this kernel keeps a shrinker's superblock and its file system's
/// name, from its BTF (for the fallback).
fn superblock_offsets(settings: Settings) -> Result<Config, KernelError> {
    let btf = KernelBtf::load()?;
    let offset = |name, member| Ok(btf.member_offset(name, member)?.unwrap_or(0));
    Ok(Config {
        private_data: offset("shrinker", "private_data")?,
        shrinker_in_sb: offset("super_block", "s_shrink")?,
        s_type: offset("super_block", "s_type")?,
        fs_name: offset("file_system_type", "name")?,
        settings,
    })
}
