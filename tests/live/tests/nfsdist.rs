//! nfsdist against a real NFS client: a loopback NFSv4.2 mount of an exported tmpfs, where this
//! kernel can serve and mount one (Debian's kernels in the VM stage: `nfsd`, `nfs` and `nfsv4`
//! are modules there). A workload of known size runs under `nfsdist -p PID` on every hook this
//! kernel offers for NFS's functions, forced one by one, and on the default plan with
//! `--precision 2 --per-cpu`: each op's histogram holds exactly the number of calls made. Where the kernel has no NFS at all, the
//! tool's refusal is what latency_tools.rs checks.

mod common;

use std::{path::Path, process::Command};

use common::{Traced, Workload, report, section_totals, trace_around};
use hist_attach::kernel::{self, KernelBtf};
use hist_test_fixtures::LoopbackNfs;

/// Calls of each file operation in the workload.
const TIMES: u64 = 200;

/// The hooks nfsdist must be able to use here, probed independently of its attach plan:
/// kprobe where the kernel has kprobes and NFS's functions are in kallsyms; fentry where NFS's
/// functions are in BTF (the nfs module's) and the kernel loads fentry programs.
fn usable_hooks() -> Vec<&'static str> {
    let mut hooks = Vec::new();
    let in_kallsyms = |f: &str| {
        let symbols = kernel::kallsyms_lookup(f).unwrap();
        kernel::pick_attachable(&symbols).is_some()
    };
    if Path::new("/sys/kernel/btf/nfs").exists() && kernel::fentry_supported().unwrap() {
        let btf = KernelBtf::load().unwrap();
        if btf.func_owner("nfs_file_read").unwrap().is_some() {
            hooks.push("fentry");
        }
    }
    if kernel::kprobes_supported() && in_kallsyms("nfs_file_read") {
        hooks.push("kprobe");
    }
    hooks
}

/// Runs the workload on the NFS mount under `nfsdist -v -p PID [args]`; the totals per op and
/// the hooks it reported. With `--precision`, the rows must be log-linear ones (`[a, b)`); with
/// `--per-cpu`, there must be `cpu = N` sections.
fn traced_workload(nfs: &LoopbackNfs, args: &[&str]) -> (Vec<(String, u64)>, String) {
    let file = nfs.mnt().join("file");
    let workload = Workload::spawn(&["files", file.to_str().unwrap(), &TIMES.to_string()]);
    // Its file is written before it waits to be started: not part of what is counted.
    while std::fs::metadata(&file).map_or(true, |m| m.len() < 64 << 10) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let pid = workload.pid().to_string();
    let mut all = vec!["-v", "-p", &pid];
    all.extend(args);
    let mut workload = Some(workload);
    let Traced { output, stderr, .. } = trace_around("nfsdist", &all, || {
        workload.take().unwrap().run_to_end();
    });
    let log_linear = output
        .lines()
        .any(|l| l.starts_with("[") && l.contains(", "));
    assert_eq!(
        log_linear,
        args.contains(&"--precision"),
        "{args:?}:\n{output}"
    );
    let per_cpu = output.lines().any(|l| l.starts_with("cpu = "));
    assert_eq!(per_cpu, args.contains(&"--per-cpu"), "{args:?}:\n{output}");
    (section_totals(&output), stderr)
}

#[test]
fn nfsdist_counts_every_call_of_a_known_workload_on_every_hook() {
    let nfs = match LoopbackNfs::missing() {
        None => LoopbackNfs::mount().unwrap(),
        Some(why) => {
            // No NFS here: nfsdist must refuse (the lines are checked in latency_tools.rs).
            let status = Command::new(common::tool_bin("nfsdist"))
                .args(["1", "1"])
                .output()
                .unwrap()
                .status;
            assert_eq!(status.code(), Some(1), "{why}, yet nfsdist did not fail");
            report(&format!("nfsdist: {why}: refuses, as it must"));
            return;
        }
    };
    let hooks = usable_hooks();
    assert!(!hooks.is_empty(), "NFS is mounted but no hook reaches it");
    let expected: Vec<(String, u64)> = ["read", "write", "open", "fsync", "getattr"]
        .iter()
        .map(|op| ((*op).to_owned(), TIMES))
        .collect();
    for hook in ["fentry", "kprobe", "tracepoint"] {
        if !hooks.contains(&hook) {
            // Forcing a hook this kernel lacks is one line per op and exit 1.
            let output = Command::new(common::tool_bin("nfsdist"))
                .args(["--attach", hook, "1", "1"])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "--attach {hook}: {stderr}");
            assert_eq!(stderr.lines().count(), 5, "{stderr}");
            continue;
        }
        let (totals, stderr) = traced_workload(&nfs, &["--attach", hook]);
        assert_eq!(totals, expected, "--attach {hook}:\n{stderr}");
        report(&format!(
            "nfsdist --attach {hook}: read, write, open, fsync, getattr × {TIMES} exact"
        ));
    }
    // The default plan, with finer buckets (`--precision 2`: maps sized for them at load) and
    // an `operation = …` section per CPU that ran the op (`--per-cpu`): added up, exact.
    let args = ["--precision", "2", "--per-cpu"];
    let (per_cpu, stderr) = traced_workload(&nfs, &args);
    let mut totals: Vec<(String, u64)> = expected.iter().map(|(op, _)| (op.clone(), 0)).collect();
    for (op, count) in per_cpu {
        let total = totals.iter_mut().find(|(known, _)| *known == op);
        total.unwrap_or_else(|| panic!("{op}?\n{stderr}")).1 += count;
    }
    assert_eq!(totals, expected, "{args:?}:\n{stderr}");
    report("nfsdist --precision 2 --per-cpu: the CPUs' log-linear sections add up to every call");
    // Which build it loaded: the one with task storage where this kernel has it.
    let starts = if hist_attach::kernel::task_storage_supported() {
        "nfsdist: task start times in task storage"
    } else {
        "nfsdist: task start times in a hash by thread"
    };
    assert!(stderr.lines().any(|l| l == starts), "{starts}:\n{stderr}");
    report(starts);
    let picked: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("nfsdist: ") && *l != starts)
        .collect();
    assert_eq!(picked.len(), 5, "{stderr}");
    for line in &picked {
        assert!(line.contains(&format!(": {} on ", hooks[0])), "{line}");
        report(line);
    }
}
