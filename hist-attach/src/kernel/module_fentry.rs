//! fentry/fexit on functions of kernel modules, which aya 0.14 cannot do (aya issues #300 and
//! #301): `FEntry::load(fn_name, &Btf)` and `FExit::load` look the function up in vmlinux BTF
//! only and never pass the module's BTF to `BPF_PROG_LOAD` (`attach_btf_obj_fd`), so
//! `nfs_file_read` (module `nfs`) or `xfs_fs_nr_cached_objects` (module `xfs` on Debian) cannot
//! be traced that way.
//!
//! This module loads such a program itself, the way libbpf does, with no fork of aya:
//!
//! 1. [`ModuleFunction::find`] opens the module's BTF object in the kernel (`BPF_BTF_GET_NEXT_ID`,
//!    `BPF_BTF_GET_FD_BY_ID`, `BPF_OBJ_GET_INFO_BY_FD` until the name is the module's) and finds
//!    the function's type id in the module's split BTF (`/sys/kernel/btf/<module>`, whose ids
//!    continue after vmlinux's last one);
//! 2. [`ModulePrograms::new`] parses the same object bytes the [`Ebpf`] was loaded from with
//!    `aya-obj`, points its map references at (duplicates of) the file descriptors of the maps
//!    aya created, the `.rodata` that holds the `CONFIG` written by `override_global` included,
//!    and links its calls: the programs loaded here share every map with the rest of the tool;
//! 3. [`ModulePrograms::attach`] issues `BPF_PROG_LOAD` (`BPF_PROG_TYPE_TRACING`, expected attach
//!    type `BPF_TRACE_FENTRY` or `BPF_TRACE_FEXIT` from the program's section, `attach_btf_id` and
//!    `attach_btf_obj_fd` from step 1), then `BPF_RAW_TRACEPOINT_OPEN`, and returns a
//!    [`ModuleTracingLink`] that detaches when dropped.
//!
//! No program BTF or `func_info` is passed: the kernel does not need them for a tracing program
//! (the function's prototype comes from the module's BTF), and the tools' objects carry none.
//!
//! ```no_run
//! # fn run(object: &[u8], ebpf: &aya::Ebpf) -> Result<(), hist_attach::kernel::ModuleFentryError> {
//! use hist_attach::kernel::{ModuleFunction, ModulePrograms};
//!
//! let programs = ModulePrograms::new(object, ebpf)?; // before HistMap::open takes the maps
//! let target = ModuleFunction::find("xfs", "xfs_fs_nr_cached_objects")?;
//! let entry = programs.attach("count_fentry", &target)?;
//! let exit = programs.attach("count_fexit", &target)?;
//! // ... read the maps; dropping `entry` and `exit` detaches them.
//! # Ok(()) }
//! ```

use std::{
    collections::{HashMap, HashSet},
    fs, io, mem,
    os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
    path::Path,
};

use aya::{Ebpf, maps::Map, maps::MapData};
use aya_obj::{
    Object, Program, ProgramSection,
    generated::{
        BPF_DW, BPF_F_SLEEPABLE, BPF_IMM, BPF_LD, BPF_PSEUDO_MAP_VALUE, bpf_attach_type, bpf_cmd,
        bpf_prog_type,
    },
};

use super::{
    KernelBtf, KernelError,
    bpf_syscall::{
        BtfInfo, IdAttr, InfoAttr, ProgLoadAttr, RawTracepointOpenAttr, prog_load, sys_bpf,
        sys_bpf_fd,
    },
    error_line,
};

/// Where the kernel exposes vmlinux's and each module's BTF.
const SYS_KERNEL_BTF: &str = "/sys/kernel/btf";
/// The verifier log buffer of the second, logged `BPF_PROG_LOAD` after a failed one.
const LOG_SIZE: usize = 1 << 20;

