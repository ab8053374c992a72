//! `KernelBtf::member_offset` and `KernelBtf::has_member`: struct member offsets from BTF, on
//! synthetic blobs (plain, nested in anonymous unions, bitfields, and malformed input that must be
//! an error, not a panic or a hang), and on the running kernel's vmlinux BTF, checked against
//! `bpftool btf dump ... format raw` (Debian package `bpftool`).

use std::{
    collections::{HashMap, HashSet},
    io,
    process::Command,
    sync::{OnceLock, mpsc},
    thread,
    time::Duration,
};

use common::{
    KIND_CONST, KIND_FWD, KIND_INT, KIND_STRUCT, KIND_TYPEDEF, KIND_UNION, btf_blob, info,
};
use hist_attach::kernel::{KernelBtf, KernelError};

mod common;

fn assert_one_line(error: &KernelError) -> String {
    let message = error.to_string();
    assert!(!message.contains('\n'), "not one line: {message:?}");
    message
}

// ---------------------------------------------------------------- synthetic BTF

/// A standalone BTF blob built type by type; the `n`-th type added has type id `n`.
struct Blob {
    words: Vec<u32>,
    strings: Vec<u8>,
    count: u32,
}

impl Blob {
    fn new() -> Blob {
        Blob {
            words: Vec::new(),
            strings: vec![0],
            count: 0,
        }
    }

    /// The id the next type added gets.
    fn next_id(&self) -> u32 {
        self.count + 1
    }

    fn name(&mut self, name: &str) -> u32 {
        if name.is_empty() {
            return 0;
        }
        let offset = self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        offset
    }

    /// A `btf_type` and its kind-specific words; its id.
    fn add(&mut self, name: &str, info: u32, size_or_type: u32, extra: &[u32]) -> u32 {
        let name_off = self.name(name);
        self.words
            .extend_from_slice(&[name_off, info, size_or_type]);
        self.words.extend_from_slice(extra);
        self.count += 1;
        self.count
    }

    /// An INT of `size` bytes and `bits` bits at bit offset `offset` (a plain one has
    /// `bits == 8 * size`, `offset == 0`).
    fn int(&mut self, name: &str, size: u32, bits: u32, offset: u32) -> u32 {
        self.add(name, info(KIND_INT, 0), size, &[offset << 16 | bits])
    }

    /// A STRUCT or UNION with members `(name, type id, offset word)`.
    fn composite(
        &mut self,
        kind: u32,
        kind_flag: bool,
        name: &str,
        size: u32,
        members: &[(&str, u32, u32)],
    ) -> u32 {
        let mut extra = Vec::new();
        for &(member, ty, offset) in members {
            extra.extend_from_slice(&[self.name(member), ty, offset]);
        }
        let flag = if kind_flag { 1 << 31 } else { 0 };
        self.add(name, flag | info(kind, members.len() as u32), size, &extra)
    }

    fn strukt(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        self.composite(KIND_STRUCT, false, name, size, members)
    }

    fn bytes(&self, big: bool) -> Vec<u8> {
        btf_blob(&self.words, &self.strings, big)
    }

    fn btf(&self, big: bool) -> KernelBtf {
        KernelBtf::from_parts(self.bytes(big), vec![]).unwrap()
    }
}

/// A `kind_flag` member offset word: a bitfield of `bits` bits (0: not a bitfield) at bit
/// `offset`.
const fn flagged(bits: u32, offset: u32) -> u32 {
    bits << 24 | offset
}

