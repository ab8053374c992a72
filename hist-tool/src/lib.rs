//! The runner every tool shares, so that a tool's `main` is its own flags plus a few lines:
//! bcc's common flags ([`CommonArgs`]), loading the eBPF object with its settings, attaching by
//! [`plan`], the interval loop with Ctrl-C/SIGTERM, and the output modes — bcc's
//! text, `-j` JSON (one object per interval) and `--prometheus ADDR` (`/metrics`, cumulative).
//!
//! ```no_run
//! # struct Latency;
//! # impl hist_core::HistDesc for Latency {
//! #     type Prefix = u32;
//! #     const NAME: &'static str = "LATENCY";
//! #     const LAYOUT: hist_core::Layout = hist_core::Layout::log2(26);
//! #     const UNIT: hist_core::Unit = hist_core::Unit::Microseconds;
//! #     const PREFIXES: u32 = 2;
//! # }
//! # let object: &[u8] = &[];
//! use clap::Parser as _;
//! use hist_core::HistDesc as _;
//! use hist_tool::{CommonArgs, Section, Timestamp, Tool, View, plan::OpSpec};
//!
//! #[derive(clap::Parser)]
//! struct Args {
//!     #[command(flatten)]
//!     common: CommonArgs,
//! }
//!
//! const OPS: [OpSpec; 1] = [OpSpec {
//!     name: "count",
//!     program: "count",
//!     functions: &["xfs_fs_nr_cached_objects"],
//!     module: Some("xfs"),
//!     tracepoints: &[],
//! }];
//!
//! let tool = Tool::new("xfsreclaim", Args::parse().common, Latency::UNIT)?;
//! let settings = tool.settings();
//! let tracing = tool.load::<Latency>(object, settings)?.attach(&OPS)?;
//! let view = View::new(
//!     "Tracing XFS reclaim latency... Hit Ctrl-C to end.",
//!     "xfs_reclaim_latency_seconds",
//!     "XFS reclaim latency",
//! )
//! .sections(Some(Section::Operation), |op: &u32| ["count", "free"][*op as usize % 2].into())
//! .timestamp(Some(Timestamp::HmsColon));
//! tracing.run::<Latency>(&view)?;
//! # Ok::<(), hist_tool::ToolError>(())
//! ```
#![deny(missing_docs)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use aya::{Ebpf, EbpfLoader};
use hist_attach::{
    kernel::KernelError,
    plan::{Attached, Hook, KernelFacts, OpSpec, Plan, PlanError},
};
use hist_core::{
    HistDesc, HistDescs, Layout, LogLinear, OP_START_MAP, Settings, StartDomain, TASK_START_MAP,
    ToolConfig, Unit,
};
use hist_user::{
    DropCounters, Drops, Error, HistMap, IntervalCounts, IntervalReader, Report, percentile,
};

use crate::interval::{Intervals, Wakeup, local_time_hms};

mod functions;
pub mod interval;
pub mod text;

pub use aya;
pub use hist_attach::{self, kernel, plan};
pub use hist_core;
pub use hist_output as output;
pub use hist_user;

/// A tool's eBPF object: the plain build, and optionally the build with `hist_ebpf`'s feature
/// `task-storage` ([`hist_build::ebpf_variants`](https://docs.rs/hist-build)), which
/// [`Tool::load`] prefers where the kernel has task storage. A plain `&'static [u8]` converts
/// into one without.
#[derive(Clone, Copy, Debug)]
pub struct Objects {
    /// The object built without the feature: runs on every kernel the tool supports.
    pub plain: &'static [u8],
    /// The object built with it (`<binary>-task-storage` in `OUT_DIR`).
    pub task_storage: Option<&'static [u8]>,
}

/// The [`Objects`] a tool's `build.rs` made with
/// `hist_build::ebpf_variants(&["../<tool>-ebpf"], &["task-storage"])`: `objects!("cpudist")`
/// embeds `$OUT_DIR/cpudist` and `$OUT_DIR/cpudist-task-storage`. A tool built once, with
/// `hist_build::ebpf(&["../<tool>-ebpf"])` (its starts keyed by request, say, not kept in the
/// task): `objects!("biolatency", single)` embeds `$OUT_DIR/biolatency` alone.
#[macro_export]
macro_rules! objects {
    ($binary:literal, single) => {
        $crate::Objects {
            plain: $crate::aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/", $binary)),
            task_storage: None,
        }
    };
    ($binary:literal) => {
        $crate::Objects {
            plain: $crate::aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/", $binary)),
            task_storage: Some($crate::aya::include_bytes_aligned!(concat!(
                env!("OUT_DIR"),
                "/",
                $binary,
                "-task-storage"
            ))),
        }
    };
}

