//! Kernel BTF: is there a `FUNC` of a given name in vmlinux BTF or in a module's BTF?
//!
//! Module BTF (`/sys/kernel/btf/<module>`) is *split* BTF: it continues vmlinux's type ids and
//! string offsets, so it cannot be read on its own, and aya's parser reads only standalone BTF.
//! Finding a `FUNC` by name needs little of the format, so this module walks the type section
//! itself, the same code for vmlinux and for modules.
//!
//! The format (`include/uapi/linux/btf.h`, `Documentation/bpf/btf.rst`):
//!
//! * a header: `u16 magic` (0xeB9F, in the file's byte order), `u8 version`, `u8 flags`,
//!   `u32 hdr_len`, `u32 type_off`, `u32 type_len`, `u32 str_off`, `u32 str_len`; the offsets
//!   count from the end of the header (`hdr_len`);
//! * the type section: a sequence of `struct btf_type { u32 name_off; u32 info; u32 size_or_type; }`
//!   where `info` holds the kind in bits 24..28 and `vlen` in bits 0..15, each followed by data
//!   whose size depends on the kind (see [`extra_len`]);
//! * the string section: NUL-terminated names; `name_off` indexes it. In split BTF, an offset
//!   below the base's `str_len` points into the base's strings, and a larger one into the split
//!   file's own strings after subtracting the base's `str_len`.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use super::{KernelError, read_error};

/// Where the kernel exposes its BTF: `vmlinux` and one file per module with BTF.
const SYS_KERNEL_BTF: &str = "/sys/kernel/btf";

const BTF_MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
const BTF_TYPE_LEN: usize = 12;
const KIND_TYPEDEF: u32 = 8;
const KIND_FUNC: u32 = 12;

/// Whether the kernel exposes its own BTF at `/sys/kernel/btf/vmlinux` (`CONFIG_DEBUG_INFO_BTF`),
/// which fentry/fexit, `tp_btf` and CO-RE programs need.
pub fn vmlinux_btf_available() -> bool {
    Path::new(SYS_KERNEL_BTF).join("vmlinux").is_file()
}

/// The size of the kind-specific data after a 12-byte `btf_type` of kind `kind` with `vlen`
/// members, or `None` for a kind this scanner does not know (it then cannot skip the type).
fn extra_len(kind: u32, vlen: usize) -> Option<usize> {
    Some(match kind {
        // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG: nothing.
        2 | 7..=12 | 16 | 18 => 0,
        // INT: u32 encoding; VAR: u32 linkage; DECL_TAG: u32 component_idx.
        1 | 14 | 17 => 4,
        // ARRAY: struct btf_array { type, index_type, nelems }.
        3 => 12,
        // STRUCT, UNION: btf_member { name_off, type, offset } each.
        4 | 5 => vlen * 12,
        // ENUM: btf_enum { name_off, val } each.
        6 => vlen * 8,
        // FUNC_PROTO: btf_param { name_off, type } each.
        13 => vlen * 8,
        // DATASEC: btf_var_secinfo { type, offset, size } each.
        15 => vlen * 12,
        // ENUM64: btf_enum64 { name_off, val_lo32, val_hi32 } each.
        19 => vlen * 12,
        _ => return None,
    })
}

