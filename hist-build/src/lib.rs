//! The `build.rs` of a tool's user crate, in one call: builds its eBPF crate for
//! `bpfel-unknown-none` with aya-build, so that `main.rs` can embed the object with
//! `aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/<binary>"))`.
//!
//! ```no_run
//! // nfsdist/build.rs
//! fn main() -> hist_build::Result<()> {
//!     hist_build::ebpf(&["../nfsdist-ebpf"])
//! }
//! ```
//!
//! * The eBPF toolchain is `$HIST_EBPF_TOOLCHAIN` (what `cargo xtask setup` chose: a nightly
//!   with `rust-src`, or Debian's rustc linked as `hist-bpf`), else `nightly`.
//! * Each crate's package name is its folder's name (`nfsdist-ebpf`).
//! * The build reruns when anything next to the eBPF crate changes (its shared `-common` crate
//!   too) or hist-core / hist-ebpf change, which aya-build alone does not watch.
#![deny(missing_docs)]

use std::path::Path;

pub use aya_build::Result;

/// Builds the eBPF crates at `root_dirs` (relative to the calling crate).
pub fn ebpf(root_dirs: &[&str]) -> Result<()> {
    println!("cargo:rerun-if-env-changed=HIST_EBPF_TOOLCHAIN");
    let toolchain = std::env::var("HIST_EBPF_TOOLCHAIN").unwrap_or_else(|_| "nightly".into());
    // The library crates the eBPF crates are built from, wherever cargo put this one.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for library in ["hist-core", "hist-ebpf"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(library).display()
        );
    }
    let mut packages = Vec::new();
    for root_dir in root_dirs {
        let dir = Path::new(root_dir);
        let tool_dir = dir.parent().unwrap_or(dir);
        println!("cargo:rerun-if-changed={}", tool_dir.display());
        let name = dir
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| {
                anyhow::anyhow!("{root_dir}: no folder name to take the package name from")
            })?;
        packages.push(aya_build::Package {
            name,
            root_dir,
            ..Default::default()
        });
    }
    aya_build::build_ebpf(packages, aya_build::Toolchain::Custom(&toolchain))
}
