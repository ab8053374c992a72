//! Every eBPF program of the repository passes the verifier of the running kernel, wherever
//! this kernel loads its program type; where it does not, the refusal is the one the kernel
//! probes predict (no guessing from which machine this is).

use aya::{
    Btf, EbpfLoader,
    programs::{Program, ProgramType},
    sys::is_program_supported,
};
use hist_live_tests::{CPUDIST, CPUDIST_TASK_STORAGE, NFSDIST, PROBES, XFSRECLAIM};
use hist_user::{
    hist_core::TASK_START_MAP,
    kernel::{self, KernelError},
};

/// The kernel function each `tp_btf` program is loaded for.
const TP_BTF_TARGETS: &[(&str, &str)] = &[
    ("sched_switch_btf", "sched_switch"),
    ("scan_start_btf", "mm_shrink_slab_start"),
    ("scan_end_btf", "mm_shrink_slab_end"),
];
/// fentry/fexit programs are verified against a vmlinux function every kernel has: the tools'
/// own functions may live in modules, which aya 0.14 cannot load fentry programs for, and the
/// programs read no arguments, so the function does not change what the verifier checks.
const FENTRY_STAND_IN: &str = "vfs_read";

/// Loads every program of `bytes`; returns the names of those loaded and of those the kernel
/// refused as predicted.
fn load_every_program(object: &str, bytes: &[u8]) -> (Vec<String>, Vec<String>) {
    let btf = Btf::from_sys_fs().expect("kernel BTF");
    let kprobe_loads = is_program_supported(ProgramType::KProbe).expect("probe kprobe type");
    let fentry_loads = kernel::fentry_supported().expect("probe fentry");
    let mut ebpf = EbpfLoader::new()
        .allow_unsupported_maps()
        .load(bytes)
        .unwrap_or_else(|e| panic!("{object}: {e}"));
    let (mut loaded, mut refused) = (Vec::new(), Vec::new());
    for (name, program) in ebpf.programs_mut() {
        let (result, loads) = match program {
            Program::TracePoint(program) => (program.load(), true),
            Program::BtfTracePoint(program) => {
                let target = TP_BTF_TARGETS
                    .iter()
                    .find(|(program, _)| *program == name)
                    .unwrap_or_else(|| panic!("{object}: add {name} to TP_BTF_TARGETS"))
                    .1;
                (program.load(target, &btf), true)
            }
            Program::KProbe(program) => (program.load(), kprobe_loads),
            Program::FEntry(program) => (program.load(FENTRY_STAND_IN, &btf), fentry_loads),
            Program::FExit(program) => (program.load(FENTRY_STAND_IN, &btf), fentry_loads),
            other => panic!(
                "{object}: teach this test to load {name} ({:?})",
                other.prog_type()
            ),
        };
        match (result, loads) {
            (Ok(()), true) => loaded.push(name.to_string()),
            (Err(e), true) => panic!("{object}: verifier rejected {name}: {e:?}"),
            (Ok(()), false) => panic!("{object}: {name} loaded, but the probe said it cannot"),
            (Err(e), false) => {
                // The refusal the probe predicted, not a verifier error.
                if matches!(program, Program::FEntry(_) | Program::FExit(_)) {
                    let error = kernel::fentry_load_error(FENTRY_STAND_IN, &e);
                    assert!(
                        matches!(error, KernelError::FentryUnsupported),
                        "{object}: {name}: {error}"
                    );
                }
                refused.push(name.to_string());
            }
        }
    }
    loaded.sort();
    refused.sort();
    (loaded, refused)
}

/// The programs of an entry/exit latency tool, as `hist_ebpf::latency_probes!` names them.
fn latency_programs(ops: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = ops
        .iter()
        .flat_map(|op| {
            ["fentry", "fexit", "kprobe", "kretprobe"].map(|hook| format!("{op}_{hook}"))
        })
        .collect();
    names.sort();
    names
}

/// Every program is either loaded or refused as predicted, and nothing is missing.
fn assert_all(object: &str, bytes: &[u8], expected: Vec<String>) {
    let (loaded, refused) = load_every_program(object, bytes);
    let mut all: Vec<String> = loaded.iter().chain(&refused).cloned().collect();
    all.sort();
    assert_eq!(all, expected, "{object}");
    // What this kernel's probes say must load did.
    let kprobe_loads = is_program_supported(ProgramType::KProbe).unwrap();
    let fentry_loads = kernel::fentry_supported().unwrap();
    for name in &expected {
        let must_load = if name.ends_with("probe") {
            kprobe_loads
        } else if name.ends_with("_fentry") || name.ends_with("_fexit") {
            fentry_loads
        } else {
            true
        };
        assert_eq!(loaded.contains(name), must_load, "{object}: {name}");
    }
}

#[test]
fn test_probes_load() {
    assert_all(
        "tests/hist-test-probes",
        PROBES,
        vec![
            "count_getpid".into(),
            "drops_getpid".into(),
            "keys_sched_switch".into(),
            "slots_getpid".into(),
        ],
    );
}

#[test]
fn cpudist_loads() {
    assert_all(
        "examples/cpudist",
        CPUDIST,
        vec!["sched_switch_btf".into(), "sched_switch_tp".into()],
    );
}

/// The task-storage build loads where the kernel probe says tracing programs have task
/// storage, and where it says not, the kernel refuses its map, as `Tool::load` expects.
#[test]
fn cpudist_task_storage_loads_where_the_kernel_has_it() {
    let object = "examples/cpudist (task-storage)";
    if kernel::task_storage_supported() {
        assert_all(
            object,
            CPUDIST_TASK_STORAGE,
            vec!["sched_switch_btf".into(), "sched_switch_tp".into()],
        );
    } else {
        let error = EbpfLoader::new()
            .allow_unsupported_maps()
            .load(CPUDIST_TASK_STORAGE)
            .err()
            .unwrap_or_else(|| panic!("{object}: loaded without task storage"));
        assert!(
            error.to_string().contains(TASK_START_MAP),
            "{object}: {error}"
        );
    }
}

#[test]
fn nfsdist_loads() {
    let ops = ["read", "write", "open", "fsync", "getattr"];
    assert_all("examples/nfsdist", NFSDIST, latency_programs(&ops));
}

#[test]
fn xfsreclaim_loads() {
    let mut programs = latency_programs(&["count", "free"]);
    // The fallback's tracepoint pair.
    programs.extend(
        [
            "scan_end_btf",
            "scan_end_tp",
            "scan_start_btf",
            "scan_start_tp",
        ]
        .map(String::from),
    );
    programs.sort();
    assert_all("examples/xfsreclaim", XFSRECLAIM, programs);
}
