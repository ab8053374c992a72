//! kernel-cost: the in-kernel cost per event of hist's `cpudist` next to libbpf-tools' `cpudist`.
//!
//! As root, with `kernel.bpf_stats_enabled=1` (restored afterwards), each tool runs in turn
//! under the same context-switch load, generated here: pairs of threads ping-ponging one byte
//! over two pipes, so every round trip is a few `sched_switch` events. The kernel counts, per
//! BPF program, how often it ran (`run_cnt`) and for how long (`run_time_ns`); `bpftool prog
//! show --json` reports both. The programs of a tool are the ones it holds file descriptors of
//! (`/proc/<pid>/fdinfo`, `prog_id`), or those that bpftool's `pids` field gives it, so other
//! BPF programs on the machine (even ones with the same names) are never counted.
//!
//! For each case the tools run in the order ours, C, C, ours (A B B A), so a drift in the
//! machine's speed weighs on both alike; the two runs of a tool are added up.
//!
//! ```text
//! cargo build --release -p cpudist
//! cargo run --release -p hist-benches --bin kernel-cost -- --seconds 5
//! ```
//!
//! Our cpudist is `$HIST_CPUDIST_BIN`, else `target/release/cpudist` of this workspace;
//! libbpf-tools' is `$HIST_C_CPUDIST_BIN`, else found with `dpkg -L libbpf-tools`, and bpftool
//! likewise (package `bpftool`); `cargo xtask bench` installs both, this does not.

use std::{
    collections::BTreeSet,
    fmt::Write as _,
    io::{Read as _, Write as _},
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
use clap::Parser;
use serde_json::{Value, json};

/// In-kernel cost per event of hist's cpudist next to libbpf-tools' cpudist (needs root).
#[derive(Parser)]
#[command(name = "kernel-cost")]
struct Args {
    /// seconds of load per run (each tool runs twice per case)
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    seconds: u64,
    /// pairs of threads ping-ponging over pipes to generate context switches
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pairs: u64,
    /// print the results as JSON instead of a table
    #[arg(long)]
    json: bool,
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

/// One comparison: the same mode of both tools, with the arguments each needs for it.
struct Case {
    name: &'static str,
    ours: &'static [&'static str],
    c: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "on-CPU",
        ours: &[],
        c: &[],
    },
    Case {
        name: "off-CPU (-O)",
        ours: &["-O"],
        c: &["-O"],
    },
    Case {
        name: "on-CPU, ours --attach tracepoint",
        ours: &["--attach", "tracepoint"],
        c: &[],
    },
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tool {
    Ours,
    C,
}

impl Tool {
    fn label(self) -> &'static str {
        match self {
            Tool::Ours => "hist cpudist",
            Tool::C => "libbpf-tools cpudist",
        }
    }
}

/// The BPF statistics of one run of one tool, over the measured window.
struct Run {
    seconds: f64,
    run_cnt: u64,
    run_time_ns: u64,
    round_trips: u64,
    programs: Vec<String>,
}

/// The runs of one tool in one case, added up.
#[derive(Default)]
struct Total {
    run_cnt: u64,
    run_time_ns: u64,
    runs: Vec<Run>,
}

impl Total {
    fn ns_per_event(&self) -> Option<f64> {
        (self.run_cnt > 0).then(|| self.run_time_ns as f64 / self.run_cnt as f64)
    }

    fn seconds(&self) -> f64 {
        self.runs.iter().map(|run| run.seconds).sum()
    }

    fn programs(&self) -> String {
        let names: BTreeSet<&str> = self
            .runs
            .iter()
            .flat_map(|run| run.programs.iter().map(String::as_str))
            .collect();
        names.into_iter().collect::<Vec<_>>().join(",")
    }

    fn json(&self, args: &[&str]) -> Value {
        json!({
            "args": args,
            "programs": self.programs(),
            "run_cnt": self.run_cnt,
            "run_time_ns": self.run_time_ns,
            "ns_per_event": self.ns_per_event(),
            "events_per_sec": self.run_cnt as f64 / self.seconds(),
            "runs": self.runs.iter().map(|run| json!({
                "seconds": run.seconds,
                "run_cnt": run.run_cnt,
                "run_time_ns": run.run_time_ns,
                "ns_per_event": (run.run_cnt > 0).then(|| run.run_time_ns as f64 / run.run_cnt as f64),
                "load_round_trips": run.round_trips,
                "programs": run.programs,
            })).collect::<Vec<_>>(),
        })
    }
}

