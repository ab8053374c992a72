//! `hist_user::kernel` on the running kernel (ENVIRONMENT.md, "The running kernel"), as root,
//! plus its parsers on fixed input.
//!
//! Facts of this kernel asserted here: `finish_task_switch` exists only as
//! `finish_task_switch.isra.0`; XFS is built in (`xfs_fs_nr_cached_objects`, a local `t`
//! symbol); the NFS client is not (`nfs_file_read` absent); BTF has `do_sys_openat2`;
//! `CONFIG_KPROBES` is off; tracing (fentry) programs are refused with `EPERM`.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use common::{
    KIND_DATASEC, KIND_ENUM64, KIND_FUNC, KIND_FUNC_PROTO, KIND_INT, KIND_STRUCT, btf_blob, info,
};
use hist_user::kernel::{
    self, CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, KernelBtf, KernelError, KernelSymbol,
};

mod common;

fn require_root() {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let cap_eff = kernel::parse_cap_eff(&status).unwrap();
    assert!(
        cap_eff & (1 << CAP_SYS_ADMIN) != 0,
        "these tests run as root on the live kernel (sudo -E cargo test -p hist-user --test kernel)"
    );
}

fn assert_one_line(error: &KernelError) -> String {
    let message = error.to_string();
    assert!(!message.contains('\n'), "not one line: {message:?}");
    assert!(
        message.ends_with(')'),
        "does not end with what to do: {message:?}"
    );
    message
}

// ---------------------------------------------------------------- privileges

#[test]
fn cap_eff_parser_and_policy_on_fixed_status_text() {
    let status = |cap_eff: &str| {
        format!(
            "Name:\tcat\nUmask:\t0022\nCapInh:\t0000000000000000\nCapPrm:\t{cap_eff}\n\
             CapEff:\t{cap_eff}\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n"
        )
    };
    // Root: every capability of Linux 6.x (0..=40).
    let root = kernel::parse_cap_eff(&status("000001ffffffffff")).unwrap();
    assert_eq!(root, (1 << 41) - 1);
    assert!(kernel::caps_sufficient(root));
    // Root on this machine, CAP_SYS_RESOURCE (24) dropped.
    assert!(kernel::caps_sufficient(
        kernel::parse_cap_eff(&status("000001fffeffffff")).unwrap()
    ));
    // CAP_BPF and CAP_PERFMON only.
    let bpf_perfmon = kernel::parse_cap_eff(&status("000000c000000000")).unwrap();
    assert_eq!(bpf_perfmon, 1 << CAP_BPF | 1 << CAP_PERFMON);
    assert!(kernel::caps_sufficient(bpf_perfmon));
    // One of the two is not enough.
    assert!(!kernel::caps_sufficient(1 << CAP_BPF));
    assert!(!kernel::caps_sufficient(1 << CAP_PERFMON));
    // CAP_SYS_ADMIN alone is.
    assert!(kernel::caps_sufficient(1 << CAP_SYS_ADMIN));
    // None.
    let none = kernel::parse_cap_eff(&status("0000000000000000")).unwrap();
    assert_eq!(none, 0);
    assert!(!kernel::caps_sufficient(none));
    // Malformed.
    assert_eq!(kernel::parse_cap_eff("Name:\tcat\nCapPrm:\t0\n"), None);
    assert_eq!(kernel::parse_cap_eff("CapEff:\tzz\n"), None);
}

#[test]
fn root_has_privileges() {
    require_root();
    kernel::check_privileges().unwrap();
}

#[test]
fn privileges_error_is_one_line_saying_what_to_do() {
    let message = assert_one_line(&KernelError::Privileges { cap_eff: 0 });
    assert_eq!(
        message,
        "not enough privileges for eBPF: need root, or CAP_BPF and CAP_PERFMON (run with sudo)"
    );
}

// ---------------------------------------------------------------- kallsyms

/// Independent of the crate's parser: the names of text symbols in /proc/kallsyms that are
/// `name` or `name.<anything>`.
fn kallsyms_names_by_hand(name: &str) -> Vec<String> {
    let text = fs::read_to_string("/proc/kallsyms").unwrap();
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (_, kind, sym) = (f.next()?, f.next()?, f.next()?);
            let text = matches!(kind, "t" | "T" | "w" | "W");
            let ours = sym == name || sym.strip_prefix(name)?.starts_with('.');
            (text && ours).then(|| sym.to_owned())
        })
        .collect()
}

