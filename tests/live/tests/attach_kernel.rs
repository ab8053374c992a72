//! `hist_attach::kernel` on the running kernel, whatever it is (its parsers on fixed input are
//! hist-attach's own tests).
//!
//! Every live test first finds out what this kernel has without the crate, then asserts the
//! crate agrees, in both directions: found with the right fields where the probe says present,
//! the exact one-line error where it says absent. The probes:
//!
//! * privileges: `CapEff` of `/proc/self/status`, parsed here;
//! * symbols: `/proc/kallsyms`, parsed here; whether addresses are visible from
//!   `kptr_restrict`, `perf_event_paranoid` and `CAP_SYSLOG`, as the kernel decides;
//! * XFS and NFS: the kernel config (`/proc/config.gz`, `/boot/config-<release>`, or the
//!   unpacked kernel package `/lib/modules/<release>` links into) says built in, module or
//!   absent, and `/proc/modules` whether a module is loaded;
//! * BTF: `bpftool btf dump` of `/sys/kernel/btf/*` (Debian package `bpftool`);
//! * tracepoints: tracefs' `available_events`;
//! * kprobes: `CONFIG_KPROBE_EVENTS`;
//! * fentry: a test-load and attach of a fentry program by a raw `bpf()` call.
//!
//! Only five tests need root, to set up what they check (mounts, other users), and fail saying
//! so without it. The others check, as any user, what that user gets: zero addresses, privilege
//! errors, tracefs errors; two of the root-only tests run them again as `nobody`, with and
//! without `CAP_BPF`+`CAP_PERFMON`, so a run as root covers both.

use std::{
    collections::{BTreeMap, HashSet},
    fs, io,
    os::{
        fd::{FromRawFd, OwnedFd},
        unix::fs::PermissionsExt,
    },
    path::{Path, PathBuf},
    process::Command,
    sync::{Mutex, OnceLock},
};

use hist_attach::kernel::{
    self, CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, KernelBtf, KernelError, KernelSymbol,
};

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

/// What a program without the privileges is told: both ways to get them.
fn privileges_message() -> String {
    format!(
        "not enough privileges for eBPF: need root, or CAP_BPF and CAP_PERFMON (run with sudo, \
         or have root grant them to this program, again after each build: \
         setcap cap_bpf,cap_perfmon+ep {})",
        std::env::current_exe().unwrap().display()
    )
}

/// `include/uapi/linux/capability.h`; lets /proc/kallsyms show addresses.
const CAP_SYSLOG: u32 = 34;

/// This process's effective capabilities, from /proc/self/status without the crate's parser.
fn cap_eff_by_hand() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("CapEff:")).unwrap();
    u64::from_str_radix(line["CapEff:".len()..].trim(), 16).unwrap()
}

/// Whether the kernel lets this process load and attach tracing programs.
fn may_trace(cap_eff: u64) -> bool {
    let has = |cap: u32| cap_eff & 1 << cap != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}

fn is_root() -> bool {
    cap_eff_by_hand() & 1 << CAP_SYS_ADMIN != 0
}

/// For the tests that need root to set up what they check (mounts, other users).
fn require_root() {
    assert!(
        is_root(),
        "this test runs as root on the live kernel (sudo -E cargo test -p hist-live-tests --test attach_kernel)"
    );
}

#[test]
fn check_privileges_agrees_with_cap_eff() {
    let cap_eff = cap_eff_by_hand();
    match kernel::check_privileges() {
        Ok(()) => assert!(may_trace(cap_eff), "{cap_eff:x}"),
        Err(error) => {
            assert!(!may_trace(cap_eff), "{cap_eff:x}: {error}");
            assert!(matches!(error, KernelError::Privileges { cap_eff: c, .. } if c == cap_eff));
            assert_eq!(error.to_string(), privileges_message());
        }
    }
}

#[test]
fn privileges_error_is_one_line_saying_what_to_do() {
    let program = std::env::current_exe().unwrap();
    let message = assert_one_line(&KernelError::Privileges {
        cap_eff: 0,
        program,
    });
    assert_eq!(message, privileges_message());
}

// ---------------------------------------------------------------- kernel config and modules

