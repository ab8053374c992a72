//! kernel-cost: the in-kernel cost per event of hist's tools next to the tools they replace:
//! `cpudist` beside libbpf-tools' `cpudist` and a bpftrace program computing the same
//! histogram; `biolatency` and `runqlat` beside libbpf-tools' and bpftrace's; `nfsdist` beside
//! libbpf-tools' `fsdist -t nfs` and bpftrace, `fsdist -t ext4` beside theirs, `funclatency` on
//! the C library's getpid beside theirs and bpftrace's; `xfsreclaim` beside bpftrace (ebpf_exporter, the
//! original, is not packaged here).
//!
//! As root, with `kernel.bpf_stats_enabled=1` (restored afterwards), each tool runs in turn
//! under the same load, generated here: for cpudist and runqlat, pairs of threads ping-ponging
//! one byte over two pipes (a constant stream of context switches); for nfsdist (fsdist), a loop
//! of open, `pread`, `pwrite`, `fsync`, `stat` and close of a file on a loopback NFSv4.2 mount
//! (an ext4 image on a loop device); for funclatency, calls of getpid(); for
//! xfsreclaim, dropping the inode cache of an XFS file system of 5000 files and reading it back,
//! over and over; for biolatency, direct reads of 4 KiB from a loop device. The kernel counts,
//! per BPF program, how often it ran (`run_cnt`) and for how long
//! (`run_time_ns`); `bpftool prog show --json` reports both, and the program's size after the
//! verifier (`bytes_xlated`). The programs of a tool are the ones it holds file descriptors of
//! (`/proc/<pid>/fdinfo`, `prog_id`), or those that bpftool's `pids` field gives it, so other
//! BPF programs on the machine (even ones with the same names) are never counted. An event is
//! one run of a program: for entry/exit latency, the entry and the exit are one each.
//!
//! For each case the tools run in the order ours, C, bpftrace, bpftrace, C, ours (A B C C B A),
//! so a drift in the machine's speed weighs on all alike; the two runs of a tool are added up.
//! A case whose hook this kernel lacks (ours refuses it) is skipped with ours' reason.
//!
//! ```text
//! cargo build --release -p cpudist -p nfsdist -p xfsreclaim -p biolatency -p runqlat -p fsdist -p funclatency
//! cargo run --release -p hist-benches --bin kernel-cost -- --seconds 5
//! cargo xtask vm --kernel 6.1 -- target/release/kernel-cost --tool nfsdist --tool fsdist
//! ```
//!
//! Our tools are `$HIST_TOOLS_DIR/<tool>`, else this workspace's `target/release/<tool>`;
//! libbpf-tools' are found with `dpkg -L libbpf-tools` (or `$HIST_C_CPUDIST_BIN`,
//! `$HIST_C_FSDIST_BIN`, `$HIST_C_BIOLATENCY_BIN`, `$HIST_C_RUNQLAT_BIN`,
//! `$HIST_C_FUNCLATENCY_BIN`), bpftrace and bpftool likewise (`$HIST_BPFTRACE_BIN`,
//! `$HIST_BPFTOOL_BIN`; packages `bpftrace`, `bpftool`); `cargo xtask bench` installs them, this
//! does not.

use std::{
    collections::BTreeSet,
    fmt::Write as _,
    io::{Read as _, Write as _},
    os::unix::fs::FileExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use anyhow::{Context as _, anyhow, bail};
use clap::{Parser, ValueEnum};
use hist_test_fixtures::{LoopDevice, LoopbackNfs, MountedImage, Xfs, reclaim_inodes};
use serde_json::{Value, json};

/// In-kernel cost per event of hist's tools next to libbpf-tools and bpftrace (needs root).
#[derive(Parser)]
#[command(name = "kernel-cost")]
struct Args {
    /// the tools to measure (default: cpudist, biolatency, runqlat and funclatency, whose hooks
    /// every kernel has)
    #[arg(long = "tool", value_enum)]
    tools: Vec<ToolName>,
    /// seconds of load per run (each tool runs twice per case)
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    seconds: u64,
    /// pairs of threads ping-ponging over pipes to generate context switches (cpudist)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pairs: u64,
    /// print the results as JSON instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ToolName {
    Cpudist,
    Nfsdist,
    Xfsreclaim,
    Biolatency,
    Runqlat,
    Fsdist,
    Funclatency,
}

/// Set by SIGINT / SIGTERM: stop, clean up (tools, load, sysctl) and exit non-zero.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn main() {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => {}
        Err(error) => {
            eprintln!("kernel-cost: {error:#}");
            std::process::exit(1);
        }
    }
}

/// One comparison: the same histogram by each tool, with the arguments each needs for it.
struct Case {
    name: &'static str,
    ours: &'static [&'static str],
    /// The libbpf-tools tool's arguments, when it has one.
    c: Option<&'static [&'static str]>,
    /// A bpftrace program computing the same histogram.
    bpftrace: &'static str,
}

/// What one of our tools is measured against, and under which load.
struct Bench {
    tool: ToolName,
    /// libbpf-tools' counterpart (binary name and its override variable), if any.
    c: Option<(&'static str, &'static str)>,
    cases: &'static [Case],
}

/// bpftrace's on-CPU time: from the switch-in of a CPU's task to its switch-out, idle excluded
/// as in ours.
const BPFTRACE_ON_CPU: &str = "tracepoint:sched:sched_switch { \
    if (args->prev_pid != 0 && @on[cpu]) { @usecs = hist((nsecs - @on[cpu]) / 1000); } \
    @on[cpu] = nsecs; }";
