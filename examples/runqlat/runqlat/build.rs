//! Builds runqlat's eBPF object, once: its starts are kept by thread in a hash (the task
//! woken is not the current one, so task storage of the current task does not serve).
fn main() -> hist_build::Result<()> {
    hist_build::ebpf(&["../runqlat-ebpf"])
}
