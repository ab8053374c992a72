//! Kernel BTF: is there a `FUNC` of a given name in vmlinux BTF or in a module's BTF, at
//! which byte offset of a kernel struct is a given member, and what is an enumerator's value?
//!
//! Module BTF (`/sys/kernel/btf/<module>`) is *split* BTF: it continues vmlinux's type ids and
//! string offsets, so it cannot be read on its own, and aya's parser reads only standalone BTF.
//! Finding a `FUNC` by name, or a member in a struct, needs little of the format, so this module
//! walks the type section itself, the same code for vmlinux and for modules.
//!
//! The format (`include/uapi/linux/btf.h`, `Documentation/bpf/btf.rst`):
//!
//! * a header: `u16 magic` (0xeB9F, in the file's byte order), `u8 version`, `u8 flags`,
//!   `u32 hdr_len`, `u32 type_off`, `u32 type_len`, `u32 str_off`, `u32 str_len`; the offsets
//!   count from the end of the header (`hdr_len`);
//! * the type section: a sequence of `struct btf_type { u32 name_off; u32 info; u32 size_or_type; }`
//!   where `info` holds the kind in bits 24..28, `kind_flag` in bit 31 and `vlen` in bits 0..15,
//!   each followed by data whose size depends on the kind (see [`extra_len`]). The i-th type of a
//!   standalone blob has type id i (counting from 1); id 0 is `void`. `size_or_type` is the size
//!   in bytes of an INT, STRUCT or UNION, and the type id a PTR, TYPEDEF, CONST, VOLATILE,
//!   RESTRICT or TYPE_TAG refers to;
//! * after an INT, a `u32` encoding: bits 0..7 its size in bits, bits 16..23 its bit offset
//!   (old-style bitfields, below);
//! * after a STRUCT (kind 4) or UNION (kind 5), `vlen` times
//!   `struct btf_member { u32 name_off; u32 type; u32 offset; }`. When the struct's `kind_flag` is
//!   set, `offset` holds the member's bitfield size in bits 24..31 (0: not a bitfield) and its bit
//!   offset in bits 0..23; otherwise `offset` is the bit offset, and a bitfield is a member whose
//!   type is an INT with fewer bits than its size, or a non-zero INT bit offset. Members of
//!   anonymous structs and unions nested in a struct (`name_off` 0) are the struct's members, at
//!   the anonymous member's offset plus theirs: the kernel nests many fields that way;
//! * after an ENUM (kind 6), `vlen` times `struct btf_enum { u32 name_off; i32 val; }`, after an
//!   ENUM64 (kind 19) `struct btf_enum64 { u32 name_off; u32 val_lo32; u32 val_hi32; }`; the
//!   enum's `kind_flag` says the values are unsigned;
//! * the string section: NUL-terminated names; `name_off` indexes it. In split BTF, an offset
//!   below the base's `str_len` points into the base's strings, and a larger one into the split
//!   file's own strings after subtracting the base's `str_len`.

