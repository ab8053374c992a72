//! Builds runqlat's eBPF object twice: with the waits kept in the tasks' own storage where
//! `tp_btf` hands the probe a task, and without, for kernels that lack it.
fn main() -> hist_build::Result<()> {
    hist_build::ebpf_variants(&["../runqlat-ebpf"], &["task-storage"])
}