/// The running kernel's configuration: /proc/config.gz (via zcat: no gzip crate), else
/// /boot/config-<release>, else the config of a kernel package unpacked elsewhere whose
/// /lib/modules/<release> links into it (how the QEMU guests boot Debian's kernels).
fn kernel_config() -> &'static str {
    static CONFIG: OnceLock<String> = OnceLock::new();
    CONFIG.get_or_init(|| {
        if let Ok(out) = Command::new("zcat").arg("/proc/config.gz").output()
            && out.status.success()
        {
            return String::from_utf8(out.stdout).unwrap();
        }
        let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let release = release.trim();
        let file = format!("config-{release}");
        let mut tried = vec![Path::new("/boot").join(&file)];
        if let Ok(modules) = fs::canonicalize(Path::new("/lib/modules").join(release))
            && let Some(root) = modules.ancestors().nth(3)
        {
            tried.push(root.join("boot").join(&file));
        }
        tried
            .iter()
            .find_map(|path| fs::read_to_string(path).ok())
            .unwrap_or_else(|| {
                panic!("no kernel config at /proc/config.gz nor {tried:?}: the tests read it")
            })
    })
}

/// The value of `option` in the kernel config (`y`, `m`, ...), or `None` when it is not set.
fn config_value(option: &str) -> Option<&'static str> {
    kernel_config()
        .lines()
        .find_map(|l| l.strip_prefix(option)?.strip_prefix('='))
}

/// How the running kernel has a piece of code that can be a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    BuiltIn,
    Loaded,
    Absent,
}

/// From the config option that builds it and /proc/modules (absent without CONFIG_MODULES).
fn presence(option: &str, module: &str) -> Presence {
    let loaded = fs::read_to_string("/proc/modules")
        .is_ok_and(|text| text.lines().any(|l| l.split(' ').next() == Some(module)));
    match config_value(option) {
        Some("y") => Presence::BuiltIn,
        Some("m") if loaded => Presence::Loaded,
        _ => Presence::Absent,
    }
}

/// Functions of XFS and the NFS client the example tools attach to: (config option, module,
/// function).
const MODULE_FUNCTIONS: [(&str, &str, &str); 4] = [
    ("CONFIG_XFS_FS", "xfs", "xfs_fs_nr_cached_objects"),
    ("CONFIG_XFS_FS", "xfs", "xfs_fs_free_cached_objects"),
    ("CONFIG_NFS_FS", "nfs", "nfs_file_read"),
    ("CONFIG_NFS_V4", "nfsv4", "nfs4_file_open"),
];

// ---------------------------------------------------------------- kallsyms

/// One text symbol of /proc/kallsyms, parsed without the crate.
#[derive(Debug)]
struct Sym {
    address: u64,
    kind: char,
    name: String,
    module: Option<String>,
}

impl Sym {
    /// Whether this is the function `name`: `name` itself or `name.<compiler suffix>`.
    fn is_function(&self, name: &str) -> bool {
        self.name
            .strip_prefix(name)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    }

    fn is_cold(&self) -> bool {
        self.name.split('.').skip(1).any(|word| word == "cold")
    }

    fn fields(&self) -> (u64, char, &str, Option<&str>) {
        (self.address, self.kind, &self.name, self.module.as_deref())
    }
}

fn crate_fields(sym: &KernelSymbol) -> (u64, char, &str, Option<&str>) {
    (sym.address, sym.kind, &sym.name, sym.module.as_deref())
}

/// /proc/kallsyms, read once: every read costs the kernel seconds under emulation.
fn kallsyms_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| fs::read_to_string("/proc/kallsyms").unwrap())
}

/// The text symbols (`t`, `T`, `w`, `W`) of /proc/kallsyms, in order.
fn kallsyms_by_hand() -> &'static [Sym] {
    static SYMS: OnceLock<Vec<Sym>> = OnceLock::new();
    SYMS.get_or_init(|| {
        kallsyms_text()
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let (address, kind, name) = (fields.next()?, fields.next()?, fields.next()?);
                let kind = kind.chars().next()?;
                let module = fields.next().map(|m| m.trim_matches(['[', ']']).to_owned());
                matches!(kind, 't' | 'T' | 'w' | 'W').then(|| Sym {
                    address: u64::from_str_radix(address, 16).unwrap(),
                    kind,
                    name: name.to_owned(),
                    module,
                })
            })
            .collect()
    })
}

