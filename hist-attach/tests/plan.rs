//! `hist_attach::plan`: which hook a plan picks for every combination of what a kernel offers
//! (fixture trees built in a temporary directory) and the exact error lines when nothing fits.
//! No kernel needed, any user; the plan on the running kernel is checked in
//! `tests/live/tests/attach_plan.rs`.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
};

use common::{KIND_FUNC, KIND_FUNC_PROTO, KIND_INT, KIND_TYPEDEF, btf_blob, info};
use hist_attach::plan::{
    Choice, Hook, KernelFacts, OpFailure, OpSpec, Plan, PlanError, TracepointRole,
};

mod common;

// ---------------------------------------------------------------- fixtures

/// A directory under the system's temp dir, removed on drop.
struct Tree {
    root: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "hist-plan-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("proc")).unwrap();
        fs::write(root.join("proc/kallsyms"), "").unwrap();
        Tree { root }
    }

    fn kallsyms(&self, text: &str) -> &Self {
        fs::write(self.root.join("proc/kallsyms"), text).unwrap();
        self
    }

    /// `sys/kernel/btf/<name>`.
    fn btf(&self, name: &str, bytes: &[u8]) -> &Self {
        let dir = self.root.join("sys/kernel/btf");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), bytes).unwrap();
        self
    }

    /// A mounted tracefs with the tracepoints `category:event`.
    fn tracefs(&self, events: &[(&str, &str)]) -> &Self {
        let dir = self.root.join("sys/kernel/tracing/events");
        fs::create_dir_all(&dir).unwrap();
        for (category, event) in events {
            fs::create_dir_all(dir.join(category).join(event)).unwrap();
            fs::write(dir.join(category).join(event).join("id"), "1234\n").unwrap();
        }
        self
    }

    fn facts(&self, kprobes: bool, fentry: bool, tp_btf: bool) -> KernelFacts {
        KernelFacts::from_root(&self.root, kprobes, fentry, tp_btf).unwrap()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// The string section of a base BTF: `"\0int\0"` then `names`; returns it and each name's offset.
fn strings(start: &[u8], names: &[&str]) -> (Vec<u8>, Vec<u32>) {
    let mut bytes = start.to_vec();
    let mut offsets = Vec::new();
    for name in names {
        offsets.push(bytes.len() as u32);
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
    }
    (bytes, offsets)
}

/// Vmlinux BTF: `[1] INT int`, `[2] FUNC_PROTO () -> int`, then a FUNC for each of `funcs` and a
/// TYPEDEF (of `int`) for each of `typedefs`.
fn vmlinux_btf(funcs: &[&str], typedefs: &[&str]) -> Vec<u8> {
    let names: Vec<&str> = funcs.iter().chain(typedefs).copied().collect();
    let (strings, offsets) = strings(b"\0int\0", &names);
    let mut words = vec![1, info(KIND_INT, 0), 4, 32, 0, info(KIND_FUNC_PROTO, 0), 1];
    for (i, offset) in offsets.iter().enumerate() {
        if i < funcs.len() {
            words.extend_from_slice(&[*offset, info(KIND_FUNC, 0), 2]);
        } else {
            words.extend_from_slice(&[*offset, info(KIND_TYPEDEF, 0), 1]);
        }
    }
    btf_blob(&words, &strings, false)
}

/// Module (split) BTF on a vmlinux BTF whose string section is `base_str_len` bytes: FUNCs and
/// TYPEDEFs named in its own strings, referring to the base's types.
fn module_btf(base_str_len: u32, funcs: &[&str], typedefs: &[&str]) -> Vec<u8> {
    let names: Vec<&str> = funcs.iter().chain(typedefs).copied().collect();
    let (strings, offsets) = strings(b"\0", &names);
    let mut words = Vec::new();
    for (i, offset) in offsets.iter().enumerate() {
        let kind = if i < funcs.len() {
            KIND_FUNC
        } else {
            KIND_TYPEDEF
        };
        let target = if i < funcs.len() { 2 } else { 1 };
        words.extend_from_slice(&[base_str_len + offset, info(kind, 0), target]);
    }
    btf_blob(&words, &strings, false)
}

fn base_str_len(vmlinux: &[u8]) -> u32 {
    u32::from_le_bytes(vmlinux[20..24].try_into().unwrap())
}

const TOOL: &str = "nfsdist";
const NFS_HINT: &str = "the nfs module is not loaded (mount an NFS share or `modprobe nfs`)";

const READ: OpSpec = OpSpec {
    name: "read",
    program: "read",
    functions: &["nfs_file_read"],
    module: Some("nfs"),
    tracepoints: &[(TracepointRole::Only, "nfs", "nfs_readpage_done")],
};

// ---------------------------------------------------------------- the matrix

#[derive(Clone, Copy, Debug, PartialEq)]
enum InBtf {
    Vmlinux,
    Module,
    Nowhere,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum InKallsyms {
    Plain,
    Isra,
    OnlyCold,
    Absent,
}

#[derive(Clone, Copy, Debug)]
struct Case {
    kprobes: bool,
    fentry: bool,
    btf: InBtf,
    kallsyms: InKallsyms,
    event: bool,
    tp_btf: bool,
}

/// The fixture of one case: the function in vmlinux BTF, in BTF module `nfs`, or in none
/// (the typedef `btf_trace_nfs_readpage_done` is always in vmlinux BTF); in kallsyms as
/// `nfs_file_read` (with a `.cold` twin), as `nfs_file_read.isra.0`, only as
/// `nfs_file_read.cold`, or not at all, with the module suffix `[nfs]` unless the function is in
/// vmlinux BTF; and the tracepoint `nfs:nfs_readpage_done` in tracefs or not.
fn case_tree(btf: InBtf, kallsyms: InKallsyms, event: bool) -> Tree {
    let tree = Tree::new();
    let suffix = if btf == InBtf::Vmlinux { "" } else { "\t[nfs]" };
    let mut text = String::from(
        "ffffffff81000000 T _stext\n\
         ffffffff813a2270 t __pfx_finish_task_switch.isra.0\n\
         ffffffff813a2280 t finish_task_switch.isra.0\n\
         ffffffff82000000 D nfs_file_read_count\n",
    );
    let lines: &[&str] = match kallsyms {
        InKallsyms::Plain => &[
            "t __pfx_nfs_file_read",
            "T nfs_file_read",
            "t nfs_file_read.cold",
        ],
        InKallsyms::Isra => &["t nfs_file_read.isra.0"],
        InKallsyms::OnlyCold => &["t nfs_file_read.cold"],
        InKallsyms::Absent => &[],
    };
    for (i, line) in lines.iter().enumerate() {
        text += &format!("ffffffffc0a0{i}000 {line}{suffix}\n");
    }
    tree.kallsyms(&text);
    let typedefs = ["btf_trace_nfs_readpage_done", "btf_trace_sched_switch"];
    let vmlinux = match btf {
        InBtf::Vmlinux => vmlinux_btf(&["nfs_file_read", "schedule"], &typedefs),
        _ => vmlinux_btf(&["schedule"], &typedefs),
    };
    if btf == InBtf::Module {
        tree.btf(
            "nfs",
            &module_btf(base_str_len(&vmlinux), &["nfs_file_read"], &[]),
        );
    }
    tree.btf("vmlinux", &vmlinux);
    if event {
        tree.tracefs(&[("sched", "sched_switch"), ("nfs", "nfs_readpage_done")]);
    } else {
        tree.tracefs(&[("sched", "sched_switch")]);
    }
    tree
}

/// What each hook gives in a case, written out from the rules rather than from the code:
/// `Ok(target)` or `Err(reason)`.
fn expected(case: Case, hook: Hook) -> Result<String, String> {
    let module_loaded = case.btf == InBtf::Module
        || (case.btf != InBtf::Vmlinux && case.kallsyms != InKallsyms::Absent);
    let with_module = |name: &str| {
        if case.btf == InBtf::Vmlinux {
            name.to_owned()
        } else {
            format!("{name} [nfs]")
        }
    };
    match hook {
        Hook::Fentry => {
            if !case.fentry {
                return Err("this kernel refuses fentry programs (a test load failed)".into());
            }
            match (case.btf, case.kallsyms) {
                // In vmlinux BTF or in the nfs module's: the same rules, the module named.
                (InBtf::Vmlinux | InBtf::Module, InKallsyms::Plain) => {
                    Ok(with_module("nfs_file_read"))
                }
                (InBtf::Vmlinux | InBtf::Module, InKallsyms::Isra) => Err("nfs_file_read is in \
                     BTF but its code is nfs_file_read.isra.0 in /proc/kallsyms, which fentry \
                     cannot attach to"
                    .into()),
                (InBtf::Vmlinux | InBtf::Module, InKallsyms::OnlyCold) => Err("nfs_file_read is \
                     in BTF but its code is nfs_file_read.cold in /proc/kallsyms, which fentry \
                     cannot attach to"
                    .into()),
                (InBtf::Vmlinux | InBtf::Module, InKallsyms::Absent) => Err("nfs_file_read is \
                     in BTF but not in /proc/kallsyms, so fentry has no address to attach to"
                    .into()),
                (InBtf::Nowhere, InKallsyms::Absent) => {
                    Err(format!("nfs_file_read is not in any BTF: {NFS_HINT}"))
                }
                (InBtf::Nowhere, _) => Err("nfs_file_read is in the nfs module, which has no BTF \
                     (needs CONFIG_DEBUG_INFO_BTF_MODULES=y)"
                    .into()),
            }
        }
        Hook::Kprobe => {
            if !case.kprobes {
                return Err("this kernel has no kprobes (CONFIG_KPROBES is off)".into());
            }
            match case.kallsyms {
                InKallsyms::Plain => Ok(with_module("nfs_file_read")),
                InKallsyms::Isra => Ok(with_module("nfs_file_read.isra.0")),
                InKallsyms::OnlyCold => Err("nfs_file_read is in /proc/kallsyms only as \
                     nfs_file_read.cold, which is not its entry (it is inlined into its callers)"
                    .into()),
                InKallsyms::Absent if module_loaded => Err("nfs_file_read is not in \
                     /proc/kallsyms (this kernel does not have it)"
                    .into()),
                InKallsyms::Absent => Err(format!(
                    "nfs_file_read is not in /proc/kallsyms: {NFS_HINT}"
                )),
            }
        }
        Hook::TpBtf => {
            if case.tp_btf {
                Ok("nfs_readpage_done".into())
            } else {
                Err("this kernel refuses tp_btf programs (a test load failed)".into())
            }
        }
        Hook::Tracepoint => {
            if case.event {
                Ok("nfs:nfs_readpage_done".into())
            } else if module_loaded {
                Err(
                    "nfs:nfs_readpage_done is not in tracefs (this kernel has no such \
                     tracepoint)"
                        .into(),
                )
            } else {
                Err(format!(
                    "nfs:nfs_readpage_done is not in tracefs: {NFS_HINT}"
                ))
            }
        }
    }
}

fn choice(op: &'static str, hook: Hook, target: &str) -> Choice {
    Choice {
        op,
        hook,
        target: target.to_owned(),
    }
}

/// Every combination: kprobes yes/no × fentry loads yes/no × function in vmlinux BTF / module
/// BTF / no BTF × in kallsyms plain / `.isra.0` / only `.cold` / absent × tracepoint present /
/// absent × tp_btf loads yes/no × no `--attach` / each forced hook.
#[test]
fn every_combination_picks_the_first_hook_that_works_or_says_why_none_does() {
    let mut checked = 0;
    let mut errors = 0;
    for btf in [InBtf::Vmlinux, InBtf::Module, InBtf::Nowhere] {
        for kallsyms in [
            InKallsyms::Plain,
            InKallsyms::Isra,
            InKallsyms::OnlyCold,
            InKallsyms::Absent,
        ] {
            for event in [true, false] {
                let tree = case_tree(btf, kallsyms, event);
                for bits in 0..8 {
                    let case = Case {
                        kprobes: bits & 1 != 0,
                        fentry: bits & 2 != 0,
                        tp_btf: bits & 4 != 0,
                        btf,
                        kallsyms,
                        event,
                    };
                    let facts = tree.facts(case.kprobes, case.fentry, case.tp_btf);
                    for force in [
                        None,
                        Some(Hook::Fentry),
                        Some(Hook::Kprobe),
                        Some(Hook::TpBtf),
                        Some(Hook::Tracepoint),
                    ] {
                        let hooks: Vec<Hook> = Hook::ALL
                            .into_iter()
                            .filter(|h| force.is_none_or(|f| f == *h))
                            .collect();
                        let outcomes: Vec<(Hook, Result<String, String>)> =
                            hooks.iter().map(|h| (*h, expected(case, *h))).collect();
                        let viable: Vec<Choice> = outcomes
                            .iter()
                            .filter_map(|(h, o)| o.as_ref().ok().map(|t| choice("read", *h, t)))
                            .collect();
                        let context = format!("{case:?} force {force:?}");
                        match Plan::resolve(TOOL, &[READ], &facts, force) {
                            Ok(plan) => {
                                assert_eq!(plan.choices(), viable[..1], "{context}");
                                assert_eq!(plan.viable(), viable, "{context}");
                                let rejected: Vec<(Hook, String)> = plan
                                    .rejected()
                                    .into_iter()
                                    .map(|r| (r.hook, r.reason))
                                    .collect();
                                let expected_rejected: Vec<(Hook, String)> = outcomes
                                    .iter()
                                    .filter_map(|(h, o)| o.clone().err().map(|r| (*h, r)))
                                    .collect();
                                assert_eq!(rejected, expected_rejected, "{context}");
                            }
                            Err(error) => {
                                errors += 1;
                                assert!(viable.is_empty(), "{context}: {error}");
                                let tried: Vec<String> = outcomes
                                    .iter()
                                    .map(|(h, o)| {
                                        let prefix = if force.is_some() { "--attach " } else { "" };
                                        format!("{prefix}{h}: {}", o.clone().unwrap_err())
                                    })
                                    .collect();
                                let mut line =
                                    format!("nfsdist: cannot trace read: {}", tried.join("; "));
                                if force.is_some() {
                                    // What the plan would pick without --attach, if anything.
                                    if let Some((h, Ok(t))) = Hook::ALL
                                        .iter()
                                        .map(|h| (*h, expected(case, *h)))
                                        .find(|(_, o)| o.is_ok())
                                    {
                                        line += &format!("; without --attach: {h} on {t}");
                                    }
                                }
                                assert_eq!(error.to_string(), line, "{context}");
                                assert_eq!(error.lines(), [line], "{context}");
                            }
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 3 * 4 * 2 * 8 * 5);
    // Both outcomes occur often: the matrix exercises picks and errors alike.
    assert!(errors > 200 && errors < checked - 200, "{errors} errors");
}

/// A few cases of the matrix spelled out in full, as a reader would check them.
#[test]
fn spelled_out_cases() {
    // This machine's kernel, had it NFS built in: fentry refused, no kprobes, tp_btf works.
    let tree = case_tree(InBtf::Vmlinux, InKallsyms::Plain, true);
    let plan = Plan::resolve(TOOL, &[READ], &tree.facts(false, false, true), None).unwrap();
    assert_eq!(
        plan.choices(),
        [choice("read", Hook::TpBtf, "nfs_readpage_done")]
    );
    assert_eq!(
        plan.viable(),
        [
            choice("read", Hook::TpBtf, "nfs_readpage_done"),
            choice("read", Hook::Tracepoint, "nfs:nfs_readpage_done"),
        ]
    );
    // A kernel where everything works prefers fentry.
    let plan = Plan::resolve(TOOL, &[READ], &tree.facts(true, true, true), None).unwrap();
    assert_eq!(
        plan.viable(),
        [
            choice("read", Hook::Fentry, "nfs_file_read"),
            choice("read", Hook::Kprobe, "nfs_file_read"),
            choice("read", Hook::TpBtf, "nfs_readpage_done"),
            choice("read", Hook::Tracepoint, "nfs:nfs_readpage_done"),
        ]
    );
    assert!(plan.rejected().is_empty());
    assert_eq!(
        plan.choices()[0].to_string(),
        "read: fentry on nfs_file_read"
    );

    // Debian 6.1 with NFS mounted: the function is in module BTF: fentry on it, then the
    // kprobe on the module symbol.
    let tree = case_tree(InBtf::Module, InKallsyms::Plain, false);
    let plan = Plan::resolve(TOOL, &[READ], &tree.facts(true, true, false), None).unwrap();
    assert_eq!(
        plan.viable(),
        [
            choice("read", Hook::Fentry, "nfs_file_read [nfs]"),
            choice("read", Hook::Kprobe, "nfs_file_read [nfs]"),
        ]
    );
    assert_eq!(
        plan.choices()[0].to_string(),
        "read: fentry on nfs_file_read [nfs]"
    );
    // A kernel that refuses fentry: the kprobe, and forcing fentry says why and what would work.
    let error = Plan::resolve(
        TOOL,
        &[READ],
        &tree.facts(true, false, false),
        Some(Hook::Fentry),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "nfsdist: cannot trace read: --attach fentry: this kernel refuses fentry programs (a \
         test load failed); without --attach: kprobe on nfs_file_read [nfs]"
    );

    // The example of the design: fentry loads, no kprobes, NFS not loaded, no tracepoints.
    let tree = case_tree(InBtf::Nowhere, InKallsyms::Absent, false);
    let op = OpSpec {
        tracepoints: &[],
        ..READ
    };
    let error = Plan::resolve(TOOL, &[op], &tree.facts(false, true, true), None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "nfsdist: cannot trace read: fentry: nfs_file_read is not in any BTF: the nfs module is \
         not loaded (mount an NFS share or `modprobe nfs`); kprobe: this kernel has no kprobes \
         (CONFIG_KPROBES is off)"
    );
    // With kprobes: the kprobe says the same about the module.
    let error = Plan::resolve(
        TOOL,
        &[op],
        &tree.facts(true, true, true),
        Some(Hook::Kprobe),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "nfsdist: cannot trace read: --attach kprobe: nfs_file_read is not in /proc/kallsyms: \
         the nfs module is not loaded (mount an NFS share or `modprobe nfs`)"
    );
    assert_eq!(
        error.failures(),
        [OpFailure {
            op: "read",
            forced: Some(Hook::Kprobe),
            tried: vec![(
                Hook::Kprobe,
                format!("nfs_file_read is not in /proc/kallsyms: {NFS_HINT}")
            )],
            without_force: None,
        }]
    );
    assert_eq!(error.tool(), "nfsdist");
}

// ---------------------------------------------------------------- alternatives

const OPEN: OpSpec = OpSpec {
    name: "open",
    program: "open",
    functions: &["nfs4_file_open", "nfs_file_open"],
    module: Some("nfs"),
    tracepoints: &[],
};

#[test]
fn alternatives_first_that_exists_per_hook() {
    let facts = |kallsyms: &str, vmlinux_funcs: &[&str], module_funcs: &[(&str, &[&str])]| {
        let tree = Tree::new();
        tree.kallsyms(kallsyms);
        let vmlinux = vmlinux_btf(vmlinux_funcs, &["btf_trace_sched_switch"]);
        for (module, funcs) in module_funcs {
            tree.btf(module, &module_btf(base_str_len(&vmlinux), funcs, &[]));
        }
        tree.btf("vmlinux", &vmlinux);
        tree.facts(true, true, true)
    };
    let pick = |facts: &KernelFacts, force| {
        Plan::resolve(TOOL, &[OPEN], facts, force)
            .map(|plan| plan.choices())
            .map_err(|e| e.to_string())
    };

    // NFSv3-only kernel: nfs4_file_open absent → nfs_file_open.
    let v3 = facts(
        "ffffffffc0a01000 t nfs_file_open\t[nfs]\n",
        &[],
        &[("nfs", &["nfs_file_open"])],
    );
    assert_eq!(
        pick(&v3, Some(Hook::Kprobe)),
        Ok(vec![choice("open", Hook::Kprobe, "nfs_file_open [nfs]")])
    );
    // Both present: nfs4_file_open, from its own module.
    let v4 = facts(
        "ffffffffc0a01000 t nfs_file_open\t[nfs]\n\
         ffffffffc0b01000 t nfs4_file_open\t[nfsv4]\n",
        &[],
        &[("nfs", &["nfs_file_open"]), ("nfsv4", &["nfs4_file_open"])],
    );
    assert_eq!(
        pick(&v4, Some(Hook::Kprobe)),
        Ok(vec![choice("open", Hook::Kprobe, "nfs4_file_open [nfsv4]")])
    );
    // fentry takes the first alternative in BTF, in its own module's BTF.
    let plan = Plan::resolve(TOOL, &[OPEN], &v4, None).unwrap();
    assert_eq!(
        plan.choices(),
        [choice("open", Hook::Fentry, "nfs4_file_open [nfsv4]")]
    );
    // Built into vmlinux: fentry on the first, kprobe on the first.
    let built_in = facts(
        "ffffffff81a01000 t nfs_file_open\nffffffff81b01000 T nfs4_file_open\n",
        &["nfs_file_open", "nfs4_file_open"],
        &[],
    );
    let plan = Plan::resolve(TOOL, &[OPEN], &built_in, None).unwrap();
    assert_eq!(
        plan.viable(),
        [
            choice("open", Hook::Fentry, "nfs4_file_open"),
            choice("open", Hook::Kprobe, "nfs4_file_open"),
        ]
    );
    // Only the second in BTF: fentry on it.
    let second_only = facts(
        "ffffffff81a01000 t nfs_file_open\n",
        &["nfs_file_open"],
        &[],
    );
    assert_eq!(
        pick(&second_only, None),
        Ok(vec![choice("open", Hook::Fentry, "nfs_file_open")])
    );
    // nfs4_file_open only as a .cold fragment is not an entry: nfs_file_open.
    let cold_first = facts(
        "ffffffffc0b01000 t nfs4_file_open.cold\t[nfsv4]\n\
         ffffffffc0a01000 t nfs_file_open.constprop.0\t[nfs]\n",
        &[],
        &[],
    );
    assert_eq!(
        pick(&cold_first, None),
        Ok(vec![choice(
            "open",
            Hook::Kprobe,
            "nfs_file_open.constprop.0 [nfs]"
        )])
    );
    // Neither: one line naming both, per hook.
    let neither = facts("ffffffff81000000 T _stext\n", &[], &[]);
    assert_eq!(
        pick(&neither, None),
        Err(
            "nfsdist: cannot trace open: fentry: neither nfs4_file_open nor nfs_file_open is in \
             any BTF: the nfs module is not loaded (mount an NFS share or `modprobe nfs`); \
             kprobe: neither nfs4_file_open nor nfs_file_open is in /proc/kallsyms: the nfs \
             module is not loaded (mount an NFS share or `modprobe nfs`)"
                .into()
        )
    );
    // One absent, one only cold, the module loaded (other symbols of it are there).
    let cold_second = facts(
        "ffffffffc0a01000 t nfs_file_open.cold\t[nfs]\n\
         ffffffffc0a02000 t nfs_file_read\t[nfs]\n",
        &[],
        &[("nfs", &["nfs_file_read"])],
    );
    assert_eq!(
        pick(&cold_second, Some(Hook::Kprobe)),
        Err(
            "nfsdist: cannot trace open: --attach kprobe: nfs4_file_open is not in \
             /proc/kallsyms, and nfs_file_open is in /proc/kallsyms only as nfs_file_open.cold, \
             which is not its entry (it is inlined into its callers)"
                .into()
        )
    );
    assert_eq!(
        pick(&cold_second, Some(Hook::Fentry)),
        Err(
            "nfsdist: cannot trace open: --attach fentry: neither nfs4_file_open nor \
             nfs_file_open is in any BTF (this kernel's BTF does not describe them)"
                .into()
        )
    );
    // Three alternatives.
    const THREE: OpSpec = OpSpec {
        name: "x",
        program: "x",
        functions: &["a_fn", "b_fn", "c_fn"],
        module: None,
        tracepoints: &[],
    };
    assert_eq!(
        Plan::resolve("t", &[THREE], &neither, Some(Hook::Kprobe))
            .unwrap_err()
            .to_string(),
        "t: cannot trace x: --attach kprobe: none of a_fn, b_fn, c_fn is in /proc/kallsyms \
         (this kernel does not have them)"
    );
}

/// Compiler variants: the kprobe goes on the variant's full name; `.cold` never.
#[test]
fn kprobe_takes_compiler_variants_by_their_full_name() {
    for (lines, want) in [
        ("t f.isra.0\n", Some("f.isra.0")),
        ("t f.constprop.0\n", Some("f.constprop.0")),
        ("t f.part.3\n", Some("f.part.3")),
        ("t f.cold\nt f.isra.0\n", Some("f.isra.0")),
        ("t f.isra.0\nT f\n", Some("f")),
        ("W f\n", Some("f")),
        ("w f\n", Some("f")),
        ("t f.cold\n", None),
        ("t f.constprop.0.isra.0.cold\n", None),
        ("D f\n", None),
        ("t f_other\nt __pfx_f\n", None),
    ] {
        let tree = Tree::new();
        let text: String = lines
            .lines()
            .map(|l| format!("ffffffff81000000 {l}\n"))
            .collect();
        tree.kallsyms(&text);
        let op = OpSpec {
            name: "f",
            program: "f",
            functions: &["f"],
            module: None,
            tracepoints: &[],
        };
        let got = Plan::resolve("t", &[op], &tree.facts(true, false, false), None)
            .map(|plan| plan.choices()[0].target.clone());
        assert_eq!(got.as_deref().ok(), want, "{lines:?}");
    }
}

// ---------------------------------------------------------------- tracepoints

const SCHED_SWITCH: OpSpec = OpSpec {
    name: "sched_switch",
    program: "sched_switch",
    functions: &[],
    module: None,
    tracepoints: &[(TracepointRole::Only, "sched", "sched_switch")],
};

/// A start/end pair of tracepoints, attached together.
const RQ: OpSpec = OpSpec {
    name: "rq",
    program: "rq",
    functions: &[],
    module: None,
    tracepoints: &[
        (TracepointRole::Start, "block", "block_rq_issue"),
        (TracepointRole::End, "block", "block_rq_complete"),
    ],
};

#[test]
fn tracepoint_ops_and_pairs() {
    let tree = Tree::new();
    tree.btf(
        "vmlinux",
        &vmlinux_btf(&[], &["btf_trace_sched_switch", "btf_trace_block_rq_issue"]),
    )
    .tracefs(&[
        ("sched", "sched_switch"),
        ("block", "block_rq_issue"),
        ("block", "block_rq_complete"),
    ]);
    let facts = tree.facts(false, false, true);
    let plan = Plan::resolve("cpudist", &[SCHED_SWITCH, RQ], &facts, None).unwrap();
    // The pair: no btf_trace_block_rq_complete, so tp_btf is out; both tracepoints are there.
    assert_eq!(
        plan.choices(),
        [
            choice("sched_switch", Hook::TpBtf, "sched_switch"),
            choice(
                "rq",
                Hook::Tracepoint,
                "block:block_rq_issue, block:block_rq_complete"
            ),
        ]
    );
    assert_eq!(
        plan.rejected()
            .iter()
            .map(|r| (r.op, r.hook, r.reason.as_str()))
            .collect::<Vec<_>>(),
        [(
            "rq",
            Hook::TpBtf,
            "btf_trace_block_rq_complete is not in any BTF (this kernel has no tracepoint \
             block_rq_complete)"
        )]
    );
    // Forced: tracepoint for both; a hook the op does not have.
    let plan = Plan::resolve(
        "cpudist",
        &[SCHED_SWITCH, RQ],
        &facts,
        Some(Hook::Tracepoint),
    )
    .unwrap();
    assert_eq!(
        plan.choices(),
        [
            choice("sched_switch", Hook::Tracepoint, "sched:sched_switch"),
            choice(
                "rq",
                Hook::Tracepoint,
                "block:block_rq_issue, block:block_rq_complete"
            ),
        ]
    );
    assert_eq!(plan.force(), Some(Hook::Tracepoint));
    let error =
        Plan::resolve("cpudist", &[SCHED_SWITCH, RQ], &facts, Some(Hook::Kprobe)).unwrap_err();
    assert_eq!(
        error.lines(),
        [
            "cpudist: cannot trace sched_switch: --attach kprobe: this tool has no kprobe hook \
             for sched_switch (it has tp_btf, tracepoint); without --attach: tp_btf on \
             sched_switch",
            "cpudist: cannot trace rq: --attach kprobe: this tool has no kprobe hook for rq (it \
             has tp_btf, tracepoint); without --attach: tracepoint on block:block_rq_issue, \
             block:block_rq_complete",
        ]
    );
    assert_eq!(error.to_string(), error.lines().join("\n"));

    // One of the pair missing from tracefs.
    let half = Tree::new();
    half.btf("vmlinux", &vmlinux_btf(&[], &["btf_trace_sched_switch"]))
        .tracefs(&[("block", "block_rq_issue")]);
    let error =
        Plan::resolve("biolatency", &[RQ], &half.facts(true, true, true), None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "biolatency: cannot trace rq: tp_btf: btf_trace_block_rq_issue is not in any BTF (this \
         kernel has no tracepoint block_rq_issue); tracepoint: block:block_rq_complete is not in \
         tracefs (this kernel has no such tracepoint)"
    );
}

#[test]
fn no_btf_and_no_tracefs() {
    let tree = Tree::new();
    tree.kallsyms("ffffffff81a01000 T nfs_file_read\n");
    // No sys/kernel/btf, no sys/kernel/tracing.
    let facts = tree.facts(false, true, true);
    assert!(facts.btf().is_none());
    assert!(facts.tracefs().is_none());
    let error = Plan::resolve(TOOL, &[READ], &facts, None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "nfsdist: cannot trace read: fentry: the kernel has no BTF at /sys/kernel/btf/vmlinux \
         (needs CONFIG_DEBUG_INFO_BTF=y); kprobe: this kernel has no kprobes (CONFIG_KPROBES is \
         off); tp_btf: the kernel has no BTF at /sys/kernel/btf/vmlinux (needs \
         CONFIG_DEBUG_INFO_BTF=y); tracepoint: tracefs is not mounted (mount -t tracefs tracefs \
         /sys/kernel/tracing)"
    );
    // Kprobes alone suffice; nothing else is needed.
    let plan = Plan::resolve(TOOL, &[READ], &tree.facts(true, true, true), None).unwrap();
    assert_eq!(
        plan.choices(),
        [choice("read", Hook::Kprobe, "nfs_file_read")]
    );
}

#[test]
fn tp_btf_on_a_module_tracepoint_is_refused_with_the_aya_limitation() {
    let tree = Tree::new();
    tree.kallsyms("ffffffffc0a01000 T nfs_file_read\t[nfs]\n");
    let vmlinux = vmlinux_btf(&[], &["btf_trace_sched_switch"]);
    tree.btf(
        "nfs",
        &module_btf(
            base_str_len(&vmlinux),
            &["nfs_file_read"],
            &["btf_trace_nfs_readpage_done"],
        ),
    )
    .btf("vmlinux", &vmlinux)
    .tracefs(&[("nfs", "nfs_readpage_done")]);
    let facts = tree.facts(false, false, true);
    let plan = Plan::resolve(TOOL, &[READ], &facts, None).unwrap();
    assert_eq!(
        plan.choices(),
        [choice("read", Hook::Tracepoint, "nfs:nfs_readpage_done")]
    );
    let reasons: Vec<String> = plan.rejected().into_iter().map(|r| r.reason).collect();
    assert_eq!(
        reasons,
        [
            "this kernel refuses fentry programs (a test load failed)",
            "this kernel has no kprobes (CONFIG_KPROBES is off)",
            "btf_trace_nfs_readpage_done is in module BTF (nfs), which aya 0.14 cannot attach \
             tp_btf to",
        ]
    );
}

#[test]
fn built_in_functions_without_a_module() {
    const NR: OpSpec = OpSpec {
        name: "count",
        program: "count",
        functions: &["xfs_fs_nr_cached_objects"],
        module: Some("xfs"),
        tracepoints: &[],
    };
    let tree = Tree::new();
    tree.kallsyms("ffffffff81a01000 t xfs_fs_nr_cached_objects\n")
        .btf("vmlinux", &vmlinux_btf(&["xfs_fs_nr_cached_objects"], &[]));
    // XFS built in: the module is "loaded" in the sense that its symbols are there.
    let plan = Plan::resolve("xfsreclaim", &[NR], &tree.facts(true, false, false), None).unwrap();
    assert_eq!(
        plan.choices(),
        [choice("count", Hook::Kprobe, "xfs_fs_nr_cached_objects")]
    );
    let rejected = plan.rejected();
    assert_eq!(
        rejected[0].reason,
        "this kernel refuses fentry programs (a test load failed)"
    );
    // XFS neither built in nor loaded.
    let none = Tree::new();
    none.btf("vmlinux", &vmlinux_btf(&[], &[]));
    let error =
        Plan::resolve("xfsreclaim", &[NR], &none.facts(true, true, false), None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "xfsreclaim: cannot trace count: fentry: xfs_fs_nr_cached_objects is not in any BTF: the \
         xfs module is not loaded (mount an XFS file system or `modprobe xfs`); kprobe: \
         xfs_fs_nr_cached_objects is not in /proc/kallsyms: the xfs module is not loaded (mount \
         an XFS file system or `modprobe xfs`)"
    );
}

#[test]
fn several_failing_ops_give_one_line_each() {
    const OPS: &[OpSpec] = &[
        OpSpec {
            name: "read",
            program: "read",
            functions: &["nfs_file_read"],
            module: Some("nfs"),
            tracepoints: &[],
        },
        OpSpec {
            name: "write",
            program: "write",
            functions: &["nfs_file_write"],
            module: Some("nfs"),
            tracepoints: &[],
        },
        OpSpec {
            name: "open",
            program: "open",
            functions: &["nfs4_file_open", "nfs_file_open"],
            module: Some("nfs"),
            tracepoints: &[],
        },
        OpSpec {
            name: "getattr",
            program: "getattr",
            functions: &["nfs_getattr"],
            module: Some("nfs"),
            tracepoints: &[],
        },
    ];
    // This machine: no kprobes, fentry refused, NFS absent.
    let tree = Tree::new();
    tree.btf("vmlinux", &vmlinux_btf(&[], &["btf_trace_sched_switch"]));
    let error = Plan::resolve("nfsdist", OPS, &tree.facts(false, false, true), None).unwrap_err();
    let same = "fentry: this kernel refuses fentry programs (a test load failed); kprobe: this \
                kernel has no kprobes (CONFIG_KPROBES is off)";
    assert_eq!(
        error.to_string(),
        format!(
            "nfsdist: cannot trace read: {same}\n\
             nfsdist: cannot trace write: {same}\n\
             nfsdist: cannot trace open: {same}\n\
             nfsdist: cannot trace getattr: {same}"
        )
    );
    // Only the failing ops are named.
    let tree = Tree::new();
    tree.kallsyms(
        "ffffffffc0a01000 T nfs_file_read\t[nfs]\nffffffffc0a02000 T nfs_getattr\t[nfs]\n",
    );
    let error = Plan::resolve("nfsdist", OPS, &tree.facts(true, false, false), None).unwrap_err();
    let ops: Vec<&str> = error.failures().iter().map(|f| f.op).collect();
    assert_eq!(ops, ["write", "open"]);
    assert_eq!(
        error.lines()[0],
        "nfsdist: cannot trace write: fentry: the kernel has no BTF at /sys/kernel/btf/vmlinux \
         (needs CONFIG_DEBUG_INFO_BTF=y); kprobe: nfs_file_write is not in /proc/kallsyms (this \
         kernel does not have it)"
    );
}

#[test]
fn degenerate_ops() {
    let tree = Tree::new();
    let facts = tree.facts(true, true, true);
    // No ops: an empty plan.
    let plan = Plan::resolve("t", &[], &facts, None).unwrap();
    assert!(plan.choices().is_empty());
    assert_eq!(plan.tool(), "t");
    // An op with nothing to hook is a bug in the tool, said as such.
    let nothing = OpSpec {
        name: "x",
        program: "x",
        functions: &[],
        module: None,
        tracepoints: &[],
    };
    let error: PlanError = Plan::resolve("t", &[nothing], &facts, None).unwrap_err();
    // A std error without a source: `?` into anyhow or Box<dyn Error> prints the lines as is.
    let as_error: &dyn std::error::Error = &error;
    assert!(as_error.source().is_none());
    assert_eq!(
        error.to_string(),
        "t: cannot trace x: the tool gives no kernel function and no tracepoint for it (a bug in \
         the tool)"
    );
    assert_eq!(
        Plan::resolve("t", &[nothing], &facts, Some(Hook::TpBtf))
            .unwrap_err()
            .to_string(),
        "t: cannot trace x: --attach tp_btf: this tool has no tp_btf hook for x"
    );
}

#[test]
fn hook_names_and_order() {
    assert!(Hook::Fentry < Hook::Kprobe && Hook::Kprobe < Hook::TpBtf);
    assert!(Hook::TpBtf < Hook::Tracepoint);
    for hook in Hook::ALL {
        assert_eq!(hook.to_string(), hook.name());
    }
}

/// `--attach`'s values are the hooks' names.
#[cfg(feature = "clap")]
#[test]
fn hook_names_are_the_attach_flags_values() {
    use clap::ValueEnum as _;

    let names: Vec<String> = Hook::value_variants()
        .iter()
        .map(|h| h.to_possible_value().unwrap().get_name().to_owned())
        .collect();
    assert_eq!(names, ["fentry", "kprobe", "tp_btf", "tracepoint"]);
    for hook in Hook::ALL {
        assert_eq!(Hook::from_str(hook.name(), false), Ok(hook));
    }
    assert!(Hook::from_str("tp-btf", false).is_err());
    assert!(Hook::from_str("raw_tp", false).is_err());
}

#[test]
fn bad_fixtures_are_errors_not_panics() {
    let tree = Tree::new();
    tree.btf("vmlinux", b"not btf");
    let error = KernelFacts::from_root(&tree.root, true, true, true).unwrap_err();
    assert!(error.to_string().starts_with("cannot parse BTF"), "{error}");
    let missing = KernelFacts::from_root(Path::new("/nonexistent/hist"), true, true, true);
    assert!(
        missing
            .unwrap_err()
            .to_string()
            .starts_with("cannot read /nonexistent/hist/proc/kallsyms")
    );
    // A module BTF this scanner cannot read is a reason, not a failure of the whole plan.
    let odd = Tree::new();
    odd.kallsyms("ffffffffc0a01000 T nfs_file_read\t[nfs]\n");
    let vmlinux = vmlinux_btf(&[], &["btf_trace_nfs_readpage_done"]);
    odd.btf("nfs", &btf_blob(&[0, info(31, 0), 0], b"\0", false))
        .btf("vmlinux", &vmlinux)
        .tracefs(&[]);
    let plan = Plan::resolve(TOOL, &[READ], &odd.facts(true, true, true), None).unwrap();
    assert_eq!(
        plan.choices(),
        [choice("read", Hook::Kprobe, "nfs_file_read [nfs]")]
    );
    let reason = &plan.rejected()[0].reason;
    assert!(
        reason.starts_with("cannot parse BTF /sys/kernel/btf/nfs: unknown BTF kind 31"),
        "{reason}"
    );
}

// ---------------------------------------------------------------- attach without programs

/// An ELF header for eBPF (`EM_BPF`, relocatable, no sections): an object with no programs, so
/// that `Plan::attach`'s fallback and error paths can be run without building any eBPF.
fn empty_ebpf() -> aya::Ebpf {
    #[repr(C, align(8))]
    struct Aligned([u8; 64]);
    let mut elf = Aligned([0; 64]);
    let h = &mut elf.0;
    h[..8].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    h[16..18].copy_from_slice(&1u16.to_le_bytes()); // ET_REL
    h[18..20].copy_from_slice(&247u16.to_le_bytes()); // EM_BPF
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    h[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
    aya::Ebpf::load(&elf.0).unwrap()
}

#[test]
fn attach_falls_back_through_every_candidate_and_reports_each() {
    let tree = case_tree(InBtf::Vmlinux, InKallsyms::Plain, true);
    let facts = tree.facts(true, true, true);
    let plan = Plan::resolve(TOOL, &[READ, SCHED_SWITCH], &facts, None).unwrap();
    let mut ebpf = empty_ebpf();
    let error = plan.attach(&mut ebpf, &[], true).unwrap_err();
    let bug = "(a bug in the tool: please report this)";
    assert_eq!(
        error.lines(),
        [
            format!(
                "nfsdist: cannot trace read: fentry: the eBPF object has no program read_fentry \
                 {bug}; kprobe: the eBPF object has no program read_kprobe {bug}; tp_btf: the \
                 eBPF object has no program read_btf {bug}; tracepoint: the eBPF object has no \
                 program read_tp {bug}"
            ),
            format!(
                "nfsdist: cannot trace sched_switch: tp_btf: the eBPF object has no program \
                 sched_switch_btf {bug}; tracepoint: the eBPF object has no program \
                 sched_switch_tp {bug}"
            ),
        ]
    );
    // Rejections from resolve keep their place among the attach failures, in hook order.
    let facts = tree.facts(false, true, false);
    let plan = Plan::resolve(TOOL, &[READ], &facts, None).unwrap();
    let error = plan.attach(&mut ebpf, &[], false).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "nfsdist: cannot trace read: fentry: the eBPF object has no program read_fentry \
             {bug}; kprobe: this kernel has no kprobes (CONFIG_KPROBES is off); tp_btf: this \
             kernel refuses tp_btf programs (a test load failed); tracepoint: the eBPF object \
             has no program read_tp {bug}"
        )
    );
}