use std::{
    collections::HashSet,
    fs, io,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use super::{KernelError, read_error};

/// Where the kernel exposes its BTF: `vmlinux` and one file per module with BTF.
const SYS_KERNEL_BTF: &str = "/sys/kernel/btf";

const BTF_MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
const BTF_TYPE_LEN: usize = 12;
const BTF_MEMBER_LEN: usize = 12;
const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;
/// How many anonymous structs and unions deep a member is looked for, and how long a chain of
/// typedefs and qualifiers is followed: the kernel's own limit (`MAX_RESOLVE_DEPTH` in
/// `kernel/bpf/btf.c`). Deeper is malformed (a cycle, say), not a reason to recurse on.
const MAX_DEPTH: usize = 32;

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

/// The 12-byte `btf_type` at some offset of a type section.
#[derive(Clone, Copy)]
struct BtfType {
    /// Its offset in the type section.
    pos: usize,
    name_off: u32,
    info: u32,
    size_or_type: u32,
}

impl BtfType {
    fn kind(self) -> u32 {
        (self.info >> 24) & 0x1f
    }

    fn vlen(self) -> usize {
        (self.info & 0xffff) as usize
    }

    fn kind_flag(self) -> bool {
        self.info >> 31 == 1
    }

    fn is_struct_or_union(self) -> bool {
        matches!(self.kind(), KIND_STRUCT | KIND_UNION)
    }
}

/// Where a member is in the struct it was looked for in: its bit offset from the struct's start
/// (through anonymous members), and its width when it is a bitfield (0 when it is not).
#[derive(Clone, Copy)]
struct MemberBits {
    bit_offset: u32,
    bitfield_bits: u32,
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
            let (ty, next) = self.type_at(pos)?;
            if ty.kind() == wanted {
                let name_off = ty.name_off as usize;
                let found = match base {
                    Some(base) if name_off < base_str_len => base.string_is(name_off, name),
                    _ => self.string_is(name_off - base_str_len, name),
                };
                if found {
                    return Ok(Some(index));
                }
            }
            pos = next;
        }
        Ok(None)
    }

    /// The value of the first enumerator of each of `names` in the ENUMs and ENUM64s of this
    /// standalone blob, in one pass: C enumerators share one namespace, so the enum's own name is
    /// not needed.
    fn enum_values(&self, names: &[&str]) -> Result<Vec<Option<i64>>, String> {
        let mut values = vec![None; names.len()];
        let mut pos = 0;
        while pos < self.types.len() && values.contains(&None) {
            let (ty, next) = self.type_at(pos)?;
            let entry_len = match ty.kind() {
                KIND_ENUM => 8,
                KIND_ENUM64 => 12,
                _ => {
                    pos = next;
                    continue;
                }
            };
            for i in 0..ty.vlen() {
                let at = pos + BTF_TYPE_LEN + i * entry_len;
                // `type_at` checked that the entries are within the section.
                let word =
                    |k: usize| read_u32(self.types, at + 4 * k, self.big_endian).unwrap_or(0);
                let name = self.string_at(word(0));
                let value = match (ty.kind(), ty.kind_flag()) {
                    (KIND_ENUM, false) => i64::from(word(1) as i32),
                    (KIND_ENUM, true) => i64::from(word(1)),
                    // An unsigned ENUM64 above i64::MAX keeps its bits.
                    _ => (u64::from(word(2)) << 32 | u64::from(word(1))) as i64,
                };
                let unfound = names
                    .iter()
                    .zip(&mut values)
                    .filter(|(n, v)| **n == name && v.is_none());
                for (_, slot) in unfound {
                    *slot = Some(value);
                }
            }
            pos = next;
        }
        Ok(values)
    }

    /// The type at offset `pos` of the type section, and the offset of the type after it. Errors
    /// when the type or its kind-specific data runs past the section, or its kind is unknown.
    fn type_at(&self, pos: usize) -> Result<(BtfType, usize), String> {
        let cut_short = || format!("type at offset {pos} is cut short");
        let word =
            |i: usize| read_u32(self.types, pos + 4 * i, self.big_endian).ok_or_else(cut_short);
        let ty = BtfType {
            pos,
            name_off: word(0)?,
            info: word(1)?,
            size_or_type: word(2)?,
        };
        let extra = extra_len(ty.kind(), ty.vlen())
            .ok_or_else(|| format!("unknown BTF kind {} at type offset {pos}", ty.kind()))?;
        let next = pos + BTF_TYPE_LEN + extra;
        if next > self.types.len() {
            return Err(cut_short());
        }
        Ok((ty, next))
    }

    /// The offset in the type section of every type, in order: type id `i + 1` of a standalone
    /// blob is at `offsets[i]`. An offset fits a `u32` because the section's length does.
    fn type_offsets(&self) -> Result<Vec<u32>, String> {
        let mut offsets = Vec::new();
        let mut pos = 0;
        while pos < self.types.len() {
            offsets.push(pos as u32);
            pos = self.type_at(pos)?.1;
        }
        Ok(offsets)
    }

    /// The type with id `id` (not 0, `void`) of a standalone blob whose [`type_offsets`] are
    /// `index`.
    ///
    /// [`type_offsets`]: Self::type_offsets
    fn type_by_id(&self, index: &[u32], id: u32) -> Result<BtfType, String> {
        let pos = (id as usize)
            .checked_sub(1)
            .and_then(|i| index.get(i))
            .ok_or_else(|| format!("type id {id} is out of range (1..={})", index.len()))?;
        Ok(self.type_at(*pos as usize)?.0)
    }

    /// The type (and its id) that `id` names once typedefs and qualifiers (TYPEDEF, VOLATILE,
    /// CONST, RESTRICT, TYPE_TAG) are followed, or `None` for `void`.
    fn resolve(&self, index: &[u32], id: u32) -> Result<Option<(u32, BtfType)>, String> {
        let mut next = id;
        for _ in 0..MAX_DEPTH {
            if next == 0 {
                return Ok(None);
            }
            let ty = self.type_by_id(index, next)?;
            match ty.kind() {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    next = ty.size_or_type;
                }
                _ => return Ok(Some((next, ty))),
            }
        }
        Err(format!(
            "type id {id} is a chain of more than {MAX_DEPTH} typedefs and qualifiers"
        ))
    }

    /// The string at `offset` of this blob's string section, `""` when there is none.
    fn string_at(&self, offset: u32) -> &str {
        let tail = self.strings.get(offset as usize..).unwrap_or_default();
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        std::str::from_utf8(&tail[..end]).unwrap_or_default()
    }

    /// The C name of type `id`, as a tracepoint's prototype spells it: `struct request *`,
    /// `bool`, `unsigned int`; qualifiers left out, a typedef by its own name.
    fn type_name(&self, index: &[u32], id: u32) -> Result<String, String> {
        let with_pointers = |named: String, pointers: usize| match pointers {
            0 => named,
            n => format!("{named} {}", "*".repeat(n)),
        };
        let mut pointers = 0;
        let mut next = id;
        for _ in 0..MAX_DEPTH {
            if next == 0 {
                return Ok(with_pointers("void".to_owned(), pointers));
            }
            let ty = self.type_by_id(index, next)?;
            let name = self.string_at(ty.name_off);
            let named = match ty.kind() {
                KIND_PTR => {
                    pointers += 1;
                    next = ty.size_or_type;
                    continue;
                }
                KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    next = ty.size_or_type;
                    continue;
                }
                KIND_STRUCT => format!("struct {name}"),
                KIND_UNION => format!("union {name}"),
                KIND_FUNC_PROTO => "function".to_owned(),
                _ => name.to_owned(),
            };
            return Ok(with_pointers(named, pointers));
        }
        Err(format!(
            "type id {id} is a chain of more than {MAX_DEPTH} pointers and qualifiers"
        ))
    }

    /// The parameter types of the FUNC_PROTO that `id` points to (`id` a typedef of a pointer
    /// to it, as `btf_trace_<name>` is), by [`type_name`](Self::type_name).
    fn pointed_proto_params(&self, index: &[u32], id: u32) -> Result<Vec<String>, String> {
        let not_proto = || format!("type id {id} is not a pointer to a function prototype");
        let (_, pointer) = self.resolve(index, id)?.ok_or_else(not_proto)?;
        if pointer.kind() != KIND_PTR {
            return Err(not_proto());
        }
        let (_, proto) = self
            .resolve(index, pointer.size_or_type)?
            .ok_or_else(not_proto)?;
        if proto.kind() != KIND_FUNC_PROTO {
            return Err(not_proto());
        }
        (0..proto.vlen())
            .map(|i| {
                let at = proto.pos + BTF_TYPE_LEN + i * 8 + 4;
                let param = read_u32(self.types, at, self.big_endian).ok_or_else(|| {
                    format!("FUNC_PROTO at type offset {} is cut short", proto.pos)
                })?;
                self.type_name(index, param)
            })
            .collect()
    }

    /// The id and type of the first STRUCT or UNION named `name` with a non-zero size (a struct
    /// only declared is a FWD, not a STRUCT, but an empty definition has size 0 and no members).
    fn find_struct(&self, index: &[u32], name: &str) -> Result<Option<(u32, BtfType)>, String> {
        if name.is_empty() {
            return Ok(None);
        }
        for (i, &pos) in index.iter().enumerate() {
            let ty = self.type_at(pos as usize)?.0;
            if ty.is_struct_or_union()
                && ty.size_or_type != 0
                && self.string_is(ty.name_off as usize, name.as_bytes())
            {
                return Ok(Some((i as u32 + 1, ty)));
            }
        }
        Ok(None)
    }

    /// Where `member` is in `struct name` of this standalone blob, or `None` when there is no such
    /// struct or it has no such member.
    fn member(
        &self,
        index: &[u32],
        name: &str,
        member: &str,
    ) -> Result<Option<MemberBits>, String> {
        let Some((id, ty)) = self.find_struct(index, name)? else {
            return Ok(None);
        };
        if member.is_empty() {
            return Ok(None);
        }
        let mut walk = MemberWalk {
            btf: self,
            index,
            member: member.as_bytes(),
            open: Vec::new(),
            searched: HashSet::new(),
        };
        walk.search(id, ty)
            .map_err(|reason| format!("struct {name}: {reason}"))
    }
}

