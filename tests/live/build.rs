//! Builds the eBPF objects the live tests load.
fn main() -> hist_build::Result<()> {
    // Every eBPF object of the repository, for the verifier test: the tools' built both ways.
    hist_build::ebpf(&["../hist-test-probes"])?;
    hist_build::ebpf_variants(
        &[
            "../../examples/cpudist/cpudist-ebpf",
            "../../examples/fsdist/fsdist-ebpf",
            "../../examples/xfsreclaim/xfsreclaim-ebpf",
        ],
        &["task-storage"],
    )
}