/// bpftrace's off-CPU time: from a task's switch-out to its next switch-in.
const BPFTRACE_OFF_CPU: &str = "tracepoint:sched:sched_switch { \
    if (args->prev_pid != 0) { @off[args->prev_pid] = nsecs; } \
    if (@off[args->next_pid]) { @usecs = hist((nsecs - @off[args->next_pid]) / 1000); \
    delete(@off[args->next_pid]); } }";

/// bpftrace's entry/exit latency idiom (its `tools/xfsdist.bt`), on nfsdist's functions, the
/// histogram keyed by the exit probe's name (bpftrace's `func` has no kfunc form in 0.17).
const BPFTRACE_NFS_KPROBE: &str = "\
    kprobe:nfs_file_read, kprobe:nfs_file_write, kprobe:nfs4_file_open, kprobe:nfs_file_open, \
    kprobe:nfs_file_fsync, kprobe:nfs_getattr { @start[tid] = nsecs; } \
    kretprobe:nfs_file_read, kretprobe:nfs_file_write, kretprobe:nfs4_file_open, \
    kretprobe:nfs_file_open, kretprobe:nfs_file_fsync, kretprobe:nfs_getattr /@start[tid]/ { \
    @usecs[probe] = hist((nsecs - @start[tid]) / 1000); \
    delete(@start[tid]); }";
/// The same on fentry/fexit (bpftrace's `kfunc`/`kretfunc`, module-qualified).
const BPFTRACE_NFS_FENTRY: &str = "\
    kfunc:nfs:nfs_file_read, kfunc:nfs:nfs_file_write, kfunc:nfsv4:nfs4_file_open, \
    kfunc:nfs:nfs_file_open, kfunc:nfs:nfs_file_fsync, kfunc:nfs:nfs_getattr \
    { @start[tid] = nsecs; } \
    kretfunc:nfs:nfs_file_read, kretfunc:nfs:nfs_file_write, kretfunc:nfsv4:nfs4_file_open, \
    kretfunc:nfs:nfs_file_open, kretfunc:nfs:nfs_file_fsync, kretfunc:nfs:nfs_getattr \
    /@start[tid]/ { @usecs[probe] = hist((nsecs - @start[tid]) / 1000); \
    delete(@start[tid]); }";
/// The same idiom on ext4's functions (fsdist -t ext4), kprobes then fentry.
const BPFTRACE_EXT4_KPROBE: &str = "\
    kprobe:ext4_file_read_iter, kprobe:ext4_file_write_iter, kprobe:ext4_file_open, \
    kprobe:ext4_sync_file, kprobe:ext4_file_getattr { @start[tid] = nsecs; } \
    kretprobe:ext4_file_read_iter, kretprobe:ext4_file_write_iter, kretprobe:ext4_file_open, \
    kretprobe:ext4_sync_file, kretprobe:ext4_file_getattr /@start[tid]/ { \
    @usecs[probe] = hist((nsecs - @start[tid]) / 1000); \
    delete(@start[tid]); }";
const BPFTRACE_EXT4_FENTRY: &str = "\
    kfunc:ext4_file_read_iter, kfunc:ext4_file_write_iter, kfunc:ext4_file_open, \
    kfunc:ext4_sync_file, kfunc:ext4_file_getattr { @start[tid] = nsecs; } \
    kretfunc:ext4_file_read_iter, kretfunc:ext4_file_write_iter, kretfunc:ext4_file_open, \
    kretfunc:ext4_sync_file, kretfunc:ext4_file_getattr /@start[tid]/ { \
    @usecs[probe] = hist((nsecs - @start[tid]) / 1000); \
    delete(@start[tid]); }";
/// The C library's getpid, the function funclatency times here (a uprobe, which every kernel of
/// the matrix and this host have); a path, as libbpf-tools' funclatency needs without `-p`.
const LIBC_GETPID: &str = "/lib/x86_64-linux-gnu/libc.so.6:getpid";
/// bpftrace's function latency on it (its `funclatency`-like idiom, in nanoseconds).
const BPFTRACE_GETPID: &str = "\
    uprobe:/lib/x86_64-linux-gnu/libc.so.6:getpid { @start[tid] = nsecs; } \
    uretprobe:/lib/x86_64-linux-gnu/libc.so.6:getpid /@start[tid]/ { \
    @nsecs = hist(nsecs - @start[tid]); delete(@start[tid]); }";
/// The same idiom on xfsreclaim's functions, kprobes then fentry.
const BPFTRACE_XFS_KPROBE: &str = "\
    kprobe:xfs_fs_nr_cached_objects, kprobe:xfs_fs_free_cached_objects \
    { @start[tid] = nsecs; } \
    kretprobe:xfs_fs_nr_cached_objects, kretprobe:xfs_fs_free_cached_objects /@start[tid]/ { \
    @usecs[probe] = hist((nsecs - @start[tid]) / 1000); \
    delete(@start[tid]); }";
const BPFTRACE_XFS_FENTRY: &str = "\
    kfunc:xfs:xfs_fs_nr_cached_objects, kfunc:xfs:xfs_fs_free_cached_objects \
    { @start[tid] = nsecs; } \
    kretfunc:xfs:xfs_fs_nr_cached_objects, kretfunc:xfs:xfs_fs_free_cached_objects \
    /@start[tid]/ { @usecs[probe] = hist((nsecs - @start[tid]) / 1000); \
    delete(@start[tid]); }";

/// bpftrace's block I/O latency (its `tools/biolatency.bt`, on the tracepoints, which 0.17
/// has for every kernel): from issue to completion, by disk and sector.
const BPFTRACE_BIO: &str = "\
    tracepoint:block:block_rq_issue { @start[args->dev, args->sector] = nsecs; } \
    tracepoint:block:block_rq_complete /@start[args->dev, args->sector]/ { \
    @usecs = hist((nsecs - @start[args->dev, args->sector]) / 1000); \
    delete(@start[args->dev, args->sector]); }";