/// A search for a member by name through a struct and the anonymous structs and unions in it.
struct MemberWalk<'b, 'a> {
    btf: &'b RawBtf<'a>,
    index: &'b [u32],
    member: &'b [u8],
    /// The struct being searched and the anonymous ones being searched within it, outermost
    /// first: meeting one of them again is a cycle.
    open: Vec<u32>,
    /// The anonymous structs already searched in vain, which another anonymous member of the
    /// same type need not search again: this bounds the walk by the number of members in the
    /// blob, where a tree of anonymous members sharing types could otherwise be exponential.
    searched: HashSet<u32>,
}

impl MemberWalk<'_, '_> {
    /// Searches the members of the STRUCT or UNION `ty` (type id `id`), in order, depth first.
    fn search(&mut self, id: u32, ty: BtfType) -> Result<Option<MemberBits>, String> {
        if self.open.contains(&id) {
            return Err(format!("anonymous member of type id {id} contains itself"));
        }
        if self.open.len() >= MAX_DEPTH {
            return Err(format!(
                "anonymous members nest more than {MAX_DEPTH} levels deep"
            ));
        }
        self.open.push(id);
        let found = self.search_members(ty);
        self.open.pop();
        if let Ok(None) = found {
            self.searched.insert(id);
        }
        found
    }

