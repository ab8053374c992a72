//! The `build.rs` of a tool's user crate, in one call: builds its eBPF crate for
//! `bpfel-unknown-none`, so that `main.rs` can embed the object with
//! `aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/<binary>"))`.
//!
//! ```no_run
//! // biolatency/build.rs
//! fn main() -> hist_build::Result<()> {
//!     hist_build::ebpf(&["../biolatency-ebpf"])
//! }
//! ```
//!
//! * The eBPF toolchain is `$HIST_EBPF_TOOLCHAIN` (a rustup toolchain's name, or the folder of
//!   one installed without rustup, such as `/usr`), else a rustup `nightly`, else the Rust
//!   installed in `/usr` (Debian's `rustc-web`, `cargo-web` and `rust-web-src`), whichever first
//!   has the library sources (`rust-src`) that `-Z build-std=core` needs. It is used with
//!   `RUSTC_BOOTSTRAP=1`, so a stable compiler works too, and plain `cargo build` works once
//!   set-up has run. rustup itself is not needed.
//! * Each crate's package name is its folder's name (`biolatency-ebpf`).
//! * Every eBPF crate of the workspace is built into one folder, `<target>/ebpf`, whatever the
//!   profile or command (build, test, clippy, doc) that runs the build script: `core` and each
//!   object are compiled once and then found fresh. (aya-build builds into each build script's
//!   own `OUT_DIR`, so a workspace with three tools rebuilt `core` about seven times.)
//! * The nested build shares the outer one's jobs (`cargo build -j N`): it inherits cargo's
//!   jobserver through `CARGO_MAKEFLAGS`. Its compiler warnings are shown as the build script's warnings;
//!   when it fails, its errors are shown and the build script fails with one line saying what
//!   to do.
//! * The build reruns when a crate the eBPF object is built from by path changes: the eBPF
//!   crate, its shared `-common` crate, and hist-ebpf / hist-core when they are path
//!   dependencies (from the nested build's own list, so it holds in any workspace).
#![deny(missing_docs)]

use std::{
    env, fmt, fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// A build-script failure: one line, without a backtrace (a build script's `main` prints the
/// `Debug` form of its error).
pub struct Error(String);

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The result of [`ebpf`].
pub type Result<T = ()> = std::result::Result<T, Error>;

fn error(message: impl Into<String>) -> Error {
    Error(message.into())
}

/// Builds the eBPF crates at `root_dirs` (relative to the calling crate) and copies their
/// binaries into `OUT_DIR`.
pub fn ebpf(root_dirs: &[&str]) -> Result {
    ebpf_variants(root_dirs, &[])
}

/// Like [`ebpf`], and builds them again with each cargo feature of `features` on, copying those
/// binaries as `<binary>-<feature>`: for an object that needs a kernel feature, next to the one
/// that does without (`hist_ebpf`'s `task-storage`: `cpudist` and `cpudist-task-storage`).
/// `core` and the crates the feature leaves alone are built once for all of them.
pub fn ebpf_variants(root_dirs: &[&str], features: &[&str]) -> Result {
    println!("cargo:rerun-if-env-changed=HIST_EBPF_TOOLCHAIN");
    let mut packages = Vec::new();
    for root_dir in root_dirs {
        let dir = Path::new(root_dir);
        let name = dir
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| {
                error(format!(
                    "{root_dir}: no folder name to take the package name from"
                ))
            })?;
        packages.push(name);
    }
    let toolchain = toolchain()?;
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or_else(|| error("OUT_DIR is not set"))?);
    build(&packages, &toolchain, &out_dir, None)?;
    for feature in features {
        build(&packages, &toolchain, &out_dir, Some(feature))?;
    }
    Ok(())
}

