//! `cargo xtask setup`: choose the toolchain that builds the eBPF crates and install what it lacks.
//!
//! The eBPF crates need `-Z build-std=core` (so a compiler with the library sources) and
//! `bpf-linker`. Two routes:
//!
//! 1. a rustup `nightly` with the `rust-src` component: used as it is;
//! 2. else Debian's rustc (`rustc-web`, a stable 1.96 on LLVM 22, used with `RUSTC_BOOTSTRAP=1`)
//!    with its cargo and library sources (`cargo-web`, `rust-web-src`), used from `/usr` as it
//!    is: no rustup needed, so this is also the route of a machine without rustup.
//!
//! `bpf-linker` is built against Debian's LLVM 22 when it is missing. A run that finds everything
//! in place changes nothing and takes well under a second.

use std::{
    env,
    ffi::{OsStr, OsString},
    fs,
    os::unix::fs::{MetadataExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{Context as _, Result, bail};

/// Where Debian's rustc, cargo and library sources are: the toolchain's name for hist-build.
const DEBIAN_TOOLCHAIN: &str = "/usr";
/// Debian's rustc 1.96 (LLVM 22), its cargo and its library sources (for `-Z build-std=core`).
const RUSTC_PACKAGES: [&str; 3] = ["rustc-web", "cargo-web", "rust-web-src"];
/// What `bpf-linker` with the `llvm-22` feature builds and links against.
const LLVM_PACKAGES: [&str; 3] = ["llvm-22-dev", "libpolly-22-dev", "libzstd-dev"];
/// The LLVM major version of the packages above; bpf-linker must read the eBPF rustc's bitcode.
const LLVM_MAJOR: u32 = 22;
const LLVM_BIN: &str = "/usr/lib/llvm-22/bin";
/// What the tests run besides the toolchain, installed without recommends: a real Prometheus
/// server (and `promtool`), `bpftool` (BTF offsets checked against it), `mkfs.xfs` (XFS on a loop
/// device for xfsreclaim), libbpf-tools (the bcc family's tools run side by side with theirs).
const TEST_PACKAGES: [&str; 4] = ["prometheus", "bpftool", "xfsprogs", "libbpf-tools"];
const BPF_LINKER_VERSION: &str = "0.13.0";
const TRACEFS: &str = "/sys/kernel/tracing";

#[derive(clap::Args, Default)]
pub(crate) struct Options {
    /// Take the Debian route even when a nightly with rust-src is installed
    #[arg(long)]
    pub debian: bool,
    /// Only print what is found and what would be installed; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Also install what the tests use besides the toolchain (prometheus, bpftool, xfsprogs,
    /// libbpf-tools)
    #[arg(long)]
    pub tests: bool,
}

/// The toolchain chosen for the eBPF crates and the `PATH` that finds `bpf-linker`.
pub(crate) struct Toolchain {
    /// A rustup toolchain name, or the folder of one (`/usr`), for `HIST_EBPF_TOOLCHAIN`.
    pub name: String,
    pub path: OsString,
}

pub(crate) fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Whether this process may load and attach tracing programs: CAP_SYS_ADMIN, or CAP_BPF and
/// CAP_PERFMON, in its effective set (what the tools themselves check).
pub(crate) fn can_trace() -> bool {
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_PERFMON: u32 = 38;
    const CAP_BPF: u32 = 39;
    let cap_eff = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        })
        .unwrap_or(0);
    let has = |cap: u32| cap_eff & (1 << cap) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}

