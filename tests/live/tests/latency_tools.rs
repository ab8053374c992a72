//! nfsdist and xfsreclaim on the live kernel. What each must do here follows from what this
//! kernel offers, probed the way their attach plans probe it: if every op has a usable hook the
//! tool traces and prints; if not (and xfsreclaim's tracepoint fallback has none either) it exits
//! 1 within a second with one line per op saying what was tried and why it failed — never
//! libbpf-tools' `failed to add legacy kprobe event`. xfsreclaim is also run against XFS on a
//! loop device whose inodes the kernel is made to reclaim.

mod common;

use std::{path::Path, process::Command};

use common::{Traced, section_totals, sh, trace_around};

use hist_attach::{
    kernel::{self, KernelBtf},
    plan::OpSpec,
};
use hist_test_fixtures::{self as fixtures, Xfs};

/// The tools' own op tables.
const NFSDIST: &[OpSpec] = hist_core::fs::NFS.ops;
const XFSRECLAIM: [OpSpec; 2] = xfsreclaim_common::OPS;

/// Whether xfsreclaim's fallback can attach: the vmscan shrinker tracepoints exist (as tp_btf
/// in BTF, or in tracefs).
fn scan_fallback_available() -> bool {
    let btf = KernelBtf::load().expect("kernel BTF");
    ["mm_shrink_slab_start", "mm_shrink_slab_end"]
        .iter()
        .all(|event| {
            btf.typedef_owner(&format!("btf_trace_{event}"))
                .expect("BTF")
                .is_some()
                || kernel::ensure_tracefs().is_ok()
                    && kernel::tracepoint_exists("vmscan", event).expect("tracefs")
        })
}

fn run(tool: &str, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(common::tool_bin(tool))
        .args(args)
        .output()
        .expect("run tool");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    let status = output.status.code().unwrap_or(-1);
    (status, text(output.stdout), text(output.stderr))
}

/// Runs `tool 1 1`: it traces when `traces`, else fails before tracing (no banner, exit 1) with
/// one line per op of `failing`.
fn check_tool(tool: &str, banner: Option<&str>, failing: &[&str]) {
    let (status, stdout, stderr) = run(tool, &["1", "1"]);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("legacy kprobe"),
        "{stderr}"
    );
    if let Some(banner) = banner {
        assert_eq!(status, 0, "{tool} should trace here: {stderr}");
        assert!(stdout.starts_with(banner), "{stdout}");
        return;
    }
    assert_eq!(status, 1, "{tool}: {stdout}{stderr}");
    assert!(stdout.is_empty(), "{tool} printed {stdout:?}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        failing.len(),
        "one line per op without a hook:\n{stderr}"
    );
    for (line, op) in lines.iter().zip(failing) {
        assert!(
            line.starts_with(&format!("{tool}: cannot trace {op}: ")),
            "{line}"
        );
        // Each hook the kernel lacks is named with its reason.
        if !kernel::kprobes_supported() && *op != "scan" {
            let no_kprobes = "kprobe: this kernel has no kprobes (CONFIG_KPROBES is off)";
            assert!(line.contains(no_kprobes), "{line}");
        }
        if !kernel::fentry_supported().unwrap() && *op != "scan" {
            assert!(
                line.contains("fentry: this kernel refuses fentry programs"),
                "{line}"
            );
        }
    }
}

#[test]
fn nfsdist_traces_or_says_why_not_per_operation() {
    let failing: Vec<&str> = NFSDIST
        .iter()
        .filter(|op| !common::hookable(op.functions))
        .map(|op| op.name)
        .collect();
    let banner = failing
        .is_empty()
        .then_some("Tracing NFS operation latency... Hit Ctrl-C to end.");
    check_tool("nfsdist", banner, &failing);
}

#[test]
fn xfsreclaim_traces_reclaim_or_scans_or_says_why_not() {
    let failing: Vec<&str> = XFSRECLAIM
        .iter()
        .filter(|op| !common::hookable(op.functions))
        .map(|op| op.name)
        .collect();
    let banner = if failing.is_empty() {
        Some("Tracing XFS reclaim latency... Hit Ctrl-C to end.")
    } else if scan_fallback_available() {
        Some("Tracing XFS shrinker scans (no kprobe or fentry)... Hit Ctrl-C to end.")
    } else {
        None
    };
    let mut all_failing = failing.clone();
    all_failing.push("scan");
    check_tool("xfsreclaim", banner, &all_failing);
}

