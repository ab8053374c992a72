//! The workload child of the live tests, and attaching a test probe.
// Each test file uses a part of this module.
#![allow(dead_code)]

pub(crate) mod prometheus;
pub(crate) mod reference;

use std::{
    io::Write as _,
    process::{Child, ChildStdin, Command, Stdio},
};

use hist_attach::kernel::{self, KernelBtf};

/// The release binary of the example tool `name`, from `HIST_TOOLS_DIR` (set by `cargo xtask
/// test`).
pub(crate) fn tool_bin(name: &str) -> String {
    let dir = std::env::var("HIST_TOOLS_DIR").unwrap_or_else(|_| {
        panic!(
            "set HIST_TOOLS_DIR to the folder of the tools' release builds (cargo xtask test does)"
        )
    });
    format!("{dir}/{name}")
}

/// A child that will make `calls` getpid() from `threads` threads once started, and the test
/// probes loaded for it, their `program` attached to `sys_enter_getpid`.
pub(crate) fn getpid_traced_by(program: &str, calls: u64, threads: u32) -> (Workload, aya::Ebpf) {
    let workload = Workload::spawn(&["getpid", &calls.to_string(), &threads.to_string()]);
    let mut ebpf = aya::EbpfLoader::new()
        .override_global("TARGET_TGID", &workload.pid(), true)
        .load(hist_live_tests::PROBES)
        .expect("load test probes");
    attach_tracepoint(&mut ebpf, program, "syscalls", "sys_enter_getpid");
    (workload, ebpf)
}

