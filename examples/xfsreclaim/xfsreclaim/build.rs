fn main() -> hist_build::Result<()> {
    hist_build::ebpf_variants(&["../xfsreclaim-ebpf"], &["task-storage"])
}