/// bpftrace's run-queue latency (its `tools/runqlat.bt`): from wake-up, or preemption, to
/// switch-in, by thread id (`TASK_RUNNING` is 0).
const BPFTRACE_RUNQ: &str = "\
    tracepoint:sched:sched_wakeup, tracepoint:sched:sched_wakeup_new { @qtime[args->pid] = nsecs; } \
    tracepoint:sched:sched_switch { \
    if (args->prev_state == 0 || args->prev_state == 256) { @qtime[args->prev_pid] = nsecs; } \
    $ns = @qtime[args->next_pid]; \
    if ($ns) { @usecs = hist((nsecs - $ns) / 1000); } delete(@qtime[args->next_pid]); }";

const BENCHES: [Bench; 7] = [
    Bench {
        tool: ToolName::Cpudist,
        c: Some(("cpudist", "HIST_C_CPUDIST_BIN")),
        cases: &[
            Case {
                name: "on-CPU",
                ours: &[],
                c: Some(&[]),
                bpftrace: BPFTRACE_ON_CPU,
            },
            Case {
                name: "off-CPU (-O)",
                ours: &["-O"],
                c: Some(&["-O"]),
                bpftrace: BPFTRACE_OFF_CPU,
            },
            // The log-linear slot (8 buckets per power of two) instead of log2; the others
            // keep log2 (bpftrace 0.17 has no `hist(n, k)`).
            Case {
                name: "on-CPU, ours --precision 3",
                ours: &["--precision", "3"],
                c: Some(&[]),
                bpftrace: BPFTRACE_ON_CPU,
            },
            Case {
                name: "on-CPU, ours --attach tracepoint",
                ours: &["--attach", "tracepoint"],
                c: Some(&[]),
                bpftrace: BPFTRACE_ON_CPU,
            },
        ],
    },
    Bench {
        tool: ToolName::Nfsdist,
        // fsdist picks fentry where the kernel has it, else kprobes: it runs in both cases, and
        // its program type is in the table.
        c: Some(("fsdist", "HIST_C_FSDIST_BIN")),
        cases: &[
            Case {
                name: "NFS, kprobe",
                ours: &["--attach", "kprobe"],
                c: Some(&["-t", "nfs"]),
                bpftrace: BPFTRACE_NFS_KPROBE,
            },
            Case {
                name: "NFS, fentry",
                ours: &["--attach", "fentry"],
                c: Some(&["-t", "nfs"]),
                bpftrace: BPFTRACE_NFS_FENTRY,
            },
        ],
    },
    Bench {
        tool: ToolName::Fsdist,
        c: Some(("fsdist", "HIST_C_FSDIST_BIN")),
        cases: &[
            Case {
                name: "ext4, kprobe",
                ours: &["-t", "ext4", "--attach", "kprobe"],
                c: Some(&["-t", "ext4"]),
                bpftrace: BPFTRACE_EXT4_KPROBE,
            },
            Case {
                name: "ext4, fentry",
                ours: &["-t", "ext4", "--attach", "fentry"],
                c: Some(&["-t", "ext4"]),
                bpftrace: BPFTRACE_EXT4_FENTRY,
            },
        ],
    },
    Bench {
        tool: ToolName::Funclatency,
        c: Some(("funclatency", "HIST_C_FUNCLATENCY_BIN")),
        cases: &[Case {
            name: "libc getpid, uprobe",
            ours: &[LIBC_GETPID],
            c: Some(&[LIBC_GETPID]),
            bpftrace: BPFTRACE_GETPID,
        }],
    },
    Bench {
        tool: ToolName::Biolatency,
        c: Some(("biolatency", "HIST_C_BIOLATENCY_BIN")),
        cases: &[
            Case {
                name: "block I/O",
                ours: &[],
                c: Some(&[]),
                bpftrace: BPFTRACE_BIO,
            },
            Case {
                name: "block I/O per disk (-D)",
                ours: &["-D"],
                c: Some(&["-D"]),
                bpftrace: BPFTRACE_BIO,
            },
        ],
    },
    Bench {
        tool: ToolName::Runqlat,
        c: Some(("runqlat", "HIST_C_RUNQLAT_BIN")),
        cases: &[
            Case {
                name: "run queue",
                ours: &[],
                c: Some(&[]),
                bpftrace: BPFTRACE_RUNQ,
            },
            Case {
                name: "run queue per thread (-L)",
                ours: &["-L"],
                c: Some(&["-L"]),
                bpftrace: BPFTRACE_RUNQ,
            },
        ],
    },
    Bench {
        tool: ToolName::Xfsreclaim,
        c: None,
        cases: &[
            Case {
                name: "XFS reclaim, kprobe",
                ours: &["--attach", "kprobe"],
                c: None,
                bpftrace: BPFTRACE_XFS_KPROBE,
            },
            Case {
                name: "XFS reclaim, fentry",
                ours: &["--attach", "fentry"],
                c: None,
                bpftrace: BPFTRACE_XFS_FENTRY,
            },
        ],
    },
];

impl ToolName {
    fn name(self) -> &'static str {
        match self {
            ToolName::Cpudist => "cpudist",
            ToolName::Nfsdist => "nfsdist",
            ToolName::Xfsreclaim => "xfsreclaim",
            ToolName::Biolatency => "biolatency",
            ToolName::Runqlat => "runqlat",
            ToolName::Fsdist => "fsdist",
            ToolName::Funclatency => "funclatency",
        }
    }
}

