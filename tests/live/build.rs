fn main() -> hist_build::Result<()> {
    // Every eBPF object of the repository, for the verifier test.
    hist_build::ebpf(&[
        "../hist-test-probes",
        "../../examples/nfsdist/nfsdist-ebpf",
        "../../examples/xfsreclaim/xfsreclaim-ebpf",
    ])?;
    hist_build::ebpf_variants(&["../../examples/cpudist/cpudist-ebpf"], &["task-storage"])
}