/// Whether /proc/kallsyms shows this process addresses rather than zeros, decided as
/// `kallsyms_show_value()` does: kptr_restrict 0 shows them to everyone when
/// perf_event_paranoid <= 1, 0 and 1 to holders of CAP_SYSLOG, 2 to no one.
fn addresses_visible() -> bool {
    let sysctl = |name: &str| -> i32 {
        let path = Path::new("/proc/sys/kernel").join(name);
        fs::read_to_string(path).unwrap().trim().parse().unwrap()
    };
    match sysctl("kptr_restrict") {
        0 if sysctl("perf_event_paranoid") <= 1 => true,
        0 | 1 => cap_eff_by_hand() & 1 << CAP_SYSLOG != 0,
        _ => false,
    }
}

fn not_in_kallsyms(name: &str) -> String {
    format!(
        "kernel function {name} is not in /proc/kallsyms \
         (load the module that provides it, or pick another function)"
    )
}

/// Functions with the shapes kallsyms gives them on this kernel, found by hand: one known only
/// by a suffixed name (`finish_task_switch.isra.0`), one with a `.cold` twin, one in a module.
fn sampled_functions() -> Vec<String> {
    let syms = kallsyms_by_hand();
    let base = |s: &Sym| s.name.split('.').next().unwrap().to_owned();
    let all: HashSet<&str> = syms.iter().map(|s| s.name.as_str()).collect();
    // `__pfx_`/`__cfi_` padding and other `__` symbols are not functions anyone attaches to.
    let real = |s: &&Sym| !s.name.starts_with("__");
    let suffixed_only = syms
        .iter()
        .filter(real)
        .find(|s| s.name.contains('.') && !s.is_cold() && !all.contains(base(s).as_str()));
    let cold_twin = syms
        .iter()
        .filter(real)
        .find(|s| s.is_cold() && all.contains(base(s).as_str()));
    let in_module = syms.iter().filter(real).find(|s| s.module.is_some());
    [suffixed_only, cold_twin, in_module]
        .into_iter()
        .flatten()
        .map(base)
        .collect()
}

/// For well-known functions, those of the example tools and samples of every shape: the crate
/// finds exactly the symbols read by hand, with their fields, and picks the plain one, else the
/// first suffixed one that is not cold; where there is none, the exact error.
///
/// The crate reads the same text as the hand-written reader (`kallsyms_lookup_in`); the calls
/// that read /proc/kallsyms themselves are checked once each against it: a read costs the
/// kernel about half a second under emulation, and this test would make a dozen.
#[test]
fn kallsyms_lookup_agrees_with_kallsyms_read_by_hand() {
    let visible = addresses_visible();
    let mut names: Vec<String> = [
        "finish_task_switch",
        "do_sys_openat2",
        // A prefix of a function's name is not that function.
        "xfs_fs_nr_cached",
        "no_such_function_xyz",
    ]
    .map(str::to_owned)
    .into();
    names.extend(MODULE_FUNCTIONS.map(|(_, _, f)| f.to_owned()));
    names.extend(sampled_functions());
    let (mut found_some, mut read_missing, mut read_clone) = (false, false, false);
    for name in &names {
        let by_hand: Vec<&Sym> = kallsyms_by_hand()
            .iter()
            .filter(|s| s.is_function(name))
            .collect();
        let symbols = kernel::kallsyms_lookup_in(kallsyms_text().as_bytes(), name).unwrap();
        assert_eq!(
            symbols.iter().map(crate_fields).collect::<Vec<_>>(),
            by_hand.iter().map(|s| s.fields()).collect::<Vec<_>>(),
            "{name}"
        );
        for sym in &symbols {
            assert_eq!(
                (sym.base_name(), sym.suffix.as_str()),
                (name.as_str(), &sym.name[name.len()..]),
            );
            assert_eq!(
                sym.is_cold(),
                sym.name.split('.').skip(1).any(|w| w == "cold")
            );
            assert_eq!(sym.address != 0, visible, "{sym:?}");
        }

        let expected = by_hand
            .iter()
            .find(|s| s.name == *name)
            .or_else(|| by_hand.iter().find(|s| !s.is_cold()));
        match (kernel::pick_attachable(&symbols), expected) {
            (Some(picked), Some(expected)) => {
                assert_eq!(crate_fields(picked), expected.fields());
                if !found_some {
                    assert_eq!(kernel::kallsyms_lookup(name).unwrap(), symbols);
                    assert_eq!(kernel::attachable_symbol(name).unwrap(), *picked);
                }
                found_some = true;
                // Asking for a clone by its full name finds it.
                if !picked.suffix.is_empty() && !read_clone {
                    read_clone = true;
                    assert_eq!(kernel::attachable_symbol(&picked.name).unwrap(), *picked);
                }
            }
            (None, None) if !read_missing => {
                read_missing = true;
                let error = kernel::attachable_symbol(name).unwrap_err();
                assert!(matches!(&error, KernelError::FunctionNotFound { name: n } if n == name));
                assert_eq!(assert_one_line(&error), not_in_kallsyms(name));
            }
            (None, None) => {}
            (picked, expected) => panic!("{name}: crate {picked:?}, by hand {expected:?}"),
        }
    }
    assert!(found_some, "no function of {names:?} is in /proc/kallsyms");
}

