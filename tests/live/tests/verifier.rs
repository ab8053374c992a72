//! Every eBPF program of the repository passes the verifier of the running kernel.

use aya::{Btf, Ebpf, programs::Program};
use hist_live_tests::{CPUDIST, PROBES};

/// The kernel function each `tp_btf` program is loaded for.
const TP_BTF_TARGETS: &[(&str, &str)] = &[("sched_switch_btf", "sched_switch")];

fn load_every_program(object: &str, bytes: &[u8]) -> Vec<String> {
    let btf = Btf::from_sys_fs().expect("kernel BTF");
    let mut ebpf = Ebpf::load(bytes).unwrap_or_else(|e| panic!("{object}: {e}"));
    let mut loaded = Vec::new();
    for (name, program) in ebpf.programs_mut() {
        let result = match program {
            Program::TracePoint(program) => program.load(),
            Program::BtfTracePoint(program) => {
                let target = TP_BTF_TARGETS
                    .iter()
                    .find(|(program, _)| *program == name)
                    .unwrap_or_else(|| panic!("{object}: add {name} to TP_BTF_TARGETS"))
                    .1;
                program.load(target, &btf)
            }
            other => panic!(
                "{object}: teach this test to load {name} ({:?})",
                other.prog_type()
            ),
        };
        result.unwrap_or_else(|e| panic!("{object}: verifier rejected {name}: {e:?}"));
        loaded.push(name.to_string());
    }
    loaded.sort();
    loaded
}

#[test]
fn test_probes_load() {
    assert_eq!(
        load_every_program("tests/probes", PROBES),
        ["count_getpid", "keys_sched_switch"]
    );
}

#[test]
fn cpudist_loads() {
    assert_eq!(
        load_every_program("examples/cpudist", CPUDIST),
        ["sched_switch_btf", "sched_switch_tp"]
    );
}