struct Tools {
    ours: PathBuf,
    c: PathBuf,
    bpftool: PathBuf,
}

fn run(args: &Args) -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "must run as root: it loads eBPF programs and sets kernel.bpf_stats_enabled (try sudo)"
        );
    }
    let tools = Tools {
        ours: our_cpudist()?,
        c: installed_binary("HIST_C_CPUDIST_BIN", "libbpf-tools", "cpudist")?,
        bpftool: installed_binary("HIST_BPFTOOL_BIN", "bpftool", "bpftool")?,
    };
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(signal, on_signal as *const () as libc::sighandler_t) };
    }

    let _stats = BpfStats::enable()?;
    let window = Duration::from_secs(args.seconds);
    if !args.json {
        eprintln!(
            "kernel-cost: {} cases × 4 runs of {} s, load: {} ping-pong pair(s); ours: {}, C: {}",
            CASES.len(),
            args.seconds,
            args.pairs,
            tools.ours.display(),
            tools.c.display()
        );
    }

    let mut results = Vec::new();
    for case in CASES {
        let (mut ours, mut c) = (Total::default(), Total::default());
        for tool in [Tool::Ours, Tool::C, Tool::C, Tool::Ours] {
            let (path, tool_args, total) = match tool {
                Tool::Ours => (&tools.ours, case.ours, &mut ours),
                Tool::C => (&tools.c, case.c, &mut c),
            };
            let run = measure(&tools.bpftool, path, tool_args, window, args.pairs)
                .with_context(|| format!("{} ({})", tool.label(), case.name))?;
            if !args.json {
                eprintln!(
                    "  {:<32} {:<22} {:>12} events {:>8.1} ns/event",
                    case.name,
                    tool.label(),
                    run.run_cnt,
                    run.run_time_ns as f64 / run.run_cnt.max(1) as f64
                );
            }
            total.run_cnt += run.run_cnt;
            total.run_time_ns += run.run_time_ns;
            total.runs.push(run);
        }
        results.push((case, ours, c));
    }

    if args.json {
        let cases: Vec<Value> = results
            .iter()
            .map(|(case, ours, c)| {
                json!({
                    "case": case.name,
                    "ours": ours.json(case.ours),
                    "c": c.json(case.c),
                    "ratio_ours_to_c": ratio(ours, c),
                })
            })
            .collect();
        let report = json!({
            "seconds_per_run": args.seconds,
            "load_pairs": args.pairs,
            "order": "ours, C, C, ours",
            "ours": tools.ours,
            "c": tools.c,
            "cases": cases,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&results));
    }
    Ok(())
}

fn ratio(ours: &Total, c: &Total) -> Option<f64> {
    Some(ours.ns_per_event()? / c.ns_per_event()?)
}

fn table(results: &[(&Case, Total, Total)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<32} {:<22} {:<17} {:>12} {:>14} {:>9} {:>10}",
        "case", "tool", "program", "run_cnt", "run_time_ns", "ns/event", "events/s"
    );
    for (case, ours, c) in results {
        for (tool, total) in [(Tool::Ours, ours), (Tool::C, c)] {
            let _ = writeln!(
                out,
                "{:<32} {:<22} {:<17} {:>12} {:>14} {:>9} {:>10.0}",
                case.name,
                tool.label(),
                total.programs(),
                total.run_cnt,
                total.run_time_ns,
                total
                    .ns_per_event()
                    .map_or("-".to_string(), |ns| format!("{ns:.1}")),
                total.run_cnt as f64 / total.seconds(),
            );
        }
        let _ = writeln!(
            out,
            "{:<32} {:<22} {}",
            case.name,
            "ratio ours/C",
            ratio(ours, c).map_or("-".to_string(), |r| format!("{r:.2}")),
        );
    }
    out
}