impl From<&'static [u8]> for Objects {
    fn from(plain: &'static [u8]) -> Self {
        Self {
            plain,
            task_storage: None,
        }
    }
}

/// The flags every tool shares, as bcc spells them. A tool flattens them into its own
/// (`#[command(flatten)] common: CommonArgs`); the timestamp flag is the tool's own, because
/// bcc's tools disagree on it (cpudist's `-T` adds timestamps, nfsdist's `-T` removes them).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CommonArgs {
    /// millisecond histogram
    #[arg(short = 'm', long)]
    pub milliseconds: bool,
    /// print one JSON object per interval instead of text
    #[arg(short = 'j', long)]
    pub json: bool,
    /// serve cumulative histograms for Prometheus at http://ADDR/metrics instead of printing
    #[arg(long, value_name = "ADDR", conflicts_with = "json")]
    pub prometheus: Option<String>,
    /// hook the kernel this way only (default: the best this kernel offers)
    #[arg(long, value_enum, value_name = "HOOK")]
    pub attach: Option<Hook>,
    /// say which hook each operation got
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// after each histogram, p50, p90, p99, p99.9 and the highest bucket, each with the bucket
    /// it lies in (text and JSON)
    #[arg(long, conflicts_with = "prometheus")]
    pub percentiles: bool,
    /// at exit, write a heatmap of the whole run (interval × bucket) to FILE, .svg or .png
    #[arg(long, value_name = "FILE", conflicts_with = "prometheus")]
    pub heatmap: Option<PathBuf>,
    /// one histogram per CPU instead of their sum (text, JSON and Prometheus: a cpu label)
    #[arg(long)]
    pub per_cpu: bool,
    /// 2^K buckets per power of two (0 to 5): K = 3 reports a value within 12.5%, at 8× the
    /// map memory; 0 is bcc's log2 histogram
    #[arg(long, value_name = "K", default_value_t = 0, value_parser = parse_precision)]
    pub precision: u32,
    /// output interval, in seconds
    #[arg(value_parser = parse_interval)]
    pub interval: Option<u64>,
    /// number of outputs
    #[arg(value_parser = parse_count)]
    pub count: Option<u64>,
}

/// bcc's `-p PID`, for a tool whose events belong to a process (not xfsreclaim's, whose
/// reclaim runs in whichever task needed memory): flatten it beside [`CommonArgs`] and give it
/// to [`Tool::with_pid`].
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct PidArg {
    /// trace this PID only
    #[arg(short = 'p', long, value_name = "PID")]
    pub pid: Option<u32>,
}

/// libbpf-tools' `-c CGROUP_PATH`, for a tool whose probes check it
/// (`hist_ebpf::in_traced_cgroup`): flatten it beside [`CommonArgs`] and give it to
/// [`Tool::with_cgroup`].
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CgroupArg {
    /// trace only tasks in this cgroup (v2) or below it, e.g. /sys/fs/cgroup/system.slice
    #[arg(short = 'c', long, value_name = "CGROUP_PATH")]
    pub cgroup: Option<PathBuf>,
}

/// bcc's interval check, as a clap value parser: a whole number of seconds, at least 1.
pub fn parse_interval(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("the interval must be at least 1 second".into()),
        Ok(seconds) => Ok(seconds),
        Err(_) => Err(format!("'{text}' is not a whole number of seconds")),
    }
}

/// `--precision`'s check, as a clap value parser: 0 to [`LogLinear::MAX_PRECISION`].
pub fn parse_precision(text: &str) -> Result<u32, String> {
    let max = LogLinear::MAX_PRECISION;
    match text.parse::<u32>() {
        Ok(precision) if precision <= max => Ok(precision),
        _ => Err(format!(
            "the precision must be a whole number from 0 to {max} (2^K buckets per power of two)"
        )),
    }
}

/// bcc's count check, as a clap value parser: a whole number, at least 1.
pub fn parse_count(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("count must be at least 1".into()),
        Ok(count) => Ok(count),
        Err(_) => Err(format!("'{text}' is not a whole number of outputs")),
    }
}