    fn search_members(&mut self, ty: BtfType) -> Result<Option<MemberBits>, String> {
        let btf = self.btf;
        for i in 0..ty.vlen() {
            let at = ty.pos + BTF_TYPE_LEN + i * BTF_MEMBER_LEN;
            let word = |k: usize| {
                read_u32(btf.types, at + 4 * k, btf.big_endian)
                    .ok_or_else(|| format!("member {i} at type offset {} is cut short", ty.pos))
            };
            let (name_off, type_id, offset) = (word(0)?, word(1)?, word(2)?);
            let (bit_offset, bitfield_bits) = if ty.kind_flag() {
                (offset & 0xff_ffff, offset >> 24)
            } else {
                (offset, 0)
            };
            if name_off == 0 {
                // An anonymous member: look inside it if it is a struct or union.
                let Some((inner_id, inner)) = btf.resolve(self.index, type_id)? else {
                    continue;
                };
                if !inner.is_struct_or_union() || self.searched.contains(&inner_id) {
                    continue;
                }
                if let Some(found) = self.search(inner_id, inner)? {
                    let bit_offset = bit_offset
                        .checked_add(found.bit_offset)
                        .ok_or("a member's bit offset overflows")?;
                    return Ok(Some(MemberBits {
                        bit_offset,
                        ..found
                    }));
                }
            } else if btf.string_is(name_off as usize, self.member) {
                if ty.kind_flag() {
                    return Ok(Some(MemberBits {
                        bit_offset,
                        bitfield_bits,
                    }));
                }
                return self.old_style_bitfield(bit_offset, type_id).map(Some);
            }
        }
        Ok(None)
    }