/// XFS and NFS functions are found in kallsyms and BTF where the kernel config and
/// /proc/modules say they are, built in or in their module, and not where they say not.
#[test]
fn xfs_and_nfs_functions_are_where_the_kernel_config_puts_them() {
    for (option, module, function) in MODULE_FUNCTIONS {
        let presence = presence(option, module);
        let (kallsyms_module, btf_owner) = match presence {
            Presence::BuiltIn => (None, "vmlinux"),
            Presence::Loaded => (Some(module), module),
            Presence::Absent => {
                let error = kernel::attachable_symbol(function).unwrap_err();
                assert_eq!(assert_one_line(&error), not_in_kallsyms(function));
                assert_eq!(
                    kernel::btf_func_owner(function).unwrap(),
                    None,
                    "{function}"
                );
                continue;
            }
        };
        let sym = kernel::attachable_symbol(function)
            .unwrap_or_else(|e| panic!("{function} ({presence:?}): {e}"));
        assert_eq!(
            (sym.base_name(), sym.module.as_deref()),
            (function, kallsyms_module),
            "{presence:?}"
        );
        // Module BTF needs CONFIG_DEBUG_INFO_BTF_MODULES (5.11+).
        let has_btf = Path::new("/sys/kernel/btf").join(btf_owner).is_file();
        assert_eq!(
            kernel::btf_func_owner(function).unwrap().as_deref(),
            has_btf.then_some(btf_owner),
            "{function} ({presence:?})"
        );
    }
}

// ---------------------------------------------------------------- BTF

/// The FUNCs, (type id, name) in id order, of `/sys/kernel/btf/<file>` as bpftool lists them
/// (a module's BTF split on vmlinux's). Each file is dumped once per process: under emulation
/// one dump takes a second, and a guest has dozens of modules.
fn bpftool_funcs(file: &str) -> &'static [(u32, String)] {
    static DUMPS: Mutex<BTreeMap<String, &'static [(u32, String)]>> = Mutex::new(BTreeMap::new());
    if let Some(funcs) = DUMPS.lock().unwrap().get(file) {
        return funcs;
    }
    let dir = Path::new("/sys/kernel/btf");
    let mut args = vec!["btf".into(), "dump".into(), "file".into(), dir.join(file)];
    if file != "vmlinux" {
        args.extend(["--base-btf".into(), dir.join("vmlinux")]);
    }
    // As root, or as a user whose PATH lacks /usr/sbin.
    let output = ["bpftool", "/usr/sbin/bpftool"]
        .iter()
        .map(|tool| Command::new(tool).args(&args).output())
        .find(|result| !matches!(result, Err(e) if e.kind() == io::ErrorKind::NotFound))
        .expect("bpftool is not installed: apt-get install bpftool (tests check against it)")
        .unwrap();
    assert!(
        output.status.success(),
        "bpftool btf dump {file}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // `[76190] FUNC 'do_sys_openat2' type_id=76189 linkage=static`
    let funcs: Vec<(u32, String)> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let (id, rest) = line.strip_prefix('[')?.split_once("] FUNC '")?;
            let (name, _) = rest.split_once('\'')?;
            Some((id.parse().unwrap(), name.to_owned()))
        })
        .collect();
    DUMPS
        .lock()
        .unwrap()
        .entry(file.to_owned())
        .or_insert(funcs.leak())
}

fn bpftool_lists(file: &str, name: &str) -> bool {
    bpftool_funcs(file).iter().any(|(_, f)| f == name)
}

fn not_in_btf(name: &str) -> String {
    format!(
        "kernel function {name} has no BTF entry in /sys/kernel/btf, so fentry cannot attach to \
         it (load its module, or use a kprobe)"
    )
}