/// Why a tool stops. Every message is one line.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The kernel or the privileges are not what the tool needs.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// No set of operations could be hooked whole: each set's lines, one per failing op.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Plan(Vec<PlanError>),
    /// Reading a histogram map failed.
    #[error(transparent)]
    Map(#[from] Error),
    /// `-p` names no running process.
    #[error("no process with PID {0} (-p takes the PID of a running process)")]
    NoSuchPid(u32),
    /// A flag's value names nothing here, or flags this kernel cannot serve together: what is
    /// wrong and what to do.
    #[error("{0}")]
    Usage(String),
    /// `--heatmap` names a file of no known type, or the heatmap could not be written.
    #[error(transparent)]
    Heatmap(#[from] output::heatmap::HeatmapError),
    /// The eBPF object did not load.
    #[error("loading the eBPF object failed: {0}")]
    Load(String),
    /// A function pattern names nothing to trace.
    #[error(transparent)]
    Functions(#[from] hist_attach::functions::FunctionError),
    /// Printing, signals, or the `/metrics` server failed.
    #[error("{0}")]
    Io(String),
}

/// How an interval's timestamp is printed in text mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timestamp {
    /// cpudist's `-T`: `%-8s` of `HH:MM:SS` on its own line.
    Hms,
    /// nfsdist's and xfsdist's default with an interval: `HH:MM:SS:` on its own line.
    HmsColon,
}

/// What a tool's histograms are one per: bcc's section header above each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// `operation = read`.
    Operation,
    /// `pid = 1234 bash`: a process, with its command.
    Pid,
    /// `tid = 1234 bash`: a thread, with its command.
    Tid,
    /// Another header (`disk`, `flags`).
    Named(&'static str),
}

impl Section {
    /// The header's name: `operation`, `pid`, `tid`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Operation => "operation",
            Self::Pid => "pid",
            Self::Tid => "tid",
            Self::Named(name) => name,
        }
    }

    /// Whether a section value names a task and its command (`1234 bash`): Prometheus splits it
    /// into `pid="1234",comm="bash"`.
    fn names_a_task(self) -> bool {
        matches!(self, Self::Pid | Self::Tid)
    }
}

/// A prefix's section value, as bcc prints it after `operation = `: a function, or a closure
/// over state prepared once (a table of disk names).
pub type Label<P> = Arc<dyn Fn(&P) -> String + Send + Sync>;

/// How a tool presents its histogram: built from the banner and the Prometheus family, then
/// sections, timestamps, averages and retiring prefixes as the tool has them.
///
/// ```
/// use hist_tool::{Section, Timestamp, View};
/// let names = ["read", "write"]; // prepared once, borrowed by every label
/// let view = View::new("Tracing... Hit Ctrl-C to end.", "mytool_latency_seconds", "latency")
///     .sections(Some(Section::Operation), move |op: &u32| names[*op as usize].into())
///     .timestamp(Some(Timestamp::HmsColon));
/// ```
pub struct View<P> {
    /// The line printed once tracing has started (to stderr in JSON and Prometheus modes, so
    /// stdout stays machine-readable).
    banner: String,
    /// The section header, or `None` for a single histogram.
    section: Option<Section>,
    /// A prefix's section value.
    label: Label<P>,
    /// The text-mode timestamp, if any.
    timestamp: Option<Timestamp>,
    /// bcc's `-e`: after each histogram, `avg = …, total: …, count: …` from the sums (which
    /// the tool must ask the kernel side to keep: `Settings::sums`).
    averages: bool,
    /// Whether the text quotes section values (`operation = 'read'`).
    quoted_sections: bool,
    /// The Prometheus histogram family (`xfs_reclaim_latency_seconds`).
    metric: String,
    /// Its help text.
    help: &'static str,
    /// Whether a prefix can no longer count (a pid whose process exited: [`task_gone`]), so
    /// that its histogram can leave the map; `None` for prefixes that stay (ops).
    gone: Option<fn(&P) -> bool>,
    /// The line printed when tracing ends, if any, where the banner went.
    farewell: Option<String>,
}

impl<P> View<P> {
    /// One histogram, printed under `banner`, served as the Prometheus family `metric`
    /// (`xfs_reclaim_latency_seconds`) with `help`.
    pub fn new(banner: impl Into<String>, metric: impl Into<String>, help: &'static str) -> Self {
        Self {
            banner: banner.into(),
            section: None,
            label: Arc::new(|_| String::new()),
            timestamp: None,
            averages: false,
            quoted_sections: false,
            metric: metric.into(),
            help,
            gone: None,
            farewell: None,
        }
    }

    /// One histogram per prefix, under `section = label(prefix)`; `None` keeps one histogram.
    pub fn sections(
        mut self,
        section: Option<Section>,
        label: impl Fn(&P) -> String + Send + Sync + 'static,
    ) -> Self {
        self.section = section;
        self.label = Arc::new(label);
        self
    }

    /// The text-mode timestamp line, if any.
    pub fn timestamp(mut self, timestamp: Option<Timestamp>) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// bcc's `-e`: `avg = …, total: …, count: …` after each histogram.
    pub fn averages(mut self, averages: bool) -> Self {
        self.averages = averages;
        self
    }

    /// Section values in quotes in the text, as libbpf-tools' fsdist prints them
    /// (`operation = 'read'`); JSON and Prometheus carry them bare.
    pub fn quoted_sections(mut self) -> Self {
        self.quoted_sections = true;
        self
    }