    /// A member found in a struct without `kind_flag`: a bitfield if its type is an INT narrower
    /// than its size or with a bit offset of its own, which adds to the member's.
    fn old_style_bitfield(&self, bit_offset: u32, type_id: u32) -> Result<MemberBits, String> {
        let plain = MemberBits {
            bit_offset,
            bitfield_bits: 0,
        };
        let Some((_, ty)) = self.btf.resolve(self.index, type_id)? else {
            return Ok(plain);
        };
        if ty.kind() != KIND_INT {
            return Ok(plain);
        }
        let encoding = read_u32(self.btf.types, ty.pos + BTF_TYPE_LEN, self.btf.big_endian)
            .ok_or_else(|| format!("INT at type offset {} is cut short", ty.pos))?;
        let (bits, int_offset) = (encoding & 0xff, (encoding >> 16) & 0xff);
        if int_offset == 0 && u64::from(bits) == u64::from(ty.size_or_type) * 8 {
            return Ok(plain);
        }
        Ok(MemberBits {
            bit_offset: bit_offset
                .checked_add(int_offset)
                .ok_or("a member's bit offset overflows")?,
            bitfield_bits: bits,
        })
    }
}

/// The kernel's BTF, vmlinux and modules, as raw bytes, for looking functions up by name and
/// struct members up in vmlinux.
///
/// [`load`](Self::load) reads `/sys/kernel/btf/` once; [`btf_has_func`] and [`btf_func_owner`]
/// are one-shot shorthands for it.
pub struct KernelBtf {
    vmlinux: Vec<u8>,
    modules: Vec<(String, Vec<u8>)>,
    /// Where each vmlinux type starts ([`RawBtf::type_offsets`]), built by the first member
    /// look-up: name look-ups do not need it.
    vmlinux_types: OnceLock<Vec<u32>>,
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
        Ok(KernelBtf {
            vmlinux,
            modules,
            vmlinux_types: OnceLock::new(),
        })
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

    /// The BTF type id of the `FUNC` named `name` in vmlinux BTF (the `attach_btf_id` of an
    /// fentry program on it), or `None` when vmlinux BTF has no such function.
    ///
    /// # Errors
    ///
    /// [`KernelError::BtfParse`] when vmlinux BTF is malformed.
    pub fn vmlinux_func_id(&self, name: &str) -> Result<Option<u32>, KernelError> {
        RawBtf::parse(&self.vmlinux)
            .and_then(|btf| btf.find(None, KIND_FUNC, name))
            .map_err(|r| btf_parse_error("vmlinux", r))
    }

    /// The byte offset of `member` in `struct name` (or `union name`) of vmlinux BTF, following
    /// the member through anonymous struct and union members (the kernel nests fields in unnamed
    /// unions), or `None` when the struct or the member does not exist.
    ///
    /// This is what a CO-RE relocation would give a C probe: an aya-ebpf probe that reads a kernel
    /// struct's field gets the offset on the running kernel from here, at load time. When several
    /// structs share the name, the first one with a non-zero size is used.
    ///
    /// # Errors
    ///
    /// [`KernelError::BtfParse`] when vmlinux BTF is malformed (a type id out of range, an
    /// anonymous member that contains itself, anonymous members nested deeper than the kernel
    /// allows, data cut short), and when the member is a bitfield, which has no byte offset.
    pub fn member_offset(&self, name: &str, member: &str) -> Result<Option<u32>, KernelError> {
        let Some(found) = self.vmlinux_member(name, member)? else {
            return Ok(None);
        };
        if found.bitfield_bits != 0 || found.bit_offset % 8 != 0 {
            return Err(btf_parse_error(
                "vmlinux",
                format!(
                    "member {member} of struct {name} is a bitfield ({} bits at bit offset {}), \
                     which has no byte offset",
                    found.bitfield_bits, found.bit_offset
                ),
            ));
        }
        Ok(Some(found.bit_offset / 8))
    }

