//! Builds biolatency's eBPF object: once, as its starts are kept by request, not in the task.
fn main() -> hist_build::Result<()> {
    hist_build::ebpf(&["../biolatency-ebpf"])
}
