fn main() -> aya_build::Result<()> {
    // `cargo xtask` names the toolchain it set up (nightly with rust-src, or Debian's rustc).
    println!("cargo:rerun-if-env-changed=HIST_EBPF_TOOLCHAIN");
    for dir in ["../../hist-core", "../../hist-ebpf", "../../examples"] {
        println!("cargo:rerun-if-changed={dir}");
    }
    let toolchain = std::env::var("HIST_EBPF_TOOLCHAIN").unwrap_or_else(|_| "nightly".into());
    // Every eBPF object of the repository, for the verifier test.
    let packages = [
        ("hist-test-probes", "../probes"),
        ("cpudist-ebpf", "../../examples/cpudist/cpudist-ebpf"),
        ("nfsdist-ebpf", "../../examples/nfsdist/nfsdist-ebpf"),
        (
            "xfsreclaim-ebpf",
            "../../examples/xfsreclaim/xfsreclaim-ebpf",
        ),
    ]
    .map(|(name, root_dir)| aya_build::Package {
        name,
        root_dir,
        ..Default::default()
    });
    aya_build::build_ebpf(packages, aya_build::Toolchain::Custom(&toolchain))
}
