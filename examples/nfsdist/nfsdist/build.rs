//! Builds fsdist's eBPF object, which nfsdist runs, twice: with the start times in task
//! storage, and without, for kernels that lack it.
fn main() -> hist_build::Result<()> {
    hist_build::ebpf_variants(&["../../fsdist/fsdist-ebpf"], &["task-storage"])
}