/// One nested build of `packages`, with `feature` on in each, into [`shared_target_dir`].
fn build(
    packages: &[&str],
    toolchain: &Toolchain,
    out_dir: &Path,
    feature: Option<&str>,
) -> Result {
    let target = match env::var("CARGO_CFG_TARGET_ENDIAN").as_deref() {
        Ok("big") => "bpfeb-unknown-none",
        _ => "bpfel-unknown-none",
    };
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into());
    let mut cargo = toolchain.command("cargo");
    cargo
        .args(["build", "--release", "--bins"])
        .args([
            "--target",
            target,
            "-Z",
            "build-std=core",
            "--message-format=json",
        ])
        .arg("--target-dir")
        .arg(shared_target_dir(out_dir));
    // No `--jobs`: the nested cargo inherits the outer build's jobserver (`CARGO_MAKEFLAGS`),
    // so it shares the outer `-j N` and ignores, with a warning, a `--jobs` of its own.
    for package in packages {
        cargo.args(["--package", package]);
        if let Some(feature) = feature {
            cargo.args(["--features", &format!("{package}/{feature}")]);
        }
    }
    // What aya-build passes: the probes' `bpf_target_arch` cfg, and BTF for the object.
    let rustflags = [
        format!("--cfg=bpf_target_arch=\"{arch}\""),
        "-Cdebuginfo=2".into(),
        "-Clink-arg=--btf".into(),
    ];
    cargo
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags.join("\x1f"))
        .env("RUSTC_BOOTSTRAP", "1")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTFLAGS")
        .stdin(Stdio::null());
    let output = cargo.output().map_err(|e| {
        error(format!(
            "cannot run the cargo of toolchain `{toolchain}` to build the eBPF crates: {e}"
        ))
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        // Shown by cargo when the build script fails: the compiler's own messages, then ours.
        let stderr = String::from_utf8_lossy(&output.stderr);
        eprint!("{stderr}");
        for line in stdout.lines() {
            if let Some(rendered) = compiler_message(line) {
                eprint!("{rendered}");
            }
        }
        let last = stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("error"))
            .unwrap_or("see the messages above");
        let hint = if stderr.contains("bpf-linker") {
            " (bpf-linker is missing: run `cargo xtask setup`)"
        } else {
            ""
        };
        return Err(error(format!(
            "building {} with toolchain `{toolchain}` failed: {last}{hint}",
            packages.join(", ")
        )));
    }
    let mut copied = 0;
    for line in stdout.lines() {
        // A successful build's warnings, shown by cargo as this build script's (one
        // `cargo:warning` per line: cargo shows them for packages built from a path).
        if let Some(rendered) = compiler_message(line) {
            for text in rendered.lines() {
                println!("cargo:warning={text}");
            }
        }
        // Rebuild when a crate built from a folder changes (the eBPF crate, its common crate,
        // hist-ebpf and hist-core by path), wherever they are; registry crates do not change.
        if let Some(dir) = local_package_dir(line) {
            println!("cargo:rerun-if-changed={dir}");
        }
        if let Some((name, executable)) = executable(line) {
            let to = match feature {
                Some(feature) => out_dir.join(format!("{name}-{feature}")),
                None => out_dir.join(&name),
            };
            fs::copy(&executable, &to)
                .map_err(|e| error(format!("cannot copy {executable} to {}: {e}", to.display())))?;
            copied += 1;
        }
    }
    if copied == 0 {
        return Err(error(format!(
            "building {} produced no binary (an eBPF crate needs a [[bin]])",
            packages.join(", ")
        )));
    }
    Ok(())
}

/// Where the eBPF toolchain is: a rustup toolchain, or a folder with `bin/cargo`, `bin/rustc`
/// and `lib/rustlib/src` (`/usr` for Debian's).
enum Toolchain {
    Rustup(String),
    Folder(PathBuf),
}

impl fmt::Display for Toolchain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rustup(name) => f.write_str(name),
            Self::Folder(dir) => write!(f, "{}", dir.display()),
        }
    }
}

