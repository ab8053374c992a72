//! What the running kernel can attach, and whether this process may: the checks a tool runs
//! before loading its eBPF programs, each failing with a [`KernelError`] whose message is one
//! line saying what is wrong and what to do.
//!
//! * privileges: [`check_privileges`] (root, or `CAP_BPF` and `CAP_PERFMON`);
//! * tracepoints: [`ensure_tracefs`] then [`tracepoint_exists`];
//! * kprobes: [`require_kprobes`], then [`attachable_symbol`] for the name to attach to in
//!   `/proc/kallsyms` (compiler suffixes such as `.isra.0` and module suffixes such as `[nfs]`
//!   handled);
//! * fentry/fexit: [`require_fentry`], then [`require_btf_func`] (vmlinux and module BTF), and
//!   [`fentry_load_error`] to explain a failed load;
//! * block devices: [`block`]: a request's fields, disk names, flag names.
//! * tasks: [`sched`]: a task's ids and state.
//!
//! ```no_run
//! # fn main() -> Result<(), hist_attach::kernel::KernelError> {
//! use hist_attach::kernel;
//!
//! kernel::check_privileges()?;
//! kernel::ensure_tracefs()?;
//! if kernel::tracepoint_exists("sched", "sched_switch")? {
//!     // attach the tracepoint program
//! } else {
//!     kernel::require_kprobes()?;
//!     let symbol = kernel::attachable_symbol("finish_task_switch")?;
//!     println!("attaching a kprobe to {}", symbol.name); // finish_task_switch.isra.0
//! }
//! # Ok(()) }
//! ```

use std::{
    io,
    path::{Path, PathBuf},
};

use aya::{
    BtfError,
    programs::{ProgramError, ProgramType},
    sys::{SyscallError, is_program_supported},
};

pub mod block;
pub(crate) mod bpf_syscall;
mod btf;
mod caps;
mod cgroup;
mod field;
mod kallsyms;
mod module_fentry;
mod perf_probe;
pub mod sched;
mod tracefs;

pub use btf::{KernelBtf, btf_func_owner, btf_has_func, require_btf_func, vmlinux_btf_available};
pub use caps::{
    CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, caps_sufficient, check_privileges, parse_cap_eff,
};
pub use cgroup::{cgroup_path, cgroup2_mount};
pub use field::{KernelField, TASK_STATE};
pub use kallsyms::{
    KernelSymbol, attachable_symbol, kallsyms_lookup, kallsyms_lookup_in, pick_attachable,
    split_compiler_suffix,
};
pub use module_fentry::{ModuleFentryError, ModuleFunction, ModulePrograms, ModuleTracingLink};
pub use perf_probe::{ProbeLink, ProbeTarget};
pub use tracefs::{
    TRACEFS_MOUNT_POINT, ensure_tracefs, tracefs, tracepoint_exists, tracepoint_field_offset,
};

/// The perf PMU through which kprobes are created (`CONFIG_KPROBE_EVENTS`, Linux 4.17+).
const KPROBE_PMU: &str = "/sys/bus/event_source/devices/kprobe";

const EPERM: i32 = 1;

