//! fsdist side by side with libbpf-tools' fsdist, in the same run, on ext4 and on XFS, each a
//! fresh image on a loop device: a workload of known size (`TIMES` × open, pread, pwrite, fsync
//! and stat of one file) under `fsdist -t FS -p PID` and libbpf-tools' `fsdist -t FS -p PID` at
//! once. Both count every op exactly, with the same shape within a bucket (under emulation, for
//! the ops slow enough: see `shapes_comparable`). Where this kernel has
//! no hook on a file system's functions (no kprobes, no fentry: this host), fsdist refuses
//! with one line per op. No clock: counts, and two tools' timings of the same calls.

mod common;

use std::{process::Command, time::Duration};

use common::{
    Traced, Workload, hookable,
    reference::{
        Reference, histograms, same_shape_within_a_bucket, section, shapes_comparable, total,
    },
    report, trace_around,
};
use hist_core::fs::{EXT4, FileSystem, XFS};
use hist_test_fixtures::MountedImage;

/// Calls of each file operation in the workload.
const TIMES: u64 = 200;

/// Under emulation, the ops whose shapes are compared take this many µs at least (fsync).
const SHAPE_FLOOR_US: u64 = 256;

/// Runs the workload on `image` under both tools; checks each op of `fs` against the other.
fn side_by_side(fs: &FileSystem, image: &MountedImage) {
    let file = image.mnt().join("file");
    let workload = Workload::spawn(&["files", file.to_str().unwrap(), &TIMES.to_string()]);
    // Its file is written before it waits to be started: not part of what is counted.
    while std::fs::metadata(&file).map_or(true, |m| m.len() < 64 << 10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = workload.pid().to_string();
    let reference = Reference::start("fsdist", &["-t", fs.name, "-p", &pid])
        .unwrap_or_else(|why| panic!("libbpf-tools' fsdist -t {}: {why}", fs.name));
    let mut workload = Some(workload);
    let args = ["-v", "-t", fs.name, "-p", &pid];
    let Traced { output, stderr, .. } = trace_around("fsdist", &args, || {
        workload.take().unwrap().run_to_end();
    });
    let theirs = reference.finish();
    let (ours_all, theirs_all) = (histograms(&output), histograms(&theirs));
    let both = format!("ours:\n{output}\n{stderr}\nlibbpf-tools:\n{theirs}");
    let mut shaped = Vec::new();
    for op in fs.ops {
        let name = format!("'{}'", op.name);
        let (a, b) = (
            section(&ours_all, &name, &output),
            section(&theirs_all, &name, &theirs),
        );
        let totals = (total(a), total(b));
        assert_eq!(
            totals,
            (TIMES, TIMES),
            "{name}: (ours, theirs) {totals:?}: {both}"
        );
        if shapes_comparable(a, b, SHAPE_FLOOR_US) {
            assert!(same_shape_within_a_bucket(a, b), "{name}: {both}");
            shaped.push(op.name);
        }
    }
    assert_eq!(ours_all.len(), fs.ops.len(), "{both}");
    let ops: Vec<&str> = fs.ops.iter().map(|op| op.name).collect();
    report(&format!(
        "fsdist -t {}: {} × {TIMES} each, as libbpf-tools; the same shape within a bucket: {}",
        fs.name,
        ops.join(", "),
        shaped.join(", ")
    ));
    for line in stderr.lines().filter(|l| l.contains(" on ")) {
        report(line);
    }
}

/// fsdist on `fs`, made by `mkfs`: side by side where every op can be hooked, else its refusal.
fn check(fs: &FileSystem, mkfs: &str) {
    let image = MountedImage::mount_fs(fs.name, mkfs)
        .unwrap_or_else(|why| panic!("{} image: {why}", fs.name));
    let failing: Vec<&str> = fs
        .ops
        .iter()
        .filter(|op| !hookable(op.functions))
        .map(|op| op.name)
        .collect();
    if failing.is_empty() {
        return side_by_side(fs, &image);
    }
    let output = Command::new(common::tool_bin("fsdist"))
        .args(["-t", fs.name, "1", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty(), "{stderr}");
    for op in &failing {
        let line = format!("fsdist: cannot trace {op}: ");
        assert!(stderr.lines().any(|l| l.starts_with(&line)), "{stderr}");
    }
    report(&format!(
        "fsdist -t {}: no hook reaches {}: refuses, one line per op",
        fs.name,
        failing.join(", ")
    ));
}

#[test]
fn fsdist_counts_ext4_ops_as_libbpf_tools_does() {
    check(&EXT4, "mkfs.ext4 -q");
}

#[test]
fn fsdist_counts_xfs_ops_as_libbpf_tools_does() {
    check(&XFS, "mkfs.xfs -q");
}