/// Structs with plain members, members in anonymous unions and structs (some through a CONST and
/// a TYPEDEF), bitfields old and new style, and several types of one name.
fn members_blob() -> Blob {
    let mut b = Blob::new();
    let int = b.int("int", 4, 32, 0);
    let long = b.int("long", 8, 64, 0);
    // struct { int a; int b; }
    let anon_struct = b.strukt("", 8, &[("a", int, 0), ("b", int, 32)]);
    // union { long u_long; struct { int a; int b; }; }
    let anon_union = b.composite(
        KIND_UNION,
        false,
        "",
        8,
        &[("u_long", long, 0), ("", anon_struct, 0)],
    );
    // typedef struct { int pad; int deep; } deep_t; and a const deep_t.
    let deep = b.strukt("", 8, &[("pad", int, 0), ("deep", int, 32)]);
    let deep_t = b.add("deep_t", info(KIND_TYPEDEF, 0), deep, &[]);
    let const_deep_t = b.add("", info(KIND_CONST, 0), deep_t, &[]);
    b.strukt(
        "outer",
        48,
        &[
            ("first", int, 0),
            ("second", long, 64),
            ("", anon_union, 128),
            ("", int, 192), // an anonymous member that is no struct: skipped
            ("", const_deep_t, 256),
            ("last", int, 320),
            ("void_member", 0, 384),
        ],
    );
    // A kind_flag struct: bitfields, one of them byte-aligned, then a plain member.
    b.composite(
        KIND_STRUCT,
        true,
        "flags",
        8,
        &[
            ("flag_a", int, flagged(1, 0)),
            ("flag_b", int, flagged(3, 1)),
            ("aligned_bf", int, flagged(4, 8)),
            ("after", int, flagged(0, 32)),
        ],
    );
    // Without kind_flag: a bitfield is an INT narrower than its size, or a bit offset that is no
    // multiple of 8.
    let int3 = b.int("int", 4, 3, 0);
    let uchar = b.int("unsigned char", 1, 8, 0);
    b.strukt(
        "old_style",
        12,
        &[
            ("old_bf", int3, 0),
            ("odd", int, 3),
            ("fine", int, 32),
            ("u8_like", uchar, 64),
        ],
    );
    // A union looked up by name.
    b.composite(KIND_UNION, false, "onion", 8, &[("skin", long, 0)]);
    // Several types named `dup`: a declaration, an empty definition, the one that counts, a later one.
    b.add("dup", info(KIND_FWD, 0), 0, &[]);
    b.strukt("dup", 0, &[]);
    b.strukt("dup", 4, &[("x", int, 0)]);
    b.strukt("dup", 4, &[("y", int, 0)]);
    b
}

#[test]
fn member_offsets_on_synthetic_btf() {
    for big in [false, true] {
        let btf = members_blob().btf(big);
        let offset = |s: &str, m: &str| btf.member_offset(s, m).unwrap();
        // Plain members.
        assert_eq!(offset("outer", "first"), Some(0));
        assert_eq!(offset("outer", "second"), Some(8));
        assert_eq!(offset("outer", "last"), Some(40));
        assert_eq!(offset("outer", "void_member"), Some(48));
        // In an anonymous union, and in an anonymous struct in it.
        assert_eq!(offset("outer", "u_long"), Some(16));
        assert_eq!(offset("outer", "a"), Some(16));
        assert_eq!(offset("outer", "b"), Some(20));
        // Through a CONST and a TYPEDEF to an anonymous struct.
        assert_eq!(offset("outer", "deep"), Some(36));
        // A union by name.
        assert_eq!(offset("onion", "skin"), Some(0));
        // kind_flag: the plain member after the bitfields.
        assert_eq!(offset("flags", "after"), Some(4));
        // No kind_flag, plain members.
        assert_eq!(offset("old_style", "fine"), Some(4));
        assert_eq!(offset("old_style", "u8_like"), Some(8));
        // The first non-empty STRUCT named `dup`.
        assert_eq!(offset("dup", "x"), Some(0));
        assert_eq!(offset("dup", "y"), None);

        // Missing members, including names that are not members' names.
        for missing in [
            "nope", "firs", "first_", "pad_", "", "outer", "int", "deep_t",
        ] {
            assert_eq!(offset("outer", missing), None, "{missing}");
            assert!(!btf.has_member("outer", missing).unwrap(), "{missing}");
        }
        // Missing structs: unknown names, an INT's name, a typedef's name, the empty name of the
        // anonymous ones.
        for missing in ["no_such_struct", "int", "deep_t", "", "oute"] {
            assert_eq!(offset(missing, "first"), None, "{missing}");
            assert_eq!(offset(missing, "a"), None, "{missing}");
            assert!(!btf.has_member(missing, "first").unwrap(), "{missing}");
        }

        for (s, m) in [
            ("outer", "first"),
            ("outer", "b"),
            ("outer", "deep"),
            ("dup", "x"),
        ] {
            assert!(btf.has_member(s, m).unwrap(), "{s}.{m}");
        }
        // Bitfields are members, but have no byte offset.
        for bitfield in ["flag_a", "flag_b", "aligned_bf"] {
            assert!(btf.has_member("flags", bitfield).unwrap());
            let error = btf.member_offset("flags", bitfield).unwrap_err();
            let message = assert_one_line(&error);
            assert!(matches!(error, KernelError::BtfParse { .. }), "{message}");
            assert!(message.contains("bitfield"), "{message}");
            assert!(message.contains(bitfield), "{message}");
        }
        for bitfield in ["old_bf", "odd"] {
            assert!(btf.has_member("old_style", bitfield).unwrap());
            let message = assert_one_line(&btf.member_offset("old_style", bitfield).unwrap_err());
            assert!(message.contains("bitfield"), "{message}");
        }
    }
}

