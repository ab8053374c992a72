//! biolatency side by side with libbpf-tools' biolatency, in the same run, on direct reads of a
//! loop device nothing else uses: both count every request, with the same shape within a
//! bucket, with `-d DISK` and with `-D`; and on each plan this kernel offers (tp_btf reads the
//! request through BTF-resolved fields, in either argument order of `block_rq_issue`; the
//! tracefs records carry the disk), with `-Q` and `-F`. No clock: counts of requests, and two
//! tools' timings of the same requests compared to each other.

mod common;

use std::process::Command;

use common::{
    Traced, Workload,
    reference::{Reference, histograms, same_shape_within_a_bucket, section, total},
    report, trace_around,
};
use hist_attach::kernel::{self, KernelBtf};
use hist_test_fixtures::{Cgroup, LoopDevice};

/// Direct reads of 4 KiB in each run: one request each.
const READS: u64 = 200;

/// Runs `READS` direct reads of `disk` under our biolatency with `args`, and under libbpf-tools'
/// with `reference_args` when given; what each printed (the reference's `Err` when it could
/// not start).
fn side_by_side(
    disk: &LoopDevice,
    args: &[&str],
    reference_args: Option<&[&str]>,
) -> (String, Option<Result<String, String>>) {
    let workload = Workload::spawn(&["direct-reads", disk.path(), &READS.to_string()]);
    let reference = reference_args.map(|args| Reference::start("biolatency", args));
    let mut workload = Some(workload);
    let Traced { output, stderr, .. } = trace_around("biolatency", args, || {
        workload.take().unwrap().run_to_end();
    });
    assert!(
        workload.is_none(),
        "biolatency {args:?} did not start:\n{stderr}"
    );
    (
        output,
        reference.map(|started| started.map(Reference::finish)),
    )
}

/// Whether libbpf-tools' biolatency cannot load here for a reason of its own: it picks the
/// request's argument by kernel version (`< 5.11`: the second), and Debian's 5.10 has the
/// one-argument `block_rq_issue` of 5.11 backported, so its verifier refuses the read of an
/// argument that is not there. Ours asks BTF.
fn reference_misreads_block_rq_issue() -> bool {
    let release = kernel_release();
    let old = release < (5, 11);
    let btf = KernelBtf::load().unwrap();
    let args = btf
        .tracepoint_args("block_rq_issue")
        .unwrap()
        .unwrap_or_default();
    old && args.len() == 1
}

/// The running kernel's `(major, minor)`.
fn kernel_release() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut numbers = release
        .trim()
        .split(['.', '-'])
        .map(|n| n.parse().unwrap_or(0));
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0))
}

/// Checks our histogram of section `name` against the reference's, when it ran: every request
/// in both, the same shape within a bucket. Where the reference cannot load for its known
/// reason, ours alone must count every request.
fn compare(ours: &str, theirs: Result<String, String>, name: &str, what: &str) {
    let ours_all = histograms(ours);
    let a = section(&ours_all, name, ours);
    assert_eq!(total(a), READS, "{what}: ours:\n{ours}");
    let theirs = match theirs {
        Ok(theirs) => theirs,
        Err(why) => {
            assert!(reference_misreads_block_rq_issue(), "{why}");
            report(&format!(
                "biolatency {what}: {READS} requests; libbpf-tools' cannot load here (it reads \
                 block_rq_issue's argument by kernel version, which Debian's backport broke)"
            ));
            return;
        }
    };
    let theirs_all = histograms(&theirs);
    let b = section(&theirs_all, name, &theirs);
    assert_eq!(
        total(b),
        READS,
        "{what}: ours:\n{ours}\nlibbpf-tools:\n{theirs}"
    );
    assert!(
        same_shape_within_a_bucket(a, b),
        "{what}: ours:\n{ours}\nlibbpf-tools:\n{theirs}"
    );
    report(&format!(
        "biolatency {what}: {READS} requests, as libbpf-tools, same shape within a bucket"
    ));
}

/// The hooks biolatency can use here, probed independently of its plan: tp_btf where vmlinux
/// BTF has the block tracepoints (every kernel of the matrix loads tp_btf programs: cpudist's
/// tests use them); the tracefs tracepoints.
fn usable_hooks() -> Vec<&'static str> {
    let mut hooks = Vec::new();
    let btf = KernelBtf::load().ok();
    if btf.is_some_and(|btf| btf.tracepoint_args("block_rq_issue").unwrap().is_some()) {
        hooks.push("tp_btf");
    }
    kernel::ensure_tracefs().unwrap();
    if kernel::tracepoint_exists("block", "block_rq_issue").unwrap() {
        hooks.push("tracepoint");
    }
    hooks
}

