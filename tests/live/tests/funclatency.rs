//! funclatency side by side with libbpf-tools' funclatency, in the same run, on a process that
//! calls getpid() a known number of times: the C library's `getpid` by uprobe, and the
//! kernel's by each hook this kernel offers (fentry, kprobe). Both count every call, with the
//! same shape within a bucket (on real hardware: see `shapes_comparable`). A glob (`getp*id`) gives a histogram per
//! function, each copy of the programs counting as its own function: every call in `getpid`'s,
//! which is not the first by name. Where no hook reaches kernel functions (this host), the
//! tool refuses in one line. No clock: counts, and two tools' timings of the same calls.

mod common;

use std::{path::Path, process::Command};

use common::{
    Traced, Workload, hookable,
    reference::{
        Reference, histograms, same_shape_within_a_bucket, section, shapes_comparable, total,
    },
    report, trace_around,
};
use hist_attach::kernel;

/// getpid() calls of the workload.
const CALLS: u64 = 2000;

/// The kernel's getpid: the syscall table's entry on x86-64, or the function it wraps (6.x
/// lists only that one, at the same address, among the traceable functions).
const SYS_GETPID: [&str; 2] = ["__x64_sys_getpid", "__do_sys_getpid"];

/// Under emulation, shapes are compared for calls of this many ns at least (see
/// `shapes_comparable`): never getpid's.
const SHAPE_FLOOR_NS: u64 = 256_000;

/// The first of [`SYS_GETPID`] that this kernel lists as traceable, if any.
fn sys_getpid() -> Option<&'static str> {
    let tracefs = kernel::ensure_tracefs().ok()?;
    let listed = std::fs::read_to_string(tracefs.join("available_filter_functions")).ok()?;
    SYS_GETPID.into_iter().find(|name| {
        listed
            .lines()
            .any(|line| line.split_whitespace().next() == Some(name))
    })
}

/// Runs the workload under our funclatency with `args` (`{pid}` replaced by the workload's
/// pid) and, when `reference` is set, libbpf-tools' with the same pattern and `-p`; what each
/// printed.
fn side_by_side(args: &[&str], reference: Option<&str>) -> (String, String, Option<String>) {
    let workload = Workload::spawn(&["getpid", &CALLS.to_string(), "1"]);
    let pid = workload.pid().to_string();
    let args: Vec<String> = args.iter().map(|a| a.replace("{pid}", &pid)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let theirs = reference.map(|pattern| {
        Reference::start("funclatency", &["-p", &pid, pattern])
            .unwrap_or_else(|why| panic!("{why}"))
    });
    let mut workload = Some(workload);
    let Traced { output, stderr, .. } = trace_around("funclatency", &args, || {
        workload.take().unwrap().run_to_end();
    });
    assert!(
        workload.is_none(),
        "funclatency {args:?} did not start:\n{stderr}"
    );
    (output, stderr, theirs.map(Reference::finish))
}

/// Ours and theirs each count `CALLS` in their one histogram, with the same shape.
fn compare(what: &str, ours: &str, theirs: &str) {
    let (a, b) = (histograms(ours), histograms(theirs));
    let (a, b) = (section(&a, "", ours), section(&b, "", theirs));
    let both = format!("ours:\n{ours}\nlibbpf-tools:\n{theirs}");
    assert_eq!((total(a), total(b)), (CALLS, CALLS), "{what}: {both}");
    let shaped = shapes_comparable(a, b, SHAPE_FLOOR_NS);
    if shaped {
        assert!(same_shape_within_a_bucket(a, b), "{what}: {both}");
    }
    let shape = if shaped {
        ", same shape within a bucket"
    } else {
        ""
    };
    report(&format!(
        "funclatency {what}: {CALLS} calls, as libbpf-tools{shape}"
    ));
}

/// A glob's sections: `getpid` (named `name`) holds every call, no other function any.
fn check_glob(what: &str, output: &str, name: &str) {
    let all = histograms(output);
    assert_eq!(
        total(section(&all, name, output)),
        CALLS,
        "{what}:\n{output}"
    );
    let others: u64 = all
        .iter()
        .filter(|(s, _)| s != name)
        .map(|(_, r)| total(r))
        .sum();
    assert_eq!(others, 0, "{what}:\n{output}");
    report(&format!(
        "funclatency {what}: {CALLS} calls in {name}'s histogram, none in the others'"
    ));
}

#[test]
fn funclatency_times_a_c_library_function_as_libbpf_tools_does() {
    assert!(
        Path::new("/sys/bus/event_source/devices/uprobe").exists(),
        "this kernel has no uprobe PMU"
    );
    let (ours, stderr, theirs) = side_by_side(&["-v", "-p", "{pid}", "c:getpid"], Some("c:getpid"));
    assert!(stderr.contains("getpid: uprobe"), "{stderr}");
    let theirs = theirs.unwrap();
    compare("-p PID c:getpid (uprobe)", &ours, &theirs);
    // libbpf-tools' last line, ours too.
    let last = |output: &str| output.trim_end().lines().last().map(str::to_owned);
    assert_eq!(
        last(&ours),
        Some("Exiting trace of c:getpid".into()),
        "{ours}"
    );
    assert_eq!(last(&ours), last(&theirs), "{theirs}");
    // getpgid, getpid, getppid: getpid is the second copy.
    let (ours, stderr, _) = side_by_side(&["-v", "-p", "{pid}", "c:getp*id"], None);
    assert!(
        stderr.lines().filter(|l| l.ends_with(": uprobe")).count() >= 3,
        "{stderr}"
    );
    check_glob("-p PID 'c:getp*id'", &ours, "getpid");
}

#[test]
fn funclatency_times_a_kernel_function_on_every_hook_or_says_why_not() {
    let Some(function) = sys_getpid().filter(|f| hookable(&[f])) else {
        let output = Command::new(common::tool_bin("funclatency"))
            .args([SYS_GETPID[0]])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(output.stdout.is_empty(), "{stderr}");
        report("funclatency: no hook on the kernel's getpid here: refuses in one line");
        return;
    };
    let (ours, _, theirs) = side_by_side(&["-p", "{pid}", function], Some(function));
    compare(&format!("-p PID {function}"), &ours, &theirs.unwrap());
    // getpgid, getpgrp, getpid, ...: getpid's copy is not the first.
    let glob = function.replace("getpid", "getp*");
    let mut hooks = Vec::new();
    if kernel::fentry_supported().unwrap() {
        hooks.push("fentry");
    }
    if kernel::kprobes_supported() {
        hooks.push("kprobe");
    }
    for hook in hooks {
        let args = ["-v", "--attach", hook, "-p", "{pid}", &glob];
        let (ours, stderr, _) = side_by_side(&args, None);
        assert!(stderr.contains(&format!("{function}: {hook}")), "{stderr}");
        check_glob(&format!("--attach {hook} '{glob}'"), &ours, function);
    }
}