    /// Prefixes that stop counting when `gone` says so ([`task_gone`]) leave the map.
    pub fn retire_when(mut self, gone: Option<fn(&P) -> bool>) -> Self {
        self.gone = gone;
        self
    }

    /// A line printed when tracing ends, after the last histogram (libbpf-tools' funclatency:
    /// `Exiting trace of PATTERN`); like the banner, on stderr in JSON and Prometheus modes.
    pub fn farewell(mut self, line: impl Into<String>) -> Self {
        self.farewell = Some(line.into());
        self
    }

    /// What a scrape needs of it, for the server's thread.
    fn for_scrapes(&self) -> Self {
        Self {
            banner: String::new(),
            section: self.section,
            label: Arc::clone(&self.label),
            timestamp: self.timestamp,
            averages: self.averages,
            quoted_sections: self.quoted_sections,
            metric: String::new(),
            help: self.help,
            gone: self.gone,
            farewell: None,
        }
    }
}

/// A tool before it loads anything: its name, its common flags, and the interval clock.
/// [`load`](Self::load) gives a [`Loaded`] tool, whose [`attach`](Loaded::attach) gives a
/// [`Tracing`] one, which [`run`](Tracing::run)s: each step takes what the one before made.
pub struct Tool {
    name: &'static str,
    args: CommonArgs,
    /// `-p`: the process traced, when the tool takes it ([`Tool::with_pid`]).
    pid: Option<u32>,
    /// `-c`: the cgroup's directory, put into the object's cgroup array once loaded.
    cgroup: Option<std::fs::File>,
    unit: Unit,
    intervals: Intervals,
    /// `--prometheus`' address, bound at start and served once tracing.
    metrics: Option<output::server::Listener>,
}

/// A tool whose eBPF object is loaded ([`Tool::load`]); its programs load when attached.
pub struct Loaded {
    tool: Tool,
    ebpf: Ebpf,
    /// The loaded config's settings: whether the programs keep sums, and the precision their
    /// histograms are recorded at.
    settings: Settings,
    /// The object loaded: fentry on module functions loads its programs from it again.
    object: &'static [u8],
}

/// A tool whose programs are attached ([`Loaded::attach`]), ready to [`run`](Self::run).
pub struct Tracing {
    loaded: Loaded,
    /// What is attached outside the `Ebpf` (fentry on module functions), kept while tracing.
    attached: Attached,
    /// The copies of function programs ([`Loaded::attach_functions`]), kept while tracing.
    copies: Vec<functions::CopyLink>,
}

impl Tool {
    /// Starts a tool: blocks SIGINT/SIGTERM (so Ctrl-C ends a wait, not the process: call it
    /// first in `main`), checks the privileges and that `-p` names a process. `unit` is the
    /// tool's unit without `-m`.
    pub fn new(name: &'static str, args: CommonArgs, unit: Unit) -> Result<Tool, ToolError> {
        let interval = Duration::from_secs(args.interval.unwrap_or(99_999_999));
        let intervals =
            Intervals::new(interval).map_err(|e| ToolError::Io(format!("blocking SIGINT: {e}")))?;
        // Every output the run will write is checked before anything is traced: a heatmap
        // lost at the end of an hour's run, or a port taken, is said now.
        if let Some(file) = &args.heatmap {
            output::heatmap::check_file(file)?;
        }
        let metrics = match &args.prometheus {
            Some(addr) => Some(
                output::server::MetricsServer::bind(addr)
                    .map_err(|e| ToolError::Io(e.to_string()))?,
            ),
            None => None,
        };
        kernel::check_privileges()?;
        let unit = if args.milliseconds {
            Unit::Milliseconds
        } else {
            unit
        };
        Ok(Tool {
            name,
            args,
            pid: None,
            cgroup: None,
            unit,
            intervals,
            metrics,
        })
    }

