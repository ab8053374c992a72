//! `hist_attach::kernel`'s parsers on fixed input: capability masks, kallsyms lines with
//! compiler and module suffixes, and split BTF built type by type. No kernel needed, any user.
//! What the running kernel says is checked in `tests/live/tests/attach_kernel.rs`.

use common::{
    KIND_DATASEC, KIND_ENUM64, KIND_FUNC, KIND_FUNC_PROTO, KIND_INT, KIND_STRUCT, btf_blob, info,
};
use hist_attach::kernel::{
    self, CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, KernelBtf, KernelError, KernelSymbol,
};

mod common;

fn assert_one_line(error: &KernelError) -> String {
    let message = error.to_string();
    assert!(!message.contains('\n'), "not one line: {message:?}");
    assert!(
        message.ends_with(')'),
        "does not end with what to do: {message:?}"
    );
    message
}

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
    // Root with CAP_SYS_RESOURCE (24) dropped.
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
        assert_eq!(btf.module_func_id("mymod", not_a_func).unwrap(), None);
    }
    // Split ids continue after the base's 4 types: ENUM64 5, DATASEC 6, mod_fn 7, shared 8.
    assert_eq!(btf.module_func_id("mymod", "mod_fn").unwrap(), Some(7));
    assert_eq!(btf.module_func_id("mymod", "shared").unwrap(), Some(8));
    assert_eq!(btf.module_func_id("mymod", "base_fn").unwrap(), None);
    assert_eq!(btf.module_func_id("othermod", "mod_fn").unwrap(), None);

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
