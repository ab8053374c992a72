//! cpudist on the live kernel: a child with a known sleep or spin pattern lands in the
//! expected rows, through both scheduler hooks; bad input gets one line and a non-zero exit.

mod common;

use std::{
    collections::BTreeMap,
    io::{BufRead as _, BufReader, Read as _},
    process::{Child, ChildStdout, Command, Stdio},
    sync::Mutex,
};

/// The tests measure scheduling: run them one at a time so they do not disturb each other.
static SERIAL: Mutex<()> = Mutex::new(());

fn cpudist_bin() -> String {
    std::env::var("HIST_CPUDIST_BIN").unwrap_or_else(|_| {
        panic!("set HIST_CPUDIST_BIN to a release build of cpudist (cargo xtask test does)")
    })
}

/// A running cpudist whose banner has been printed (so its probe is attached).
struct Cpudist {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Cpudist {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(cpudist_bin())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn cpudist");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        stdout.read_line(&mut banner).expect("read banner");
        assert!(
            banner.starts_with("Tracing "),
            "cpudist did not start: {banner:?}"
        );
        Self { child, stdout }
    }

    /// Ctrl-C, then everything it printed after the banner.
    fn interrupt(mut self) -> String {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let mut output = String::new();
        self.stdout
            .read_to_string(&mut output)
            .expect("read output");
        let status = self.child.wait().expect("wait cpudist");
        assert!(
            status.success(),
            "cpudist exited with {status} after Ctrl-C"
        );
        output
    }
}

/// `low → count` of every row of a printed log2 histogram.
fn rows(output: &str) -> BTreeMap<u64, u64> {
    output
        .lines()
        .filter_map(|line| {
            let (range, rest) = line.split_once(" : ")?;
            let low = range.split("->").next()?.trim().parse().ok()?;
            let count = rest.split_whitespace().next()?.parse().ok()?;
            Some((low, count))
        })
        .collect()
}

fn off_cpu_sleeps(hook: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let workload = common::Workload::spawn(&["sleep", "20", "50"]);
    let pid = workload.pid().to_string();
    let cpudist = Cpudist::start(&["-O", "-p", &pid, "--hook", hook]);
    workload.run_to_end();
    let output = cpudist.interrupt();
    let rows = rows(&output);
    let in_20ms_row = rows.get(&16384).copied().unwrap_or(0);
    assert!(
        (45..=52).contains(&in_20ms_row),
        "expected the 50 sleeps of 20 ms in the 16384 -> 32767 row, got {in_20ms_row}:\n{output}"
    );
}

#[test]
fn off_cpu_sleeps_of_20ms_land_in_the_16ms_row_via_tp_btf() {
    off_cpu_sleeps("tp_btf");
}

#[test]
fn off_cpu_sleeps_of_20ms_land_in_the_16ms_row_via_tracepoint() {
    hist_user::kernel::ensure_tracefs().expect("tracefs");
    off_cpu_sleeps("tracepoint");
}

#[test]
fn on_cpu_spins_of_5ms_land_in_the_4ms_row() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let workload = common::Workload::spawn(&["spin", "5", "200", "60"]);
    let pid = workload.pid().to_string();
    let cpudist = Cpudist::start(&["-p", &pid]);
    workload.run_to_end();
    let output = cpudist.interrupt();
    let rows = rows(&output);
    let total: u64 = rows.values().sum();
    let in_4ms_row = rows.get(&4096).copied().unwrap_or(0);
    assert!(
        in_4ms_row >= 40 && in_4ms_row * 2 > total,
        "expected most of the 60 spins of 5 ms in the 4096 -> 8191 row, got {in_4ms_row} of {total}:\n{output}"
    );
}

#[test]
fn per_process_sections_name_the_process() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut workload = common::Workload::spawn(&["sleep", "20", "50"]);
    let pid = workload.pid();
    let cpudist = Cpudist::start(&["-O", "-P", "-m", "-p", &pid.to_string()]);
    workload.start();
    // Interrupt while the child still runs, so that its comm can be read.
    std::thread::sleep(std::time::Duration::from_millis(400));
    let output = cpudist.interrupt();
    // bcc prints the comm file as read, newline included, hence the blank line.
    let section =
        format!("\npid = {pid} workload\n\n     msecs               : count     distribution\n");
    assert!(
        output.starts_with(&format!("\n{section}")),
        "no section for pid {pid}:\n{output}"
    );
    let rows = rows(&output);
    assert!(
        rows.get(&16).copied().unwrap_or(0) >= 10,
        "20 ms sleeps in 16 -> 31:\n{output}"
    );
}

/// Runs cpudist to completion; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(cpudist_bin())
        .args(args)
        .output()
        .expect("run cpudist");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (
        output.status.code().unwrap_or(-1),
        text(output.stdout),
        text(output.stderr),
    )
}

fn assert_one_line_error(args: &[&str], code: i32, needle: &str) {
    let (status, stdout, stderr) = run(args);
    assert_eq!(status, code, "cpudist {args:?}: {stderr}");
    assert!(stdout.is_empty(), "cpudist {args:?} printed {stdout:?}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains(needle),
        "cpudist {args:?}: {stderr:?} lacks {needle:?}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn bad_input_gets_one_clear_line() {
    assert_one_line_error(&["--bogus"], 2, "unexpected argument '--bogus'");
    assert_one_line_error(&["0"], 2, "the interval must be at least 1 second");
    assert_one_line_error(&["-5"], 2, "unexpected argument '-5'");
    assert_one_line_error(&["1", "0"], 2, "0 is not in 1..");
    assert_one_line_error(&["-p", "4194305"], 1, "no process with PID 4194305");
    let (status, _, stderr) = run(&["-P", "-L"]);
    assert_eq!((status, stderr.lines().count() > 0), (2, true));
}

#[test]
fn interval_and_count_print_that_many_histograms() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (status, stdout, stderr) = run(&["-T", "1", "2"]);
    assert_eq!(status, 0, "{stderr}");
    let headers = stdout
        .matches("     usecs               : count     distribution")
        .count();
    assert_eq!(headers, 2, "two one-second histograms expected:\n{stdout}");
    let timestamps = stdout
        .lines()
        .filter(|l| l.len() == 8 && l.as_bytes()[2] == b':' && l.as_bytes()[5] == b':')
        .count();
    assert_eq!(timestamps, 2, "one HH:MM:SS per interval:\n{stdout}");
}

#[test]
fn unprivileged_user_is_told_what_is_missing() {
    let cpudist = cpudist_bin();
    let args = [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        &cpudist,
    ];
    let output = Command::new("setpriv")
        .args(args)
        .output()
        .expect("run setpriv");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "cpudist: not enough privileges for eBPF: need root, or CAP_BPF and CAP_PERFMON (run with sudo)"
    );
}

#[test]
fn tracefs_that_cannot_be_mounted_is_one_line() {
    // In a private mount namespace, hide /sys/kernel behind an empty tmpfs: there is no
    // tracefs and no directory to mount it on (nor BTF, so `auto` must fall back and fail too).
    let script = format!(
        "mount -t tmpfs none /sys/kernel && exec {} --hook tracepoint",
        cpudist_bin()
    );
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("run unshare");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("cpudist: tracefs is not mounted and mounting it failed"),
        "{stderr}"
    );
}