/// Why a program could not be put on a module function. Every message is one line.
#[derive(Debug, thiserror::Error)]
pub enum ModuleFentryError {
    /// The kernel has no BTF object for the module: it is not loaded, has no BTF, or the kernel
    /// is older than module BTF (Linux 5.11).
    #[error(
        "module {module} has no BTF in the kernel (no {SYS_KERNEL_BTF}/{module}): load it \
         (`modprobe {module}`); module BTF needs Linux 5.11+ with CONFIG_DEBUG_INFO_BTF_MODULES=y"
    )]
    NoModuleBtf {
        /// The module.
        module: String,
    },
    /// The "module" is `vmlinux` (or not a plain name): its functions need no module BTF.
    #[error("{module} is not a kernel module (for vmlinux functions use aya's FEntry and FExit)")]
    NotAModule {
        /// The name given.
        module: String,
    },
    /// The module's BTF has no `FUNC` of that name.
    #[error("{function} is not in the BTF of module {module}")]
    NotInModuleBtf {
        /// The function.
        function: String,
        /// The module.
        module: String,
    },
    /// Reading or parsing a BTF file failed.
    #[error("cannot read BTF {}: {reason}", path.display())]
    Btf {
        /// The file.
        path: std::path::PathBuf,
        /// Why, on one line.
        reason: String,
    },
    /// The eBPF object cannot be parsed or relocated, or does not match the loaded [`Ebpf`].
    #[error("the eBPF object cannot be prepared for module fentry: {reason}")]
    Object {
        /// Why, on one line.
        reason: String,
    },
    /// The object has no program of that name, or it is not an fentry/fexit program.
    #[error("{reason} (a bug in the tool: please report this)")]
    Program {
        /// What is wrong with the program, on one line.
        reason: String,
    },
    /// A `bpf(2)` command other than the program load failed.
    #[error("{call} failed: {source}")]
    Syscall {
        /// The command and what it was for.
        call: String,
        /// The error.
        source: io::Error,
    },
    /// `BPF_PROG_LOAD` refused the program.
    #[error("BPF_PROG_LOAD of {program} on {function} [{module}] failed: {source}{}",
            verifier.as_ref().map(|line| format!("; the verifier said: {line}")).unwrap_or_default())]
    Load {
        /// The program.
        program: String,
        /// The module function.
        function: String,
        /// Its module.
        module: String,
        /// The error of the first, unlogged, load.
        source: io::Error,
        /// The last meaningful line of the verifier log of a second, logged, load.
        verifier: Option<String>,
    },
    /// `BPF_RAW_TRACEPOINT_OPEN` could not attach the loaded program.
    #[error("attaching {program} to {function} [{module}] failed: {source}")]
    Attach {
        /// The program.
        program: String,
        /// The module function.
        function: String,
        /// Its module.
        module: String,
        /// The error.
        source: io::Error,
    },
}

