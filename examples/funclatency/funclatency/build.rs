//! Builds funclatency's eBPF object twice: with the first functions' start times in task
//! storage, and without, for kernels that lack it.
fn main() -> hist_build::Result<()> {
    hist_build::ebpf_variants(&["../funclatency-ebpf"], &["task-storage"])
}