    /// The value of the enumerator `name` (`"__REQ_SYNC"`, `"REQ_OP_WRITE"`) in any ENUM or
    /// ENUM64 of vmlinux BTF, or `None` when there is none: the kernel renumbers some enums
    /// between versions, so a tool reads the running kernel's values rather than a header's.
    /// ENUM values are signed unless the enum says unsigned; `i64` holds both.
    ///
    /// # Errors
    ///
    /// [`KernelError::BtfParse`] when vmlinux BTF is malformed.
    pub fn enum_value(&self, name: &str) -> Result<Option<i64>, KernelError> {
        Ok(self.enum_values(&[name])?[0])
    }

    /// [`enum_value`](Self::enum_value) of each of `names`, in one pass over vmlinux BTF.
    pub(crate) fn enum_values(&self, names: &[&str]) -> Result<Vec<Option<i64>>, KernelError> {
        RawBtf::parse(&self.vmlinux)
            .and_then(|btf| btf.enum_values(names))
            .map_err(|r| btf_parse_error("vmlinux", r))
    }

    /// The arguments of the tracepoint `name` as a `tp_btf` or raw tracepoint program sees
    /// them, by type (`["struct request *"]` for `block_rq_issue` since 5.11,
    /// `["struct request_queue *", "struct request *"]` before): the parameters of vmlinux BTF's
    /// `btf_trace_<name>` after its leading `void *`. `None` when vmlinux BTF has no such
    /// tracepoint.
    ///
    /// # Errors
    ///
    /// [`KernelError::BtfParse`] when vmlinux BTF is malformed, or `btf_trace_<name>` is not a
    /// pointer to a function prototype.
    pub fn tracepoint_args(&self, name: &str) -> Result<Option<Vec<String>>, KernelError> {
        let (btf, index) = self.vmlinux_index()?;
        let typedef = format!("btf_trace_{name}");
        let parse_error = |reason| btf_parse_error("vmlinux", reason);
        let Some(id) = btf
            .find(None, KIND_TYPEDEF, &typedef)
            .map_err(parse_error)?
        else {
            return Ok(None);
        };
        let params = btf
            .pointed_proto_params(index, id)
            .map_err(|reason| parse_error(format!("{typedef}: {reason}")))?;
        Ok(Some(params.into_iter().skip(1).collect()))
    }

    /// The index, among [`tracepoint_args`](Self::tracepoint_args), of the first argument of
    /// type `ty` (`"struct request *"`): what a `tp_btf` program passes to `ctx.arg(n)`. `None`
    /// when the tracepoint or such an argument is not there.
    ///
    /// # Errors
    ///
    /// As [`tracepoint_args`](Self::tracepoint_args).
    pub fn tracepoint_arg_index(&self, name: &str, ty: &str) -> Result<Option<usize>, KernelError> {
        let args = self.tracepoint_args(name)?.unwrap_or_default();
        Ok(args.iter().position(|arg| arg == ty))
    }

    /// Where `struct task_struct` keeps the task's state ([`TASK_STATE`](super::TASK_STATE)):
    /// what a probe reads to see a task switching out for the last time (`TASK_DEAD`). `None`
    /// when vmlinux BTF has neither.
    ///
    /// # Errors
    ///
    /// As for [`member_offset`](Self::member_offset).
    pub fn task_state_offset(&self) -> Result<Option<u32>, KernelError> {
        let path = self.resolve_field(&super::TASK_STATE)?;
        Ok(path.offsets().first().copied())
    }

    /// Whether `struct name` (or `union name`) of vmlinux BTF exists and has `member`, directly or
    /// in an anonymous struct or union member, as [`member_offset`](Self::member_offset) finds
    /// it. A bitfield member is a member.
    ///
    /// # Errors
    ///
    /// [`KernelError::BtfParse`] when vmlinux BTF is malformed, as for
    /// [`member_offset`](Self::member_offset).
    pub fn has_member(&self, name: &str, member: &str) -> Result<bool, KernelError> {
        Ok(self.vmlinux_member(name, member)?.is_some())
    }