/// Whether `program` carries file capabilities (`setcap`): its `security.capability` attribute.
pub(crate) fn has_file_capabilities(program: &Path) -> bool {
    let Ok(path) = std::ffi::CString::new(program.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path and attribute name; a null buffer of size 0 asks for the
    // attribute's size only.
    let size = unsafe {
        libc::getxattr(
            path.as_ptr(),
            c"security.capability".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    size > 0
}

/// What this machine has: found once, used by every check below.
struct Host {
    root: bool,
    /// `apt-get` and `dpkg-query` are there.
    apt: bool,
    /// The cargo that runs xtask.
    cargo: OsString,
    cargo_bin: PathBuf,
    /// `PATH` with `cargo_bin` in it.
    path: OsString,
}

impl Host {
    fn detect(cargo: &OsStr) -> Result<Self> {
        let cargo_bin = match env::var_os("CARGO_HOME") {
            Some(home) if !home.is_empty() => PathBuf::from(home),
            _ => PathBuf::from(env::var_os("HOME").context("HOME is not set")?).join(".cargo"),
        }
        .join("bin");
        let mut dirs: Vec<PathBuf> =
            env::split_paths(&env::var_os("PATH").unwrap_or_default()).collect();
        if !dirs.contains(&cargo_bin) {
            dirs.insert(0, cargo_bin.clone());
        }
        let path = env::join_paths(dirs).context("PATH holds a folder name with a `:`")?;
        let mut host = Self {
            root: is_root(),
            apt: false,
            cargo: cargo.to_owned(),
            cargo_bin,
            path,
        };
        host.apt = host.which("apt-get").is_some() && host.which("dpkg-query").is_some();
        Ok(host)
    }

    fn which(&self, program: &str) -> Option<PathBuf> {
        env::split_paths(&self.path)
            .map(|dir| dir.join(program))
            .find(|p| {
                fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    }

    fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("PATH", &self.path).stdin(Stdio::null());
        cmd
    }

    /// `<toolchain>'s rustc <args>`: its trimmed stdout, or `None` when it fails (for instance
    /// because the toolchain is not installed; rustup is told not to install it). A toolchain
    /// is a rustup name, or a folder (`/usr`) whose `bin/rustc` runs without rustup; `None` is
    /// the `rustc` that `PATH` gives nested commands.
    fn rustc(&self, toolchain: Option<&str>, args: &[&str]) -> Option<String> {
        let mut command = match toolchain {
            None => self.command("rustc"),
            Some(folder) if folder.starts_with('/') => {
                self.command(Path::new(folder).join("bin/rustc"))
            }
            Some(name) => {
                let mut command = self.command("rustup");
                command.args(["run", name, "rustc"]);
                command
            }
        };
        let out = command
            .args(args)
            .env("RUSTUP_AUTO_INSTALL", "0")
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The toolchain's sysroot, if the toolchain is installed and has the library sources.
    fn sysroot_with_src(&self, toolchain: &str) -> Option<PathBuf> {
        let sysroot = PathBuf::from(self.rustc(Some(toolchain), &["--print", "sysroot"])?);
        sysroot
            .join("lib/rustlib/src/rust/library")
            .is_dir()
            .then_some(sysroot)
    }

    /// `(release, LLVM major)` from `rustc -vV` of the toolchain.
    fn rustc_version(&self, toolchain: &str) -> Option<(String, Option<u32>)> {
        let out = self.rustc(Some(toolchain), &["-vV"])?;
        let field = |name: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_owned())
        };
        let llvm = field("LLVM version:").and_then(|v| v.split('.').next()?.parse().ok());
        Some((field("release:")?, llvm))
    }

    /// The packages among `packages` that dpkg does not have installed.
    fn missing_packages(&self, packages: &[&'static str]) -> Vec<&'static str> {
        if !self.apt {
            return packages.to_vec();
        }
        let out = self
            .command("dpkg-query")
            .args(["-W", "-f", "${Package} ${db:Status-Status}\\n"])
            .args(packages)
            .stderr(Stdio::null())
            .output();
        let listing = out
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        packages
            .iter()
            .copied()
            .filter(|p| !listing.lines().any(|l| l == format!("{p} installed")))
            .collect()
    }

    /// `bpf-linker` on `PATH` and its version, or why it is not usable.
    fn bpf_linker(&self) -> Result<(PathBuf, String), String> {
        let Some(path) = self.which("bpf-linker") else {
            return Err("bpf-linker is not installed".into());
        };
        match self.command(&path).arg("--version").output() {
            Ok(out) if out.status.success() => {
                let version = String::from_utf8_lossy(&out.stdout);
                let version = version.split_whitespace().nth(1).unwrap_or("?").to_owned();
                Ok((path, version))
            }
            _ => Err(format!("{} does not run", path.display())),
        }
    }
}

/// What has to be installed or changed.
#[derive(Default)]
struct Plan {
    apt: Vec<&'static str>,
    /// Install `bpf-linker` (with `--force` when a broken one is in the way).
    linker: Option<bool>,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.apt.is_empty() && self.linker.is_none()
    }

    fn add_apt(&mut self, packages: Vec<&'static str>) {
        for p in packages {
            if !self.apt.contains(&p) {
                self.apt.push(p);
            }
        }
    }

    /// The commands, as a person would type them.
    fn commands(&self, root: bool) -> Vec<String> {
        let sudo = if root { "" } else { "sudo " };
        let mut cmds = Vec::new();
        if !self.apt.is_empty() {
            cmds.push(format!("{sudo}apt-get update"));
            cmds.push(format!("{sudo}apt-get install -y {}", self.apt.join(" ")));
        }
        if let Some(force) = self.linker {
            cmds.push(format!(
                "PATH={LLVM_BIN}:$PATH {}",
                linker_install_args(force).join(" ")
            ));
        }
        cmds
    }
}

fn linker_install_args(force: bool) -> Vec<&'static str> {
    let mut args = vec![
        "cargo",
        "install",
        "bpf-linker",
        // Its own Cargo.lock: a dependency released later cannot raise the rustc it needs.
        "--locked",
        "--version",
        BPF_LINKER_VERSION,
        "--no-default-features",
        "--features",
        "llvm-22",
    ];
    if force {
        args.push("--force");
    }
    args
}

pub(crate) fn run(opts: &Options, cargo: &OsStr) -> Result<Toolchain> {
    let started = Instant::now();
    let host = Host::detect(cargo)?;
    // The cargo running us found a rustc, but the one on PATH is what nested builds (and
    // `cargo install`) get: a rustup without a default toolchain puts proxies there that fail.
    if host.rustc(None, &["--version"]).is_none() {
        bail!(
            "`rustc` on PATH does not run (a rustup without a default toolchain?): run \
             `rustup default stable`, or put Debian's first: `PATH=/usr/bin:$PATH cargo xtask …`"
        );
    }
    let mut plan = Plan::default();

    // 1. The toolchain.
    let given = env::var("HIST_EBPF_TOOLCHAIN")
        .ok()
        .filter(|s| !s.is_empty());
    let name = if let Some(given) = given {
        if host.sysroot_with_src(&given).is_none() {
            bail!(
                "HIST_EBPF_TOOLCHAIN={given} is not a toolchain (a rustup name, or a folder such \
                 as /usr) with the library sources (lib/rustlib/src/rust/library); unset it to \
                 let setup choose"
            );
        }
        given
    } else if !opts.debian && host.sysroot_with_src("nightly").is_some() {
        "nightly".to_owned()
    } else {
        plan.add_apt(host.missing_packages(&RUSTC_PACKAGES));
        DEBIAN_TOOLCHAIN.to_owned()
    };

    // 2. bpf-linker: it must read the bitcode of that toolchain's LLVM.
    let debian = name == DEBIAN_TOOLCHAIN;
    if let Err(why) = host.bpf_linker() {
        let llvm = if debian && plan.apt.iter().any(|p| RUSTC_PACKAGES.contains(p)) {
            // Debian's rustc-web, not installed yet.
            Some(LLVM_MAJOR)
        } else {
            host.rustc_version(&name).and_then(|(_, llvm)| llvm)
        };
        if llvm != Some(LLVM_MAJOR) {
            bail!(
                "{why}, and toolchain `{name}` uses LLVM {}, which setup cannot build it for: \
                 install a bpf-linker built on that LLVM (`cargo install bpf-linker`)",
                llvm.map_or("?".to_owned(), |v| v.to_string())
            );
        }
        eprintln!("setup: {why}: it will be built against LLVM {LLVM_MAJOR}");
        plan.add_apt(host.missing_packages(&LLVM_PACKAGES));
        plan.linker = Some(host.cargo_bin.join("bpf-linker").exists());
    }

    // 3. Install.
    if opts.dry_run {
        if plan.is_empty() {
            eprintln!("setup: (dry run) nothing to install");
        } else {
            eprintln!("setup: (dry run) would run:");
            for cmd in plan.commands(host.root) {
                eprintln!("    {cmd}");
            }
        }
        eprintln!("setup: (dry run) eBPF toolchain: {name}");
        tracefs(&host, true);
        return Ok(Toolchain {
            name,
            path: host.path,
        });
    }
    let can_install = host.root && host.apt;
    if !plan.apt.is_empty() && !can_install {
        let why = if host.apt {
            "not root"
        } else {
            "no apt-get/dpkg-query"
        };
        eprintln!(
            "setup: the eBPF toolchain needs these commands, which setup cannot run here ({why}):"
        );
        for cmd in plan.commands(host.root) {
            eprintln!("    {cmd}");
        }
        eprintln!("setup: then run `cargo xtask setup` again");
        if debian {
            eprintln!(
                "setup: (or use a nightly instead: `rustup toolchain install nightly --component rust-src`)"
            );
        }
        bail!(
            "eBPF toolchain not set up: packages {} are missing ({why})",
            plan.apt.join(" ")
        );
    }
    if !plan.apt.is_empty() {
        apt_install(&host, &plan.apt, &[])?;
    }
    if opts.tests {
        install_packages(&TEST_PACKAGES, "the tests")?;
    }
    if let Some(force) = plan.linker {
        let args = linker_install_args(force);
        eprintln!(
            "setup: PATH={LLVM_BIN}:$PATH {} (a few minutes)",
            args.join(" ")
        );
        // As verified: the host cargo, without RUSTC_BOOTSTRAP, with LLVM 22's llvm-config first on PATH.
        let mut dirs = vec![PathBuf::from(LLVM_BIN)];
        dirs.extend(env::split_paths(&host.path));
        let path = env::join_paths(dirs).context("PATH")?;
        checked(
            host.command(&host.cargo).args(&args[1..]).env("PATH", path),
            "cargo install bpf-linker",
        )?;
    }

    // 4. Check the result and say what is used.
    let Some(sysroot) = host.sysroot_with_src(&name) else {
        bail!(
            "toolchain `{name}` has no library sources (lib/rustlib/src/rust/library) after setup"
        );
    };
    let (release, llvm) = host
        .rustc_version(&name)
        .with_context(|| format!("rustc -vV of toolchain `{name}` failed"))?;
    let llvm = llvm.map_or("?".to_owned(), |v| v.to_string());
    if debian {
        eprintln!(
            "setup: eBPF toolchain: {name} (Debian rustc {release} on LLVM {llvm} + rust-web-src)"
        );
    } else {
        eprintln!(
            "setup: eBPF toolchain: {name} (rustc {release} on LLVM {llvm} + rust-src in {})",
            sysroot.display()
        );
    }
    let (linker, version) = host
        .bpf_linker()
        .map_err(|why| anyhow::anyhow!("{why} after setup"))?;
    eprintln!("setup: bpf-linker {version} ({})", linker.display());
    tracefs(&host, false);
    eprintln!("setup: ready in {:.1} s", started.elapsed().as_secs_f64());
    Ok(Toolchain {
        name,
        path: host.path,
    })
}

/// Installs those of `packages` that are missing (without recommends), for `what` (named in the
/// error when they cannot be installed here).
pub(crate) fn install_packages(packages: &[&'static str], what: &str) -> Result<()> {
    let host = Host::detect(OsStr::new("cargo"))?;
    let missing = host.missing_packages(packages);
    if missing.is_empty() {
        return Ok(());
    }
    if !(host.root && host.apt) {
        bail!(
            "{what} needs {} (as root: apt-get install -y --no-install-recommends {})",
            missing.join(" "),
            missing.join(" ")
        );
    }
    apt_install(&host, &missing, &["--no-install-recommends"])
}

/// `apt-get install`, refreshing the package lists first when they lack a package, or once
/// more when the install fails with lists that may be stale.
fn apt_install(host: &Host, packages: &[&str], extra_args: &[&str]) -> Result<()> {
    let known = |p: &str| {
        host.command("apt-cache")
            .args(["show", "--no-all-versions", p])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let update = || {
        eprintln!("setup: apt-get update");
        checked(
            host.command("apt-get").args(["-q", "update"]),
            "apt-get update",
        )
    };
    let install = || {
        eprintln!("setup: apt-get install -y {}", packages.join(" "));
        host.command("apt-get")
            .args(["-q", "install", "-y"])
            .args(extra_args)
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    let updated = !packages.iter().all(|p| known(p));
    if updated {
        update()?;
    }
    if install() {
        return Ok(());
    }
    if !updated {
        eprintln!("setup: apt-get install failed; refreshing the package lists and trying again");
        update()?;
        if install() {
            return Ok(());
        }
    }
    bail!(
        "`apt-get install -y {}` failed (this route needs Debian 12 or later)",
        packages.join(" ")
    )
}

/// Mounts tracefs where aya's tracepoint attach looks for it; only warns when it cannot.
fn tracefs(host: &Host, dry_run: bool) {
    let mounted = fs::read_to_string("/proc/mounts").is_ok_and(|mounts| {
        mounts.lines().any(|line| {
            let mut fields = line.split_whitespace().skip(1);
            (fields.next(), fields.next()) == (Some(TRACEFS), Some("tracefs"))
        })
    });
    if mounted {
        // Mode 0700: only root looks inside, as the tools do.
        eprintln!("setup: tracefs: mounted at {TRACEFS}");
        return;
    }
    let cmd = format!("mount -t tracefs tracefs {TRACEFS}");
    if dry_run {
        eprintln!("setup: (dry run) would run: {cmd}");
        return;
    }
    if !host.root {
        eprintln!(
            "setup: warning: tracefs is not mounted at {TRACEFS}; tracepoints cannot attach: run `sudo {cmd}`"
        );
        return;
    }
    let out = host
        .command("mount")
        .args(["-t", "tracefs", "tracefs", TRACEFS])
        .output();
    match out {
        Ok(o) if o.status.success() && Path::new(TRACEFS).join("events").is_dir() => {
            eprintln!("setup: tracefs: mounted at {TRACEFS} now");
        }
        Ok(o) => eprintln!(
            "setup: warning: `{cmd}` failed ({}); tracepoints cannot attach",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => eprintln!("setup: warning: cannot run `{cmd}` ({e}); tracepoints cannot attach"),
    }
}

pub(crate) fn checked(cmd: &mut Command, label: &str) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start `{label}`"))?;
    if !status.success() {
        bail!("`{label}` failed ({status})");
    }
    Ok(())
}