    /// Traces the process of `-p` only, when given: checked now, before anything loads.
    ///
    /// # Errors
    ///
    /// [`ToolError::NoSuchPid`] when no such process runs.
    pub fn with_pid(mut self, PidArg { pid }: PidArg) -> Result<Self, ToolError> {
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            return Err(ToolError::NoSuchPid(pid));
        }
        self.pid = pid;
        Ok(self)
    }

    /// Traces the tasks of `-c`'s cgroup (and of those below it) only, when given: the
    /// directory is opened now, before anything loads.
    ///
    /// # Errors
    ///
    /// [`ToolError::Usage`] when the path is not a cgroup v2 directory this process can open.
    pub fn with_cgroup(mut self, CgroupArg { cgroup }: CgroupArg) -> Result<Self, ToolError> {
        let Some(path) = cgroup else {
            return Ok(self);
        };
        let shown = path.display();
        let example = "-c takes a directory of the cgroup2 mount, e.g. /sys/fs/cgroup/system.slice";
        if !path.is_dir() {
            return Err(ToolError::Usage(format!(
                "{shown}: no such directory ({example})"
            )));
        }
        // Only cgroup v2 directories have `cgroup.controllers`; the kernel's check walks v2.
        if !path.join("cgroup.controllers").exists() {
            return Err(ToolError::Usage(format!(
                "{shown} is not a cgroup v2 directory ({example})"
            )));
        }
        let dir = std::fs::File::open(&path).map_err(|e| {
            ToolError::Usage(format!("cannot open cgroup {shown}: {e} ({example})"))
        })?;
        self.cgroup = Some(dir);
        Ok(self)
    }

    /// The common flags.
    pub fn args(&self) -> &CommonArgs {
        &self.args
    }

    /// The unit of the recorded values: the tool's, or milliseconds under `-m`.
    pub fn unit(&self) -> Unit {
        self.unit
    }

    /// The settings the flags ask for: `-p`, `-c`, `-m`, `--precision`, and sums when
    /// Prometheus needs `_sum`.
    pub fn settings(&self) -> Settings {
        Settings {
            tgid: self.pid.unwrap_or(0),
            unit_nanos: self.unit.nanos(),
            sums: self.args.prometheus.is_some() as u32,
            precision: self.args.precision,
            cgroup: self.cgroup.is_some() as u32,
        }
    }

    /// Loads the tool's eBPF object with `config` written into its `CONFIG` static (see
    /// `hist_ebpf::ebpf_program!`): the [`Objects::task_storage`] build where the kernel can run
    /// it ([`kernel::task_storage_supported`]), else the plain one, whose start maps are sized
    /// from the kernel's `pid_max` ([`hist_core::start`]). The maps `H` (a description, or a
    /// tuple of them) are sized: histograms for the layout of `config`'s precision
    /// ([`Settings::layout`]), keyed start maps ([`hist_core::Starts`]) for their key's
    /// domain. Programs are loaded when attached;
    /// the tool keeps the object (`include_bytes_aligned!` gives a `'static` one) for fentry on
    /// module functions, which loads them from it again. `-v` says which build it loaded, when
    /// there was a choice.
    pub fn load<H: HistDescs>(
        self,
        objects: impl Into<Objects>,
        config: impl ToolConfig + aya::Pod,
    ) -> Result<Loaded, ToolError> {
        let Objects {
            plain,
            task_storage,
        } = objects.into();
        let choice = task_storage.is_some();
        let task_storage = task_storage.filter(|_| kernel::task_storage_supported());
        let object = task_storage.unwrap_or(plain);
        let settings = config.settings();
        let pid_max = kernel::pid_max();
        let starts = StartDomain::Threads.entries(pid_max);
        let mut sizes = Vec::new();
        H::each_map(&settings, pid_max, |name, entries| {
            sizes.push((name.concat(), entries));
        });
        let mut loader = EbpfLoader::new();
        loader.override_global(hist_core::names::CONFIG, &config, true);
        for (map, entries) in &sizes {
            loader.map_max_entries(map, *entries);
        }
        if task_storage.is_some() {
            // aya 0.14 has no type for task storage maps, but creates them when asked to.
            loader.allow_unsupported_maps();
        } else {
            // hist-ebpf's start hashes are in every object; one entry for one no program uses.
            let used = referenced_symbols(object);
            for map in [TASK_START_MAP, OP_START_MAP] {
                let entries = if used.contains(map) { starts } else { 1 };
                loader.map_max_entries(map, entries);
            }
        }
        if self.args.verbose && choice {
            let starts = if task_storage.is_some() {
                "task storage"
            } else {
                "a hash by thread"
            };
            eprintln!("{}: task start times in {starts}", self.name);
        }
        let mut ebpf = loader
            .load(object)
            .map_err(|e| ToolError::Load(e.to_string()))?;
        if let Some(dir) = &self.cgroup {
            put_cgroup(&mut ebpf, dir)?;
        }
        Ok(Loaded {
            tool: self,
            ebpf,
            settings,
            object,
        })
    }
}

/// Puts `-c`'s cgroup into slot 0 of the object's cgroup array, which its probes check.
fn put_cgroup(ebpf: &mut Ebpf, dir: &std::fs::File) -> Result<(), ToolError> {
    use std::os::fd::AsRawFd as _;
    let name = hist_core::names::CGROUP_MAP;
    let map = ebpf.map_mut(name).ok_or_else(|| {
        ToolError::Load(format!("it has no {name} map: its probes do not check -c"))
    })?;
    let mut cgroups = aya::maps::CgroupArray::try_from(map)
        .map_err(|e| ToolError::Load(format!("{name}: {e}")))?;
    cgroups
        .set(0, dir.as_raw_fd(), 0)
        .map_err(|e| ToolError::Load(format!("{name}: putting the cgroup in: {e}")))
}

