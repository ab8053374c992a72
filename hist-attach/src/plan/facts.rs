//! What the kernel offers to a plan, read from the running kernel or from a fixture tree.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use crate::kernel::{
    self, KernelBtf, KernelError, KernelSymbol,
    bpf_syscall::{ProgLoadAttr, prog_load},
};

pub(super) const NO_KPROBES: &str = "this kernel has no kprobes (CONFIG_KPROBES is off)";
const NO_BTF: &str =
    "the kernel has no BTF at /sys/kernel/btf/vmlinux (needs CONFIG_DEBUG_INFO_BTF=y)";
const FENTRY_REFUSED: &str = "this kernel refuses fentry programs (a test load failed)";
const TP_BTF_REFUSED: &str = "this kernel refuses tp_btf programs (a test load failed)";

/// The tracepoint the `tp_btf` test-load attaches to: every kernel with `tp_btf` has it.
const TP_BTF_PROBE_EVENT: &str = "sched_switch";

/// What the kernel offers to a plan: its symbols, its BTF, its tracefs, and whether it loads
/// each kind of program. [`probe`](Self::probe) reads the running kernel;
/// [`from_root`](Self::from_root) and [`from_parts`](Self::from_parts) build the same facts
/// from files or values, so that every combination can be tested.
pub struct KernelFacts {
    /// `/proc/kallsyms`.
    kallsyms: String,
    /// Vmlinux and module BTF, or why there is none.
    btf: Result<KernelBtf, String>,
    /// The tracefs mount point, or why there is none.
    tracefs: Result<PathBuf, String>,
    kprobes: bool,
    /// Whether a trivial fentry program loads; if not, why.
    fentry: Result<(), String>,
    /// Whether a trivial tp_btf program loads; if not, why.
    tp_btf: Result<(), String>,
}

impl std::fmt::Debug for KernelFacts {
    /// Everything but the megabytes of `/proc/kallsyms`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelFacts")
            .field("kallsyms_bytes", &self.kallsyms.len())
            .field("btf", &self.btf)
            .field("tracefs", &self.tracefs)
            .field("kprobes", &self.kprobes)
            .field("fentry", &self.fentry)
            .field("tp_btf", &self.tp_btf)
            .finish()
    }
}

impl KernelFacts {
    /// The running kernel: `/proc/kallsyms`, `/sys/kernel/btf`, the mounted tracefs (mounted
    /// with [`kernel::ensure_tracefs`] when missing; when that fails the reason is kept for the
    /// tracepoint candidates), kprobe support ([`kernel::kprobes_supported`]), and test-loads
    /// of a trivial fentry program ([`kernel::fentry_supported`]) and of a trivial `tp_btf`
    /// program on `sched_switch` (as libbpf-tools' `probe_tp_btf` does; aya 0.14 has no probe
    /// that tells `tp_btf` from fentry).
    ///
    /// # Errors
    ///
    /// [`KernelError::Privileges`] without the privileges to load eBPF programs (every test-load
    /// would fail, and a tool cannot attach anything anyway); [`KernelError::Read`] when
    /// `/proc/kallsyms` cannot be read.
    pub fn probe() -> Result<KernelFacts, KernelError> {
        kernel::check_privileges()?;
        let path = Path::new("/proc/kallsyms");
        let kallsyms = fs::read_to_string(path).map_err(|source| KernelError::Read {
            path: path.to_owned(),
            source,
        })?;
        let btf = match KernelBtf::load() {
            Ok(btf) => Ok(btf),
            Err(KernelError::BtfUnavailable) => Err(NO_BTF.to_owned()),
            Err(error) => Err(error.to_string()),
        };
        // Before kprobes_supported, which looks for kprobe_events in tracefs.
        let tracefs = kernel::ensure_tracefs().map_err(|e| e.to_string());
        let kprobes = kernel::kprobes_supported();
        let fentry = match kernel::fentry_supported() {
            Ok(true) => Ok(()),
            Ok(false) => Err(FENTRY_REFUSED.to_owned()),
            Err(error) => Err(error.to_string()),
        };
        let tp_btf = match &btf {
            Ok(btf) => probe_tp_btf(btf),
            Err(reason) => Err(reason.clone()),
        };
        Ok(KernelFacts {
            kallsyms,
            btf,
            tracefs,
            kprobes,
            fentry,
            tp_btf,
        })
    }

