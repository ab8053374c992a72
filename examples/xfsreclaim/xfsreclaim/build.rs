fn main() -> hist_build::Result<()> {
    hist_build::ebpf(&["../xfsreclaim-ebpf"])
}