/// The `u32` at `offset` of `bytes`, in the blob's byte order.
fn read_u32(bytes: &[u8], offset: usize, big_endian: bool) -> Option<u32> {
    let b: [u8; 4] = bytes.get(offset..offset.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

/// The sections of one BTF blob, borrowed from it.
struct RawBtf<'a> {
    big_endian: bool,
    types: &'a [u8],
    strings: &'a [u8],
}

impl<'a> RawBtf<'a> {
    fn parse(data: &'a [u8]) -> Result<Self, String> {
        let magic = data.get(..2).ok_or("file shorter than a BTF header")?;
        let big_endian = match [magic[0], magic[1]] {
            m if m == BTF_MAGIC.to_le_bytes() => false,
            m if m == BTF_MAGIC.to_be_bytes() => true,
            _ => return Err("bad magic, not BTF".to_owned()),
        };
        let field = |offset: usize| {
            read_u32(data, offset, big_endian)
                .map(|v| v as usize)
                .ok_or_else(|| "file shorter than a BTF header".to_owned())
        };
        let hdr_len = field(4)?;
        if hdr_len < HEADER_LEN || hdr_len > data.len() {
            return Err(format!("bad header length {hdr_len}"));
        }
        let body = &data[hdr_len..];
        let section = |off: usize, len: usize, what: &str| {
            off.checked_add(len)
                .and_then(|end| body.get(off..end))
                .ok_or_else(|| format!("{what} section {off}+{len} is past the end of the file"))
        };
        Ok(RawBtf {
            big_endian,
            types: section(field(8)?, field(12)?, "type")?,
            strings: section(field(16)?, field(20)?, "string")?,
        })
    }

    /// Whether the string at `offset` of this blob's string section is `name`.
    fn string_is(&self, offset: usize, name: &[u8]) -> bool {
        self.strings
            .get(offset..)
            .is_some_and(|s| s.starts_with(name) && s.get(name.len()) == Some(&0))
    }

    /// Whether a `FUNC` named `name` is among this blob's types. `base` is the BTF this one is
    /// split from (vmlinux for a module), whose strings the low name offsets point into.
    fn has_func(&self, base: Option<&RawBtf<'_>>, name: &str) -> Result<bool, String> {
        Ok(self.find(base, KIND_FUNC, name)?.is_some())
    }

    /// The position (1 for the first type) among this blob's types of the first type of kind
    /// `wanted` named `name`. For a standalone blob (vmlinux) that is its BTF type id.
    fn find(
        &self,
        base: Option<&RawBtf<'_>>,
        wanted: u32,
        name: &str,
    ) -> Result<Option<u32>, String> {
        let name = name.as_bytes();
        let base_str_len = base.map_or(0, |b| b.strings.len());
        let mut pos = 0;
        let mut index: u32 = 0;
        while pos < self.types.len() {
            index += 1;
            let word = |i: usize| {
                read_u32(self.types, pos + 4 * i, self.big_endian)
                    .ok_or_else(|| format!("type at offset {pos} is cut short"))
            };
            let (name_off, info) = (word(0)? as usize, word(1)?);
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            if kind == wanted {
                let found = match base {
                    Some(base) if name_off < base_str_len => base.string_is(name_off, name),
                    _ => self.string_is(name_off - base_str_len, name),
                };
                if found {
                    return Ok(Some(index));
                }
            }
            let extra = extra_len(kind, vlen)
                .ok_or_else(|| format!("unknown BTF kind {kind} at type offset {pos}"))?;
            pos += BTF_TYPE_LEN + extra;
        }
        Ok(None)
    }
}

/// The kernel's BTF, vmlinux and modules, as raw bytes, for looking functions up by name.
///
/// [`load`](Self::load) reads `/sys/kernel/btf/` once; [`btf_has_func`] and [`btf_func_owner`]
/// are one-shot shorthands for it.
pub struct KernelBtf {
    vmlinux: Vec<u8>,
    modules: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for KernelBtf {
    /// Sizes and module names, not megabytes of bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelBtf")
            .field("vmlinux_bytes", &self.vmlinux.len())
            .field(
                "modules",
                &self
                    .modules
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl KernelBtf {
    /// Reads `/sys/kernel/btf/vmlinux` and every module BTF file next to it.
    ///
    /// # Errors
    ///
    /// [`KernelError::BtfUnavailable`] when the kernel has no vmlinux BTF; [`KernelError::Read`]
    /// when a file cannot be read; [`KernelError::BtfParse`] when vmlinux BTF has no valid header.
    pub fn load() -> Result<KernelBtf, KernelError> {
        let dir = Path::new(SYS_KERNEL_BTF);
        let vmlinux_path = dir.join("vmlinux");
        let vmlinux = match fs::read(&vmlinux_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(KernelError::BtfUnavailable);
            }
            Err(e) => return Err(read_error(&vmlinux_path, e)),
        };
        let mut module_paths: Vec<PathBuf> = fs::read_dir(dir)
            .map_err(|e| read_error(dir, e))?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<io::Result<_>>()
            .map_err(|e| read_error(dir, e))?;
        module_paths.retain(|p| p != &vmlinux_path);
        module_paths.sort();
        let mut modules = Vec::with_capacity(module_paths.len());
        for path in module_paths {
            match fs::read(&path) {
                Ok(bytes) => {
                    let name = path.file_name().unwrap_or_default().to_string_lossy();
                    modules.push((name.into_owned(), bytes));
                }
                // A module unloaded while we list them.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(read_error(&path, e)),
            }
        }
        KernelBtf::from_parts(vmlinux, modules)
    }

    /// Kernel BTF from bytes read elsewhere: a standalone vmlinux BTF and `(module name, split
    /// BTF)` pairs based on it (for example files copied from another machine, or test data).
    ///
    /// # Errors
    ///
    /// [`KernelError::BtfParse`] when `vmlinux` has no valid BTF header.
    pub fn from_parts(
        vmlinux: Vec<u8>,
        modules: Vec<(String, Vec<u8>)>,
    ) -> Result<KernelBtf, KernelError> {
        RawBtf::parse(&vmlinux).map_err(|reason| btf_parse_error("vmlinux", reason))?;
        Ok(KernelBtf { vmlinux, modules })
    }

    /// Where a BTF `FUNC` named `name` is: `Some("vmlinux")`, `Some(<module>)`, or `None` when no
    /// BTF has it. A `FUNC` is what fentry/fexit programs attach to.
    ///
    /// # Errors
    ///
    /// [`KernelError::BtfParse`] when a BTF blob is malformed or uses a kind this scanner does not
    /// know.
    pub fn func_owner(&self, name: &str) -> Result<Option<&str>, KernelError> {
        let base = RawBtf::parse(&self.vmlinux).map_err(|r| btf_parse_error("vmlinux", r))?;
        if base
            .has_func(None, name)
            .map_err(|r| btf_parse_error("vmlinux", r))?
        {
            return Ok(Some("vmlinux"));
        }
        for (module, bytes) in &self.modules {
            let found = RawBtf::parse(bytes)
                .and_then(|btf| btf.has_func(Some(&base), name))
                .map_err(|r| btf_parse_error(module, r))?;
            if found {
                return Ok(Some(module));
            }
        }
        Ok(None)
    }

    /// Where a BTF `TYPEDEF` named `name` is: `Some("vmlinux")`, `Some(<module>)`, or `None`.
    /// A `tp_btf` program on the tracepoint `event` attaches to the typedef
    /// `btf_trace_<event>`, which the BTF of the tracepoint's owner (vmlinux or a module) has.
    ///
    /// # Errors
    ///
    /// As [`func_owner`](Self::func_owner).
    pub fn typedef_owner(&self, name: &str) -> Result<Option<&str>, KernelError> {
        let base = RawBtf::parse(&self.vmlinux).map_err(|r| btf_parse_error("vmlinux", r))?;
        if base
            .find(None, KIND_TYPEDEF, name)
            .map_err(|r| btf_parse_error("vmlinux", r))?
            .is_some()
        {
            return Ok(Some("vmlinux"));
        }
        for (module, bytes) in &self.modules {
            let found = RawBtf::parse(bytes)
                .and_then(|btf| btf.find(Some(&base), KIND_TYPEDEF, name))
                .map_err(|r| btf_parse_error(module, r))?;
            if found.is_some() {
                return Ok(Some(module));
            }
        }
        Ok(None)
    }

    /// The BTF type id of the `TYPEDEF` named `name` in vmlinux BTF (the `attach_btf_id` of a
    /// `tp_btf` program on `btf_trace_<event>`), or `None` when vmlinux BTF has no such typedef.
    ///
    /// # Errors
    ///
    /// [`KernelError::BtfParse`] when vmlinux BTF is malformed.
    pub fn vmlinux_typedef_id(&self, name: &str) -> Result<Option<u32>, KernelError> {
        RawBtf::parse(&self.vmlinux)
            .and_then(|btf| btf.find(None, KIND_TYPEDEF, name))
            .map_err(|r| btf_parse_error("vmlinux", r))
    }

    /// The names of the modules whose BTF was read, in file name order.
    pub fn modules(&self) -> impl Iterator<Item = &str> {
        self.modules.iter().map(|(name, _)| name.as_str())
    }

    /// Whether vmlinux or a module has a BTF `FUNC` named `name` (see
    /// [`func_owner`](Self::func_owner)).
    ///
    /// # Errors
    ///
    /// As [`func_owner`](Self::func_owner).
    pub fn has_func(&self, name: &str) -> Result<bool, KernelError> {
        Ok(self.func_owner(name)?.is_some())
    }
}

fn btf_parse_error(file: &str, reason: String) -> KernelError {
    KernelError::BtfParse {
        path: Path::new(SYS_KERNEL_BTF).join(file),
        reason,
    }
}

/// Whether the running kernel has a BTF `FUNC` named `name`, in vmlinux or in a loaded module's
/// BTF (`/sys/kernel/btf/*`): the first condition for attaching fentry/fexit to it.
///
/// # Errors
///
/// As [`KernelBtf::load`] and [`KernelBtf::func_owner`].
pub fn btf_has_func(name: &str) -> Result<bool, KernelError> {
    KernelBtf::load()?.has_func(name)
}

/// Which BTF of the running kernel has a `FUNC` named `name`: `Some("vmlinux")`,
/// `Some(<module>)`, or `None`.
///
/// # Errors
///
/// As [`KernelBtf::load`] and [`KernelBtf::func_owner`].
pub fn btf_func_owner(name: &str) -> Result<Option<String>, KernelError> {
    Ok(KernelBtf::load()?.func_owner(name)?.map(str::to_owned))
}

/// Like [`btf_has_func`], as a check with a one-line error for tools that need fentry on `name`.
///
/// # Errors
///
/// [`KernelError::FunctionNotInBtf`] when no BTF has it, and the errors of [`btf_has_func`].
pub fn require_btf_func(name: &str) -> Result<(), KernelError> {
    if btf_has_func(name)? {
        Ok(())
    } else {
        Err(KernelError::FunctionNotInBtf {
            name: name.to_owned(),
        })
    }
}
