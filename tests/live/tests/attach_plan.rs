//! `hist_attach::plan` on the running kernel, checked against what the kernel is probed to
//! offer (kallsyms read by hand, BTF, test loads); the plan's choices on fixed kernels are
//! hist-attach's own tests.

use std::fs;

use hist_attach::{
    kernel::{self, CAP_SYS_ADMIN, KernelBtf},
    plan::{Choice, Hook, KernelFacts, OpSpec, Plan, TracepointRole},
};

const NFS_HINT: &str = "the nfs module is not loaded (mount an NFS share or `modprobe nfs`)";

const READ: OpSpec = OpSpec {
    name: "read",
    program: "read",
    functions: &["nfs_file_read"],
    module: Some("nfs"),
    tracepoints: &[(TracepointRole::Only, "nfs", "nfs_readpage_done")],
};

const SCHED_SWITCH: OpSpec = OpSpec {
    name: "sched_switch",
    program: "sched_switch",
    functions: &[],
    module: None,
    tracepoints: &[(TracepointRole::Only, "sched", "sched_switch")],
};

fn choice(op: &'static str, hook: Hook, target: &str) -> Choice {
    Choice {
        op,
        hook,
        target: target.to_owned(),
    }
}

// ---------------------------------------------------------------- the running kernel

fn require_root() {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let cap_eff = kernel::parse_cap_eff(&status).unwrap();
    assert!(
        cap_eff & (1 << CAP_SYS_ADMIN) != 0,
        "these tests run as root on the live kernel (sudo -E cargo test -p hist-live-tests --test attach_plan)"
    );
}

/// Independent of the crate's parser: whether /proc/kallsyms has `name` as a text symbol, plain
/// or with a suffix other than `.cold`.
fn in_kallsyms_by_hand(name: &str, plain_only: bool) -> bool {
    fs::read_to_string("/proc/kallsyms")
        .unwrap()
        .lines()
        .any(|line| {
            let mut f = line.split_whitespace();
            let (Some(_), Some(kind), Some(sym)) = (f.next(), f.next(), f.next()) else {
                return false;
            };
            let text = matches!(kind, "t" | "T" | "w" | "W");
            let variant = sym
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|suffix| !plain_only && !suffix.split('.').any(|w| w == "cold"));
            text && (sym == name || variant)
        })
}

#[test]
fn live_probe_agrees_with_the_kernel_module() {
    require_root();
    let facts = KernelFacts::probe().unwrap();
    assert_eq!(facts.kprobes(), kernel::kprobes_supported());
    assert_eq!(facts.fentry_loads(), kernel::fentry_supported().unwrap());
    assert_eq!(facts.btf().is_some(), kernel::vmlinux_btf_available());
    // probe() mounts tracefs when it is missing.
    assert_eq!(facts.tracefs(), Some(kernel::tracefs().unwrap().as_path()));
    // tp_btf needs vmlinux BTF with the sched_switch typedef it test-loads on.
    if facts.tp_btf_loads() {
        let btf = facts.btf().unwrap();
        assert!(
            btf.vmlinux_typedef_id("btf_trace_sched_switch")
                .unwrap()
                .is_some()
        );
        assert_eq!(
            btf.typedef_owner("btf_trace_sched_switch").unwrap(),
            Some("vmlinux")
        );
    }
}

#[test]
fn live_sched_switch_picks_tp_btf_when_it_loads_else_the_tracepoint() {
    require_root();
    let facts = KernelFacts::probe().unwrap();
    let tracepoint_there = kernel::tracepoint_exists("sched", "sched_switch").unwrap();
    let want = if facts.tp_btf_loads() {
        Some(choice("sched_switch", Hook::TpBtf, "sched_switch"))
    } else if tracepoint_there {
        Some(choice(
            "sched_switch",
            Hook::Tracepoint,
            "sched:sched_switch",
        ))
    } else {
        None
    };
    match Plan::resolve("cpudist", &[SCHED_SWITCH], &facts, None) {
        Ok(plan) => assert_eq!(plan.choices().first(), want.as_ref()),
        Err(error) => panic!("expected {want:?}, got: {error}"),
    }
    // Forcing the tracepoint works wherever tracefs has it.
    let forced = Plan::resolve("cpudist", &[SCHED_SWITCH], &facts, Some(Hook::Tracepoint));
    assert_eq!(forced.is_ok(), tracepoint_there);
    // Forcing kprobe is a clear one-line error that says what would work.
    let error = Plan::resolve("cpudist", &[SCHED_SWITCH], &facts, Some(Hook::Kprobe)).unwrap_err();
    let message = error.to_string();
    assert!(!message.contains('\n'), "{message}");
    assert!(
        message.starts_with(
            "cpudist: cannot trace sched_switch: --attach kprobe: this tool has no kprobe hook \
             for sched_switch (it has tp_btf, tracepoint)"
        ),
        "{message}"
    );
    if let Some(want) = want {
        assert!(
            message.ends_with(&format!(
                "; without --attach: {} on {}",
                want.hook, want.target
            )),
            "{message}"
        );
    }
}