/// The tools compared, in the order of a case's first half of runs (the second half reverses
/// it: A B C C B A).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tool {
    Ours,
    C,
    Bpftrace,
}

const TOOLS: [Tool; 3] = [Tool::Ours, Tool::C, Tool::Bpftrace];

impl Tool {
    fn key(self) -> &'static str {
        match self {
            Tool::Ours => "ours",
            Tool::C => "libbpf_tools",
            Tool::Bpftrace => "bpftrace",
        }
    }
}

/// The binaries of one bench.
#[derive(Clone)]
struct Binaries {
    ours: PathBuf,
    c: Option<PathBuf>,
    bpftrace: PathBuf,
}

impl Binaries {
    fn label(&self, bench: &Bench, tool: Tool) -> String {
        match tool {
            Tool::Ours => format!("hist {}", bench.tool.name()),
            Tool::C => format!("libbpf-tools {}", bench.c.map_or("-", |(name, _)| name)),
            Tool::Bpftrace => "bpftrace".to_string(),
        }
    }

    /// The command line of `tool` in `case`; `None` when it has no counterpart there.
    fn command<'a>(&'a self, tool: Tool, case: &'a Case) -> Option<(&'a Path, Vec<&'a str>)> {
        match tool {
            Tool::Ours => Some((&self.ours, case.ours.to_vec())),
            Tool::C => Some((self.c.as_deref()?, case.c?.to_vec())),
            Tool::Bpftrace => Some((&self.bpftrace, vec!["-e", case.bpftrace])),
        }
    }
}

/// The BPF statistics of one run of one tool, over the measured window.
struct Run {
    seconds: f64,
    run_cnt: u64,
    run_time_ns: u64,
    operations: u64,
    programs: Vec<String>,
    /// Program types (`tracing`, `kprobe`, `tracepoint`, …) of the programs that ran.
    types: Vec<String>,
    /// Instructions after the verifier's rewrites (`bytes_xlated / 8`) of the programs that ran.
    xlated_insns: u64,
}

/// The runs of one tool in one case, added up.
#[derive(Default)]
struct Total {
    run_cnt: u64,
    run_time_ns: u64,
    /// The load's operations over the same windows: a ping-pong, a file's open to close, a
    /// relist.
    operations: u64,
    runs: Vec<Run>,
}

impl Total {
    fn ns_per_event(&self) -> Option<f64> {
        (self.run_cnt > 0).then(|| self.run_time_ns as f64 / self.run_cnt as f64)
    }

    /// BPF time per operation of the load: fairer than per event between tools that hook a
    /// different number of functions for the same work (bpftrace hooks `nfs_file_open` and
    /// `nfs4_file_open`, ours the first that exists).
    fn ns_per_operation(&self) -> Option<f64> {
        (self.operations > 0).then(|| self.run_time_ns as f64 / self.operations as f64)
    }

    fn seconds(&self) -> f64 {
        self.runs.iter().map(|run| run.seconds).sum()
    }

    fn joined(&self, field: impl Fn(&Run) -> &Vec<String>) -> String {
        let names: BTreeSet<&str> = self
            .runs
            .iter()
            .flat_map(|run| field(run).iter().map(String::as_str))
            .collect();
        names.into_iter().collect::<Vec<_>>().join(",")
    }

    fn xlated_insns(&self) -> u64 {
        self.runs
            .iter()
            .map(|run| run.xlated_insns)
            .max()
            .unwrap_or(0)
    }

    fn json(&self, command: &[&str]) -> Value {
        json!({
            "args": command,
            "programs": self.joined(|run| &run.programs),
            "types": self.joined(|run| &run.types),
            "xlated_insns": self.xlated_insns(),
            "run_cnt": self.run_cnt,
            "run_time_ns": self.run_time_ns,
            "ns_per_event": self.ns_per_event(),
            "load_operations": self.operations,
            "ns_per_operation": self.ns_per_operation(),
            "events_per_sec": self.run_cnt as f64 / self.seconds(),
            "runs": self.runs.iter().map(|run| json!({
                "seconds": run.seconds,
                "run_cnt": run.run_cnt,
                "run_time_ns": run.run_time_ns,
                "ns_per_event": (run.run_cnt > 0).then(|| run.run_time_ns as f64 / run.run_cnt as f64),
                "load_operations": run.operations,
                "programs": run.programs,
            })).collect::<Vec<_>>(),
        })
    }
}

/// One case's outcome: the totals per tool, or why the case was skipped.
type Outcome = Result<[Total; 3], String>;

