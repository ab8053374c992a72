fn main() -> hist_build::Result<()> {
    hist_build::ebpf_variants(&["../nfsdist-ebpf"], &["task-storage"])
}