/// Where the crate finds a FUNC, bpftool lists it, and vmlinux first; where the crate finds
/// none, neither vmlinux nor a sample of modules (the first and last, and those of the example
/// tools) lists it. Names: well-known ones, a sample spread over vmlinux's FUNCs, the first FUNC
/// of each sampled module, and names that are no FUNC (a kallsyms clone's name, a struct, a
/// prefix).
#[test]
fn btf_funcs_agree_with_bpftool() {
    let dir = Path::new("/sys/kernel/btf");
    let vmlinux = dir.join("vmlinux").is_file();
    assert_eq!(kernel::vmlinux_btf_available(), vmlinux);
    if !vmlinux {
        let error = KernelBtf::load().unwrap_err();
        assert_eq!(
            assert_one_line(&error),
            "the kernel has no BTF at /sys/kernel/btf/vmlinux \
             (use a kernel built with CONFIG_DEBUG_INFO_BTF=y)"
        );
        return;
    }
    let btf = KernelBtf::load().unwrap();
    let mut modules: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "vmlinux")
        .collect();
    modules.sort();
    assert_eq!(btf.modules().collect::<Vec<_>>(), modules);
    let mut sampled: Vec<&str> = [modules.first(), modules.last()]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    sampled.extend(
        MODULE_FUNCTIONS
            .iter()
            .map(|(_, module, _)| *module)
            .filter(|m| modules.iter().any(|name| name == m)),
    );
    sampled.sort();
    sampled.dedup();

    let mut names: Vec<&str> = vec![
        "do_sys_openat2",
        "bpf_fentry_test1",
        "finish_task_switch",
        "task_struct",
        "do_sys_openat",
        "",
        "no_such_function_xyz",
    ];
    let vmlinux_funcs = bpftool_funcs("vmlinux");
    assert!(vmlinux_funcs.len() > 10_000, "bpftool: {vmlinux_funcs:?}");
    let spread = vmlinux_funcs.iter().step_by(vmlinux_funcs.len() / 4);
    names.extend(spread.map(|(_, f)| f.as_str()));
    for module in &sampled {
        names.extend(bpftool_funcs(module).first().map(|(_, f)| f.as_str()));
    }
    let suffixed = kallsyms_by_hand()
        .iter()
        .find(|s| s.name.contains('.') && !s.name.starts_with("__"));
    names.extend(suffixed.map(|s| s.name.as_str()));
    for name in &names {
        match btf.func_owner(name).unwrap() {
            Some(owner) => {
                assert!(bpftool_lists(owner, name), "{name} in {owner}");
                assert!(
                    owner == "vmlinux" || !bpftool_lists("vmlinux", name),
                    "{name} in {owner}, but vmlinux has it"
                );
            }
            None => {
                for file in ["vmlinux"].iter().chain(&sampled) {
                    assert!(!bpftool_lists(file, name), "{name} is in {file}");
                }
            }
        }
    }

    // The one-call forms, on a FUNC bpftool lists and one it does not.
    let (_, listed) = &vmlinux_funcs[0];
    assert!(kernel::btf_has_func(listed).unwrap());
    assert_eq!(
        kernel::btf_func_owner(listed).unwrap().as_deref(),
        Some("vmlinux")
    );
    kernel::require_btf_func(listed).unwrap();
    assert!(!kernel::btf_has_func("no_such_function_xyz").unwrap());
    assert_eq!(
        kernel::btf_func_owner("no_such_function_xyz").unwrap(),
        None
    );
    let error = kernel::require_btf_func("no_such_function_xyz").unwrap_err();
    assert_eq!(assert_one_line(&error), not_in_btf("no_such_function_xyz"));
}

// ---------------------------------------------------------------- tracefs and tracepoints

/// Mount points of the tracefs mounts in /proc/mounts.
fn tracefs_mounts_by_hand() -> Vec<String> {
    fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            (fields.get(2) == Some(&"tracefs")).then(|| fields[1].to_owned())
        })
        .collect()
}

/// The tracefs a tool uses: at /sys/kernel/tracing, else inside debugfs, else any.
fn tracefs_by_hand() -> Option<PathBuf> {
    let mounts = tracefs_mounts_by_hand();
    ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .into_iter()
        .find(|p| mounts.iter().any(|m| m == p))
        .map(PathBuf::from)
        .or_else(|| mounts.first().map(PathBuf::from))
}

/// `ensure_tracefs` once per process: tests running in parallel must not both mount it.
fn tracefs_ensured() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| kernel::ensure_tracefs().unwrap())
}

