fn main() -> hist_build::Result<()> {
    // Every eBPF object of the repository, for the verifier test.
    hist_build::ebpf(&[
        "../hist-test-probes",
        "../../examples/cpudist/cpudist-ebpf",
        "../../examples/nfsdist/nfsdist-ebpf",
        "../../examples/xfsreclaim/xfsreclaim-ebpf",
    ])
}