/// `struct name { int before; <anonymous member of type `anon`>; int after; }` after an INT.
fn one_anonymous_member(anon: impl FnOnce(&mut Blob) -> u32) -> Blob {
    let mut b = Blob::new();
    let int = b.int("int", 4, 32, 0);
    let anon = anon(&mut b);
    b.strukt(
        "s",
        12,
        &[("before", int, 0), ("", anon, 32), ("after", int, 64)],
    );
    b
}

/// The lookup of `s.after` on `blob`, on a thread, so that a hang fails the test.
fn after_member(blob: &Blob) -> Result<Option<u32>, String> {
    let btf = blob.btf(false);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let result = btf.member_offset("s", "after").map_err(|e| e.to_string());
        let _ = tx.send(result);
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the member lookup hangs")
}

#[test]
fn malformed_btf_is_an_error_not_a_panic_or_a_hang() {
    let cases: Vec<(&str, Blob, &str)> = vec![
        (
            "type id out of range",
            one_anonymous_member(|_| 99),
            "type id 99 is out of range",
        ),
        (
            "a struct that is its own anonymous member",
            one_anonymous_member(|b| {
                let id = b.next_id();
                b.strukt("", 4, &[("", id, 0)])
            }),
            "contains itself",
        ),
        (
            "two anonymous structs in each other, through a typedef",
            one_anonymous_member(|b| {
                let (first, typedef) = (b.next_id(), b.next_id() + 1);
                b.strukt("", 4, &[("", typedef, 0)]);
                b.add("t", info(KIND_TYPEDEF, 0), first + 2, &[]);
                b.strukt("", 4, &[("", first, 0)])
            }),
            "contains itself",
        ),
        (
            "a typedef of itself",
            one_anonymous_member(|b| {
                let id = b.next_id();
                b.add("loop_t", info(KIND_TYPEDEF, 0), id, &[])
            }),
            "typedefs and qualifiers",
        ),
        (
            "anonymous structs 40 deep",
            one_anonymous_member(|b| {
                let int = 1;
                let mut inner = b.strukt("", 4, &[("x", int, 0)]);
                for _ in 0..40 {
                    inner = b.strukt("", 4, &[("", inner, 0)]);
                }
                inner
            }),
            "levels deep",
        ),
    ];
    for (what, blob, expected) in cases {
        let message = after_member(&blob).unwrap_err();
        assert!(!message.contains('\n'), "{what}: {message}");
        assert!(message.contains(expected), "{what}: {message}");
        assert!(message.contains("struct s"), "{what}: {message}");
        // A member before the bad one is found without going there.
        let btf = blob.btf(false);
        assert_eq!(btf.member_offset("s", "before").unwrap(), Some(0), "{what}");
    }

    // Not malformed: 30 levels of anonymous structs, each holding two of the next (2^30 paths to
    // the innermost), are searched once each.
    let wide = one_anonymous_member(|b| {
        let mut inner = b.strukt("", 4, &[("x", 1, 0)]);
        for _ in 0..30 {
            inner = b.composite(KIND_UNION, false, "", 4, &[("", inner, 0), ("", inner, 0)]);
        }
        inner
    });
    assert_eq!(after_member(&wide).unwrap(), Some(8));
    assert_eq!(wide.btf(false).member_offset("s", "x").unwrap(), Some(4));
    assert_eq!(wide.btf(false).member_offset("s", "y").unwrap(), None);

    // A struct whose members run past the type section.
    let mut b = Blob::new();
    let int = b.int("int", 4, 32, 0);
    b.strukt("cut", 8, &[("a", int, 0), ("b", int, 32)]);
    b.words.truncate(b.words.len() - 3);
    let error = b.btf(false).member_offset("cut", "a").unwrap_err();
    let message = assert_one_line(&error);
    assert!(matches!(error, KernelError::BtfParse { .. }), "{message}");
    assert!(message.contains("cut short"), "{message}");

    // A truncated file.
    let mut bytes = members_blob().bytes(false);
    bytes.truncate(bytes.len() - 40);
    assert!(KernelBtf::from_parts(bytes, vec![]).is_err());
    // Every truncation of the type section (the header shrunk to match) is an error or an
    // answer, never a panic.
    let full = members_blob();
    for cut in 0..full.words.len() {
        let mut b = members_blob();
        b.words.truncate(cut);
        let btf = b.btf(false);
        for (s, m) in [
            ("outer", "deep"),
            ("flags", "after"),
            ("dup", "x"),
            ("no", "x"),
        ] {
            let _ = btf.member_offset(s, m);
            let _ = btf.has_member(s, m);
        }
    }
}