fn run(args: &Args) -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "must run as root: it loads eBPF programs and sets kernel.bpf_stats_enabled (try sudo)"
        );
    }
    let selected = if args.tools.is_empty() {
        vec![
            ToolName::Cpudist,
            ToolName::Biolatency,
            ToolName::Runqlat,
            ToolName::Funclatency,
        ]
    } else {
        args.tools.clone()
    };
    let bpftool = installed_binary("HIST_BPFTOOL_BIN", "bpftool", "bpftool")?;
    let bpftrace = installed_binary("HIST_BPFTRACE_BIN", "bpftrace", "bpftrace")?;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(signal, on_signal as *const () as libc::sighandler_t) };
    }
    let _stats = BpfStats::enable()?;
    let window = Duration::from_secs(args.seconds);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();

    let mut results: Vec<(&Bench, &Case, Binaries, Outcome)> = Vec::new();
    for bench in BENCHES.iter().filter(|b| selected.contains(&b.tool)) {
        let binaries = Binaries {
            ours: our_tool(bench.tool.name())?,
            c: bench
                .c
                .map(|(name, var)| installed_binary(var, "libbpf-tools", name))
                .transpose()?,
            bpftrace: bpftrace.clone(),
        };
        // The file system stays mounted for all the cases of its tool.
        let workload = Workload::prepare(bench.tool, args.pairs)?;
        if !args.json {
            eprintln!(
                "kernel-cost: {} on {kernel}: {} cases × {} runs of {} s, load: {}",
                bench.tool.name(),
                bench.cases.len(),
                2 * TOOLS.len(),
                args.seconds,
                workload.describe(),
            );
        }
        for case in bench.cases {
            let outcome = measure_case(args, &bpftool, bench, case, &binaries, &workload, window)?;
            if let (Err(why), false) = (&outcome, args.json) {
                eprintln!("  {:<34} skipped: {why}", case.name);
            }
            results.push((bench, case, binaries.clone(), outcome));
        }
    }

    if args.json {
        let cases: Vec<Value> = results
            .iter()
            .map(|(bench, case, binaries, outcome)| {
                let mut object = json!({ "tool": bench.tool.name(), "case": case.name });
                match outcome {
                    Err(why) => object["skipped"] = json!(why),
                    Ok(totals) => {
                        for tool in TOOLS {
                            let Some((_, command)) = binaries.command(tool, case) else {
                                continue;
                            };
                            object[tool.key()] = totals[tool as usize].json(&command);
                            if tool != Tool::Ours {
                                let (ours, it) =
                                    (&totals[Tool::Ours as usize], &totals[tool as usize]);
                                object[format!("ratio_ours_to_{}", tool.key())] =
                                    json!(ratio(ours, it, Total::ns_per_event));
                                object[format!("ratio_per_operation_ours_to_{}", tool.key())] =
                                    json!(ratio(ours, it, Total::ns_per_operation));
                            }
                        }
                    }
                }
                object
            })
            .collect();
        let report = json!({
            "kernel": kernel,
            "seconds_per_run": args.seconds,
            "load_pairs": args.pairs,
            "order": "ours, C, bpftrace, bpftrace, C, ours",
            "cases": cases,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&kernel, &results));
    }
    Ok(())
}

/// The six runs of one case; `Err` with ours' reason when ours cannot hook this way here.
fn measure_case(
    args: &Args,
    bpftool: &Path,
    bench: &Bench,
    case: &Case,
    binaries: &Binaries,
    workload: &Workload,
    window: Duration,
) -> anyhow::Result<Outcome> {
    let mut totals: [Total; 3] = Default::default();
    let order = TOOLS.iter().chain(TOOLS.iter().rev());
    for (i, &tool) in order.enumerate() {
        let Some((path, tool_args)) = binaries.command(tool, case) else {
            continue;
        };
        let label = binaries.label(bench, tool);
        let mut attempts = 0;
        let measured = loop {
            attempts += 1;
            match measure(bpftool, path, &tool_args, window, workload) {
                Err(Failure::Changed) if attempts < 3 => {
                    eprintln!("  {label}: its BPF programs changed during the run; again");
                }
                other => break other,
            }
        };
        let run = match measured {
            Ok(run) => run,
            // Ours refusing the hook at its first run: this kernel lacks it.
            Err(Failure::Exited(why)) if i == 0 => return Ok(Err(why)),
            Err(Failure::Exited(why)) => bail!("{label} ({}): {why}", case.name),
            Err(Failure::Changed) => {
                bail!(
                    "{label} ({}): its BPF programs changed in each of 3 runs",
                    case.name
                )
            }
            Err(Failure::Other(error)) => {
                return Err(error.context(format!("{label} ({})", case.name)));
            }
        };
        if !args.json {
            eprintln!(
                "  {:<34} {:<24} {:>10} events {:>8.1} ns/event",
                case.name,
                label,
                run.run_cnt,
                run.run_time_ns as f64 / run.run_cnt.max(1) as f64
            );
        }
        let total = &mut totals[tool as usize];
        total.run_cnt += run.run_cnt;
        total.run_time_ns += run.run_time_ns;
        total.operations += run.operations;
        total.runs.push(run);
    }
    Ok(Ok(totals))
}

fn ratio(ours: &Total, peer: &Total, per: fn(&Total) -> Option<f64>) -> Option<f64> {
    Some(per(ours)? / per(peer)?)
}

fn table(kernel: &str, results: &[(&Bench, &Case, Binaries, Outcome)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "kernel {kernel}");
    let _ = writeln!(
        out,
        "{:<34} {:<24} {:<10} {:>6} {:>10} {:>9} {:>8} {:>9} {:>8}",
        "case", "tool", "type", "insns", "events", "ns/event", "ours/it", "ns/op", "ours/it"
    );
    for (bench, case, binaries, outcome) in results {
        let totals = match outcome {
            Ok(totals) => totals,
            Err(why) => {
                let _ = writeln!(out, "{:<34} skipped: {why}", case.name);
                continue;
            }
        };
        let ours = &totals[Tool::Ours as usize];
        for tool in TOOLS {
            if binaries.command(tool, case).is_none() {
                continue;
            }
            let total = &totals[tool as usize];
            let number = |n: Option<f64>, digits: usize| {
                n.map_or("-".to_string(), |n| format!("{n:.digits$}"))
            };
            let _ = writeln!(
                out,
                "{:<34} {:<24} {:<10} {:>6} {:>10} {:>9} {:>8} {:>9} {:>8}",
                case.name,
                binaries.label(bench, tool),
                total.joined(|run| &run.types),
                total.xlated_insns(),
                total.run_cnt,
                number(total.ns_per_event(), 1),
                number(ratio(ours, total, Total::ns_per_event), 2),
                number(total.ns_per_operation(), 0),
                number(ratio(ours, total, Total::ns_per_operation), 2),
            );
        }
    }
    out
}

