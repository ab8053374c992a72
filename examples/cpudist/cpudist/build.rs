fn main() -> hist_build::Result<()> {
    hist_build::ebpf_variants(&["../cpudist-ebpf"], &["task-storage"])
}
