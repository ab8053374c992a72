//! nfsdist and xfsreclaim on the live kernel. What each must do here follows from what this
//! kernel offers, probed the way their attach plans probe it: if an op has a usable hook the
//! tool traces and prints; if none has, it exits 1 within a second with one line per op saying
//! what was tried and why it failed — never libbpf-tools' `failed to add legacy kprobe event`.

mod common;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use aya::{programs::ProgramType, sys::is_program_supported};
use hist_user::kernel;

/// An op of a tool and its kernel functions, as the tool's `OPS` names them.
struct Op {
    name: &'static str,
    functions: &'static [&'static str],
}

const NFSDIST: [Op; 5] = [
    Op {
        name: "read",
        functions: &["nfs_file_read"],
    },
    Op {
        name: "write",
        functions: &["nfs_file_write"],
    },
    Op {
        name: "open",
        functions: &["nfs4_file_open", "nfs_file_open"],
    },
    Op {
        name: "fsync",
        functions: &["nfs_file_fsync"],
    },
    Op {
        name: "getattr",
        functions: &["nfs_getattr"],
    },
];

const XFSRECLAIM: [Op; 2] = [
    Op {
        name: "count",
        functions: &["xfs_fs_nr_cached_objects"],
    },
    Op {
        name: "free",
        functions: &["xfs_fs_free_cached_objects"],
    },
];

/// Whether some hook of this kernel reaches one of `functions`: a kprobe on a kallsyms text
/// symbol (compiler variants, not `.cold`), or fentry on a function of vmlinux BTF (what aya
/// 0.14 can attach to) whose exact name is in kallsyms.
fn hookable(functions: &[&str]) -> bool {
    let kprobes = kernel::kprobes_supported();
    let fentry = kernel::fentry_supported().expect("probe fentry");
    let btf = kernel::KernelBtf::load().expect("kernel BTF");
    functions.iter().any(|function| {
        let symbols = kernel::kallsyms_lookup(function).expect("kallsyms");
        let by_kprobe = kprobes && kernel::pick_attachable(&symbols).is_some();
        let exact = symbols.iter().any(|s| s.name == *function);
        let by_fentry =
            fentry && exact && btf.func_owner(function).expect("BTF") == Some("vmlinux");
        by_kprobe || by_fentry
    })
}

fn run(tool: &str, args: &[&str]) -> (i32, String, String, Duration) {
    let started = Instant::now();
    let output = Command::new(common::tool_bin(tool))
        .args(args)
        .output()
        .expect("run tool");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    let status = output.status.code().unwrap_or(-1);
    (
        status,
        text(output.stdout),
        text(output.stderr),
        started.elapsed(),
    )
}

fn check_tool(tool: &str, ops: &[Op], banner: &str) {
    assert!(is_program_supported(ProgramType::KProbe).is_ok());
    let (status, stdout, stderr, took) = run(tool, &["1", "1"]);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("legacy kprobe"),
        "{stderr}"
    );
    if ops.iter().all(|op| hookable(op.functions)) {
        assert_eq!(status, 0, "{tool} should trace here: {stderr}");
        assert!(stdout.starts_with(banner), "{stdout}");
        return;
    }
    assert_eq!(status, 1, "{tool}: {stdout}{stderr}");
    assert!(stdout.is_empty(), "{tool} printed {stdout:?}");
    assert!(
        took < Duration::from_secs(1),
        "{tool} took {took:?} to fail"
    );
    let failing: Vec<&Op> = ops.iter().filter(|op| !hookable(op.functions)).collect();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        failing.len(),
        "one line per op without a hook:\n{stderr}"
    );
    for (line, op) in lines.iter().zip(failing) {
        let head = format!("{tool}: cannot trace {}: ", op.name);
        assert!(line.starts_with(&head), "{line}");
        // Each hook the kernel lacks is named with its reason.
        if !kernel::kprobes_supported() {
            assert!(
                line.contains("kprobe: this kernel has no kprobes (CONFIG_KPROBES is off)"),
                "{line}"
            );
        }
        if !kernel::fentry_supported().unwrap() {
            assert!(
                line.contains("fentry: this kernel refuses fentry programs"),
                "{line}"
            );
        }
    }
}

#[test]
fn nfsdist_traces_or_says_why_not_per_operation() {
    check_tool(
        "nfsdist",
        &NFSDIST,
        "Tracing NFS operation latency... Hit Ctrl-C to end.",
    );
}

#[test]
fn xfsreclaim_traces_or_says_why_not_per_operation() {
    check_tool(
        "xfsreclaim",
        &XFSRECLAIM,
        "Tracing XFS reclaim latency... Hit Ctrl-C to end.",
    );
}

#[test]
fn forcing_a_hook_the_tool_lacks_is_one_line_per_op() {
    let (status, stdout, stderr, _) = run("xfsreclaim", &["--attach", "tracepoint", "1", "1"]);
    assert_eq!((status, stdout.as_str()), (1, ""), "{stderr}");
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    for (line, op) in stderr.lines().zip(["count", "free"]) {
        assert!(
            line.starts_with(&format!(
                "xfsreclaim: cannot trace {op}: --attach tracepoint: "
            )),
            "{line}"
        );
    }
}

#[test]
fn bad_flags_are_one_line_and_exit_2() {
    for tool in ["nfsdist", "xfsreclaim"] {
        for (args, needle) in [
            (&["--bogus"][..], "unexpected argument '--bogus'"),
            (&["0"][..], "the interval must be at least 1 second"),
            (&["--attach", "uprobe"][..], "invalid value 'uprobe'"),
        ] {
            let (status, stdout, stderr, _) = run(tool, args);
            assert_eq!(
                (status, stdout.as_str()),
                (2, ""),
                "{tool} {args:?}: {stderr}"
            );
            assert!(
                stderr.lines().next().unwrap_or_default().contains(needle),
                "{stderr}"
            );
        }
    }
}
