fn main() -> aya_build::Result<()> {
    // `cargo xtask` names the toolchain it set up (nightly with rust-src, or Debian's rustc).
    println!("cargo:rerun-if-env-changed=HIST_EBPF_TOOLCHAIN");
    for dir in [
        "../xfsreclaim-common",
        "../../../hist-core",
        "../../../hist-ebpf",
    ] {
        println!("cargo:rerun-if-changed={dir}");
    }
    let toolchain = std::env::var("HIST_EBPF_TOOLCHAIN").unwrap_or_else(|_| "nightly".into());
    let package = aya_build::Package {
        name: "xfsreclaim-ebpf",
        root_dir: "../xfsreclaim-ebpf",
        ..Default::default()
    };
    aya_build::build_ebpf([package], aya_build::Toolchain::Custom(&toolchain))
}
