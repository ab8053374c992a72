//! runqlat side by side with libbpf-tools' runqlat, in the same run: two threads of one process
//! waking each other over pipes, traced with `-p PID` and `-P -p PID` by both: the same number of
//! waits, at least one per time the kernel switched a thread of the process out (each ends in a
//! wait on a run queue; `getrusage` counts them), with the same shape within a bucket. The tracefs
//! plan counts them too, and refuses `-p` (its records do not say whose process a woken task is).
//! No clock: counts of switches, and two tools' timings of the same waits compared to each other.

mod common;

use std::process::Command;

use common::{
    Traced, Workload,
    reference::{Reference, Rows, histograms, same_shape_within_a_bucket, total},
    report, trace_around,
};
use hist_test_fixtures::Cgroup;

/// The workload: 500 round trips, each of which usually wakes each thread once. The oracle is
/// not 2 × 500 wake-ups but the kernel's count of the threads' switches (each ends in a wait):
/// a byte that arrives before its reader sleeps wakes no one.
const PING_PONG: [&str; 2] = ["ping-pong", "500"];

/// Runs the ping-pong under our runqlat with `args` and libbpf-tools' with `reference_args`
/// (`{pid}` replaced by the workload's pid in both): what each printed, and the ping-pong's pid
/// and switches.
fn side_by_side(args: &[&str], reference_args: Option<&[&str]>) -> SideBySide {
    let workload = Workload::spawn(&PING_PONG);
    let pid = workload.pid();
    let with_pid = |args: &[&str]| -> Vec<String> {
        args.iter()
            .map(|a| a.replace("{pid}", &pid.to_string()))
            .collect()
    };
    let reference = reference_args.map(|args| {
        let args = with_pid(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Reference::start("runqlat", &args).unwrap_or_else(|why| panic!("{why}"))
    });
    let ours = with_pid(args);
    let ours: Vec<&str> = ours.iter().map(String::as_str).collect();
    let mut workload = Some(workload);
    let mut switches = 0;
    let Traced { output, stderr, .. } = trace_around("runqlat", &ours, || {
        switches = workload.take().unwrap().run_to_end();
    });
    assert!(
        workload.is_none(),
        "runqlat {ours:?} did not start:\n{stderr}"
    );
    SideBySide {
        ours: output,
        theirs: reference.map(Reference::finish),
        pid,
        switches,
    }
}

/// What [`side_by_side`] saw.
struct SideBySide {
    ours: String,
    theirs: Option<String>,
    pid: u32,
    switches: u64,
}

/// The histogram whose section value starts with `pid` (`pid = 1234 workload`, or `1234` alone
/// once the process is gone), or the only one when there are no sections.
fn of_pid(output: &str, pid: Option<u32>) -> Rows {
    let all = histograms(output);
    let found = all.into_iter().find(|(section, _)| match pid {
        Some(pid) => section.split_whitespace().next() == Some(&pid.to_string()),
        None => section.is_empty(),
    });
    found
        .unwrap_or_else(|| panic!("no histogram of {pid:?} in:\n{output}"))
        .1
}

#[test]
fn runqlat_counts_what_libbpf_tools_counts_for_a_process() {
    for (args, per_process) in [
        (&["-p", "{pid}"][..], false),
        (&["-P", "-p", "{pid}"], true),
    ] {
        let SideBySide {
            ours,
            theirs,
            pid,
            switches,
        } = side_by_side(args, Some(args));
        let theirs = theirs.unwrap();
        let section = per_process.then_some(pid);
        let (a, b) = (of_pid(&ours, section), of_pid(&theirs, section));
        let both = format!("ours:\n{ours}\nlibbpf-tools:\n{theirs}");
        assert_eq!(total(&a), total(&b), "{args:?}: {both}");
        assert!(
            total(&a) >= switches,
            "{args:?}: {switches} switches: {both}"
        );
        assert!(same_shape_within_a_bucket(&a, &b), "{args:?}: {both}");
        report(&format!(
            "runqlat {}: {} waits ({switches} switches of the ping-pong and more), as libbpf-tools, same shape",
            args.join(" ").replace("{pid}", "PID"),
            total(&a)
        ));
    }
}

/// `-c CGROUP`: the waits that tasks of the cgroup begin (waking a task, or preempted), as
/// libbpf-tools checks the current task. Two ping-pongs, one in the cgroup: `-P` shows most of
/// that one's waits and few of the other's. Not all and none: a wake-up that the scheduler
/// queues to the woken task's CPU runs there, in whatever task that CPU runs.
#[test]
fn runqlat_dash_c_counts_the_waits_of_the_cgroup_s_tasks() {
    let cgroup = Cgroup::create().unwrap();
    let inside = Workload::spawn(&PING_PONG);
    cgroup.add(inside.pid()).unwrap();
    let outside = Workload::spawn(&PING_PONG);
    let (pid, other) = (inside.pid(), outside.pid());
    let path = cgroup.path().to_str().unwrap();
    let mut workloads = Some((inside, outside));
    let mut switches = (0, 0);
    let Traced { output, .. } = trace_around("runqlat", &["-P", "-c", path], || {
        let (inside, outside) = workloads.take().unwrap();
        switches = (inside.run_to_end(), outside.run_to_end());
    });
    let inside = total(&of_pid(&output, Some(pid)));
    assert!(inside >= switches.0 / 2, "{switches:?} switches:\n{output}");
    let all = histograms(&output);
    let of_other = |(section, _): &&(String, Rows)| {
        section.split_whitespace().next() == Some(&other.to_string())
    };
    let outside: u64 = all
        .iter()
        .filter(of_other)
        .map(|(_, rows)| total(rows))
        .sum();
    assert!(
        outside <= switches.1 / 10,
        "{switches:?} switches:\n{output}"
    );
    report(&format!(
        "runqlat -P -c: {inside} waits of the cgroup's ping-pong, {outside} of the other's"
    ));
}

/// `--per-cgroup`: a histogram per cgroup, named by its path. Two ping-pongs, each in a cgroup
/// of its own: each cgroup's section holds at least a wait per switch of its ping-pong's threads.
#[test]
fn runqlat_per_cgroup_names_each_cgroup_s_waits() {
    let cgroups = [Cgroup::create().unwrap(), Cgroup::create().unwrap()];
    let workloads: Vec<Workload> = cgroups
        .iter()
        .map(|cgroup| {
            let workload = Workload::spawn(&PING_PONG);
            cgroup.add(workload.pid()).unwrap();
            workload
        })
        .collect();
    let mut workloads = Some(workloads);
    let mut switches = Vec::new();
    let Traced { output, stderr, .. } = trace_around("runqlat", &["--per-cgroup"], || {
        let workloads = workloads.take().unwrap();
        switches = workloads.into_iter().map(Workload::run_to_end).collect();
    });
    let all = histograms(&output);
    let root = hist_attach::kernel::cgroup2_mount().unwrap();
    for (cgroup, switches) in cgroups.iter().zip(switches) {
        let path = format!("/{}", cgroup.path().strip_prefix(&root).unwrap().display());
        let found = all.iter().find(|(section, _)| *section == path);
        let (_, rows) = found.unwrap_or_else(|| panic!("no cgroup = {path}:\n{output}{stderr}"));
        assert!(
            total(rows) >= switches,
            "{path}: {switches} switches:\n{output}"
        );
    }
    report("runqlat --per-cgroup: each cgroup's ping-pong under its path");
}

/// `--pidnss`: a histogram per PID namespace, read through an embedded member
/// (`pid_namespace.ns.inum`): the ping-pong's waits under its namespace's inode number, as
/// `/proc/PID/ns/pid` names it.
#[test]
fn runqlat_pidnss_counts_under_the_namespace_s_inode() {
    let SideBySide {
        ours,
        pid,
        switches,
        ..
    } = side_by_side(&["--pidnss"], None);
    let link = std::fs::read_link(format!("/proc/{}/ns/pid", std::process::id())).unwrap();
    // `pid:[4026531836]`: the test's namespace, which its child shares.
    let inum = link
        .to_string_lossy()
        .trim_start_matches("pid:[")
        .trim_end_matches(']')
        .to_owned();
    let all = histograms(&ours);
    let found = all.iter().find(|(section, _)| *section == inum);
    let (_, rows) = found.unwrap_or_else(|| panic!("no pidns = {inum} (workload {pid}):\n{ours}"));
    assert!(total(rows) >= switches, "{switches} switches: {ours}");
    report(&format!(
        "runqlat --pidnss: the ping-pong's waits under pidns = {inum}"
    ));
}

#[test]
fn runqlat_counts_waits_on_the_tracefs_plan_and_refuses_what_it_cannot_tell() {
    // Every task's waits: at least the ping-pong's.
    let SideBySide { ours, switches, .. } = side_by_side(&["--attach", "tracepoint"], None);
    let all = of_pid(&ours, None);
    assert!(total(&all) >= switches, "{switches} switches: {ours}");
    report(&format!(
        "runqlat --attach tracepoint: {} waits of all tasks",
        total(&all)
    ));
    let output = Command::new(common::tool_bin("runqlat"))
        .args(["--attach", "tracepoint", "-p", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("need tp_btf"), "{stderr}");
    assert!(output.stdout.is_empty(), "{output:?}");
}