impl Loaded {
    /// Attaches every operation by its [`plan`]: the best hook this kernel offers,
    /// or the one `--attach` forces; `-v` prints what was picked.
    pub fn attach(self, ops: &[OpSpec]) -> Result<Tracing, ToolError> {
        self.attach_first([((), ops)]).map(|(tracing, ())| tracing)
    }

    /// Like [`attach`](Self::attach) for the first of `alternatives` (a choice of the tool's
    /// and its set of operations, best first) whose every operation this kernel can hook;
    /// returns that choice. A tool measures something else when it falls back, so it says so
    /// (xfsreclaim: whole shrinker scans when the reclaim functions cannot be hooked). Ops of a
    /// set that attached only in part stay attached, unread, until the object is dropped.
    pub fn attach_first<'a, T>(
        mut self,
        alternatives: impl IntoIterator<Item = (T, &'a [OpSpec])>,
    ) -> Result<(Tracing, T), ToolError> {
        let facts = KernelFacts::probe()?;
        let mut failures = Vec::new();
        for (choice, ops) in alternatives {
            let Tool { name, args, .. } = &self.tool;
            let attached = Plan::resolve(name, ops, &facts, args.attach)
                .and_then(|plan| plan.attach(&mut self.ebpf, self.object, args.verbose));
            match attached {
                Ok(attached) => {
                    let tracing = Tracing {
                        loaded: self,
                        attached,
                        copies: Vec::new(),
                    };
                    return Ok((tracing, choice));
                }
                Err(error) => failures.push(error),
            }
        }
        Err(ToolError::Plan(failures))
    }
}

impl Tracing {
    /// The hook each op got, in the tool's order: a tool whose programs see less at one kind of
    /// hook (the tracefs records of the block tracepoints have no request flags) says so.
    pub fn hooks(&self) -> impl Iterator<Item = Hook> + '_ {
        self.attached.choices.iter().map(|choice| choice.hook)
    }

    /// Opens the histogram map of `H` (see [`HistMap::open`]) and the drop counters, prints the
    /// banner, then what was counted in each interval (and at Ctrl-C) in the mode the flags ask
    /// for, exactly (see [`IntervalReader`]); or, with `--prometheus`, serves them cumulatively
    /// until Ctrl-C (or `count` intervals). Events lost to a full map are reported with them: a
    /// warning line after the text, `dropped` in JSON, a counter in Prometheus.
    pub fn run<H: HistDesc + 'static>(self, view: &View<H::Prefix>) -> Result<(), ToolError>
    where
        H::Prefix: Ord + aya::Pod + Send,
    {
        let Tracing {
            loaded:
                Loaded {
                    mut tool,
                    mut ebpf,
                    settings,
                    object: _,
                },
            attached,
            copies,
        } = self;
        let result = tool.run::<H>(&mut ebpf, settings, view);
        // The programs go before what is attached outside the object.
        drop(ebpf);
        drop(attached);
        drop(copies);
        result
    }
}

