//! Functions chosen at run time (funclatency's `vfs_*`, `c:malloc`): one program, loaded once
//! per function, each copy told which function it is on by where it reads its index.
//!
//! On Linux 5.10 a kprobe, fentry or uprobe program cannot ask which function it is attached
//! to (`bpf_get_func_ip` and attach cookies came in 5.15). So the eBPF side keeps a table
//! [`FUNC_INDICES`] (`[0, 1, 2, …]`) in a section of its own, [`FUNC_INDEX_SECTION`], which aya
//! makes a frozen read-only map; the program reads element 0 (`hist_ebpf::func::func_index`),
//! and the user side loads copy `i` of the program with that read moved to element `i`
//! (`hist_attach::kernel::ProgramCopies`). One object, no rebuild, every hook and kernel.

use crate::{StartDesc, StartDomain, TaskKey};

/// How many functions one tool can trace: bcc's bound on probes.
pub const MAX_FUNCS: usize = 1000;

/// The section of the index table, a map of its own in the loaded object.
pub const FUNC_INDEX_SECTION: &str = ".rodata.hist_func";

/// The table's symbol.
pub const FUNC_INDEX_SYMBOL: &str = "HIST_FUNC";

/// `[0, 1, 2, …, MAX_FUNCS - 1]`: element `i` is what copy `i` of a program reads.
pub const FUNC_INDICES: [u32; MAX_FUNCS] = {
    let mut table = [0; MAX_FUNCS];
    let mut i = 0;
    while i < MAX_FUNCS {
        table[i] = i as u32;
        i += 1;
    }
    table
};

/// When each thread entered each traced function: keyed `{function index, thread id}`, so a
/// function called inside another traced one is timed too, sized for the kernel's threads.
pub struct FuncStart;

impl StartDesc for FuncStart {
    type Key = TaskKey<u32>;
    const NAME: &'static str = "FUNC_START";
    const DOMAIN: StartDomain = StartDomain::Threads;
}