    /// A fixture tree: `<root>/proc/kallsyms`, `<root>/sys/kernel/btf/{vmlinux,<module>…}` (no
    /// `vmlinux`: no BTF), `<root>/sys/kernel/tracing/events/<category>/<event>/` (no `events`
    /// directory: no tracefs), plus the answers of the test-loads.
    ///
    /// # Errors
    ///
    /// [`KernelError::Read`] when `proc/kallsyms` or a BTF file cannot be read;
    /// [`KernelError::BtfParse`] when `vmlinux` is not BTF.
    pub fn from_root(
        root: &Path,
        kprobes: bool,
        fentry_loads: bool,
        tp_btf_loads: bool,
    ) -> Result<KernelFacts, KernelError> {
        let read = |path: &Path| {
            fs::read(path).map_err(|source| KernelError::Read {
                path: path.to_owned(),
                source,
            })
        };
        let kallsyms = read(&root.join("proc/kallsyms"))?;
        let kallsyms = String::from_utf8_lossy(&kallsyms).into_owned();
        let btf_dir = root.join("sys/kernel/btf");
        let vmlinux = btf_dir.join("vmlinux");
        let btf = if vmlinux.is_file() {
            let mut modules = Vec::new();
            let entries = fs::read_dir(&btf_dir).map_err(|source| KernelError::Read {
                path: btf_dir.clone(),
                source,
            })?;
            for entry in entries {
                let path = entry
                    .map_err(|source| KernelError::Read {
                        path: btf_dir.clone(),
                        source,
                    })?
                    .path();
                if path != vmlinux {
                    let name = path.file_name().unwrap_or_default().to_string_lossy();
                    modules.push((name.into_owned(), read(&path)?));
                }
            }
            modules.sort();
            Some(KernelBtf::from_parts(read(&vmlinux)?, modules)?)
        } else {
            None
        };
        let tracing = root.join("sys/kernel/tracing");
        let tracefs = tracing.join("events").is_dir().then_some(tracing);
        Ok(KernelFacts::from_parts(
            kallsyms,
            btf,
            tracefs,
            kprobes,
            fentry_loads,
            tp_btf_loads,
        ))
    }

    /// Facts from values: the text of a `/proc/kallsyms`, the kernel's BTF (`None`: no vmlinux
    /// BTF), the tracefs mount point (`None`: not mounted), and the answers of the probes.
    pub fn from_parts(
        kallsyms: String,
        btf: Option<KernelBtf>,
        tracefs: Option<PathBuf>,
        kprobes: bool,
        fentry_loads: bool,
        tp_btf_loads: bool,
    ) -> KernelFacts {
        KernelFacts {
            kallsyms,
            btf: btf.ok_or_else(|| NO_BTF.to_owned()),
            tracefs: tracefs.ok_or_else(|| KernelError::TracefsNotMounted.to_string()),
            kprobes,
            fentry: if fentry_loads {
                Ok(())
            } else {
                Err(FENTRY_REFUSED.to_owned())
            },
            tp_btf: if tp_btf_loads {
                Ok(())
            } else {
                Err(TP_BTF_REFUSED.to_owned())
            },
        }
    }

    /// Whether the kernel can create kprobes.
    pub fn kprobes(&self) -> bool {
        self.kprobes
    }

    /// Whether a trivial fentry program loaded.
    pub fn fentry_loads(&self) -> bool {
        self.fentry.is_ok()
    }

    /// Whether a trivial `tp_btf` program loaded (false without vmlinux BTF).
    pub fn tp_btf_loads(&self) -> bool {
        self.tp_btf.is_ok()
    }

    /// The kernel's BTF, if it has vmlinux BTF that could be read.
    pub fn btf(&self) -> Option<&KernelBtf> {
        self.btf.as_ref().ok()
    }

    /// The tracefs mount point, if there is one.
    pub fn tracefs(&self) -> Option<&Path> {
        self.tracefs.as_deref().ok()
    }

    /// Every text symbol of kallsyms that is the function `name` (see
    /// [`kernel::kallsyms_lookup_in`]).
    pub fn symbols(&self, name: &str) -> Vec<KernelSymbol> {
        kernel::kallsyms_lookup_in(self.kallsyms.as_bytes(), name).unwrap_or_default()
    }