impl Tool {
    fn run<H: HistDesc + 'static>(
        &mut self,
        ebpf: &mut Ebpf,
        settings: Settings,
        view: &View<H::Prefix>,
    ) -> Result<(), ToolError>
    where
        H::Prefix: Ord + aya::Pod + Send,
    {
        let layout = settings.layout::<H>();
        let map = HistMap::<H>::open_with_layout(ebpf, layout)?;
        if self.args.per_cpu && !map.is_per_cpu() {
            return Err(Error::SharedMap { map: H::NAME }.into());
        }
        let drops = DropCounters::open(ebpf)?;
        let machine = self.args.json || self.args.prometheus.is_some();
        if machine {
            eprintln!("{}", view.banner);
        } else {
            println!("{}", view.banner);
        }
        if let Some(listener) = self.metrics.take() {
            return self.serve(listener, settings, map, drops, view);
        }
        // Each interval shows what was counted since the previous one, without clearing the
        // map: the intervals add up exactly (see `IntervalReader`).
        let mut intervals = IntervalReader::new(map, drops);
        if self.args.per_cpu {
            intervals = intervals.per_cpu()?;
        }
        if let Some(gone) = view.gone {
            intervals = intervals.retire_when(gone);
        }
        let mut heatmap = self.args.heatmap.as_ref().map(|file| {
            let title = format!("{}: {}", self.name, view.help);
            (
                file,
                output::heatmap::Heatmap::new(layout, self.unit, title),
            )
        });
        let mut countdown = self.args.count.unwrap_or(99_999_999);
        loop {
            let wakeup = self
                .intervals
                .wait()
                .map_err(|e| ToolError::Io(e.to_string()))?;
            let IntervalCounts {
                histograms,
                per_cpu,
                sums,
                drops,
            } = intervals.read()?;
            let sums = if settings.sums != 0 { sums } else { None };
            let report = report(self.name, layout, self.unit, histograms, sums, drops, view);
            // `--per-cpu`: a report of each CPU that counted something.
            let per_cpu = per_cpu.map(|parts| self.cpu_reports(parts, layout, view));
            if self.args.json {
                let ps = self.args.percentiles.then_some(&percentile::STANDARD[..]);
                let interval = match &per_cpu {
                    Some(parts) => output::json::Interval::per_cpu(&report, parts, ps),
                    None => {
                        let mut interval = output::json::Interval::new(&report);
                        if let Some(ps) = ps {
                            interval.add_percentiles(&report, ps);
                        }
                        interval
                    }
                };
                println!("{}", interval.to_line());
            } else {
                let timestamp = match view.timestamp {
                    Some(Timestamp::Hms) => Some(format!("{:<8}", local_time_hms())),
                    Some(Timestamp::HmsColon) if self.args.interval.is_some() => {
                        Some(format!("{}:", local_time_hms()))
                    }
                    _ => None,
                };
                let style = text::TextStyle {
                    percentiles: self.args.percentiles,
                    averages: view.averages,
                    quoted_sections: view.quoted_sections,
                };
                let per_cpu = per_cpu.as_deref();
                print!(
                    "{}",
                    text::interval_text(&report, per_cpu, timestamp.as_deref(), style)
                );
            }
            if let Some((_, heatmap)) = &mut heatmap {
                heatmap.push_report(&report);
            }
            countdown -= 1;
            if wakeup == Wakeup::Interrupted || countdown == 0 {
                break;
            }
        }
        if let Some(line) = &view.farewell {
            if self.args.json {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        }
        if let Some((file, heatmap)) = heatmap {
            heatmap.write(file)?;
            let intervals = heatmap.intervals();
            let s = if intervals == 1 { "" } else { "s" };
            eprintln!(
                "{}: heatmap of {intervals} interval{s} written to {}",
                self.name,
                file.display()
            );
        }
        Ok(())
    }

    /// The report of each CPU whose part of an interval counted something, without sums
    /// (the kernel keeps them for all CPUs) or drops (the interval's report has them).
    fn cpu_reports<P: Copy + Ord>(
        &self,
        parts: Vec<hist_user::Snapshot<P>>,
        layout: Layout,
        view: &View<P>,
    ) -> Vec<(u32, Report)> {
        parts
            .into_iter()
            .enumerate()
            .filter(|(_, part)| !part.is_empty())
            .map(|(cpu, part)| {
                let report = report(self.name, layout, self.unit, part, None, Drops::NONE, view);
                (cpu as u32, report)
            })
            .collect()
    }

    fn serve<H: HistDesc + 'static>(
        &self,
        listener: output::server::Listener,
        Settings { sums, .. }: Settings,
        map: HistMap<H>,
        drops: Option<DropCounters>,
        view: &View<H::Prefix>,
    ) -> Result<(), ToolError>
    where
        H::Prefix: Ord + aya::Pod + Send,
    {
        let (name, unit, per_cpu) = (self.name, self.unit, self.args.per_cpu);
        let layout = map.layout();
        let (metric, help) = (view.metric.clone(), view.help);
        let view = view.for_scrapes();
        let map = Arc::new(Mutex::new(map));
        let server = output::server::MetricsServer::serve(listener, move || {
            let map = map
                .lock()
                .map_err(|_| "the map reader panicked".to_string())?;
            // Cumulative, as Prometheus' counters are. `--per-cpu`: a report per CPU that
            // counted something, the first with the drops, each a family labelled `cpu`.
            let read = || -> Result<Vec<(Option<u32>, Report)>, Error> {
                let dropped = DropCounters::read_or_none(drops.as_ref())?;
                let sums = if sums != 0 { map.sums()? } else { None };
                let mut reports = Vec::new();
                let parts = match per_cpu {
                    true => map.snapshot_per_cpu()?.unwrap_or_default(),
                    false => Vec::new(),
                };
                for (cpu, part) in parts.into_iter().enumerate() {
                    if !part.is_empty() {
                        let drops = if reports.is_empty() {
                            dropped
                        } else {
                            Drops::NONE
                        };
                        let report = report(name, layout, unit, part, None, drops, &view);
                        reports.push((Some(cpu as u32), report));
                    }
                }
                if reports.is_empty() {
                    let all = if per_cpu {
                        Default::default()
                    } else {
                        map.snapshot()?
                    };
                    reports.push((None, report(name, layout, unit, all, sums, dropped, &view)));
                }
                Ok(reports)
            };
            let reports = read().map_err(|e| e.to_string())?;
            let families: Vec<_> = reports
                .iter()
                .map(|(cpu, report)| {
                    let family = output::prometheus::Family::new(&metric, help, report);
                    let family = match cpu {
                        Some(cpu) => family.with_cpu(*cpu),
                        None => family,
                    };
                    // bcc's pid and tid sections name the task too: `pid="1234",comm="bash"`.
                    match view.section {
                        Some(section) if section.names_a_task() => family.with_detail_label("comm"),
                        _ => family,
                    }
                })
                .collect();
            output::prometheus::encode_families(&families).map_err(|e| e.to_string())
        })
        .map_err(|e| ToolError::Io(e.to_string()))?;
        eprintln!("{name}: serving {} (Ctrl-C to end)", server.url());
        // Serve until Ctrl-C, or for `interval × count` seconds when both are given.
        let mut countdown = self.args.count.unwrap_or(u64::MAX);
        while countdown > 0 {
            let wakeup = self
                .intervals
                .wait()
                .map_err(|e| ToolError::Io(e.to_string()))?;
            countdown -= 1;
            if wakeup == Wakeup::Interrupted {
                break;
            }
        }
        Ok(())
    }
}