impl ModuleFentryError {
    /// The `errno` of a failed `bpf(2)` command (`EPERM` when the kernel refuses tracing programs
    /// or the process lacks privileges), `None` for the other errors.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Self::Syscall { source, .. }
            | Self::Load { source, .. }
            | Self::Attach { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// A function of a loaded kernel module, resolved for `BPF_PROG_LOAD`: the module's BTF object,
/// open in the kernel, and the function's type id in it. Holding it keeps the BTF object alive.
#[derive(Debug)]
pub struct ModuleFunction {
    module: String,
    function: String,
    /// The module's BTF object; `None` for a function of vmlinux.
    btf: Option<OwnedFd>,
    btf_id: u32,
}

impl ModuleFunction {
    /// Finds `function` in the BTF of `module` (as named in `/sys/kernel/btf/`, `lsmod`, and the
    /// `[module]` suffix of `/proc/kallsyms`).
    ///
    /// # Errors
    ///
    /// [`ModuleFentryError::NotAModule`] for `vmlinux`,
    /// [`ModuleFentryError::NoModuleBtf`] when the module has no BTF in the kernel,
    /// [`ModuleFentryError::NotInModuleBtf`] when its BTF has no such function,
    /// [`ModuleFentryError::Btf`] when a BTF file cannot be read or parsed, and
    /// [`ModuleFentryError::Syscall`] when a `bpf(2)` command fails (`EPERM` without privileges).
    pub fn find(module: &str, function: &str) -> Result<Self, ModuleFentryError> {
        let no_btf = || ModuleFentryError::NoModuleBtf {
            module: module.to_owned(),
        };
        let dir = Path::new(SYS_KERNEL_BTF);
        let module_path = dir.join(module);
        if module.is_empty() || module.contains('/') || module == "vmlinux" {
            return Err(ModuleFentryError::NotAModule {
                module: module.to_owned(),
            });
        }
        if !module_path.is_file() {
            return Err(no_btf());
        }
        // Vmlinux's BTF and this module's only: the id is vmlinux's type count plus the
        // function's place among the module's types.
        let read = |path: &Path| {
            fs::read(path).map_err(|e| ModuleFentryError::Btf {
                path: path.to_owned(),
                reason: e.to_string(),
            })
        };
        let btf_error = |path: &Path| {
            let path = path.to_owned();
            move |e: KernelError| ModuleFentryError::Btf {
                path,
                reason: e.to_string(),
            }
        };
        let vmlinux_path = dir.join("vmlinux");
        let btf = KernelBtf::from_parts(
            read(&vmlinux_path)?,
            vec![(module.to_owned(), read(&module_path)?)],
        )
        .map_err(btf_error(&vmlinux_path))?;
        let btf_id = btf
            .module_func_id(module, function)
            .map_err(btf_error(&module_path))?
            .ok_or_else(|| ModuleFentryError::NotInModuleBtf {
                function: function.to_owned(),
                module: module.to_owned(),
            })?;
        let btf = kernel_btf_fd(module)?.ok_or_else(no_btf)?;
        Ok(ModuleFunction {
            module: module.to_owned(),
            function: function.to_owned(),
            btf: Some(btf),
            btf_id,
        })
    }

    /// Finds `function` in vmlinux BTF, for the programs [`ModulePrograms::attach_copy`] loads
    /// (aya's `FEntry` serves one load of a program only).
    ///
    /// # Errors
    ///
    /// [`ModuleFentryError::NotInModuleBtf`] (module `vmlinux`) when vmlinux BTF has no such
    /// function, [`ModuleFentryError::Btf`] when it cannot be read or parsed.
    pub fn in_vmlinux(function: &str) -> Result<Self, ModuleFentryError> {
        let path = Path::new(SYS_KERNEL_BTF).join("vmlinux");
        let btf_error = |reason: String| ModuleFentryError::Btf {
            path: path.clone(),
            reason,
        };
        let bytes = fs::read(&path).map_err(|e| btf_error(e.to_string()))?;
        let btf = KernelBtf::from_parts(bytes, Vec::new()).map_err(|e| btf_error(e.to_string()))?;
        let btf_id = btf
            .vmlinux_func_id(function)
            .map_err(|e| btf_error(e.to_string()))?
            .ok_or_else(|| ModuleFentryError::NotInModuleBtf {
                function: function.to_owned(),
                module: "vmlinux".to_owned(),
            })?;
        Ok(ModuleFunction {
            module: "vmlinux".to_owned(),
            function: function.to_owned(),
            btf: None,
            btf_id,
        })
    }

    /// The module.
    pub fn module(&self) -> &str {
        &self.module
    }

    /// The function.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The function's BTF type id, in the id space of the module's split BTF.
    pub fn btf_id(&self) -> u32 {
        self.btf_id
    }
}

/// The programs of an eBPF object, relocated onto the maps of the [`Ebpf`] loaded from the same
/// bytes, ready to be loaded onto module functions by [`attach`](Self::attach).
///
/// It holds duplicates of the maps' file descriptors, so it does not borrow the [`Ebpf`] and
/// stays valid after its maps are taken or the [`Ebpf`] dropped.
#[derive(Debug)]
pub struct ModulePrograms {
    object: Object,
    /// The duplicated map file descriptors that the relocated instructions name.
    _maps: Vec<OwnedFd>,
    /// The fd (one of `_maps`) of the function index table's map, when the object has one
    /// ([`hist_core::func`]): the copies of a program differ in the element they read.
    index_table: Option<i32>,
}

impl ModulePrograms {
    /// Parses `object` (the bytes `ebpf` was loaded from, with the same `EbpfLoader`
    /// settings) and relocates its map references to `ebpf`'s maps and its calls. Call it
    /// before taking maps out of `ebpf` (`HistMap::open`, `Ebpf::take_map`): every map the
    /// object declares must still be in `ebpf`.
    ///
    /// # Errors
    ///
    /// [`ModuleFentryError::Object`] when the object cannot be parsed or relocated, or a map it
    /// declares is not in `ebpf`; [`ModuleFentryError::Syscall`] when a map's file descriptor
    /// cannot be duplicated.
    pub fn new(object: &[u8], ebpf: &Ebpf) -> Result<Self, ModuleFentryError> {
        let object_error = |reason: String| ModuleFentryError::Object { reason };
        let mut obj = Object::parse(object).map_err(|e| object_error(error_line(&e)))?;
        if obj.has_btf_relocations() {
            let btf = aya::Btf::from_sys_fs()
                .map_err(|e| object_error(format!("reading vmlinux BTF: {}", error_line(&e))))?;
            obj.relocate_btf(&btf)
                .map_err(|e| object_error(error_line(&e)))?;
        }
        let declared = mem::take(&mut obj.maps);
        let mut fds = HashMap::new();
        for name in declared.keys() {
            let map = ebpf.map(name).ok_or_else(|| {
                object_error(format!(
                    "its map {name} is not in the loaded Ebpf (taken out before, or not created)"
                ))
            })?;
            let fd = map_data(map)
                .fd()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|source| ModuleFentryError::Syscall {
                    call: format!("duplicating the file descriptor of map {name}"),
                    source,
                })?;
            fds.insert(name.as_str(), fd);
        }
        let text_sections: HashSet<usize> = obj.functions.keys().map(|(s, _)| *s).collect();
        obj.relocate_maps(
            declared
                .iter()
                .map(|(name, map)| (name.as_str(), fds[name.as_str()].as_raw_fd(), map)),
            &text_sections,
        )
        .map_err(|e| object_error(error_line(&e)))?;
        obj.relocate_calls(&text_sections)
            .map_err(|e| object_error(error_line(&e)))?;
        obj.sanitize_functions(aya::features());
        let index_table = fds
            .get(hist_core::func::FUNC_INDEX_SECTION)
            .map(|fd| fd.as_raw_fd());
        Ok(ModulePrograms {
            object: obj,
            _maps: fds.into_values().collect(),
            index_table,
        })
    }

    /// Loads the fentry or fexit program `program` (as its section says) onto `target` and
    /// attaches it. The program is loaded anew on each call, so the same program can go on
    /// several functions.
    ///
    /// # Errors
    ///
    /// [`ModuleFentryError::Program`] when there is no such program or it is not an fentry or
    /// fexit program; [`ModuleFentryError::Load`] (with the verifier's last line) and
    /// [`ModuleFentryError::Attach`] when the kernel refuses it.
    pub fn attach(
        &self,
        program: &str,
        target: &ModuleFunction,
    ) -> Result<ModuleTracingLink, ModuleFentryError> {
        self.attach_copy(program, 0, target)
    }

    /// Like [`attach`](Self::attach), for copy `index` of the program: its reads of the
    /// function index table ([`hist_core::func`]) read element `index`, so that it records as
    /// function `index`.
    ///
    /// # Errors
    ///
    /// As [`attach`](Self::attach); [`ModuleFentryError::Program`] too when `index` is past
    /// the table, or not 0 in an object without one.
    pub fn attach_copy(
        &self,
        program: &str,
        index: u32,
        target: &ModuleFunction,
    ) -> Result<ModuleTracingLink, ModuleFentryError> {
        let (prog, instructions) = self.copy_of(program, index)?;
        let (attach_type, sleepable) = match prog.section {
            ProgramSection::FEntry { sleepable } => (bpf_attach_type::BPF_TRACE_FENTRY, sleepable),
            ProgramSection::FExit { sleepable } => (bpf_attach_type::BPF_TRACE_FEXIT, sleepable),
            _ => {
                return Err(ModuleFentryError::Program {
                    reason: format!("program {program} is not an fentry or fexit program"),
                });
            }
        };
        let mut attr = ProgLoadAttr {
            prog_type: bpf_prog_type::BPF_PROG_TYPE_TRACING as u32,
            insn_cnt: instructions.len() as u32,
            insns: instructions.as_ptr() as u64,
            license: prog.license.as_ptr() as u64,
            prog_flags: if sleepable { BPF_F_SLEEPABLE } else { 0 },
            prog_name: program_name(program),
            expected_attach_type: attach_type as u32,
            attach_btf_id: target.btf_id,
            attach_btf_obj_fd: target.btf.as_ref().map_or(0, |fd| fd.as_raw_fd() as u32),
            ..ProgLoadAttr::default()
        };
        let load_error = |source, verifier| ModuleFentryError::Load {
            program: program.to_owned(),
            function: target.function.clone(),
            module: target.module.clone(),
            source,
            verifier,
        };
        let program_fd = load_logged(&mut attr, load_error)?;
        let mut open = RawTracepointOpenAttr {
            name: 0,
            prog_fd: program_fd.as_raw_fd() as u32,
            _pad: 0,
        };
        // SAFETY: `open` is BPF_RAW_TRACEPOINT_OPEN's prefix of `union bpf_attr`, with no name
        // (a tracing program attaches where it was loaded) and a program fd open until after the
        // call.
        let link = unsafe { sys_bpf_fd(bpf_cmd::BPF_RAW_TRACEPOINT_OPEN, &mut open) }.map_err(
            |source| ModuleFentryError::Attach {
                program: program.to_owned(),
                function: target.function.clone(),
                module: target.module.clone(),
                source,
            },
        )?;
        Ok(ModuleTracingLink {
            link,
            program_fd,
            program: program.to_owned(),
        })
    }
}

/// An fentry/fexit program attached to a module function by [`ModulePrograms::attach`]. Dropping
/// it closes the link, which detaches the program, then the program, which unloads it.
#[derive(Debug)]
pub struct ModuleTracingLink {
    // Dropped in this order: the link, then the program.
    link: OwnedFd,
    program_fd: OwnedFd,
    program: String,
}

impl ModuleTracingLink {
    /// The program's name in the object.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The loaded program (for `BPF_OBJ_GET_INFO_BY_FD`, or pinning).
    pub fn program_fd(&self) -> BorrowedFd<'_> {
        self.program_fd.as_fd()
    }