#[test]
fn forcing_a_hook_neither_plan_has_is_one_line_per_op() {
    let (status, stdout, stderr) = run("xfsreclaim", &["--attach", "kprobe", "1", "1"]);
    if XFSRECLAIM.iter().all(|op| common::hookable(op.functions)) && kernel::kprobes_supported() {
        assert_eq!(status, 0, "{stderr}");
        return;
    }
    assert_eq!((status, stdout.as_str()), (1, ""), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    for (line, op) in lines.iter().zip(["count", "free", "scan"]) {
        let head = format!("xfsreclaim: cannot trace {op}: --attach kprobe: ");
        assert!(line.starts_with(&head), "{line}");
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
            let (status, stdout, stderr) = run(tool, args);
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

/// Makes the kernel reclaim the inodes of `files` new files in `dir`. A few thousand suffice:
/// each `drop_caches` runs the XFS shrinker once its superblock has any inode to reclaim.
fn reclaim_inodes(dir: &Path, files: usize) {
    for i in 0..files {
        std::fs::File::create(dir.join(format!("f{i}"))).unwrap();
    }
    fixtures::reclaim_inodes(dir).unwrap();
}

#[test]
fn xfsreclaim_measures_reclaim_of_xfs_inodes() {
    let xfs_mounted_elsewhere = std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .contains(" xfs ");
    let xfs = Xfs::mount().unwrap();
    // A second xfsreclaim serves /metrics over the same run: it must count what the text shows.
    // The two attach and read at different moments, and the kernel may run the shrinker on its
    // own at any time, so the text's count of each op is held between what /metrics counted
    // from just after the text tool attached to the end of the work (at most what the text has)
    // and from just before it started to just after it ended (at least what the text has).
    let mut exporter = Command::new(common::tool_bin("xfsreclaim"))
        .args(["--prometheus", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Its banner, then `xfsreclaim: serving http://…` once it is attached and listening.
    let stderr = std::io::BufReader::new(exporter.stderr.take().unwrap());
    let serving = std::io::BufRead::lines(stderr).map_while(Result::ok);
    let addr = serving
        .take(5)
        .find_map(|l| common::served_address(&l))
        .expect("xfsreclaim --prometheus did not start");
    let counts = || metric_counts(&common::scrape(&addr), "xfs_reclaim_latency_seconds");
    let before_text = counts();
    let (mut text_attached, mut work_done) = (Vec::new(), Vec::new());
    let Traced {
        banner,
        output,
        stderr,
    } = trace_around("xfsreclaim", &["-v"], || {
        text_attached = counts();
        reclaim_inodes(&xfs.mnt(), 2_000);
        work_done = counts();
    });
    let after_text = counts();
    let _ = exporter.kill();
    let _ = exporter.wait();
    let totals = section_totals(&output);
    if banner.contains("reclaim latency") {
        // kprobes or fentry: both callbacks ran for the reclaim.
        let ops: Vec<&str> = totals.iter().map(|(op, _)| op.as_str()).collect();
        assert_eq!(ops, ["count", "free"], "{output}");
        assert!(totals.iter().all(|(_, n)| *n > 0), "{output}");
        for (op, text) in &totals {
            let count = |scrape: &[(String, u64)]| {
                scrape.iter().find(|(o, _)| o == op).map_or(0, |(_, n)| *n)
            };
            let at_most = count(&work_done) - count(&text_attached);
            let at_least = count(&after_text) - count(&before_text);
            assert!(
                (at_most..=at_least).contains(text),
                "{op}: the text counted {text}, /metrics {at_most}..={at_least}:\n{output}"
            );
        }
        stderr.lines().for_each(common::report);
        common::report(&format!("{banner}{}", output.trim_end()));
    } else {
        assert!(banner.contains("shrinker scans"), "{banner}");
        assert_eq!(totals.len(), 1, "{output}");
        assert_eq!(totals[0].0, "scan", "{output}");
        assert!(totals[0].1 > 0, "no XFS shrinker scan seen:\n{output}");
        drop(xfs);
        if !xfs_mounted_elsewhere {
            // Without XFS, dropping caches runs every other superblock's shrinker: none counts.
            let Traced { output, .. } = trace_around("xfsreclaim", &[], || {
                sh("echo 2 > /proc/sys/vm/drop_caches; echo 2 > /proc/sys/vm/drop_caches");
            });
            assert!(
                section_totals(&output).is_empty(),
                "a shrinker that is not XFS's counted:\n{output}"
            );
        }
    }
}

/// `operation → _count` of the histogram family `metric` in a scrape.
fn metric_counts(text: &str, metric: &str) -> Vec<(String, u64)> {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("exposition format");
    let count = format!("{metric}_count");
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == count)
        .map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                ref other => panic!("{count} is {other:?}"),
            };
            (s.labels["operation"].to_owned(), value as u64)
        })
        .collect()
}