/// Our `tool`: `$HIST_TOOLS_DIR/<tool>`, else this workspace's `target/release/<tool>`.
fn our_tool(tool: &str) -> anyhow::Result<PathBuf> {
    let path = match std::env::var_os("HIST_TOOLS_DIR") {
        Some(dir) => PathBuf::from(dir).join(tool),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/release")
            .join(tool),
    };
    if !path.is_file() {
        bail!(
            "hist's {tool} not found at {} (build it with `cargo build --release -p {tool}`, or set HIST_TOOLS_DIR)",
            path.display()
        );
    }
    Ok(path.canonicalize().unwrap_or(path))
}

/// The binary `name` of Debian package `package`: `$env_var` if set, else the package's file
/// list.
fn installed_binary(env_var: &str, package: &str, name: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(env_var) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("{env_var}={} is not a file", path.display());
        }
        return Ok(path);
    }
    match package_binary(package, name)? {
        Some(path) => Ok(path),
        None => bail!(
            "{name} is missing: install the Debian package {package} (`cargo xtask bench` does), \
             or set {env_var}"
        ),
    }
}

/// The file of `package` that is an executable named `name`, if the package is installed.
fn package_binary(package: &str, name: &str) -> anyhow::Result<Option<PathBuf>> {
    let output = match Command::new("dpkg").args(["-L", package]).output() {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "dpkg not found: this is not Debian; install {package} and set the path to {name} in the environment"
            )
        }
        Err(error) => return Err(error).context("running dpkg -L"),
    };
    if !output.status.success() {
        return Ok(None);
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(Path::new)
        .find(|path| {
            path.file_name().is_some_and(|file| file == name)
                && path
                    .parent()
                    .is_some_and(|dir| dir.ends_with("bin") || dir.ends_with("sbin"))
                && path.is_file()
        })
        .map(Path::to_path_buf))
}

/// `kernel.bpf_stats_enabled` set to 1 while this lives, and put back as it was afterwards.
struct BpfStats {
    previous: String,
}

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl BpfStats {
    fn enable() -> anyhow::Result<Self> {
        let previous = std::fs::read_to_string(BPF_STATS)
            .with_context(|| format!("reading {BPF_STATS} (kernel without BPF statistics?)"))?
            .trim()
            .to_string();
        std::fs::write(BPF_STATS, "1").with_context(|| format!("writing 1 to {BPF_STATS}"))?;
        Ok(Self { previous })
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        if let Err(error) = std::fs::write(BPF_STATS, &self.previous) {
            eprintln!(
                "kernel-cost: could not restore kernel.bpf_stats_enabled={}: {error}",
                self.previous
            );
        }
    }
}

/// Why a run gave no numbers: the tool exited by itself (its last line of stderr), or
/// anything else.
enum Failure {
    Exited(String),
    /// The tool's programs changed inside the measured window (bpftrace on 6.12 did, once):
    /// the numbers would mix programs, so the run is taken again.
    Changed,
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::Other(error)
    }
}

/// Runs `tool args` under the load for `window`, and returns what its programs cost.
fn measure(
    bpftool: &Path,
    tool: &Path,
    args: &[&str],
    window: Duration,
    workload: &Workload,
) -> Result<Run, Failure> {
    let mut child = ToolProcess::spawn(tool, args)?;
    let load = workload.start()?;

    // Attached: the tool holds its programs, they have run (the load keeps them busy), and
    // for 2 s neither the programs held nor the ones that ran changed (tools load and attach
    // one op after the other; bpftrace takes up to 20 s to attach under emulation).
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = (BTreeSet::new(), BTreeSet::new());
    let mut stable_since = Instant::now();
    let before = loop {
        check_interrupted()?;
        child.check_running()?;
        let programs = child.programs(bpftool)?;
        let now_seen = (
            programs.iter().map(|p| p.id).collect::<BTreeSet<_>>(),
            programs
                .iter()
                .filter(|p| p.run_cnt > 0)
                .map(|p| p.id)
                .collect::<BTreeSet<_>>(),
        );
        if now_seen != seen {
            seen = now_seen;
            stable_since = Instant::now();
        } else if !seen.1.is_empty() && stable_since.elapsed() >= Duration::from_secs(2) {
            break programs;
        }
        if Instant::now() > deadline {
            return Err(anyhow!("its BPF programs did not all start running within 120 s").into());
        }
        thread::sleep(Duration::from_millis(50));
    };

    let start = Instant::now();
    let operations_before = load.operations();
    sleep_interruptibly(window)?;
    let after = child.programs(bpftool)?;
    let seconds = start.elapsed().as_secs_f64();
    let operations = load.operations() - operations_before;
    child.check_running()?;
    drop(load);
    child.stop();

    if after.iter().map(|p| p.id).ne(before.iter().map(|p| p.id)) {
        return Err(Failure::Changed);
    }
    let ran: Vec<(&ProgStats, &ProgStats)> = after
        .iter()
        .zip(&before)
        .filter(|(a, b)| a.run_cnt > b.run_cnt)
        .collect();
    let types: BTreeSet<String> = ran.iter().map(|(a, _)| a.kind.clone()).collect();
    Ok(Run {
        seconds,
        run_cnt: ran.iter().map(|(a, b)| a.run_cnt - b.run_cnt).sum(),
        run_time_ns: ran.iter().map(|(a, b)| a.run_time_ns - b.run_time_ns).sum(),
        operations,
        xlated_insns: ran.iter().map(|(a, _)| a.xlated_insns).sum(),
        types: types.into_iter().collect(),
        programs: ran.iter().map(|(a, _)| a.name.clone()).collect(),
    })
}