    /// The link that keeps it attached.
    pub fn link_fd(&self) -> BorrowedFd<'_> {
        self.link.as_fd()
    }
}

impl ModulePrograms {
    /// `program`, and the instructions of its copy `index`: each read of the function index
    /// table moved from element 0 to element `index`.
    pub(crate) fn copy_of(
        &self,
        program: &str,
        index: u32,
    ) -> Result<(&Program, Vec<aya_obj::generated::bpf_insn>), ModuleFentryError> {
        let missing = |reason: String| ModuleFentryError::Program { reason };
        let prog = self
            .object
            .programs
            .get(program)
            .ok_or_else(|| missing(format!("the eBPF object has no program {program}")))?;
        let function = self
            .object
            .functions
            .get(&prog.function_key())
            .ok_or_else(|| missing(format!("the code of program {program} is missing")))?;
        let mut instructions = function.instructions.clone();
        if index == 0 {
            return Ok((prog, instructions));
        }
        let Some(table) = self.index_table else {
            return Err(missing(format!(
                "copy {index} of {program}: the object has no function index table"
            )));
        };
        if index as usize >= hist_core::func::MAX_FUNCS {
            return Err(missing(format!(
                "copy {index} of {program}: the table has {} functions",
                hist_core::func::MAX_FUNCS
            )));
        }
        // `r = map_value(table) + offset` is an `ld_imm64` in two slots: the fd in the first
        // one's immediate, the offset in the second's.
        let ld_imm64 = (BPF_LD | BPF_IMM | BPF_DW) as u8;
        let mut at = 0;
        while at + 1 < instructions.len() {
            let ins = &instructions[at];
            if ins.code == ld_imm64 {
                if ins.src_reg() == BPF_PSEUDO_MAP_VALUE as u8 && ins.imm == table {
                    instructions[at + 1].imm += 4 * index as i32;
                }
                at += 2;
            } else {
                at += 1;
            }
        }
        Ok((prog, instructions))
    }
}