    /// Whether the module `module` is loaded: kallsyms has symbols of it, or it has BTF.
    pub fn module_loaded(&self, module: &str) -> bool {
        self.kallsyms.contains(&format!("\t[{module}]")) || self.module_has_btf(module)
    }

    /// Whether `/sys/kernel/btf/<module>` was read.
    pub fn module_has_btf(&self, module: &str) -> bool {
        self.btf
            .as_ref()
            .is_ok_and(|btf| btf.modules().any(|m| m == module))
    }

    pub(super) fn btf_result(&self) -> Result<&KernelBtf, String> {
        self.btf.as_ref().map_err(Clone::clone)
    }

    pub(super) fn fentry_result(&self) -> Result<(), String> {
        self.fentry.clone()
    }

    pub(super) fn tp_btf_result(&self) -> Result<(), String> {
        self.tp_btf.clone()
    }

    pub(super) fn tracefs_result(&self) -> Result<&Path, String> {
        self.tracefs.as_deref().map_err(Clone::clone)
    }
}

/// Whether `<events>/<category>/<event>` is a directory. A name that is empty, `.`, `..` or
/// contains `/` names no tracepoint.
pub(super) fn tracepoint_dir_exists(
    events: &Path,
    category: &str,
    event: &str,
) -> Result<bool, String> {
    let valid = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains('/');
    if !valid(category) || !valid(event) {
        return Ok(false);
    }
    let path = events.join(category).join(event);
    match fs::metadata(&path) {
        Ok(meta) => Ok(meta.is_dir()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(format!("cannot read {}: {e} (run as root)", path.display())),
    }
}

/// Test-loads a trivial `tp_btf` program on [`TP_BTF_PROBE_EVENT`].
fn probe_tp_btf(btf: &KernelBtf) -> Result<(), String> {
    let typedef = format!("btf_trace_{TP_BTF_PROBE_EVENT}");
    match btf.vmlinux_typedef_id(&typedef) {
        Err(error) => Err(error.to_string()),
        Ok(None) => Err(format!(
            "cannot test tp_btf: vmlinux BTF has no {typedef} (unexpected kernel: please report this)"
        )),
        Ok(Some(id)) => load_trivial_tp_btf(id)
            .map_err(|e| format!("this kernel refuses tp_btf programs (a test load failed: {e})")),
    }
}

const BPF_PROG_TYPE_TRACING: u32 = 26;
const BPF_TRACE_RAW_TP: u32 = 23;

/// Loads `r0 = 0; exit` as a `BPF_PROG_TYPE_TRACING` program with attach type
/// `BPF_TRACE_RAW_TP` on the vmlinux BTF type `btf_id` (a `btf_trace_<event>` typedef), then
/// closes it: libbpf-tools' `probe_tp_btf`.
fn load_trivial_tp_btf(btf_id: u32) -> io::Result<()> {
    // BPF_ALU64 | BPF_MOV | BPF_K with dst r0 and imm 0; BPF_JMP | BPF_EXIT. Registers and
    // immediate are zero, so the byte order does not matter.
    let insns: [[u8; 8]; 2] = [[0xb7, 0, 0, 0, 0, 0, 0, 0], [0x95, 0, 0, 0, 0, 0, 0, 0]];
    let license = c"GPL";
    let mut name = [0u8; 16];
    name[..10].copy_from_slice(b"hist_probe");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_TRACING,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        expected_attach_type: BPF_TRACE_RAW_TP,
        attach_btf_id: btf_id,
        ..ProgLoadAttr::default()
    };
    // SAFETY: `attr` is BPF_PROG_LOAD's prefix of `union bpf_attr`; its pointers point to
    // `insns` and `license`, which outlive the call; the kernel only reads them.
    drop(unsafe { prog_load(&mut attr) }?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivial_tp_btf_load_fails_without_a_tracepoint_type() {
        // No btf_id (the kernel demands one for tracing programs), and an id past every type:
        // refused (EINVAL as root, EPERM otherwise), never a false "tp_btf works".
        for id in [0, u32::MAX] {
            assert!(load_trivial_tp_btf(id).is_err(), "btf id {id}");
        }
    }
}
