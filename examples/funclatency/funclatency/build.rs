//! Builds funclatency's eBPF object: once, as its starts are kept by function and thread.
fn main() -> hist_build::Result<()> {
    hist_build::ebpf(&["../funclatency-ebpf"])
}
