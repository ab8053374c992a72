fn main() -> aya_build::Result<()> {
    // `cargo xtask` names the toolchain it set up (nightly with rust-src, or Debian's rustc).
    println!("cargo:rerun-if-env-changed=HIST_EBPF_TOOLCHAIN");
    let toolchain = std::env::var("HIST_EBPF_TOOLCHAIN").unwrap_or_else(|_| "nightly".into());
    aya_build::build_ebpf(
        [
            aya_build::Package {
                name: "hist-test-probes",
                root_dir: "../probes",
                ..Default::default()
            },
            // Every eBPF object of the repository, for the verifier test.
            aya_build::Package {
                name: "cpudist-ebpf",
                root_dir: "../../examples/cpudist/cpudist-ebpf",
                ..Default::default()
            },
        ],
        aya_build::Toolchain::Custom(&toolchain),
    )
}
