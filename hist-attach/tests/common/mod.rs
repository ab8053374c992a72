//! Helpers shared by the integration tests: an encoder of synthetic BTF blobs.

#![allow(dead_code)]

// BTF kinds (`BTF_KIND_*` in the kernel's `include/uapi/linux/btf.h`).
pub(crate) const KIND_INT: u32 = 1;
pub(crate) const KIND_STRUCT: u32 = 4;
pub(crate) const KIND_UNION: u32 = 5;
pub(crate) const KIND_FWD: u32 = 7;
pub(crate) const KIND_TYPEDEF: u32 = 8;
pub(crate) const KIND_CONST: u32 = 10;
pub(crate) const KIND_FUNC: u32 = 12;
pub(crate) const KIND_FUNC_PROTO: u32 = 13;
pub(crate) const KIND_DATASEC: u32 = 15;
pub(crate) const KIND_ENUM64: u32 = 19;

/// A `btf_type`'s `info` word: `kind` and `vlen`, `kind_flag` clear.
pub(crate) const fn info(kind: u32, vlen: u32) -> u32 {
    kind << 24 | vlen
}

/// A BTF blob in little (`big == false`) or big endian: the 24-byte header (magic `0xeb9f`,
/// version 1, flags 0, `hdr_len` 24, the type section right after it and the string section
/// right after that), the type section `words`, then the string section `strings`.
pub(crate) fn btf_blob(words: &[u32], strings: &[u8], big: bool) -> Vec<u8> {
    let u32b = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let magic = 0xeb9fu16;
    let types_len = (words.len() * 4) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(&if big {
        magic.to_be_bytes()
    } else {
        magic.to_le_bytes()
    });
    out.extend_from_slice(&[1, 0]);
    for v in [24, 0, types_len, types_len, strings.len() as u32] {
        out.extend_from_slice(&u32b(v));
    }
    for &w in words {
        out.extend_from_slice(&u32b(w));
    }
    out.extend_from_slice(strings);
    out
}