#[test]
fn ensure_tracefs_returns_a_mounted_tracefs() {
    require_root();
    let path = tracefs_ensured();
    assert!(
        path == Path::new("/sys/kernel/tracing") || path == Path::new("/sys/kernel/debug/tracing"),
        "{path:?}"
    );
    let mounts = tracefs_mounts_by_hand();
    assert!(
        mounts.iter().any(|m| Path::new(m) == path),
        "{path:?} is not among the tracefs mounts {mounts:?}"
    );
    // Idempotent: a second call finds it and mounts nothing more.
    assert_eq!(kernel::ensure_tracefs().unwrap(), path);
    assert_eq!(tracefs_mounts_by_hand(), mounts);
    assert_eq!(kernel::tracefs().unwrap(), path);
}

/// The crate finds the tracepoints tracefs lists in `available_events`, and no others; XFS and
/// NFS events are there when the config and /proc/modules say XFS and NFS are. Without root,
/// the crate's error is the one for what stands in the way.
#[test]
fn tracepoints_agree_with_available_events() {
    if is_root() {
        tracefs_ensured();
    }
    let Some(mount) = tracefs_by_hand() else {
        let error = kernel::tracepoint_exists("sched", "sched_switch").unwrap_err();
        assert_eq!(
            assert_one_line(&error),
            "tracefs is not mounted (mount -t tracefs tracefs /sys/kernel/tracing)"
        );
        return;
    };
    let available = match fs::read_to_string(mount.join("available_events")) {
        Ok(text) => text,
        // tracefs is root's (mode 0700): a clear error, not a false "no such tracepoint".
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            let error = kernel::tracepoint_exists("sched", "sched_switch").unwrap_err();
            let path = mount.join("events/sched/sched_switch");
            assert_eq!(
                assert_one_line(&error),
                format!("cannot read {}: {e} (run as root)", path.display())
            );
            return;
        }
        Err(e) => panic!("{}: {e}", mount.display()),
    };
    let events: HashSet<(&str, &str)> = available
        .lines()
        .filter_map(|l| l.split_once(':'))
        .collect();
    for (category, option, module) in [
        ("xfs", "CONFIG_XFS_FS", "xfs"),
        ("nfs", "CONFIG_NFS_FS", "nfs"),
    ] {
        let present = presence(option, module) != Presence::Absent;
        assert_eq!(
            events.iter().any(|(c, _)| *c == category),
            present,
            "{category} events"
        );
    }
    for &(category, name) in &events {
        if ["sched", "xfs", "nfs"].contains(&category) {
            assert!(
                kernel::tracepoint_exists(category, name).unwrap(),
                "{category}:{name}"
            );
        }
    }
    for (category, name) in [
        ("sched", "sched_switch"),
        ("xfs", "xfs_inode_reclaiming"),
        ("nfs", "nfs_readpage_done"),
        ("sched", "no_such_event"),
        ("no_such_category", "sched_switch"),
        // A category directory's files are not tracepoints.
        ("sched", "enable"),
    ] {
        assert_eq!(
            kernel::tracepoint_exists(category, name).unwrap(),
            events.contains(&(category, name)),
            "{category}:{name}"
        );
    }
    // Paths that would leave events/ name no tracepoint.
    assert!(!kernel::tracepoint_exists("..", "..").unwrap());
    assert!(!kernel::tracepoint_exists("sched/../sched", "sched_switch").unwrap());
    assert!(!kernel::tracepoint_exists("", "sched_switch").unwrap());
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

#[test]
fn kprobe_support_matches_the_kernel_config() {
    // The kprobe PMU and tracefs' kprobe_events both come with CONFIG_KPROBE_EVENTS.
    let configured = config_value("CONFIG_KPROBE_EVENTS") == Some("y");
    assert_eq!(kernel::kprobes_supported(), configured);
    match kernel::require_kprobes() {
        Ok(()) => assert!(configured),
        Err(error) => {
            assert!(!configured);
            assert!(matches!(error, KernelError::KprobesUnsupported));
            assert_eq!(
                assert_one_line(&error),
                "this kernel has no kprobes (no kprobe PMU or kprobe_events; CONFIG_KPROBES is \
                 off) (use a tracepoint-based tool, or a kernel with CONFIG_KPROBES=y)"
            );
        }
    }
}

const FENTRY_REFUSED: &str = "this kernel refuses fentry/fexit programs (loading a tracing \
     program fails with EPERM) (use a tracepoint- or kprobe-based tool, or a kernel with BPF \
     trampolines)";

