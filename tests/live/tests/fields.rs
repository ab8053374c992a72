//! Kernel fields without hand-written offsets: chains resolved from this kernel's BTF and a
//! tracepoint's format, read by a probe through them. The truth is exact: the workload's parent
//! is this test process, and the syscall it makes is getpid.

mod common;

use aya::{
    Btf,
    maps::{Array, MapData, PerCpuArray},
    programs::BtfTracePoint,
};
use hist_attach::kernel::{self, KernelBtf, KernelError, KernelField};
use hist_core::FieldPath;
use hist_test_descs::FIELD_COUNT;

/// The parent's tgid, through a pointer: `task_struct.real_parent → task_struct.tgid`.
const PARENT_TGID: KernelField = KernelField {
    name: "parent's tgid",
    chains: &[&["task_struct.real_parent", "task_struct.tgid"]],
};
/// The same, with a chain no kernel has tried first.
const PARENT_TGID_SECOND: KernelField = KernelField {
    name: "parent's tgid",
    chains: &[
        &["task_struct.no_such_parent", "task_struct.tgid"],
        &["task_struct.real_parent", "task_struct.tgid"],
    ],
};
/// A field no kernel has.
const ABSENT: KernelField = KernelField {
    name: "frobnication count",
    chains: &[&["task_struct.frobnications"], &["no_such_struct.count"]],
};

#[test]
fn probes_read_fields_at_offsets_resolved_from_btf_and_tracefs() {
    let btf = KernelBtf::load().expect("kernel BTF");
    let paths: [FieldPath; FIELD_COUNT as usize] = [
        btf.require_field(&PARENT_TGID).unwrap(),
        btf.resolve_field(&PARENT_TGID_SECOND).unwrap(),
        btf.resolve_field(&ABSENT).unwrap(),
    ];
    assert_eq!(
        paths[0], paths[1],
        "the second chain resolves as the first does"
    );
    assert_eq!(paths[0].steps(), 2);
    assert_eq!(paths[2], FieldPath::ABSENT);
    kernel::ensure_tracefs().expect("tracefs");
    let syscall_nr =
        kernel::tracepoint_field_offset("syscalls", "sys_enter_getpid", "__syscall_nr")
            .expect("sys_enter_getpid's format has __syscall_nr");

    let workload = common::Workload::spawn(&["getpid", "1", "1"]);
    let mut ebpf = aya::EbpfLoader::new()
        .override_global("TARGET_TGID", &workload.pid(), true)
        .override_global("FIELD_PATHS", &paths, true)
        .override_global("SYSCALL_NR_OFFSET", &syscall_nr, true)
        .load(hist_live_tests::PROBES)
        .expect("load test probes");
    common::attach_tracepoint(&mut ebpf, "fields_getpid", "syscalls", "sys_enter_getpid");
    workload.run_to_end();

    let out: Array<MapData, u64> = Array::try_from(ebpf.take_map("FIELDS_OUT").unwrap()).unwrap();
    let read: Vec<u64> = (0..=FIELD_COUNT).map(|i| out.get(&i, 0).unwrap()).collect();
    let parent = u64::from(std::process::id());
    let getpid = libc::SYS_getpid as u64;
    assert_eq!(read, [parent, parent, u64::MAX, getpid]);
}

#[test]
fn a_missing_field_is_one_line_naming_it_and_every_chain() {
    let btf = KernelBtf::load().expect("kernel BTF");
    let error = btf.require_field(&ABSENT).unwrap_err();
    assert_eq!(
        error.to_string(),
        "this kernel has no frobnication count: its BTF has none of task_struct.frobnications, \
         no_such_struct.count (a kernel this tool does not know yet: please report it with \
         `uname -r`)"
    );
    kernel::ensure_tracefs().expect("tracefs");
    let error =
        kernel::tracepoint_field_offset("syscalls", "sys_enter_getpid", "frob").unwrap_err();
    assert!(
        matches!(error, KernelError::TracepointFieldAbsent { .. }),
        "{error}"
    );
    let line = error.to_string();
    assert!(
        line.starts_with("tracepoint syscalls:sys_enter_getpid has no field frob in its format"),
        "{line}"
    );
    assert!(!line.contains('\n'), "{line}");
}

#[test]
fn tp_btf_arguments_are_found_by_type_in_btf() {
    let btf = KernelBtf::load().expect("kernel BTF");
    // The task leaving the CPU: the first `struct task_struct *` of sched_switch (after
    // `bool preempt`). Proven below: read there, it is the current task at every switch.
    let args = btf
        .tracepoint_args("sched_switch")
        .unwrap()
        .expect("btf_trace_sched_switch");
    let prev = btf
        .tracepoint_arg_index("sched_switch", "struct task_struct *")
        .unwrap()
        .expect("a task argument");
    assert_eq!(args[prev + 1], "struct task_struct *", "{args:?}");
    assert_eq!(btf.tracepoint_args("no_such_tracepoint").unwrap(), None);
    // block_rq_issue lost its queue argument in 5.11; the request is there either way.
    if let Some(args) = btf.tracepoint_args("block_rq_issue").unwrap() {
        assert!(args.iter().any(|a| a == "struct request *"), "{args:?}");
    }

    const TASK_PID: KernelField = KernelField {
        name: "task pid",
        chains: &[&["task_struct.pid"]],
    };
    let pid = btf.require_field(&TASK_PID).unwrap();
    let mut ebpf = aya::EbpfLoader::new()
        .override_global("PREV_ARG", &(prev as u32), true)
        .override_global("TASK_PID", &pid, true)
        .load(hist_live_tests::PROBES)
        .expect("load test probes");
    let program: &mut BtfTracePoint = ebpf
        .program_mut("args_sched_switch")
        .unwrap()
        .try_into()
        .unwrap();
    program
        .load("sched_switch", &Btf::from_sys_fs().unwrap())
        .unwrap();
    program.attach().unwrap();
    // Switches happen: this thread sleeps, others run.
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let out: PerCpuArray<MapData, u64> =
        PerCpuArray::try_from(ebpf.take_map("ARGS_OUT").unwrap()).unwrap();
    let sum = |i: u32| out.get(&i, 0).unwrap().iter().sum::<u64>();
    let (same, other) = (sum(0), sum(1));
    assert!(same >= 20, "{same} switches seen");
    assert_eq!(
        other, 0,
        "switches whose outgoing task was not the current one"
    );
}