/// Our cpudist: `$HIST_CPUDIST_BIN`, else this workspace's `target/release/cpudist`.
fn our_cpudist() -> anyhow::Result<PathBuf> {
    let path = match std::env::var_os("HIST_CPUDIST_BIN") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/cpudist"),
    };
    if !path.is_file() {
        bail!(
            "hist's cpudist not found at {} (build it with `cargo build --release -p cpudist`, or set HIST_CPUDIST_BIN)",
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

/// Runs `tool args` under the load for `window`, and returns what its programs cost.
fn measure(
    bpftool: &Path,
    tool: &Path,
    args: &[&str],
    window: Duration,
    pairs: u64,
) -> anyhow::Result<Run> {
    let mut child = ToolProcess::spawn(tool, args)?;
    let load = Load::start(pairs)?;

    // Attached: the tool holds its programs and they have run (the load switches constantly).
    let deadline = Instant::now() + Duration::from_secs(60);
    let before = loop {
        check_interrupted()?;
        child.check_running()?;
        let programs = child.programs(bpftool)?;
        if !programs.is_empty() && programs.iter().any(|p| p.run_cnt > 0) {
            break programs;
        }
        if Instant::now() > deadline {
            bail!("its BPF programs did not start running within 60 s");
        }
        thread::sleep(Duration::from_millis(50));
    };

    let start = Instant::now();
    let trips_before = load.round_trips();
    sleep_interruptibly(window)?;
    let after = child.programs(bpftool)?;
    let seconds = start.elapsed().as_secs_f64();
    let round_trips = load.round_trips() - trips_before;
    child.check_running()?;
    drop(load);
    child.stop();

    let ids: BTreeSet<u32> = before.iter().map(|p| p.id).collect();
    if after.iter().map(|p| p.id).collect::<BTreeSet<_>>() != ids {
        bail!("its BPF programs changed during the run");
    }
    let sum = |programs: &[ProgStats]| {
        programs
            .iter()
            .fold((0, 0), |(cnt, ns), p| (cnt + p.run_cnt, ns + p.run_time_ns))
    };
    let ((cnt0, ns0), (cnt1, ns1)) = (sum(&before), sum(&after));
    Ok(Run {
        seconds,
        run_cnt: cnt1 - cnt0,
        run_time_ns: ns1 - ns0,
        round_trips,
        programs: after.into_iter().map(|p| p.name).collect(),
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

    /// An error with the tool's last line of stderr if it has exited.
    fn check_running(&mut self) -> anyhow::Result<()> {
        let Some(status) = self.child.try_wait().context("waiting for the tool")? else {
            return Ok(());
        };
        let stderr = self
            .stderr
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default();
        let last = stderr.lines().rfind(|line| !line.trim().is_empty());
        bail!(
            "`{}` exited ({status}): {}",
            self.command,
            last.unwrap_or("no message")
        )
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

/// Context switches on demand: pairs of threads passing one byte back and forth over two
/// pipes, each side blocking in `read` until the other has written. Stopped when dropped.
struct Load {
    stop: Arc<AtomicBool>,
    round_trips: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(pairs: u64) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let round_trips = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        for _ in 0..pairs {
            let (mut ping_rx, mut ping_tx) = std::io::pipe().context("creating a pipe")?;
            let (mut pong_rx, mut pong_tx) = std::io::pipe().context("creating a pipe")?;
            let (stop, trips) = (stop.clone(), round_trips.clone());
            threads.push(thread::spawn(move || {
                let mut byte = [1u8];
                while !stop.load(Ordering::Relaxed) {
                    if ping_tx.write_all(&[1]).is_err() || pong_rx.read_exact(&mut byte).is_err() {
                        return;
                    }
                    trips.fetch_add(1, Ordering::Relaxed);
                }
                let _ = ping_tx.write_all(&[0]); // tells the other side to end
            }));
            threads.push(thread::spawn(move || {
                let mut byte = [0u8];
                while ping_rx.read_exact(&mut byte).is_ok() && byte[0] != 0 {
                    if pong_tx.write_all(&[1]).is_err() {
                        return;
                    }
                }
            }));
        }
        Ok(Self {
            stop,
            round_trips,
            threads,
        })
    }

    fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