    /// The BTF type id of the `FUNC` named `name` in the BTF of `module`: the `attach_btf_id` of
    /// an fentry program on that module function. A module's BTF is split from vmlinux's, so its
    /// ids continue after vmlinux's last type. `None` when `module` has no BTF here or no such
    /// `FUNC`.
    ///
    /// # Errors
    ///
    /// [`KernelError::BtfParse`] when vmlinux's or the module's BTF is malformed.
    pub fn module_func_id(&self, module: &str, name: &str) -> Result<Option<u32>, KernelError> {
        let Some((_, bytes)) = self.modules.iter().find(|(m, _)| m == module) else {
            return Ok(None);
        };
        let (base, index) = self.vmlinux_index()?;
        let found = RawBtf::parse(bytes)
            .and_then(|btf| btf.find(Some(&base), KIND_FUNC, name))
            .map_err(|r| btf_parse_error(module, r))?;
        Ok(found.map(|position| index.len() as u32 + position))
    }

    /// Vmlinux BTF and where each of its types starts (built once).
    fn vmlinux_index(&self) -> Result<(RawBtf<'_>, &[u32]), KernelError> {
        let btf = RawBtf::parse(&self.vmlinux).map_err(|r| btf_parse_error("vmlinux", r))?;
        let index = match self.vmlinux_types.get() {
            Some(index) => index,
            None => {
                let index = btf
                    .type_offsets()
                    .map_err(|r| btf_parse_error("vmlinux", r))?;
                self.vmlinux_types.get_or_init(|| index)
            }
        };
        Ok((btf, index))
    }

    fn vmlinux_member(&self, name: &str, member: &str) -> Result<Option<MemberBits>, KernelError> {
        let (btf, index) = self.vmlinux_index()?;
        btf.member(index, name, member)
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A little-endian BTF blob of the type section `words` and the string section `strings`
    /// (also for `RequestFlags`' tests).
    pub(crate) fn blob(words: &[u32], strings: &[u8]) -> Vec<u8> {
        let types_len = (words.len() * 4) as u32;
        let mut out = vec![0x9f, 0xeb, 1, 0];
        for w in [24, 0, types_len, types_len, strings.len() as u32]
            .iter()
            .chain(words)
        {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(strings);
        out
    }

    #[test]
    fn enum_values_signed_unsigned_and_64_bit() {
        let strings = b"\0e\0A\0B\0C\0D\0";
        let (a, b, c, d) = (3, 5, 7, 9);
        let words = [
            // A FUNC_PROTO with one parameter, to skip.
            &[0, KIND_FUNC_PROTO << 24 | 1, 0, 0, 0][..],
            // enum e { A = -1, B = 11 }, signed.
            &[1, KIND_ENUM << 24 | 2, 4, a, u32::MAX, b, 11],
            // An unsigned enum (kind_flag): C = 0xffffffff.
            &[0, 1 << 31 | KIND_ENUM << 24 | 1, 4, c, u32::MAX],
            // An ENUM64: D = 1 << 40.
            &[0, KIND_ENUM64 << 24 | 1, 8, d, 0, 1 << 8],
        ]
        .concat();
        let btf = KernelBtf::from_parts(blob(&words, strings), Vec::new()).unwrap();
        assert_eq!(btf.enum_value("A").unwrap(), Some(-1));
        assert_eq!(btf.enum_value("B").unwrap(), Some(11));
        assert_eq!(btf.enum_value("C").unwrap(), Some(0xffff_ffff));
        assert_eq!(btf.enum_value("D").unwrap(), Some(1 << 40));
        assert_eq!(
            btf.enum_value("e").unwrap(),
            None,
            "an enum's name is not an enumerator"
        );
        assert_eq!(btf.enum_value("X").unwrap(), None);
    }
}
