//! No panic from any input to the kernel readers: kallsyms and BTF fed truncated, corrupt and
//! random bytes. What comes back is a value or an error, never a panic.

use std::io::Cursor;

use hist_attach::kernel::{KernelBtf, KernelSymbol, kallsyms_lookup_in, split_compiler_suffix};
use proptest::prelude::*;

proptest! {
    #[test]
    fn any_kallsyms_text_is_read_or_refused(text in prop::collection::vec(any::<u8>(), 0..2000)) {
        let _ = kallsyms_lookup_in(Cursor::new(&text), "vfs_read");
        let text = String::from_utf8_lossy(&text);
        for line in text.lines() {
            if let Some(symbol) = KernelSymbol::parse_line(line) {
                let _ = (symbol.base_name(), symbol.is_cold());
            }
            let _ = split_compiler_suffix(line);
        }
    }

    #[test]
    fn random_btf_is_refused_or_read(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        query_btf(bytes);
    }
}

/// Every question the tools ask of BTF, on `vmlinux` bytes: an error or an answer.
fn query_btf(vmlinux: Vec<u8>) {
    let Ok(btf) = KernelBtf::from_parts(vmlinux.clone(), vec![("nfs".into(), vmlinux)]) else {
        return;
    };
    let _ = btf.func_owner("nfs_file_read");
    let _ = btf.has_func("vfs_read");
    let _ = btf.member_offset("task_struct", "__state");
    let _ = btf.has_member("super_block", "s_shrink");
    let _ = btf.typedef_owner("u64");
    let _ = btf.vmlinux_typedef_id("u64");
    let _ = btf.module_func_id("nfs", "nfs_file_read");
}

/// The machine's own vmlinux BTF, cut short at many lengths and with bytes flipped all over:
/// parsing and querying it never panics.
#[test]
fn truncated_and_corrupt_vmlinux_btf_is_refused_or_read() {
    let Ok(real) = std::fs::read("/sys/kernel/btf/vmlinux") else {
        // Without BTF there is nothing to corrupt; the random cases above still ran.
        return;
    };
    // Cut: inside the header, the type section and the string section.
    let mut cuts: Vec<usize> = (0..64).collect();
    cuts.extend((1..64).map(|i| real.len() * i / 64));
    for cut in cuts {
        query_btf(real[..cut].to_vec());
    }
    // Each byte of the header flipped, then bytes spread over the types and strings.
    let spread = (1..48).map(|i| (i * 104_729 + i * i * 7_919) % real.len());
    for at in (0..24).chain(spread) {
        let mut corrupt = real.clone();
        corrupt[at] ^= 0xa5;
        query_btf(corrupt);
    }
}
