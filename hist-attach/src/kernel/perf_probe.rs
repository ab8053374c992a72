//! kprobes and uprobes by `perf_event_open(2)`, for the program copies that
//! [`ModulePrograms`] loads itself: aya attaches only programs it loaded, and loads each once.

use std::{
    ffi::CString,
    fs, io,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
    path::Path,
};

use aya_obj::{
    ProgramSection,
    generated::{
        PERF_EVENT_IOC_ENABLE, PERF_EVENT_IOC_SET_BPF, PERF_FLAG_FD_CLOEXEC, bpf_prog_type,
    },
};

use super::{
    ModuleFentryError, ModulePrograms,
    bpf_syscall::ProgLoadAttr,
    module_fentry::{load_logged, program_name},
};

/// Where a kprobe or uprobe program goes.
#[derive(Clone, Copy, Debug)]
pub enum ProbeTarget<'a> {
    /// A kernel function, by its `/proc/kallsyms` name (`vfs_read`, `ext4_file_open`).
    Kernel {
        /// The function.
        function: &'a str,
    },
    /// A function of an ELF file, at `offset` in the file; in process `pid` only, or in every
    /// process that maps the file.
    User {
        /// The executable or library.
        path: &'a Path,
        /// The function's offset in the file.
        offset: u64,
        /// The process, or every one.
        pid: Option<u32>,
    },
}

impl ProbeTarget<'_> {
    /// What errors name: the function, or `path+0xoffset`.
    fn describe(&self) -> String {
        match self {
            Self::Kernel { function } => (*function).to_owned(),
            Self::User { path, offset, .. } => format!("{}+{offset:#x}", path.display()),
        }
    }
}

/// A program copy attached by [`ModulePrograms::attach_probe_copy`]: dropping it closes the
/// perf event, which detaches the program, then the program.
#[derive(Debug)]
pub struct ProbeLink {
    // Dropped in this order: the event, then the program.
    perf_event: OwnedFd,
    program_fd: OwnedFd,
}

impl ProbeLink {
    /// The perf event that keeps it attached.
    pub fn perf_event_fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd as _;
        self.perf_event.as_fd()
    }

    /// The loaded program.
    pub fn program_fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd as _;
        self.program_fd.as_fd()
    }
}

/// `struct perf_event_attr` up to `config2` (`PERF_ATTR_SIZE_VER1`, 72 bytes): all a probe
/// event needs.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
    config2: u64,
}

/// `PERF_SAMPLE_RAW`, as aya and libbpf ask of a probe event.
const PERF_SAMPLE_RAW: u64 = 1 << 10;