#[test]
fn kallsyms_finds_finish_task_switch_isra() {
    require_root();
    let symbols = kernel::kallsyms_lookup("finish_task_switch").unwrap();
    let names: Vec<&str> = symbols.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, kallsyms_names_by_hand("finish_task_switch"));
    // This kernel has only the IPA-SRA clone (and its `__pfx_` padding symbol, which is not it).
    assert_eq!(names, ["finish_task_switch.isra.0"]);
    let sym = &symbols[0];
    assert_eq!(
        (
            sym.base_name(),
            sym.suffix.as_str(),
            sym.kind,
            sym.module.as_deref()
        ),
        ("finish_task_switch", ".isra.0", 't', None)
    );
    assert_ne!(sym.address, 0, "root sees addresses");

    let picked = kernel::attachable_symbol("finish_task_switch").unwrap();
    assert_eq!(picked.name, "finish_task_switch.isra.0");
    // Asking for the suffixed name directly finds the same symbol.
    assert_eq!(
        kernel::attachable_symbol("finish_task_switch.isra.0").unwrap(),
        picked
    );
}

#[test]
fn kallsyms_finds_builtin_xfs_local_symbol() {
    require_root();
    let symbols = kernel::kallsyms_lookup("xfs_fs_nr_cached_objects").unwrap();
    assert_eq!(symbols.len(), 1, "{symbols:?}");
    let sym = &symbols[0];
    assert_eq!(sym.name, "xfs_fs_nr_cached_objects");
    assert_eq!(sym.kind, 't');
    assert_eq!(sym.suffix, "");
    assert_eq!(sym.module, None, "XFS is built in");
    assert_ne!(sym.address, 0);
    assert_eq!(
        kernel::attachable_symbol("xfs_fs_nr_cached_objects").unwrap(),
        *sym
    );
    // Its sibling is there too; a prefix of a name is not the function.
    assert_eq!(
        kernel::kallsyms_lookup("xfs_fs_free_cached_objects")
            .unwrap()
            .len(),
        1
    );
    assert!(
        kernel::kallsyms_lookup("xfs_fs_nr_cached")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn kallsyms_does_not_find_nfs_file_read() {
    let symbols = kernel::kallsyms_lookup("nfs_file_read").unwrap();
    assert!(
        symbols.is_empty(),
        "NFS client is not built here: {symbols:?}"
    );
    assert!(kallsyms_names_by_hand("nfs_file_read").is_empty());
    let error = kernel::attachable_symbol("nfs_file_read").unwrap_err();
    assert!(matches!(&error, KernelError::FunctionNotFound { name } if name == "nfs_file_read"));
    let message = assert_one_line(&error);
    assert!(
        message.starts_with("kernel function nfs_file_read is not in /proc/kallsyms"),
        "{message}"
    );
}

const FIXED_KALLSYMS: &str = "\
ffffffff813a2270 t __pfx_finish_task_switch.isra.0
ffffffff813a2280 t finish_task_switch.isra.0
ffffffff813a3000 t finish_task_switch.cold
ffffffff813a4000 T finish_task_switches
ffffffff82000000 D nfs_file_read_count
ffffffffc0a00ff0 t __pfx_nfs_file_read\t[nfs]
ffffffffc0a01000 T nfs_file_read\t[nfs]
ffffffffc0a02000 t nfs_file_read.cold\t[nfs]
ffffffffc0a03000 t nfs_file_read.part.0.isra.0\t[nfs]
ffffffffc0a04000 t nfs_file_read.constprop.0.isra.0.cold\t[nfs]
ffffffffc0a05000 t nfs_file_read.llvm.12345678901234567\t[nfs]
ffffffffc0a06000 t nfs_file_read.weird\t[nfs]
0000000000000000 W xfs_weak_fn
0000000000000000 w xfs_local_weak_fn
malformed line
ffffffffzzzz t nfs_file_read
";

#[test]
fn suffix_and_module_parser_on_fixed_lines() {
    let sym = KernelSymbol::parse_line("ffffffffc0a02000 t nfs_file_read.cold\t[nfs]").unwrap();
    assert_eq!(
        sym,
        KernelSymbol {
            address: 0xffff_ffff_c0a0_2000,
            kind: 't',
            name: "nfs_file_read.cold".into(),
            suffix: ".cold".into(),
            module: Some("nfs".into()),
        }
    );
    assert_eq!(sym.base_name(), "nfs_file_read");
    assert!(sym.is_cold());

    let sym = KernelSymbol::parse_line("0000000000000000 t finish_task_switch.isra.0").unwrap();
    assert_eq!(
        (
            sym.address,
            sym.base_name(),
            sym.suffix.as_str(),
            sym.module.as_deref()
        ),
        (0, "finish_task_switch", ".isra.0", None)
    );
    assert!(!sym.is_cold());
    assert!(
        KernelSymbol::parse_line("ffffffffc0a04000 t f.constprop.0.isra.0.cold\t[nfs]")
            .unwrap()
            .is_cold()
    );
    // Not text, not well-formed.
    assert_eq!(KernelSymbol::parse_line("ffffffff82000000 D jiffies"), None);
    assert_eq!(
        KernelSymbol::parse_line("ffffffff82000000 b bss_thing\t[nfs]"),
        None
    );
    assert_eq!(KernelSymbol::parse_line("ffffffff82000000 t f\tnfs"), None);
    assert_eq!(KernelSymbol::parse_line("zz t f"), None);
    assert_eq!(KernelSymbol::parse_line(""), None);

    for (name, base, suffix) in [
        ("finish_task_switch.isra.0", "finish_task_switch", ".isra.0"),
        ("f.constprop.0", "f", ".constprop.0"),
        ("f.part.12", "f", ".part.12"),
        ("f.cold", "f", ".cold"),
        ("f.cold.1", "f", ".cold.1"),
        ("f.llvm.98765", "f", ".llvm.98765"),
        (
            "f.part.0.constprop.0.isra.0.cold",
            "f",
            ".part.0.constprop.0.isra.0.cold",
        ),
        ("f", "f", ""),
        ("f.weird", "f.weird", ""),
        ("f.isra.x", "f.isra.x", ""),
        ("f.123", "f.123", ""),
        ("f.isra..0", "f.isra..0", ""),
        (".cold", ".cold", ""),
    ] {
        assert_eq!(
            kernel::split_compiler_suffix(name),
            (base, suffix),
            "{name}"
        );
    }
}

#[test]
fn lookup_and_pick_on_fixed_kallsyms() {
    let lookup = |name: &str| -> Vec<KernelSymbol> {
        kernel::kallsyms_lookup_in(FIXED_KALLSYMS.as_bytes(), name).unwrap()
    };
    let names = |symbols: &[KernelSymbol]| -> Vec<String> {
        symbols.iter().map(|s| s.name.clone()).collect()
    };

    let nfs = lookup("nfs_file_read");
    assert_eq!(
        names(&nfs),
        [
            "nfs_file_read",
            "nfs_file_read.cold",
            "nfs_file_read.part.0.isra.0",
            "nfs_file_read.constprop.0.isra.0.cold",
            "nfs_file_read.llvm.12345678901234567",
        ]
    );
    assert!(nfs.iter().all(|s| s.module.as_deref() == Some("nfs")));
    assert_eq!(kernel::pick_attachable(&nfs).unwrap().name, "nfs_file_read");
    // Without the plain symbol: the first suffixed one that is not cold.
    assert_eq!(
        kernel::pick_attachable(&nfs[1..]).unwrap().name,
        "nfs_file_read.part.0.isra.0"
    );
    assert_eq!(kernel::pick_attachable(&nfs[1..2]), None, "only .cold");
    assert_eq!(kernel::pick_attachable(&[]), None);

    // finish_task_switch.isra.0 wins over .cold; finish_task_switches and __pfx_ are others.
    let fts = lookup("finish_task_switch");
    assert_eq!(
        names(&fts),
        ["finish_task_switch.isra.0", "finish_task_switch.cold"]
    );
    assert_eq!(
        kernel::pick_attachable(&fts).unwrap().name,
        "finish_task_switch.isra.0"
    );

    // An exact name with an unknown dotted tail is still found by its full name.
    assert_eq!(
        names(&lookup("nfs_file_read.weird")),
        ["nfs_file_read.weird"]
    );
    // Weak symbols count as text.
    assert_eq!(lookup("xfs_weak_fn")[0].kind, 'W');
    assert_eq!(lookup("xfs_local_weak_fn")[0].kind, 'w');
    // Data is not a function.
    assert!(lookup("nfs_file_read_count").is_empty());
}

// ---------------------------------------------------------------- BTF

#[test]
fn vmlinux_btf_has_do_sys_openat2_and_not_a_made_up_name() {
    assert!(kernel::vmlinux_btf_available());
    assert!(kernel::btf_has_func("do_sys_openat2").unwrap());
    assert_eq!(
        kernel::btf_func_owner("do_sys_openat2").unwrap().as_deref(),
        Some("vmlinux")
    );
    assert!(!kernel::btf_has_func("no_such_function_xyz").unwrap());

    let btf = KernelBtf::load().unwrap();
    // What aya's fentry probe attaches to, and the function cpudist's kprobe path uses.
    assert!(btf.has_func("bpf_fentry_test1").unwrap());
    assert!(btf.has_func("finish_task_switch").unwrap());
    // BTF knows functions by their source names, not their clones' symbols.
    assert!(!btf.has_func("finish_task_switch.isra.0").unwrap());
    // Types that are not FUNCs, and prefixes of a FUNC's name, are not functions.
    assert!(!btf.has_func("task_struct").unwrap());
    assert!(!btf.has_func("do_sys_openat").unwrap());
    assert!(!btf.has_func("").unwrap());
    assert!(
        !btf.has_func("nfs_file_read").unwrap(),
        "NFS is not loaded here"
    );

    kernel::require_btf_func("do_sys_openat2").unwrap();
    let error = kernel::require_btf_func("no_such_function_xyz").unwrap_err();
    assert!(matches!(error, KernelError::FunctionNotInBtf { .. }));
    assert_one_line(&error);
}

fn kallsyms_has(name: &str) -> bool {
    !kallsyms_names_by_hand(name).is_empty()
}

/// Every FUNC of vmlinux BTF that is a plain symbol in /proc/kallsyms is found, and the scanner
/// agrees with kallsyms on a sample of names taken from it.
#[test]
fn btf_agrees_with_kallsyms_on_built_in_functions() {
    require_root();
    let btf = KernelBtf::load().unwrap();
    for name in [
        "xfs_fs_nr_cached_objects",
        "xfs_fs_free_cached_objects",
        "schedule",
        "vfs_read",
        "do_nanosleep",
    ] {
        assert!(kallsyms_has(name), "{name} in kallsyms");
        assert!(btf.has_func(name).unwrap(), "{name} in BTF");
    }
}

/// A standalone base BTF: `int`, a FUNC_PROTO, FUNC `base_fn`, STRUCT `shared`.
/// Strings: "\0int\0base_fn\0shared\0" (offsets 1, 5, 13; length 20).
fn base_blob(big: bool) -> Vec<u8> {
    btf_blob(
        &[
            &[1, info(KIND_INT, 0), 4, 32][..],      // [1] INT int, + encoding
            &[0, info(KIND_FUNC_PROTO, 1), 1, 0, 1], // [2] FUNC_PROTO (int) -> int, + 1 param
            &[5, info(KIND_FUNC, 0), 2],             // [3] FUNC base_fn
            &[13, info(KIND_STRUCT, 1), 4, 1, 1, 0], // [4] STRUCT shared, + 1 member
        ]
        .concat(),
        b"\0int\0base_fn\0shared\0",
        big,
    )
}

/// A split BTF on [`base_blob`]: an ENUM64 and a DATASEC to skip, FUNC `mod_fn` (own string,
/// offset 20 + 1) and FUNC `shared` (a base string).
fn module_blob() -> Vec<u8> {
    btf_blob(
        &[
            &[20 + 8, info(KIND_ENUM64, 2), 8][..], // ENUM64 mod_enum, + 2 * 12 bytes:
            &[1, 0, 0, 1, 1, 0],
            &[0, info(KIND_DATASEC, 1), 0], // DATASEC, + 1 * 12 bytes:
            &[1, 0, 4],
            &[20 + 1, info(KIND_FUNC, 0), 2], // FUNC mod_fn
            &[13, info(KIND_FUNC, 0), 2],     // FUNC shared
        ]
        .concat(),
        b"\0mod_fn\0mod_enum\0",
        false,
    )
}

#[test]
fn btf_scanner_on_synthetic_split_btf() {
    let btf =
        KernelBtf::from_parts(base_blob(false), vec![("mymod".into(), module_blob())]).unwrap();
    assert_eq!(btf.func_owner("base_fn").unwrap(), Some("vmlinux"));
    assert_eq!(btf.func_owner("mod_fn").unwrap(), Some("mymod"));
    assert_eq!(
        btf.func_owner("shared").unwrap(),
        Some("mymod"),
        "name from base strings"
    );
    for not_a_func in ["int", "mod_enum", "mod", "base", "missing", ""] {
        assert_eq!(btf.func_owner(not_a_func).unwrap(), None, "{not_a_func}");
    }

    // Big-endian BTF (as on s390x) reads the same.
    let big = KernelBtf::from_parts(base_blob(true), vec![]).unwrap();
    assert!(big.has_func("base_fn").unwrap());
    assert!(!big.has_func("shared").unwrap());

    // Malformed input is an error naming the file, not a panic.
    let error = KernelBtf::from_parts(b"not btf at all, no".to_vec(), vec![])
        .err()
        .unwrap();
    assert!(matches!(error, KernelError::BtfParse { .. }));
    assert_one_line(&error);
    let mut truncated = base_blob(false);
    truncated.truncate(40);
    assert!(KernelBtf::from_parts(truncated, vec![]).is_err());
    let unknown_kind = btf_blob(&[0, info(31, 0), 0], b"\0", false);
    let btf = KernelBtf::from_parts(base_blob(false), vec![("odd".into(), unknown_kind)]).unwrap();
    let error = btf.func_owner("missing").unwrap_err();
    let message = assert_one_line(&error);
    assert!(message.contains("/sys/kernel/btf/odd"), "{message}");
    assert!(message.contains("unknown BTF kind 31"), "{message}");
    // Found before reaching the bad module: no error.
    assert_eq!(btf.func_owner("base_fn").unwrap(), Some("vmlinux"));
}

// ---------------------------------------------------------------- tracefs and tracepoints

#[test]
fn tracepoint_sched_switch_exists_once_tracefs_is_ensured() {
    require_root();
    let path = kernel::ensure_tracefs().unwrap();
    assert!(
        path == Path::new("/sys/kernel/tracing") || path == Path::new("/sys/kernel/debug/tracing"),
        "{path:?}"
    );
    let mounts = fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        mounts
            .lines()
            .any(|l| l.split_whitespace().nth(1) == path.to_str()
                && l.split_whitespace().nth(2) == Some("tracefs")),
        "{path:?} is a tracefs mount"
    );
    // Idempotent: a second call finds it and mounts nothing more.
    assert_eq!(kernel::ensure_tracefs().unwrap(), path);
    let count = |m: &str| m.lines().filter(|l| l.contains(" tracefs ")).count();
    assert_eq!(
        count(&fs::read_to_string("/proc/mounts").unwrap()),
        count(&mounts)
    );
    assert_eq!(kernel::tracefs().unwrap(), path);

    assert!(kernel::tracepoint_exists("sched", "sched_switch").unwrap());
    assert!(kernel::tracepoint_exists("sched", "sched_wakeup").unwrap());
    // XFS is built in: its tracepoints are there.
    assert!(kernel::tracepoint_exists("xfs", "xfs_inode_reclaiming").unwrap());
    assert!(!kernel::tracepoint_exists("sched", "no_such_event").unwrap());
    assert!(!kernel::tracepoint_exists("no_such_category", "sched_switch").unwrap());
    // Paths that would leave events/ name no tracepoint.
    assert!(!kernel::tracepoint_exists("..", "..").unwrap());
    assert!(!kernel::tracepoint_exists("sched/../sched", "sched_switch").unwrap());
    assert!(!kernel::tracepoint_exists("", "sched_switch").unwrap());
    // A category directory is not a tracepoint.
    assert!(!kernel::tracepoint_exists("sched", "enable").unwrap());
}

#[test]
fn tracefs_errors_are_one_line_with_the_mount_command() {
    let message = assert_one_line(&KernelError::TracefsNotMounted);
    assert!(message.ends_with("(mount -t tracefs tracefs /sys/kernel/tracing)"));
    let message = assert_one_line(&KernelError::TracefsMount {
        reason: "mount: /sys/kernel/tracing: must be superuser to use mount.".into(),
    });
    assert_eq!(
        message,
        "tracefs is not mounted and mounting it failed: mount: /sys/kernel/tracing: must be \
         superuser to use mount. (mount -t tracefs tracefs /sys/kernel/tracing)"
    );
}

// ---------------------------------------------------------------- hooks

/// The kernel's own configuration, via zcat (no gzip crate).
fn kernel_config() -> String {
    let out = Command::new("zcat")
        .arg("/proc/config.gz")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn kprobe_support_matches_the_kernel_config() {
    let config = kernel_config();
    let has_kprobe_events = config.lines().any(|l| l == "CONFIG_KPROBE_EVENTS=y");
    assert_eq!(kernel::kprobes_supported(), has_kprobe_events);
    // ENVIRONMENT.md: CONFIG_KPROBES is not set on this kernel.
    assert!(config.lines().any(|l| l == "# CONFIG_KPROBES is not set"));
    let error = kernel::require_kprobes().unwrap_err();
    assert!(matches!(error, KernelError::KprobesUnsupported));
    assert_one_line(&error);
}

#[test]
fn fentry_is_refused_by_this_kernel() {
    require_root();
    // ENVIRONMENT.md: tracing programs are refused at load with EPERM, even for root.
    assert!(!kernel::fentry_supported().unwrap());
    let error = kernel::require_fentry().unwrap_err();
    assert!(matches!(error, KernelError::FentryUnsupported), "{error}");
    assert_one_line(&error);
}

#[test]
fn fentry_load_errors_become_one_line() {
    require_root();
    use aya::{BtfError, programs::ProgramError, sys::SyscallError};
    use std::io;

    // (aya's `ProgramError::LoadError` cannot be built outside aya: its `VerifierLog` is not
    // exported; `fentry_load_error` treats both the same way.)
    let syscall_error = |errno| {
        ProgramError::SyscallError(SyscallError {
            call: "bpf_prog_load",
            io_error: io::Error::from_raw_os_error(errno),
        })
    };
    let eperm = syscall_error(1);
    assert!(matches!(
        kernel::fentry_load_error("do_sys_openat2", &eperm),
        KernelError::FentryUnsupported
    ));
    let missing = ProgramError::Btf(BtfError::UnknownBtfTypeName {
        type_name: "nfs_file_read".into(),
    });
    let error = kernel::fentry_load_error("nfs_file_read", &missing);
    assert!(matches!(&error, KernelError::FunctionNotInBtf { name } if name == "nfs_file_read"));
    assert_one_line(&error);
    let einval = syscall_error(22);
    let error = kernel::fentry_load_error("do_sys_openat2", &einval);
    let message = assert_one_line(&error);
    assert!(
        message.starts_with(
            "loading the fentry program for do_sys_openat2 failed: bpf_prog_load: Invalid argument"
        ),
        "{message}"
    );
}

// ---------------------------------------------------------------- as another user

const CHILD_ENV: &str = "HIST_KERNEL_TEST_CHILD";

const NOBODY: &[&str] = &[
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
];

/// In a private mount namespace, unmounts every tracefs at /sys/kernel/tracing (only there: the
/// rest of the machine keeps its mounts), then runs the child.
const WITHOUT_TRACEFS: &str =
    "while umount /sys/kernel/tracing 2>/dev/null; do :; done; exec \"$0\" \"$@\"";
const WITHOUT_TRACEFS_AS_NOBODY: &str = "while umount /sys/kernel/tracing 2>/dev/null; do :; done; \
     exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \"$0\" \"$@\"";

/// Runs this test binary's `child_role` test under the command `wrapper` (which ends by running
/// the program given after it) and checks that it passed. The binary is copied to a
/// world-readable place first, since the target directory may not be.
fn run_child(role: &str, wrapper: &[&str]) -> String {
    let dir = std::env::temp_dir().join(format!("hist-kernel-test-{}-{role}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let exe: PathBuf = dir.join("kernel-test");
    fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(wrapper[0])
        .args(&wrapper[1..])
        .arg(&exe)
        .args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, role)
        .output()
        .unwrap();
    fs::remove_dir_all(&dir).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child {role} failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("child {role} ok")),
        "child {role} did not run:\n{stdout}"
    );
    stdout
}

#[test]
fn unprivileged_user_is_told_to_use_sudo() {
    require_root();
    run_child("nobody", &[NOBODY, &["--inh-caps=-all"]].concat());
}

#[test]
fn cap_bpf_and_cap_perfmon_are_enough() {
    require_root();
    let caps = [
        "--inh-caps=-all,+bpf,+perfmon",
        "--ambient-caps=+bpf,+perfmon",
    ];
    run_child("bpf_perfmon", &[NOBODY, &caps].concat());
}

#[test]
fn ensure_tracefs_mounts_it_when_absent() {
    require_root();
    let unshare = ["unshare", "-m", "--propagation", "private", "sh", "-c"];
    run_child("mount", &[&unshare[..], &[WITHOUT_TRACEFS]].concat());
}

#[test]
fn ensure_tracefs_failing_to_mount_says_how() {
    require_root();
    let unshare = ["unshare", "-m", "--propagation", "private", "sh", "-c"];
    run_child(
        "mount_fails",
        &[&unshare[..], &[WITHOUT_TRACEFS_AS_NOBODY]].concat(),
    );
}

fn tracefs_mounts_by_hand() -> Vec<String> {
    fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .filter(|l| l.split_whitespace().nth(2) == Some("tracefs"))
        .map(str::to_owned)
        .collect()
}

/// Does nothing unless started by [`run_child`].
#[test]
fn child_role() {
    let Ok(role) = std::env::var(CHILD_ENV) else {
        return;
    };
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let cap_eff = kernel::parse_cap_eff(&status).unwrap();
    match role.as_str() {
        "nobody" => {
            assert_eq!(cap_eff, 0);
            let error = kernel::check_privileges().unwrap_err();
            assert!(matches!(error, KernelError::Privileges { cap_eff: 0 }));
            println!("{error}");
            assert_eq!(
                assert_one_line(&error),
                "not enough privileges for eBPF: need root, or CAP_BPF and CAP_PERFMON (run with sudo)"
            );
            // Unprivileged: kallsyms names are right, addresses read as zero.
            let sym = kernel::attachable_symbol("finish_task_switch").unwrap();
            assert_eq!(
                (sym.name.as_str(), sym.address),
                ("finish_task_switch.isra.0", 0)
            );
            // tracefs is root-only: a clear error, not a false "no such tracepoint".
            if kernel::tracefs().is_ok() {
                let error = kernel::tracepoint_exists("sched", "sched_switch").unwrap_err();
                let message = assert_one_line(&error);
                assert!(message.ends_with("(run as root)"), "{message}");
            }
            // The fentry probe needs privileges before it means anything.
            assert!(matches!(
                kernel::fentry_supported(),
                Err(KernelError::Privileges { .. })
            ));
            // BTF is world-readable.
            assert!(kernel::btf_has_func("do_sys_openat2").unwrap());
        }
        "mount" => {
            assert_eq!(
                tracefs_mounts_by_hand(),
                Vec::<String>::new(),
                "precondition"
            );
            let error = kernel::tracefs().unwrap_err();
            assert!(matches!(error, KernelError::TracefsNotMounted), "{error}");
            assert!(matches!(
                kernel::tracepoint_exists("sched", "sched_switch"),
                Err(KernelError::TracefsNotMounted)
            ));
            assert_eq!(
                kernel::ensure_tracefs().unwrap(),
                Path::new("/sys/kernel/tracing")
            );
            let mounts = tracefs_mounts_by_hand();
            assert_eq!(mounts.len(), 1, "{mounts:?}");
            assert!(
                mounts[0].starts_with("tracefs /sys/kernel/tracing tracefs "),
                "{mounts:?}"
            );
            assert!(kernel::tracepoint_exists("sched", "sched_switch").unwrap());
        }
        "mount_fails" => {
            assert_eq!(
                tracefs_mounts_by_hand(),
                Vec::<String>::new(),
                "precondition"
            );
            let error = kernel::ensure_tracefs().unwrap_err();
            assert!(matches!(error, KernelError::TracefsMount { .. }), "{error}");
            println!("{error}");
            let message = assert_one_line(&error);
            assert!(
                message.starts_with("tracefs is not mounted and mounting it failed: mount: "),
                "{message}"
            );
            assert!(
                message.ends_with(" (mount -t tracefs tracefs /sys/kernel/tracing)"),
                "{message}"
            );
            assert!(tracefs_mounts_by_hand().is_empty());
        }
        "bpf_perfmon" => {
            assert_eq!(cap_eff, 1 << CAP_BPF | 1 << CAP_PERFMON);
            kernel::check_privileges().unwrap();
        }
        other => panic!("unknown child role {other}"),
    }
    println!("child {role} ok");
}