/// A program's name for `BPF_PROG_LOAD`: the kernel keeps 15 bytes and a NUL; a longer name is
/// cut, as aya does.
pub(crate) fn program_name(program: &str) -> [u8; 16] {
    let mut name = [0u8; 16];
    let len = program.len().min(15);
    name[..len].copy_from_slice(&program.as_bytes()[..len]);
    name
}

/// `BPF_PROG_LOAD` of `attr`; when the kernel refuses it, a second, logged load for the
/// verifier's last line, given to `error` with the first load's error.
pub(crate) fn load_logged(
    attr: &mut ProgLoadAttr,
    error: impl FnOnce(io::Error, Option<String>) -> ModuleFentryError,
) -> Result<OwnedFd, ModuleFentryError> {
    // SAFETY: `attr` is BPF_PROG_LOAD's prefix of `union bpf_attr`; what it points to (the
    // instructions, the license, a BTF fd) is the caller's and outlives the call.
    match unsafe { prog_load(attr) } {
        Ok(fd) => Ok(fd),
        Err(source) => {
            let mut log = vec![0u8; LOG_SIZE];
            attr.log_level = 1;
            attr.log_size = LOG_SIZE as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            // SAFETY: as above; `log` is a buffer of `log_size` bytes that outlives the call.
            let retried = unsafe { prog_load(attr) };
            attr.log_buf = 0;
            Err(match retried {
                Ok(_) => error(source, Some("nothing: the logged load passed".into())),
                Err(_) => error(source, last_verifier_line(&log)),
            })
        }
    }
}