/// `errno` of the kernel's `-ENOTSUPP` (not `EOPNOTSUPP`): no trampoline for this target.
const ENOTSUPP: i32 = 524;

/// Loads `r0 = 0; exit` as a fentry program on the FUNC with BTF id `btf_id` and attaches it,
/// by raw `bpf()` calls: the step that failed and its errno, if one did. Closing the descriptors
/// detaches and unloads it.
fn fentry_test_load(btf_id: u32) -> Result<(), (&'static str, i32)> {
    /// The `BPF_PROG_LOAD` part of `union bpf_attr` (`include/uapi/linux/bpf.h`), up to
    /// `attach_btf_id`.
    #[repr(C)]
    #[derive(Default)]
    struct ProgLoad {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
        prog_name: [u8; 16],
        prog_ifindex: u32,
        expected_attach_type: u32,
        prog_btf_fd: u32,
        func_info_rec_size: u32,
        func_info: u64,
        func_info_cnt: u32,
        line_info_rec_size: u32,
        line_info: u64,
        line_info_cnt: u32,
        attach_btf_id: u32,
    }
    /// The `BPF_RAW_TRACEPOINT_OPEN` part: no name attaches a tracing program at its target.
    /// The kernel refuses non-zero bytes after `prog_fd`: the padding is a zeroed field.
    #[repr(C)]
    struct RawTracepointOpen {
        name: u64,
        prog_fd: u32,
        zero: u32,
    }
    const BPF_PROG_LOAD: i32 = 5;
    const BPF_RAW_TRACEPOINT_OPEN: i32 = 17;
    const BPF_PROG_TYPE_TRACING: u32 = 26;
    const BPF_TRACE_FENTRY: u32 = 24;
    // `mov r0, 0` (0xb7) and `exit` (0x95): the opcode is the first byte, the rest zero.
    let insns: [[u8; 8]; 2] = [[0xb7, 0, 0, 0, 0, 0, 0, 0], [0x95, 0, 0, 0, 0, 0, 0, 0]];
    let license = c"GPL";
    let bpf = |cmd: i32, attr: *const u8, size: usize| {
        // SAFETY: `attr` points to a live bpf_attr prefix of `size` bytes whose pointers point
        // to live buffers.
        let fd = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr, size) };
        match fd {
            -1 => Err(io::Error::last_os_error().raw_os_error().unwrap()),
            // SAFETY: a descriptor the kernel just returned, owned by no one else.
            fd => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        }
    };
    let load = ProgLoad {
        prog_type: BPF_PROG_TYPE_TRACING,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        expected_attach_type: BPF_TRACE_FENTRY,
        attach_btf_id: btf_id,
        ..ProgLoad::default()
    };
    let prog = bpf(
        BPF_PROG_LOAD,
        (&raw const load).cast(),
        size_of::<ProgLoad>(),
    )
    .map_err(|errno| ("load", errno))?;
    let open = RawTracepointOpen {
        name: 0,
        prog_fd: std::os::fd::AsRawFd::as_raw_fd(&prog) as u32,
        zero: 0,
    };
    bpf(
        BPF_RAW_TRACEPOINT_OPEN,
        (&raw const open).cast(),
        size_of::<RawTracepointOpen>(),
    )
    .map(drop)
    .map_err(|errno| ("attach", errno))
}

/// Without the privileges, the crate says so before probing; with them, it agrees with a
/// test-load of a fentry program on `bpf_fentry_test1` (the kernel's own fentry test target,
/// as aya's probe uses).
#[test]
fn fentry_support_agrees_with_a_test_load() {
    let cap_eff = cap_eff_by_hand();
    if !may_trace(cap_eff) {
        for result in [
            kernel::fentry_supported().map(drop),
            kernel::require_fentry(),
        ] {
            let error = result.unwrap_err();
            assert!(matches!(error, KernelError::Privileges { cap_eff: c, .. } if c == cap_eff));
            assert_eq!(error.to_string(), privileges_message());
        }
        return;
    }
    let (btf_id, _) = bpftool_funcs("vmlinux")
        .iter()
        .find(|(_, name)| name == "bpf_fentry_test1")
        .expect("bpf_fentry_test1 is in vmlinux BTF (CONFIG_NET)");
    match fentry_test_load(*btf_id) {
        Ok(()) => {
            assert!(kernel::fentry_supported().unwrap());
            kernel::require_fentry().unwrap();
        }
        Err(("load", libc::EPERM) | ("attach", ENOTSUPP)) => {
            assert!(!kernel::fentry_supported().unwrap());
            let error = kernel::require_fentry().unwrap_err();
            assert!(matches!(error, KernelError::FentryUnsupported), "{error}");
            assert_eq!(assert_one_line(&error), FENTRY_REFUSED);
        }
        Err((step, errno)) => panic!(
            "the fentry test-load failed at {step} with {}: what should the crate say?",
            io::Error::from_raw_os_error(errno)
        ),
    }
}

