//! xfsreclaim: latency of XFS inode reclaim, as text histograms or Prometheus metrics.
//!
//! The XFS reclaim monitor of ebpf_exporter, rebuilt on hist as a tool with bcc's flags: the
//! time the XFS superblock shrinker spends counting (`xfs_fs_nr_cached_objects`) and freeing
//! (`xfs_fs_free_cached_objects`) reclaimable inodes when the kernel needs memory.

use clap::Parser;
use hist_user::{
    HistMap,
    hist_core::HistDesc,
    plan::OpSpec,
    tool::{CommonArgs, Timestamp, Tool, ToolError, View},
};
use xfsreclaim_common::{Op, ReclaimLatency};

const EXAMPLES: &str = "examples:
    xfsreclaim                 # histograms of reclaim latency until Ctrl-C
    xfsreclaim 10 6            # 10 second summaries, 6 times
    xfsreclaim -m 5            # 5s summaries, milliseconds
    xfsreclaim --prometheus 127.0.0.1:9435   # serve /metrics as ebpf_exporter did";

/// Summarize XFS inode reclaim latency.
#[derive(Parser)]
#[command(name = "xfsreclaim", after_help = EXAMPLES)]
struct Args {
    /// don't include timestamp on interval output
    #[arg(short = 'T', long)]
    notimestamp: bool,
    #[command(flatten)]
    common: CommonArgs,
}

const OPS: [OpSpec; 2] = [
    OpSpec::function("count", &["xfs_fs_nr_cached_objects"], Some("xfs")),
    OpSpec::function("free", &["xfs_fs_free_cached_objects"], Some("xfs")),
];

fn main() {
    let args = Args::parse();
    hist_user::tool::exit_on_error("xfsreclaim", run(args));
}

fn run(args: Args) -> Result<(), ToolError> {
    let tool = Tool::new("xfsreclaim", args.common, ReclaimLatency::UNIT)?;
    let object = hist_user::aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xfsreclaim"));
    let mut ebpf = tool.load(object, tool.settings())?;
    tool.attach(&mut ebpf, &OPS)?;
    let view = View {
        banner: "Tracing XFS reclaim latency... Hit Ctrl-C to end.".into(),
        section: Some("operation"),
        label: |op: &Op| op.name().into(),
        timestamp: (!args.notimestamp).then_some(Timestamp::HmsColon),
        averages: false,
        metric: "xfs_reclaim_latency_seconds".into(),
        help: "Latency of XFS inode reclaim operations",
    };
    tool.run(HistMap::<ReclaimLatency>::open(&mut ebpf)?, &view)
}