fn check_interrupted() -> anyhow::Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

fn sleep_interruptibly(duration: Duration) -> anyhow::Result<()> {
    let end = Instant::now() + duration;
    loop {
        check_interrupted()?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        thread::sleep((end - now).min(Duration::from_millis(100)));
    }
}

/// One BPF program's counters, from `bpftool prog show --json`.
struct ProgStats {
    id: u32,
    name: String,
    run_cnt: u64,
    run_time_ns: u64,
    xlated_insns: u64,
    /// bpftool's program type: `tracing` (tp_btf, fentry), `kprobe`, `tracepoint`, …
    kind: String,
}

/// A tool running in the background; stopped (SIGINT, then SIGKILL) when dropped.
struct ToolProcess {
    child: Child,
    command: String,
    stderr: Option<JoinHandle<String>>,
}

impl ToolProcess {
    fn spawn(tool: &Path, args: &[&str]) -> anyhow::Result<Self> {
        let command = std::iter::once(tool.display().to_string())
            .chain(args.iter().map(|arg| arg.to_string()))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new(tool)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {command}"))?;
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        });
        Ok(Self {
            child,
            command,
            stderr: Some(stderr),
        })
    }

    /// The tool's last line of stderr if it has exited.
    fn check_running(&mut self) -> Result<(), Failure> {
        let Some(status) = self.child.try_wait().context("waiting for the tool")? else {
            return Ok(());
        };
        let stderr = self
            .stderr
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default();
        // bpftrace follows its error line with the source and a caret line.
        let last = stderr
            .lines()
            .find(|line| line.contains("ERROR") || line.contains("error:"))
            .or_else(|| stderr.lines().rfind(|line| !line.trim().is_empty()));
        Err(Failure::Exited(format!(
            "`{}` exited ({status}): {}",
            self.command,
            last.unwrap_or("no message")
        )))
    }

    /// The ids of the BPF programs whose file descriptors the tool holds.
    fn prog_ids(&self) -> BTreeSet<u32> {
        let pid = self.child.id();
        let mut ids = BTreeSet::new();
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return ids;
        };
        for fd in fds.flatten() {
            let is_prog = std::fs::read_link(fd.path())
                .is_ok_and(|target| target.as_os_str() == "anon_inode:bpf-prog");
            if !is_prog {
                continue;
            }
            let fdinfo = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
            let Ok(info) = std::fs::read_to_string(fdinfo) else {
                continue;
            };
            ids.extend(info.lines().find_map(|line| {
                line.strip_prefix("prog_id:")
                    .and_then(|id| id.trim().parse::<u32>().ok())
            }));
        }
        ids
    }

    /// bpftool's counters of the tool's programs: those it holds (fdinfo), plus those that
    /// bpftool attributes to its pid when bpftool can (its `pids` field).
    fn programs(&self, bpftool: &Path) -> anyhow::Result<Vec<ProgStats>> {
        let ids = self.prog_ids();
        let pid = self.child.id() as u64;
        let output = Command::new(bpftool)
            .args(["prog", "show", "--json"])
            .stderr(Stdio::piped())
            .output()
            .context("running bpftool prog show --json")?;
        if !output.status.success() {
            bail!(
                "bpftool prog show --json failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let list: Value =
            serde_json::from_slice(&output.stdout).context("parsing bpftool's JSON")?;
        let list = list
            .as_array()
            .ok_or_else(|| anyhow!("bpftool's JSON is not a list of programs"))?;
        Ok(list
            .iter()
            .filter(|prog| {
                let id = prog["id"].as_u64().unwrap_or(u64::MAX);
                let by_fd = u32::try_from(id).is_ok_and(|id| ids.contains(&id));
                let by_pid = prog["pids"]
                    .as_array()
                    .is_some_and(|pids| pids.iter().any(|p| p["pid"].as_u64() == Some(pid)));
                by_fd || by_pid
            })
            .map(|prog| ProgStats {
                id: prog["id"].as_u64().unwrap_or_default() as u32,
                name: prog["name"].as_str().unwrap_or("?").to_string(),
                // bpftool leaves both out while run_time_ns is 0.
                run_cnt: prog["run_cnt"].as_u64().unwrap_or(0),
                run_time_ns: prog["run_time_ns"].as_u64().unwrap_or(0),
                xlated_insns: prog["bytes_xlated"].as_u64().unwrap_or(0) / 8,
                kind: prog["type"].as_str().unwrap_or("?").to_string(),
            })
            .collect())
    }

    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // SAFETY: signalling our own child, which has not been reaped (try_wait said so).
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ToolProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What keeps a tool's probes busy, set up once per tool (a file system mounted, files made).
enum Workload {
    /// Pairs of threads passing one byte back and forth over two pipes, each side blocking in
    /// `read` until the other has written: context switches.
    Switches { pairs: u64 },
    /// File operations on a file of a loopback NFS mount (unmounted on drop).
    NfsFiles { file: PathBuf, _nfs: LoopbackNfs },
    /// The same on a file of an image on a loop device (unmounted on drop).
    ImageFiles { file: PathBuf, _image: MountedImage },
    /// Inode cache reclaim of an XFS file system's files, over and over.
    XfsReclaim { xfs: Xfs },
    /// Direct reads of 4 KiB from a loop device: one block request each.
    DirectReads { disk: LoopDevice },
    /// Calls of the C library's getpid.
    Getpids,
}

/// Files made on the XFS file system: each reclaim round frees their inodes.
const XFS_FILES: usize = 5000;

impl Workload {
    fn prepare(tool: ToolName, pairs: u64) -> anyhow::Result<Workload> {
        Ok(match tool {
            ToolName::Cpudist | ToolName::Runqlat => Workload::Switches { pairs },
            ToolName::Nfsdist => {
                let nfs = LoopbackNfs::mount().map_err(|why| anyhow!("NFS: {why}"))?;
                let file = nfs.mnt().join("file");
                std::fs::write(&file, vec![7u8; 64 << 10])
                    .with_context(|| format!("writing {}", file.display()))?;
                Workload::NfsFiles { file, _nfs: nfs }
            }
            ToolName::Fsdist => {
                let image = MountedImage::mount_fs("ext4", "mkfs.ext4 -q")
                    .map_err(|why| anyhow!("ext4: {why}"))?;
                let file = image.mnt().join("file");
                std::fs::write(&file, vec![7u8; 64 << 10])
                    .with_context(|| format!("writing {}", file.display()))?;
                Workload::ImageFiles {
                    file,
                    _image: image,
                }
            }
            ToolName::Xfsreclaim => {
                let xfs = Xfs::mount().map_err(|why| anyhow!("XFS: {why}"))?;
                for i in 0..XFS_FILES {
                    let path = xfs.mnt().join(format!("f{i}"));
                    std::fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                }
                Workload::XfsReclaim { xfs }
            }
            ToolName::Biolatency => {
                let disk = LoopDevice::attach(64, None).map_err(|why| anyhow!("loop: {why}"))?;
                Workload::DirectReads { disk }
            }
            ToolName::Funclatency => Workload::Getpids,
        })
    }

    fn describe(&self) -> String {
        match self {
            Workload::Switches { pairs } => format!("{pairs} ping-pong pair(s)"),
            Workload::NfsFiles { file, .. } | Workload::ImageFiles { file, .. } => format!(
                "open, pread, pwrite, fsync, stat, close of {}",
                file.display()
            ),
            Workload::XfsReclaim { xfs } => format!(
                "drop_caches and relist of {XFS_FILES} files on {}",
                xfs.mnt().display()
            ),
            Workload::DirectReads { disk } => {
                format!("O_DIRECT reads of 4 KiB from {}", disk.path())
            }
            Workload::Getpids => "calls of the C library's getpid()".to_owned(),
        }
    }

    fn start(&self) -> anyhow::Result<Load> {
        let load = Load::default();
        match self {
            Workload::Switches { pairs } => {
                for _ in 0..*pairs {
                    load.ping_pong()?;
                }
            }
            Workload::NfsFiles { file, .. } | Workload::ImageFiles { file, .. } => {
                let file = file.clone();
                load.spawn(move || {
                    let mut buffer = [0u8; 4096];
                    let handle = std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(&file)?;
                    handle.read_at(&mut buffer, 0)?;
                    handle.write_at(&buffer, 4096)?;
                    handle.sync_all()?;
                    std::fs::metadata(&file)?;
                    Ok(())
                });
            }
            Workload::XfsReclaim { xfs } => {
                let dir = xfs.mnt();
                load.spawn(move || reclaim_inodes(&dir).map_err(std::io::Error::other));
            }
            Workload::Getpids => {
                load.spawn(|| {
                    // SAFETY: getpid(2) through the C library, without arguments.
                    std::hint::black_box(unsafe { libc::getpid() });
                    Ok(())
                });
            }
            Workload::DirectReads { disk } => {
                use std::os::unix::fs::OpenOptionsExt as _;
                let device = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_DIRECT)
                    .open(disk.path())
                    .with_context(|| format!("opening {}", disk.path()))?;
                // O_DIRECT wants a buffer aligned to the logical block size.
                #[repr(C, align(4096))]
                struct Block([u8; 4096]);
                let mut block = Block([0; 4096]);
                let mut offset = 0;
                load.spawn(move || {
                    // The whole block, not its field alone (a closure captures only the field
                    // it names, which is not aligned).
                    let aligned: &mut Block = &mut block;
                    offset = (offset + 4096) % (64 << 20);
                    device.read_at(&mut aligned.0, offset).map(drop)
                });
            }
        }
        Ok(load)
    }
}

/// A running load: threads repeating an operation until dropped.
#[derive(Default)]
struct Load {
    stop: Arc<AtomicBool>,
    operations: Arc<AtomicU64>,
    threads: std::cell::RefCell<Vec<JoinHandle<()>>>,
}

impl Load {
    /// Repeats `operation` on a thread until stopped or until it fails.
    fn spawn(&self, mut operation: impl FnMut() -> std::io::Result<()> + Send + 'static) {
        let (stop, operations) = (self.stop.clone(), self.operations.clone());
        self.threads.borrow_mut().push(thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Err(error) = operation() {
                    eprintln!("kernel-cost: the load stopped: {error}");
                    return;
                }
                operations.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    /// One pair of threads passing a byte back and forth over two pipes.
    fn ping_pong(&self) -> anyhow::Result<()> {
        let (mut ping_rx, mut ping_tx) = std::io::pipe().context("creating a pipe")?;
        let (mut pong_rx, mut pong_tx) = std::io::pipe().context("creating a pipe")?;
        self.spawn(move || {
            let mut byte = [1u8];
            ping_tx.write_all(&[1])?;
            pong_rx.read_exact(&mut byte)
        });
        // The echoing side ends when the pinging side's pipe closes.
        self.threads.borrow_mut().push(thread::spawn(move || {
            let mut byte = [0u8];
            while ping_rx.read_exact(&mut byte).is_ok() {
                if pong_tx.write_all(&[1]).is_err() {
                    return;
                }
            }
        }));
        Ok(())
    }

    fn operations(&self) -> u64 {
        self.operations.load(Ordering::Relaxed)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.get_mut().drain(..) {
            let _ = thread.join();
        }
    }
}