#[test]
fn fentry_load_errors_become_one_line() {
    use aya::{BtfError, programs::ProgramError, sys::SyscallError};

    // (aya's `ProgramError::LoadError` cannot be built outside aya: its `VerifierLog` is not
    // exported; `fentry_load_error` treats both the same way.)
    let syscall_error = |errno| {
        ProgramError::SyscallError(SyscallError {
            call: "bpf_prog_load",
            io_error: io::Error::from_raw_os_error(errno),
        })
    };
    // EPERM is the kernel refusing tracing programs, unless the process lacks the privileges.
    let error = kernel::fentry_load_error("do_sys_openat2", &syscall_error(libc::EPERM));
    let cap_eff = cap_eff_by_hand();
    if may_trace(cap_eff) {
        assert!(matches!(error, KernelError::FentryUnsupported), "{error}");
        assert_eq!(assert_one_line(&error), FENTRY_REFUSED);
    } else {
        assert!(matches!(error, KernelError::Privileges { cap_eff: c, .. } if c == cap_eff));
        assert_eq!(assert_one_line(&error), privileges_message());
    }
    let missing = ProgramError::Btf(BtfError::UnknownBtfTypeName {
        type_name: "nfs_file_read".into(),
    });
    let error = kernel::fentry_load_error("nfs_file_read", &missing);
    assert!(matches!(&error, KernelError::FunctionNotInBtf { name } if name == "nfs_file_read"));
    assert_eq!(assert_one_line(&error), not_in_btf("nfs_file_read"));
    let error = kernel::fentry_load_error("do_sys_openat2", &syscall_error(libc::EINVAL));
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

/// In a private mount namespace, unmounts every tracefs at /sys/kernel/tracing and debugfs
/// (which would automount one), only there: the rest of the machine keeps its mounts; then runs
/// the child.
const WITHOUT_TRACEFS: &str = "while umount /sys/kernel/tracing 2>/dev/null; do :; done; \
     umount -l /sys/kernel/debug 2>/dev/null; exec \"$0\" \"$@\"";
const WITHOUT_TRACEFS_AS_NOBODY: &str = "while umount /sys/kernel/tracing 2>/dev/null; do :; done; \
     umount -l /sys/kernel/debug 2>/dev/null; \
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

/// The tests that need no root, run by the children as another user.
const WITHOUT_ROOT: [fn(); 8] = [
    check_privileges_agrees_with_cap_eff,
    kallsyms_lookup_agrees_with_kallsyms_read_by_hand,
    xfs_and_nfs_functions_are_where_the_kernel_config_puts_them,
    btf_funcs_agree_with_bpftool,
    tracepoints_agree_with_available_events,
    kprobe_support_matches_the_kernel_config,
    fentry_support_agrees_with_a_test_load,
    fentry_load_errors_become_one_line,
];

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

/// Does nothing unless started by [`run_child`].
#[test]
fn child_role() {
    let Ok(role) = std::env::var(CHILD_ENV) else {
        return;
    };
    let cap_eff = cap_eff_by_hand();
    match role.as_str() {
        "nobody" => {
            assert_eq!(cap_eff, 0);
            let error = kernel::check_privileges().unwrap_err();
            println!("{error}");
            WITHOUT_ROOT.iter().for_each(|test| test());
        }
        "bpf_perfmon" => {
            assert_eq!(cap_eff, 1 << CAP_BPF | 1 << CAP_PERFMON);
            kernel::check_privileges().unwrap();
            WITHOUT_ROOT.iter().for_each(|test| test());
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
            assert_eq!(tracefs_mounts_by_hand(), ["/sys/kernel/tracing"]);
            tracepoints_agree_with_available_events();
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
            // Nothing mounted: the tracepoint tests say so.
            tracepoints_agree_with_available_events();
        }
        other => panic!("unknown child role {other}"),
    }
    println!("child {role} ok");
}