impl Toolchain {
    /// `HIST_EBPF_TOOLCHAIN`'s form: a path is a folder, anything else a rustup name.
    fn named(name: &str) -> Self {
        match name.starts_with('/') {
            true => Self::Folder(name.into()),
            false => Self::Rustup(name.into()),
        }
    }

    /// `tool` (`cargo`, `rustc`) of this toolchain, its compiler this toolchain's rustc whatever
    /// `PATH` holds (a rustup without a default toolchain puts failing proxies there).
    fn command(&self, tool: &str) -> Command {
        let mut command = match self {
            Self::Rustup(name) => {
                let mut command = Command::new("rustup");
                command.args(["run", name, tool]);
                command.env("RUSTUP_AUTO_INSTALL", "0");
                // rustup points cargo at the toolchain's own rustc.
                command.env_remove("RUSTC");
                command
            }
            Self::Folder(dir) => {
                let mut command = Command::new(dir.join("bin").join(tool));
                command.env("RUSTC", dir.join("bin/rustc"));
                command
            }
        };
        command.env_remove("RUSTUP_TOOLCHAIN");
        command
    }

    /// Whether the toolchain runs and has its library sources.
    fn has_library_sources(&self) -> bool {
        let sysroot = self
            .command("rustc")
            .args(["--print", "sysroot"])
            .stderr(Stdio::null())
            .output();
        match sysroot {
            Ok(out) if out.status.success() => {
                let sysroot = String::from_utf8_lossy(&out.stdout);
                Path::new(sysroot.trim())
                    .join("lib/rustlib/src/rust/library")
                    .is_dir()
            }
            _ => false,
        }
    }
}

/// `$HIST_EBPF_TOOLCHAIN`, else the first of a rustup `nightly` and `/usr` with the library
/// sources.
fn toolchain() -> Result<Toolchain> {
    if let Ok(given) = env::var("HIST_EBPF_TOOLCHAIN")
        && !given.is_empty()
    {
        let toolchain = Toolchain::named(&given);
        return if toolchain.has_library_sources() {
            Ok(toolchain)
        } else {
            Err(error(format!(
                "HIST_EBPF_TOOLCHAIN={given} is not a toolchain with rust-src (a rustup name, or \
                 a folder such as /usr): run `cargo xtask setup` and unset it, or name one that has it"
            )))
        };
    }
    [Toolchain::named("nightly"), Toolchain::named("/usr")]
        .into_iter()
        .find(Toolchain::has_library_sources)
        .ok_or_else(|| {
            error(
                "no toolchain to build the eBPF crates with (a rustup `nightly` with rust-src, or \
                 Debian's rustc-web, cargo-web and rust-web-src in /usr): run `cargo xtask setup` first",
            )
        })
}

/// `<target>/ebpf`: the workspace's target folder is the ancestor of `OUT_DIR` that cargo
/// marked with `CACHEDIR.TAG`. Without one (an unusual layout), a folder in `OUT_DIR`.
fn shared_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .unwrap_or(out_dir)
        .join("ebpf")
}

/// The folder of the package of a `compiler-artifact` message, when it was built from a path.
fn local_package_dir(line: &str) -> Option<String> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact"
        || !message["package_id"].as_str()?.starts_with("path+file://")
    {
        return None;
    }
    let manifest = Path::new(message["manifest_path"].as_str()?);
    Some(manifest.parent()?.display().to_string())
}

/// The `(target name, executable)` of a `compiler-artifact` message with an executable.
fn executable(line: &str) -> Option<(String, String)> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    let executable = message["executable"].as_str()?;
    let name = message["target"]["name"].as_str()?;
    Some((name.to_owned(), executable.to_owned()))
}

/// The rendered text of a `compiler-message` message.
fn compiler_message(line: &str) -> Option<String> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-message" {
        return None;
    }
    message["message"]["rendered"].as_str().map(str::to_owned)
}