impl ModulePrograms {
    /// Loads copy `index` of the kprobe or kretprobe `program` (its section says which;
    /// see [`attach_copy`](Self::attach_copy) for copies) and attaches it to `target`: a kernel
    /// function, or an ELF file's function as a uprobe (the same program type).
    ///
    /// # Errors
    ///
    /// [`ModuleFentryError::Program`] when there is no such program or it is not a kprobe;
    /// [`ModuleFentryError::Load`] when the kernel refuses it; [`ModuleFentryError::Syscall`]
    /// when the probe event cannot be made or given the program (no such function, no
    /// kprobes).
    pub fn attach_probe_copy(
        &self,
        program: &str,
        index: u32,
        target: &ProbeTarget<'_>,
    ) -> Result<ProbeLink, ModuleFentryError> {
        let (prog, instructions) = self.copy_of(program, index)?;
        let ret = match prog.section {
            ProgramSection::KProbe | ProgramSection::UProbe { .. } => false,
            ProgramSection::KRetProbe | ProgramSection::URetProbe { .. } => true,
            _ => {
                return Err(ModuleFentryError::Program {
                    reason: format!("program {program} is not a kprobe or kretprobe program"),
                });
            }
        };
        let mut attr = ProgLoadAttr {
            prog_type: bpf_prog_type::BPF_PROG_TYPE_KPROBE as u32,
            insn_cnt: instructions.len() as u32,
            insns: instructions.as_ptr() as u64,
            license: prog.license.as_ptr() as u64,
            prog_name: program_name(program),
            ..ProgLoadAttr::default()
        };
        let (function, module) = match target {
            ProbeTarget::Kernel { function } => ((*function).to_owned(), "kprobe"),
            ProbeTarget::User { .. } => (target.describe(), "uprobe"),
        };
        let program_fd = load_logged(&mut attr, |source, verifier| ModuleFentryError::Load {
            program: program.to_owned(),
            function,
            module: module.to_owned(),
            source,
            verifier,
        })?;
        let perf_event = probe_event(target, ret)?;
        let syscall = |call: &str| {
            let call = format!("{call} ({program} on {})", target.describe());
            move |source| ModuleFentryError::Syscall { call, source }
        };
        // SAFETY: ioctl(2) on a perf event fd we own, with a program fd that stays open.
        let set = unsafe {
            libc::ioctl(
                perf_event.as_raw_fd(),
                PERF_EVENT_IOC_SET_BPF as _,
                program_fd.as_raw_fd(),
            )
        };
        if set < 0 {
            return Err(syscall("PERF_EVENT_IOC_SET_BPF")(io::Error::last_os_error()));
        }
        // SAFETY: as above, without an argument.
        if unsafe { libc::ioctl(perf_event.as_raw_fd(), PERF_EVENT_IOC_ENABLE as _, 0) } < 0 {
            return Err(syscall("PERF_EVENT_IOC_ENABLE")(io::Error::last_os_error()));
        }
        Ok(ProbeLink {
            perf_event,
            program_fd,
        })
    }
}

/// A probe event of the kernel's `kprobe` or `uprobe` PMU on `target`, its return when `ret`.
fn probe_event(target: &ProbeTarget<'_>, ret: bool) -> Result<OwnedFd, ModuleFentryError> {
    let pmu = match target {
        ProbeTarget::Kernel { .. } => "kprobe",
        ProbeTarget::User { .. } => "uprobe",
    };
    let dir = Path::new("/sys/bus/event_source/devices").join(pmu);
    let read = |file: &str| {
        let path = dir.join(file);
        fs::read_to_string(&path).map_err(|source| ModuleFentryError::Syscall {
            call: format!("reading {} (the kernel's {pmu} PMU)", path.display()),
            source,
        })
    };
    let pmu_type: u32 = read("type")?.trim().parse().unwrap_or(0);
    // `config:0`: the bit of `config` that makes it a return probe.
    let ret_bit: u32 = read("format/retprobe")?
        .trim()
        .trim_start_matches("config:")
        .parse()
        .unwrap_or(0);
    let (name, offset, pid) = match target {
        ProbeTarget::Kernel { function } => (*function, 0, None),
        ProbeTarget::User { path, offset, pid } => {
            (path.to_str().unwrap_or_default(), *offset, *pid)
        }
    };
    let name = CString::new(name).map_err(|_| ModuleFentryError::Program {
        reason: format!("{} has a NUL byte", target.describe()),
    })?;
    let attr = PerfEventAttr {
        type_: pmu_type,
        size: std::mem::size_of::<PerfEventAttr>() as u32,
        config: if ret { 1 << ret_bit } else { 0 },
        sample_period: 1,
        sample_type: PERF_SAMPLE_RAW,
        wakeup_events: 1,
        config1: name.as_ptr() as u64,
        config2: offset,
        ..PerfEventAttr::default()
    };
    // One process, on any CPU; or every process, as an event of CPU 0 (a probe's program runs
    // on every CPU all the same).
    let (pid, cpu) = match pid {
        Some(pid) => (pid as i32, -1),
        None => (-1, 0),
    };
    // SAFETY: perf_event_open(2) with an attr of `size` bytes and a name that outlive the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            std::ptr::from_ref(&attr),
            pid,
            cpu,
            -1,
            PERF_FLAG_FD_CLOEXEC as libc::c_ulong,
        )
    };
    if fd < 0 {
        return Err(ModuleFentryError::Syscall {
            call: format!("perf_event_open of a {pmu} on {}", target.describe()),
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}
