//! Every eBPF program of the repository passes the verifier of the running kernel, wherever
//! this kernel loads its program type; where it does not, the refusal is the one the kernel
//! probes predict (no guessing from which machine this is).

use aya::{
    Btf, EbpfLoader,
    programs::{Program, ProgramType},
    sys::is_program_supported,
};
use hist_attach::kernel::{self, KernelError};
use hist_core::{OP_START_MAP, TASK_START_MAP};
use hist_live_tests::{
    CPUDIST, CPUDIST_TASK_STORAGE, FSDIST, FSDIST_TASK_STORAGE, PROBES, XFSRECLAIM,
    XFSRECLAIM_TASK_STORAGE,
};

/// The kernel function each `tp_btf` program is loaded for.
const TP_BTF_TARGETS: &[(&str, &str)] = &[
    ("sched_switch_btf", "sched_switch"),
    ("scan_start_btf", "mm_shrink_slab_start"),
    ("scan_end_btf", "mm_shrink_slab_end"),
    ("args_sched_switch", "sched_switch"),
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
            "args_sched_switch".into(),
            "count_getpid".into(),
            "drops_getpid".into(),
            "fields_getpid".into(),
            "keyed_getpid".into(),
            "keys_sched_switch".into(),
            "nest_sched_switch".into(),
            "slots_getpid".into(),
            "start_slots_getpid".into(),
        ],
    );
}

/// Both builds of a tool: the plain one everywhere; the one with `hist_ebpf`'s `task-storage`
/// where the kernel probe says tracing programs have task storage, and where it says not, the
/// kernel refuses a start map (both are task storage in that build), as `Tool::load` expects.
fn assert_both(object: &str, plain: &[u8], task_storage: &[u8], expected: Vec<String>) {
    assert_all(object, plain, expected.clone());
    let object = format!("{object} (task-storage)");
    if kernel::task_storage_supported() {
        assert_all(&object, task_storage, expected);
    } else {
        let error = EbpfLoader::new()
            .allow_unsupported_maps()
            .load(task_storage)
            .err()
            .unwrap_or_else(|| panic!("{object}: loaded without task storage"));
        let error = error.to_string();
        assert!(
            [TASK_START_MAP, OP_START_MAP]
                .iter()
                .any(|map| error.contains(map)),
            "{object}: {error}"
        );
    }
}

/// Which of hist-ebpf's start maps each build's code uses (the others are in the object too,
/// and `Tool::load` gives them one entry).
#[test]
fn each_tool_uses_its_own_start_map() {
    let tools = [
        ("cpudist", CPUDIST, CPUDIST_TASK_STORAGE, TASK_START_MAP),
        ("fsdist", FSDIST, FSDIST_TASK_STORAGE, OP_START_MAP),
        (
            "xfsreclaim",
            XFSRECLAIM,
            XFSRECLAIM_TASK_STORAGE,
            OP_START_MAP,
        ),
    ];
    for (tool, plain, task_storage, used) in tools {
        for object in [plain, task_storage] {
            let symbols = hist_tool::referenced_symbols(object);
            for map in [TASK_START_MAP, OP_START_MAP] {
                assert_eq!(symbols.contains(map), map == used, "{tool}: {map}");
            }
        }
    }
}

#[test]
fn cpudist_loads() {
    let programs = vec!["sched_switch_btf".into(), "sched_switch_tp".into()];
    let object = "examples/cpudist";
    assert_both(object, CPUDIST, CPUDIST_TASK_STORAGE, programs);
}

#[test]
fn fsdist_loads() {
    let programs = latency_programs(&["read", "write", "open", "fsync", "getattr"]);
    let object = "examples/fsdist";
    assert_both(object, FSDIST, FSDIST_TASK_STORAGE, programs);
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
    let (plain, task_storage) = (XFSRECLAIM, XFSRECLAIM_TASK_STORAGE);
    assert_both("examples/xfsreclaim", plain, task_storage, programs);
}

/// `hist_tool::objects!` embeds what the build script made: both builds of a tool, or one.
#[test]
fn objects_embed_the_builds_of_the_build_script() {
    let both = hist_tool::objects!("cpudist");
    assert_eq!(both.plain, CPUDIST);
    assert_eq!(both.task_storage, Some(CPUDIST_TASK_STORAGE));
    let single = hist_tool::objects!("hist-test-probes", single);
    assert_eq!(single.plain, PROBES);
    assert_eq!(single.task_storage, None);
}