/// Why the kernel cannot do what a tool needs, or why this process may not. Every message is a
/// single line that ends with what to do.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The process lacks the capabilities to load and attach tracing programs.
    #[error(
        "not enough privileges for eBPF: need root, or CAP_BPF and CAP_PERFMON (run with sudo, \
         or have root grant them to this program, again after each build: \
         setcap cap_bpf,cap_perfmon+ep {})",
        program.display()
    )]
    Privileges {
        /// The effective capability mask that was found (`CapEff`).
        cap_eff: u64,
        /// This program's executable, to which `setcap` would grant them.
        program: PathBuf,
    },
    /// A file under `/proc` or `/sys` could not be read.
    #[error("cannot read {}: {source} ({})", path.display(), read_hint(source))]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file under `/proc` has an unexpected format.
    #[error("cannot parse {}: {reason} (unexpected kernel format: please report this)", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No tracefs is mounted.
    #[error("tracefs is not mounted (mount -t tracefs tracefs /sys/kernel/tracing)")]
    TracefsNotMounted,
    /// No tracefs is mounted and [`ensure_tracefs`] could not mount one.
    #[error(
        "tracefs is not mounted and mounting it failed: {reason} \
         (mount -t tracefs tracefs /sys/kernel/tracing)"
    )]
    TracefsMount {
        /// What `mount` said, on one line.
        reason: String,
    },
    /// The kernel function is not in `/proc/kallsyms`.
    #[error(
        "kernel function {name} is not in /proc/kallsyms \
         (load the module that provides it, or pick another function)"
    )]
    FunctionNotFound {
        /// The function.
        name: String,
    },
    /// The kernel has no BTF (`/sys/kernel/btf/vmlinux`).
    #[error(
        "the kernel has no BTF at /sys/kernel/btf/vmlinux \
         (use a kernel built with CONFIG_DEBUG_INFO_BTF=y)"
    )]
    BtfUnavailable,
    /// A BTF file is malformed or uses a kind this crate does not know.
    #[error("cannot parse BTF {}: {reason} (unexpected BTF format: please report this)", path.display())]
    BtfParse {
        /// The BTF file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// This kernel's BTF has none of the ways a tool knows to a kernel field.
    #[error(
        "this kernel has no {field}: its BTF has none of {tried} \
         (a kernel this tool does not know yet: please report it with `uname -r`)"
    )]
    FieldAbsent {
        /// What the field is.
        field: &'static str,
        /// The chains tried, `a.b → c.d, e.f`.
        tried: String,
    },
    /// `-d` names a disk that `/proc/partitions` does not have.
    #[error("-d {0}: no such disk (see /proc/partitions for the disks' names)")]
    NoSuchDisk(String),
    /// The tracepoint's record has no such field (`<tracefs>/events/<category>/<name>/format`).
    #[error("tracepoint {tracepoint} has no field {field} in its format (check `cat {format}`)")]
    TracepointFieldAbsent {
        /// `category:name`.
        tracepoint: String,
        /// The field.
        field: String,
        /// The format file.
        format: String,
    },
    /// No BTF of the kernel or its loaded modules has the function, so fentry/fexit cannot
    /// attach to it.
    #[error(
        "kernel function {name} has no BTF entry in /sys/kernel/btf, so fentry cannot attach to it \
         (load its module, or use a kprobe)"
    )]
    FunctionNotInBtf {
        /// The function.
        name: String,
    },
    /// The kernel cannot create kprobes.
    #[error(
        "this kernel has no kprobes (no kprobe PMU or kprobe_events; CONFIG_KPROBES is off) \
         (use a tracepoint-based tool, or a kernel with CONFIG_KPROBES=y)"
    )]
    KprobesUnsupported,
    /// The kernel refuses fentry/fexit (`BPF_PROG_TYPE_TRACING`) programs.
    #[error(
        "this kernel refuses fentry/fexit programs (loading a tracing program fails with EPERM) \
         (use a tracepoint- or kprobe-based tool, or a kernel with BPF trampolines)"
    )]
    FentryUnsupported,
    /// Probing whether the kernel supports a hook failed unexpectedly.
    #[error(
        "probing {hook} support failed: {reason} (run as root on a kernel with CONFIG_BPF_SYSCALL=y)"
    )]
    Probe {
        /// The hook: `fentry`.
        hook: &'static str,
        /// The error, on one line.
        reason: String,
    },
    /// Loading a program failed for a reason other than the ones above.
    #[error(
        "loading the {hook} program for {function} failed: {reason} \
         (check the program against this kernel's verifier log)"
    )]
    ProgramLoad {
        /// The hook: `fentry`.
        hook: &'static str,
        /// The kernel function it attaches to.
        function: String,
        /// The error, on one line (without the verifier log).
        reason: String,
    },
}

fn read_hint(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::PermissionDenied => "run as root",
        _ => "check that /proc and /sys are mounted",
    }
}

fn read_error(path: &Path, source: io::Error) -> KernelError {
    KernelError::Read {
        path: path.to_owned(),
        source,
    }
}

/// `text`'s non-empty lines, trimmed and joined with `"; "`.
pub(crate) fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// An error and its sources on one line, each source once.
pub(crate) fn error_line(error: &dyn std::error::Error) -> String {
    let mut line = one_line(&error.to_string());
    let mut source = error.source();
    while let Some(cause) = source {
        let text = one_line(&cause.to_string());
        if !line.contains(&text) {
            line = format!("{line}: {text}");
        }
        source = cause.source();
    }
    line
}

/// The kernel's `pid_max` (`/proc/sys/kernel/pid_max`): one more than the highest pid or tid.
/// 32 768, the kernel's default, when it cannot be read.
pub fn pid_max() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(32_768)
}