/// The symbols that the code of the eBPF object `object` refers to (the maps it uses among
/// them): the targets of the relocations of its executable sections. [`Tool::load`] gives the
/// start hashes of hist-ebpf that no program uses one entry. Empty for an object that does not
/// parse.
pub fn referenced_symbols(object: &[u8]) -> std::collections::BTreeSet<String> {
    use object::{
        Object as _, ObjectSection as _, ObjectSymbol as _, RelocationTarget, SectionKind,
    };
    let Ok(file) = object::File::parse(object) else {
        return Default::default();
    };
    file.sections()
        .filter(|section| section.kind() == SectionKind::Text)
        .flat_map(|section| section.relocations())
        .filter_map(|(_, relocation)| match relocation.target() {
            RelocationTarget::Symbol(index) => file.symbol_by_index(index).ok(),
            _ => None,
        })
        .filter_map(|symbol| symbol.name().ok().map(str::to_owned))
        .collect()
}

/// The histograms (and sums, and drops) of one interval or one scrape, as every output sees
/// them, labelled by `view`.
fn report<P: Copy + Ord>(
    tool: &str,
    layout: Layout,
    unit: Unit,
    histograms: hist_user::Snapshot<P>,
    sums: Option<BTreeMap<P, u64>>,
    drops: Drops,
    view: &View<P>,
) -> Report {
    let histograms = histograms
        .into_iter()
        .map(|(prefix, hist)| {
            let sum = sums
                .as_ref()
                .map(|sums| sums.get(&prefix).copied().unwrap_or(0));
            // A single histogram has no section value.
            let label = if view.section.is_some() {
                (view.label)(&prefix)
            } else {
                String::new()
            };
            (label, hist, sum)
        })
        .collect();
    Report {
        tool: tool.to_string(),
        layout,
        unit,
        section: view.section.map(|section| section.name().to_string()),
        histograms,
        drops,
        time: SystemTime::now(),
    }
}

/// Ends a tool's `main`: on error, prints it with every line starting `{tool}: ` (an attach
/// plan's error has one line per operation, already named) and exits 1.
pub fn exit_on_error<E: std::fmt::Display>(tool: &str, result: Result<(), E>) {
    if let Err(error) = result {
        let prefix = format!("{tool}: ");
        for line in error.to_string().lines() {
            let named = if line.starts_with(&prefix) {
                ""
            } else {
                &prefix
            };
            eprintln!("{named}{line}");
        }
        std::process::exit(1);
    }
}

/// Whether the task `id` (a pid or a tid) has exited: `/proc/<id>` is gone. The idle tasks
/// (0) never exit.
pub fn task_gone(id: &u32) -> bool {
    *id != 0 && !Path::new(&format!("/proc/{id}")).exists()
}

/// A cgroup's section label: its path below the cgroup2 mount (`/system.slice/ssh.service`),
/// or its id when it is gone.
pub fn cgroup_label(id: &u32) -> String {
    kernel::cgroup_path(*id).unwrap_or_else(|| id.to_string())
}

/// A pid's section label as bcc's tools print it: `"1234 bash\n"` (the comm file's newline
/// included, which makes bcc's blank line after `pid = 1234 bash`), or just the pid when the
/// task is gone.
pub fn pid_comm(pid: &u32) -> String {
    match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(comm) => format!("{pid} {comm}"),
        Err(_) => pid.to_string(),
    }
}