/// Whether the plan's verdict for a kernel function matches kallsyms (read by hand), BTF and the
/// probed hook support.
fn check_live_function(tool: &str, op: OpSpec, facts: &KernelFacts) {
    let function = op.functions[0];
    let btf_owner = facts
        .btf()
        .map(|btf| btf.func_owner(function).unwrap().map(str::to_owned));
    // In vmlinux's BTF or a module's: both are attached (modules through ModulePrograms).
    let fentry_ok = facts.fentry_loads()
        && btf_owner.as_ref().is_some_and(Option::is_some)
        && in_kallsyms_by_hand(function, true);
    let kprobe_ok = facts.kprobes() && in_kallsyms_by_hand(function, false);
    let result = Plan::resolve(tool, &[op], facts, None);
    let hooks: Vec<Hook> = match &result {
        Ok(plan) => plan.viable().into_iter().map(|c| c.hook).collect(),
        Err(_) => Vec::new(),
    };
    let mut want = Vec::new();
    if fentry_ok {
        want.push(Hook::Fentry);
    }
    if kprobe_ok {
        want.push(Hook::Kprobe);
    }
    assert_eq!(hooks, want, "{function}: {facts:?}");
    if let Err(error) = result {
        let message = error.to_string();
        assert!(!message.contains('\n'), "one op, one line: {message}");
        let prefix = format!("{tool}: cannot trace {}: fentry: ", op.name);
        assert!(message.starts_with(&prefix), "{message}");
        assert!(message.contains("; kprobe: "), "{message}");
        if !facts.kprobes() {
            assert!(
                message.ends_with("kprobe: this kernel has no kprobes (CONFIG_KPROBES is off)")
            );
        } else if !in_kallsyms_by_hand(function, false) {
            assert!(message.contains(&format!("kprobe: {function} is not in /proc/kallsyms")));
        }
        if !facts.fentry_loads() {
            assert!(
                message
                    .contains("fentry: this kernel refuses fentry programs (a test load failed)")
            );
        }
    }
}

#[test]
fn live_nfs_and_xfs_functions_match_kallsyms_btf_and_hook_support() {
    require_root();
    let facts = KernelFacts::probe().unwrap();
    fn op(name: &'static str, functions: &'static [&'static str], module: &'static str) -> OpSpec {
        OpSpec {
            name,
            program: name,
            functions,
            module: Some(module),
            tracepoints: &[],
        }
    }
    check_live_function("nfsdist", op("read", &["nfs_file_read"], "nfs"), &facts);
    check_live_function("nfsdist", op("getattr", &["nfs_getattr"], "nfs"), &facts);
    check_live_function(
        "xfsreclaim",
        op("count", &["xfs_fs_nr_cached_objects"], "xfs"),
        &facts,
    );
    check_live_function(
        "xfsreclaim",
        op("free", &["xfs_fs_free_cached_objects"], "xfs"),
        &facts,
    );
    // A function every kernel has, built in.
    check_live_function("t", op("sleep", &["do_nanosleep"], "none"), &facts);
    // NFS not loaded: the kprobe line says so and how to load it (when kprobes exist at all).
    if facts.kprobes() && !facts.module_loaded("nfs") {
        let error = Plan::resolve("nfsdist", &[READ], &facts, Some(Hook::Kprobe)).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "nfsdist: cannot trace read: --attach kprobe: nfs_file_read is not in /proc/kallsyms: {NFS_HINT}"
            )
        );
    }
}

#[test]
fn live_kernel_btf_typedef_lookup() {
    let Ok(btf) = KernelBtf::load() else {
        return; // no vmlinux BTF: nothing to look up (live_probe_agrees… covers the verdict)
    };
    // Every kernel with BTF and the sched tracepoints has these; task_struct is a struct.
    assert_eq!(
        btf.typedef_owner("btf_trace_sched_switch").unwrap(),
        Some("vmlinux")
    );
    let id = btf
        .vmlinux_typedef_id("btf_trace_sched_switch")
        .unwrap()
        .unwrap();
    assert!(id > 1);
    assert_eq!(btf.typedef_owner("task_struct").unwrap(), None);
    assert_eq!(
        btf.typedef_owner("btf_trace_no_such_event_xyz").unwrap(),
        None
    );
}