#[test]
fn biolatency_counts_what_libbpf_tools_counts_per_disk() {
    let disk = LoopDevice::attach(16, None).unwrap();
    let name = disk.name();

    // -d DISK: one histogram, that disk's requests only.
    let (ours, theirs) = side_by_side(&disk, &["-d", name], Some(&["-d", name]));
    compare(&ours, theirs.unwrap(), "", &format!("-d {name}"));

    // -D: a histogram per disk, named as in /proc/partitions; others' I/O in other sections.
    let (ours, theirs) = side_by_side(&disk, &["-D"], Some(&["-D"]));
    compare(&ours, theirs.unwrap(), name, &format!("-D, disk = {name}"));
}

#[test]
fn biolatency_counts_every_request_on_every_plan() {
    let disk = LoopDevice::attach(16, None).unwrap();
    let name = disk.name();
    let hooks = usable_hooks();
    assert!(
        hooks.contains(&"tracepoint"),
        "no block tracepoints: {hooks:?}"
    );
    if let Ok(btf) = KernelBtf::load() {
        let args = btf.tracepoint_args("block_rq_issue").unwrap();
        report(&format!(
            "biolatency: block_rq_issue's arguments here: {args:?}"
        ));
    }
    for hook in ["tp_btf", "tracepoint"] {
        if !hooks.contains(&hook) {
            let output = Command::new(common::tool_bin("biolatency"))
                .args(["--attach", hook, "1", "1"])
                .output()
                .unwrap();
            assert_eq!(output.status.code(), Some(1), "--attach {hook}: {output:?}");
            continue;
        }
        // -Q: from the insert into the queue where there is one; every request still counts.
        for queued in [&[][..], &["-Q"]] {
            let mut args = vec!["--attach", hook, "-d", name];
            args.extend(queued);
            let (ours, _) = side_by_side(&disk, &args, None);
            let all = histograms(&ours);
            assert_eq!(total(section(&all, "", &ours)), READS, "{args:?}:\n{ours}");
            report(&format!("biolatency {}: {READS} requests", args.join(" ")));
        }
        let args = ["--attach", hook, "-F", "-d", name];
        if hook == "tracepoint" {
            // The tracefs records have no request flags: one line, before tracing.
            let output = Command::new(common::tool_bin("biolatency"))
                .args(args)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(stderr.contains("-F needs tp_btf"), "{stderr}");
            continue;
        }
        // -F: reads are named so, whatever flags they carry.
        let (ours, _) = side_by_side(&disk, &args, None);
        let all = histograms(&ours);
        assert!(
            all.iter().all(|(flags, _)| flags.ends_with("Read")),
            "{ours}"
        );
        let counted: u64 = all.iter().map(|(_, rows)| total(rows)).sum();
        assert_eq!(counted, READS, "{args:?}:\n{ours}");
        let sections: Vec<&str> = all.iter().map(|(flags, _)| flags.as_str()).collect();
        report(&format!("biolatency -F: {READS} requests as {sections:?}"));
    }
}

/// `-c CGROUP`: the requests that tasks of the cgroup issue, and no others. Two processes read
/// two disks, one of them in the cgroup: `-D` shows that one's disk alone, every request of it
/// (a request is issued in the context of the task that submits it, when it is the only one in
/// flight, as here).
#[test]
fn biolatency_dash_c_counts_the_requests_of_the_cgroup_s_tasks() {
    let (mine, other) = (
        LoopDevice::attach(16, None).unwrap(),
        LoopDevice::attach(16, None).unwrap(),
    );
    let cgroup = Cgroup::create().unwrap();
    let reads = READS.to_string();
    let inside = Workload::spawn(&["direct-reads", mine.path(), &reads]);
    cgroup.add(inside.pid()).unwrap();
    let outside = Workload::spawn(&["direct-reads", other.path(), &reads]);
    let path = cgroup.path().to_str().unwrap();
    let mut workloads = Some((inside, outside));
    let Traced { output, stderr, .. } = trace_around("biolatency", &["-D", "-c", path], || {
        let (inside, outside) = workloads.take().unwrap();
        inside.run_to_end();
        outside.run_to_end();
    });
    let all = histograms(&output);
    let sections: Vec<&str> = all.iter().map(|(disk, _)| disk.as_str()).collect();
    assert!(!sections.contains(&other.name()), "{output}\n{stderr}");
    assert_eq!(
        total(section(&all, mine.name(), &output)),
        READS,
        "{output}"
    );
    report(&format!(
        "biolatency -D -c: {READS} requests of the cgroup's reader, none of the other's"
    ));
}

#[test]
fn biolatency_refuses_a_disk_that_does_not_exist() {
    let output = Command::new(common::tool_bin("biolatency"))
        .args(["-d", "nosuchdisk0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("nosuchdisk0"), "{stderr}");
    assert!(output.stdout.is_empty(), "{output:?}");
}
