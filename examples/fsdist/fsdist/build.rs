//! Builds fsdist's eBPF object twice: with the start times in task storage, and without, for
//! kernels that lack it.
fn main() -> hist_build::Result<()> {
    hist_build::ebpf_variants(&["../fsdist-ebpf"], &["task-storage"])
}