// ---------------------------------------------------------------- the running kernel

/// One type of `bpftool btf dump ... format raw`: `[id] KIND 'name' size=... type_id=...`, and
/// for a STRUCT or UNION its `'member' type_id=... bits_offset=... [bitfield_size=...]` lines.
#[derive(Debug, Default)]
struct DumpedType {
    kind: String,
    name: String,
    size: Option<u64>,
    type_id: Option<u32>,
    members: Vec<DumpedMember>,
}

#[derive(Debug)]
struct DumpedMember {
    name: String,
    type_id: u32,
    bits_offset: u64,
    bitfield_size: u64,
}

/// The running kernel's vmlinux BTF as bpftool reads it: types by id, and the id of the first
/// STRUCT or UNION with a non-zero size of each name.
struct Dump {
    types: HashMap<u32, DumpedType>,
    structs: HashMap<String, u32>,
}

fn bpftool_dump() -> &'static Dump {
    static DUMP: OnceLock<Dump> = OnceLock::new();
    DUMP.get_or_init(|| {
        let args = [
            "btf",
            "dump",
            "file",
            "/sys/kernel/btf/vmlinux",
            "format",
            "raw",
        ];
        // As root, or as a user whose PATH lacks /usr/sbin.
        let output = ["bpftool", "/usr/sbin/bpftool"]
            .iter()
            .map(|tool| Command::new(tool).args(args).output())
            .find(|result| !matches!(result, Err(e) if e.kind() == io::ErrorKind::NotFound));
        let Some(output) = output else {
            panic!(
                "bpftool is not installed: apt-get install bpftool (this test checks against it)"
            );
        };
        let output = output.expect("run bpftool");
        assert!(
            output.status.success(),
            "bpftool btf dump failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        parse_raw_dump(&String::from_utf8(output.stdout).unwrap())
    })
}

/// `(before, 'name', after)` of a dump line: names are quoted and may hold spaces
/// (`'long unsigned int'`).
fn split_name(line: &str) -> Option<(&str, &str, &str)> {
    let (before, rest) = line.split_once('\'')?;
    let (name, after) = rest.split_once('\'')?;
    Some((before, name, after))
}

/// The number after `key=` among `words` (`type_id=1,` in a VAR line ends with a comma).
fn field(words: &str, key: &str) -> Option<u64> {
    words.split_whitespace().find_map(|w| {
        let value = w.strip_prefix(key)?.strip_prefix('=')?;
        Some(value.trim_end_matches(',').parse().unwrap())
    })
}