/// The map behind any variant of aya's [`Map`].
fn map_data(map: &Map) -> &MapData {
    match map {
        Map::Array(data)
        | Map::ArrayOfMaps(data)
        | Map::BloomFilter(data)
        | Map::CgroupArray(data)
        | Map::CgroupStorage(data)
        | Map::CgrpStorage(data)
        | Map::CpuMap(data)
        | Map::DevMap(data)
        | Map::DevMapHash(data)
        | Map::HashMap(data)
        | Map::HashOfMaps(data)
        | Map::InodeStorage(data)
        | Map::LpmTrie(data)
        | Map::LruHashMap(data)
        | Map::PerCpuArray(data)
        | Map::PerCpuCgroupStorage(data)
        | Map::PerCpuHashMap(data)
        | Map::PerCpuLruHashMap(data)
        | Map::PerfEventArray(data)
        | Map::ProgramArray(data)
        | Map::Queue(data)
        | Map::ReusePortSockArray(data)
        | Map::RingBuf(data)
        | Map::SockHash(data)
        | Map::SockMap(data)
        | Map::SkStorage(data)
        | Map::Stack(data)
        | Map::StackTraceMap(data)
        | Map::Unsupported(data)
        | Map::XskMap(data) => data,
    }
}

/// The last line of a verifier log that says something (not the statistics at its end).
fn last_verifier_line(log: &[u8]) -> Option<String> {
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    String::from_utf8_lossy(&log[..end])
        .lines()
        .map(str::trim)
        .rfind(|line| {
            !line.is_empty()
                && !line.starts_with("processed ")
                && !line.starts_with("verification time")
                && !line.starts_with("stack depth")
        })
        .map(str::to_owned)
}

/// The kernel's BTF object of `module` (`kernel_btf` set, named `module`), open, or `None` when
/// there is none.
fn kernel_btf_fd(module: &str) -> Result<Option<OwnedFd>, ModuleFentryError> {
    let syscall = |call: &str| {
        let call = format!("{call} (looking for the BTF of module {module})");
        move |source| ModuleFentryError::Syscall { call, source }
    };
    let mut id = 0;
    loop {
        let mut next = IdAttr {
            id,
            ..IdAttr::default()
        };
        // SAFETY: `next` is BPF_BTF_GET_NEXT_ID's prefix of `union bpf_attr`, without pointers.
        match unsafe { sys_bpf(bpf_cmd::BPF_BTF_GET_NEXT_ID, &mut next) } {
            Ok(_) => id = next.next_id,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(syscall("BPF_BTF_GET_NEXT_ID")(e)),
        }
        let mut by_id = IdAttr {
            id,
            ..IdAttr::default()
        };
        // SAFETY: `by_id` is BPF_BTF_GET_FD_BY_ID's prefix of `union bpf_attr`, without pointers;
        // the command returns a new fd.
        let fd = match unsafe { sys_bpf_fd(bpf_cmd::BPF_BTF_GET_FD_BY_ID, &mut by_id) } {
            Ok(fd) => fd,
            // Unloaded since it was listed.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(syscall("BPF_BTF_GET_FD_BY_ID")(e)),
        };
        let mut name = [0u8; 64];
        let mut info = BtfInfo {
            name: name.as_mut_ptr() as u64,
            name_len: name.len() as u32,
            ..BtfInfo::default()
        };
        let mut get_info = InfoAttr {
            bpf_fd: fd.as_raw_fd() as u32,
            info_len: mem::size_of::<BtfInfo>() as u32,
            info: std::ptr::from_mut(&mut info) as u64,
        };
        // SAFETY: `get_info` is BPF_OBJ_GET_INFO_BY_FD's prefix of `union bpf_attr`; it points to
        // `info` (`info_len` bytes) whose `name` points to `name` (`name_len` bytes), all alive
        // until after the call, and `fd` is open.
        unsafe { sys_bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut get_info) }
            .map_err(syscall("BPF_OBJ_GET_INFO_BY_FD"))?;
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        if info.kernel_btf != 0 && &name[..end] == module.as_bytes() {
            return Ok(Some(fd));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verifier_line_skips_the_statistics() {
        let log = b"0: R1=ctx()\nThe address of function f cannot be found\n\
                    processed 0 insns (limit 1000000)\n\0garbage";
        assert_eq!(
            last_verifier_line(log).as_deref(),
            Some("The address of function f cannot be found")
        );
        assert_eq!(last_verifier_line(b"\0"), None);
    }
}