/// A child running the `workload` binary, stopped until [`Workload::start`].
pub(crate) struct Workload {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Workload {
    /// Spawns `workload <args>`; it waits on stdin before doing anything measurable.
    pub(crate) fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_workload"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn workload");
        let stdin = child.stdin.take();
        Self { child, stdin }
    }

    /// The child's pid (its tgid).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets the child run its pattern.
    pub(crate) fn start(&mut self) {
        let mut stdin = self.stdin.take().expect("started once");
        stdin.write_all(b"go\n").expect("start workload");
    }

    /// Whether the child has finished its pattern (successfully: a failure panics).
    pub(crate) fn finished(&mut self) -> bool {
        match self.child.try_wait().expect("wait workload") {
            Some(status) => {
                assert!(status.success(), "workload failed: {status}");
                true
            }
            None => false,
        }
    }

    /// Lets the child run its pattern, and waits for it to finish: how many times the kernel
    /// switched the child's threads out during the pattern (each ends in a wait on a run queue,
    /// and begins time off the CPU), as the child read them from `getrusage`.
    pub(crate) fn run_to_end(mut self) -> u64 {
        use std::io::Read as _;
        self.start();
        let mut said = String::new();
        let stdout = self.child.stdout.as_mut().expect("piped");
        stdout.read_to_string(&mut said).expect("read workload");
        let status = self.child.wait().expect("wait workload");
        assert!(status.success(), "workload failed: {status}");
        let switches = said.trim().strip_prefix("switches ");
        let switches = switches.and_then(|n| n.parse().ok());
        switches.unwrap_or_else(|| panic!("workload said {said:?}, not `switches N`"))
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Loads `program` of `ebpf` and attaches it to the tracepoint `category:name`, mounting tracefs
/// first when it is missing (this kernel does not mount it at boot).
pub(crate) fn attach_tracepoint(ebpf: &mut aya::Ebpf, program: &str, category: &str, name: &str) {
    hist_attach::kernel::ensure_tracefs().expect("tracefs");
    let tracepoint: &mut aya::programs::TracePoint = ebpf
        .program_mut(program)
        .unwrap_or_else(|| panic!("no program {program}"))
        .try_into()
        .unwrap();
    tracepoint
        .load()
        .unwrap_or_else(|e| panic!("verifier rejected {program}: {e:?}"));
    tracepoint
        .attach(category, name)
        .unwrap_or_else(|e| panic!("attach {program} to {category}:{name}: {e:?}"));
}

/// How much slower than real hardware this machine runs: `HIST_TIME_SCALE` (the VM stage of
/// `cargo xtask test` sets it for guests under software emulation), else 1. The busiest
/// workloads are divided by it; no test asserts a duration.
pub(crate) fn time_scale() -> u32 {
    std::env::var("HIST_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

/// Adds `line` to the report of the run (the file `HIST_TEST_REPORT`, which the VM stage prints
/// after each guest: which hook each tool picked on which kernel), and to stderr.
pub(crate) fn report(line: &str) {
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("HIST_TEST_REPORT") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open the test report");
        writeln!(file, "{line}").expect("write the test report");
    }
}

/// Runs a shell command that must succeed; its stdout, trimmed.
pub(crate) fn sh(command: &str) -> String {
    hist_test_fixtures::shell(command).unwrap_or_else(|error| panic!("{error}"))
}

/// What a tool printed around a piece of work.
pub(crate) struct Traced {
    /// The first line of stdout: the tool's banner, printed once it is attached.
    pub banner: String,
    /// The rest of stdout, after Ctrl-C.
    pub output: String,
    pub stderr: String,
}

/// Starts `tool args`, waits for its banner (it is attached then), runs `work`, then Ctrl-C; the
/// tool must exit 0.
pub(crate) fn trace_around(tool: &str, args: &[&str], work: impl FnOnce()) -> Traced {
    use std::io::{BufRead as _, BufReader, Read as _};
    let mut child = Command::new(tool_bin(tool))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the tool");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        stderr_pipe.read_to_string(&mut text).unwrap();
        text
    });
    let mut banner = String::new();
    stdout.read_line(&mut banner).unwrap();
    if !banner.is_empty() {
        work();
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let mut output = String::new();
    stdout.read_to_string(&mut output).unwrap();
    let status = child.wait().unwrap();
    let stderr = stderr_reader.join().unwrap();
    assert!(
        status.success(),
        "{tool} {args:?} failed ({status}): {banner}{output}{stderr}"
    );
    Traced {
        banner,
        output,
        stderr,
    }
}

/// `section → total count` of a printed histogram with `operation = …` sections.
pub(crate) fn section_totals(output: &str) -> Vec<(String, u64)> {
    let mut totals: Vec<(String, u64)> = Vec::new();
    for line in output.lines() {
        if let Some(op) = line.strip_prefix("operation = ") {
            totals.push((op.to_owned(), 0));
        } else if let (Some(rest), Some(last)) = (row_counts(line), totals.last_mut()) {
            last.1 += rest
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
        }
    }
    totals
}

/// What follows the range of a histogram row: bcc's `  4 -> 7  : 12 |…|` or, in log-linear
/// layouts (`--precision`), bpftrace's `[4, 5)  12 |…|` and `[3]  12 |…|`.
fn row_counts(line: &str) -> Option<&str> {
    match line.split_once(" : ") {
        Some((_, rest)) => Some(rest),
        None if line.starts_with('[') => line.split_once([')', ']']).map(|(_, rest)| rest),
        None => None,
    }
}

/// Where a tool started with `--prometheus 127.0.0.1:0` serves `/metrics`, from the line it
/// prints when it listens (`cpudist: serving http://127.0.0.1:40123/metrics (Ctrl-C to end)`).
/// Port 0 lets the kernel choose: a port a test picked free and released can be taken again
/// before the tool binds it (a Prometheus of a parallel test took one for a scrape).
#[allow(dead_code)] // not every test file serves /metrics
pub(crate) fn served_address(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("serving http://")?;
    Some(rest.split_once("/metrics")?.0.to_owned())
}

/// `GET /metrics` over a plain TCP connection: the body.
pub(crate) fn scrape(addr: &str) -> String {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to /metrics");
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    body.to_owned()
}

/// Whether some hook of this kernel reaches one of `functions`: a kprobe on a kallsyms text
/// symbol (compiler variants, not `.cold`), or fentry on a function of vmlinux or module BTF
/// whose exact name is in kallsyms.
pub(crate) fn hookable(functions: &[&str]) -> bool {
    let kprobes = kernel::kprobes_supported();
    let fentry = kernel::fentry_supported().expect("probe fentry");
    let btf = KernelBtf::load().expect("kernel BTF");
    functions.iter().any(|function| {
        let symbols = kernel::kallsyms_lookup(function).expect("kallsyms");
        let by_kprobe = kprobes && kernel::pick_attachable(&symbols).is_some();
        let exact = symbols.iter().any(|s| s.name == *function);
        let by_fentry = fentry && exact && btf.func_owner(function).expect("BTF").is_some();
        by_kprobe || by_fentry
    })
}