fn parse_raw_dump(text: &str) -> Dump {
    let mut types: HashMap<u32, DumpedType> = HashMap::new();
    let mut structs = HashMap::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix('[') {
            let (before, name, after) = split_name(rest).unwrap();
            let (id, kind) = before.split_once("] ").unwrap();
            let id: u32 = id.parse().unwrap();
            let ty = DumpedType {
                kind: kind.trim().to_owned(),
                name: name.to_owned(),
                size: field(after, "size"),
                type_id: field(after, "type_id").map(|v| v as u32),
                members: Vec::new(),
            };
            if matches!(ty.kind.as_str(), "STRUCT" | "UNION")
                && ty.name != "(anon)"
                && ty.size != Some(0)
            {
                structs.entry(ty.name.clone()).or_insert(id);
            }
            types.insert(id, ty);
            current = Some(id);
        } else if let Some(member) = line.strip_prefix("\t'") {
            let ty = types.get_mut(&current.unwrap()).unwrap();
            if matches!(ty.kind.as_str(), "STRUCT" | "UNION") {
                let (name, after) = member.split_once('\'').unwrap();
                ty.members.push(DumpedMember {
                    name: name.to_owned(),
                    type_id: field(after, "type_id").unwrap() as u32,
                    bits_offset: field(after, "bits_offset").unwrap(),
                    bitfield_size: field(after, "bitfield_size").unwrap_or(0),
                });
            }
        }
    }
    assert!(types.len() > 10_000, "bpftool dumped {} types", types.len());
    Dump { types, structs }
}

impl Dump {
    /// The STRUCT or UNION `id` names, through typedefs and qualifiers.
    fn composite(&self, mut id: u32) -> Option<&DumpedType> {
        for _ in 0..32 {
            let ty = self.types.get(&id)?;
            match ty.kind.as_str() {
                "STRUCT" | "UNION" => return Some(ty),
                "TYPEDEF" | "CONST" | "VOLATILE" | "RESTRICT" | "TYPE_TAG" => id = ty.type_id?,
                _ => return None,
            }
        }
        None
    }

    /// Every member of `ty`, with those of its anonymous struct and union members:
    /// `(name, bit offset, bitfield size, found through an anonymous member)`.
    fn flat_members(
        &self,
        ty: &DumpedType,
        base: u64,
        nested: bool,
        out: &mut Vec<(String, u64, u64, bool)>,
    ) {
        for m in &ty.members {
            if m.name == "(anon)" {
                if let Some(inner) = self.composite(m.type_id) {
                    self.flat_members(inner, base + m.bits_offset, true, out);
                }
            } else {
                out.push((
                    m.name.clone(),
                    base + m.bits_offset,
                    m.bitfield_size,
                    nested,
                ));
            }
        }
    }

    /// `struct name`'s members as [`flat_members`](Self::flat_members) lists them.
    fn members_of(&self, name: &str) -> Vec<(String, u64, u64, bool)> {
        let mut out = Vec::new();
        if let Some(id) = self.structs.get(name) {
            self.flat_members(&self.types[id], 0, false, &mut out);
        }
        out
    }

    /// bpftool's byte offset of `name.member`: `Some(Ok(bytes))`, `Some(Err(()))` for a
    /// bitfield, `None` when there is no such member; and whether it is in an anonymous member.
    fn offset(&self, name: &str, member: &str) -> (Option<Result<u32, ()>>, bool) {
        match self.members_of(name).into_iter().find(|m| m.0 == member) {
            None => (None, false),
            Some((_, bits, bitfield, nested)) => {
                let bytes = if bitfield == 0 && bits % 8 == 0 {
                    Ok((bits / 8) as u32)
                } else {
                    Err(())
                };
                (Some(bytes), nested)
            }
        }
    }
}

/// `btf.member_offset(name, member)` in the shape of [`Dump::offset`].
fn ours(btf: &KernelBtf, name: &str, member: &str) -> Option<Result<u32, ()>> {
    match btf.member_offset(name, member) {
        Ok(Some(bytes)) => Some(Ok(bytes)),
        Ok(None) => None,
        Err(error) => {
            let message = error.to_string();
            assert!(message.contains("bitfield"), "{name}.{member}: {message}");
            Some(Err(()))
        }
    }
}