/// Whether tracing programs can keep a value in the current task
/// (`BPF_MAP_TYPE_TASK_STORAGE`, `bpf_task_storage_get` and `bpf_get_current_task_btf`): Linux
/// 5.11 has the map, 5.13 lets tracing programs use it. Probed by creating such a map and
/// loading a kprobe program that calls the helpers (kprobes, tracepoints and `tp_btf` share
/// their helpers). `false` when the probe cannot run, e.g. without CAP_BPF.
pub fn task_storage_supported() -> bool {
    use aya::{
        maps::MapType,
        programs::ProgramType,
        sys::{BpfHelper, is_helper_supported, is_map_supported},
    };
    let helper = |helper| is_helper_supported(ProgramType::KProbe, helper).unwrap_or(false);
    is_map_supported(MapType::TaskStorage).unwrap_or(false)
        && helper(BpfHelper::BPF_FUNC_task_storage_get)
        && helper(BpfHelper::BPF_FUNC_get_current_task_btf)
}

/// Whether this kernel can create kprobes: it has the `kprobe` perf PMU
/// (`/sys/bus/event_source/devices/kprobe`) or a tracefs with `kprobe_events`. Both need
/// `CONFIG_KPROBES` and `CONFIG_KPROBE_EVENTS`.
pub fn kprobes_supported() -> bool {
    Path::new(KPROBE_PMU).exists()
        || tracefs().is_ok_and(|path| path.join("kprobe_events").exists())
}

/// [`kprobes_supported`] as a check with a one-line error.
///
/// # Errors
///
/// [`KernelError::KprobesUnsupported`] when the kernel cannot create kprobes.
pub fn require_kprobes() -> Result<(), KernelError> {
    if kprobes_supported() {
        Ok(())
    } else {
        Err(KernelError::KprobesUnsupported)
    }
}

/// Whether the kernel loads and attaches fentry/fexit programs (`BPF_PROG_TYPE_TRACING`): it loads
/// a trivial fentry program with aya's [`is_program_supported`]. Some kernels have the program
/// type but refuse it with `EPERM` even to root; that is reported as `Ok(false)`.
///
/// This says nothing about a particular function: see [`require_btf_func`].
///
/// # Errors
///
/// [`KernelError::Privileges`] without the privileges to load programs (the probe would be
/// meaningless); [`KernelError::Probe`] when the probe fails otherwise.
pub fn fentry_supported() -> Result<bool, KernelError> {
    check_privileges()?;
    match is_program_supported(ProgramType::Tracing) {
        Ok(supported) => Ok(supported),
        Err(error) if is_eperm(&error) => Ok(false),
        Err(error) => Err(KernelError::Probe {
            hook: "fentry",
            reason: load_reason(&error),
        }),
    }
}

/// [`fentry_supported`] as a check with a one-line error.
///
/// # Errors
///
/// [`KernelError::FentryUnsupported`] when the kernel refuses fentry programs, and the errors of
/// [`fentry_supported`].
pub fn require_fentry() -> Result<(), KernelError> {
    if fentry_supported()? {
        Ok(())
    } else {
        Err(KernelError::FentryUnsupported)
    }
}

/// Turns the error of loading a tool's fentry/fexit program on `function` (aya's
/// `FEntry::load`/`FExit::load`) into a one-line [`KernelError`]:
///
/// * `EPERM` → [`KernelError::Privileges`] when the process lacks them, else
///   [`KernelError::FentryUnsupported`] (the kernel refuses tracing programs);
/// * the function missing from BTF → [`KernelError::FunctionNotInBtf`];
/// * anything else → [`KernelError::ProgramLoad`], without the verifier log (print
///   `ProgramError`'s own message for that).
pub fn fentry_load_error(function: &str, error: &ProgramError) -> KernelError {
    if is_eperm(error) {
        return match check_privileges() {
            Err(privileges) => privileges,
            Ok(()) => KernelError::FentryUnsupported,
        };
    }
    if let ProgramError::Btf(BtfError::UnknownBtfTypeName { .. }) = error {
        return KernelError::FunctionNotInBtf {
            name: function.to_owned(),
        };
    }
    KernelError::ProgramLoad {
        hook: "fentry",
        function: function.to_owned(),
        reason: load_reason(error),
    }
}

fn is_eperm(error: &ProgramError) -> bool {
    match error {
        ProgramError::LoadError { io_error, .. }
        | ProgramError::SyscallError(SyscallError { io_error, .. }) => {
            io_error.raw_os_error() == Some(EPERM)
        }
        _ => false,
    }
}

/// A one-line description of a load error: the syscall's error without the verifier log.
fn load_reason(error: &ProgramError) -> String {
    match error {
        ProgramError::LoadError { io_error, .. } => format!("BPF_PROG_LOAD: {io_error}"),
        ProgramError::SyscallError(SyscallError { call, io_error }) => {
            format!("{call}: {io_error}")
        }
        other => one_line(&other.to_string()),
    }
}