#[test]
fn live_member_offsets_agree_with_bpftool() {
    let dump = bpftool_dump();
    let btf = KernelBtf::load().unwrap();
    // (struct, member, found through an anonymous member in bpftool's dump)
    let fields = [
        // What an XFS/superblock reclaim probe reads.
        ("super_block", "s_type", false),
        ("super_block", "s_shrink", false),
        ("super_block", "s_fs_info", false),
        ("file_system_type", "name", false),
        ("shrinker", "private_data", false),
        ("shrinker", "scan_objects", false),
        ("shrinker", "count_objects", false),
        ("task_struct", "pid", false),
        ("task_struct", "tgid", false),
        // struct page nests nearly everything in anonymous unions of anonymous structs.
        ("page", "mapping", true),
        ("page", "private", true),
        ("page", "pp", true),
        ("page", "compound_head", true),
        ("page", "_mapcount", true),
        ("page", "flags", false),
    ];
    for (name, member, nested) in fields {
        let (theirs, their_nested) = dump.offset(name, member);
        let theirs = theirs.unwrap_or_else(|| panic!("bpftool has no {name}.{member}"));
        assert_eq!(
            their_nested, nested,
            "{name}.{member} nested in an anonymous member"
        );
        assert_eq!(ours(&btf, name, member), Some(theirs), "{name}.{member}");
        assert!(btf.has_member(name, member).unwrap(), "{name}.{member}");
    }
    // Where cpudist reads a dying task's state: `__state` since 5.14, `state` before.
    let (state, _) = dump.offset("task_struct", "__state");
    let state = state.or_else(|| dump.offset("task_struct", "state").0);
    assert_eq!(btf.task_state_offset().unwrap(), state.map(|o| o.unwrap()));
    assert!(state.is_some(), "bpftool has a task state");
    // A live bitfield: a member, with no byte offset (bpftool agrees it is a bitfield).
    assert_eq!(dump.offset("task_struct", "in_iowait").0, Some(Err(())));
    assert!(btf.has_member("task_struct", "in_iowait").unwrap());
    assert_eq!(ours(&btf, "task_struct", "in_iowait"), Some(Err(())));
    // Absent members and structs.
    for (name, member) in [
        ("shrinker", "no_such_member"),
        ("no_such_struct_xyz", "name"),
        ("task_struct", "(anon)"),
        ("task_struct", ""),
    ] {
        assert_eq!(dump.offset(name, member).0, None, "{name}.{member}");
        assert_eq!(
            btf.member_offset(name, member).unwrap(),
            None,
            "{name}.{member}"
        );
        assert!(!btf.has_member(name, member).unwrap(), "{name}.{member}");
    }
    // super_block.s_shrink is a pointer to struct shrinker on this kernel (it was an embedded
    // struct shrinker before 6.7).
    let s_shrink = dump.types[&dump.structs["super_block"]]
        .members
        .iter()
        .find(|m| m.name == "s_shrink")
        .unwrap();
    let ptr = &dump.types[&s_shrink.type_id];
    assert_eq!(ptr.kind, "PTR");
    assert_eq!(dump.types[&ptr.type_id.unwrap()].name, "shrinker");
}

/// Every member, nested ones included, of the first 40 named structs (in id order) that have an
/// anonymous member, and of a few named ones, agrees with bpftool.
#[test]
fn live_members_of_structs_with_anonymous_members_agree_with_bpftool() {
    let dump = bpftool_dump();
    let btf = KernelBtf::load().unwrap();
    let mut ids: Vec<u32> = dump
        .structs
        .values()
        .copied()
        .filter(|id| dump.types[id].members.iter().any(|m| m.name == "(anon)"))
        .collect();
    ids.sort();
    ids.truncate(40);
    let mut names: Vec<&str> = ids.iter().map(|id| dump.types[id].name.as_str()).collect();
    names.extend([
        "task_struct",
        "super_block",
        "shrinker",
        "file_system_type",
        "page",
        "sk_buff",
    ]);
    let mut seen = HashSet::new();
    let (mut checked, mut nested_checked, mut bitfields) = (0, 0, 0);
    for name in names {
        for (member, _, _, nested) in dump.members_of(name) {
            // C forbids a name twice among a struct's (flattened) members; the first one counts.
            if !seen.insert((name, member.clone())) {
                continue;
            }
            let (theirs, _) = dump.offset(name, &member);
            assert_eq!(ours(&btf, name, &member), theirs, "{name}.{member}");
            checked += 1;
            nested_checked += usize::from(nested);
            bitfields += usize::from(theirs == Some(Err(())));
        }
    }
    assert!(checked > 500, "{checked} members checked");
    assert!(
        nested_checked > 100,
        "{nested_checked} nested members checked"
    );
    assert!(bitfields > 10, "{bitfields} bitfields checked");
}
