//! `cargo xtask`: set-up of the eBPF toolchain, build, test and run.
//!
//! Every cargo run made from here gets `RUSTC_BOOTSTRAP=1` and `HIST_EBPF_TOOLCHAIN=<toolchain>`
//! (read by the `build.rs` of the crates that embed eBPF objects through aya-build) and a `PATH`
//! with cargo's bin folder, where `bpf-linker` usually lives.

mod setup;

use std::{
    env,
    ffi::OsString,
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
    time::Instant,
};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};

use crate::setup::Toolchain;

/// The example tools, built in release for the live tests, `run` and the benches.
const TOOLS: [&str; 3] = ["cpudist", "nfsdist", "xfsreclaim"];

/// Arguments given to cpudist by `cargo xtask run` without arguments: five one-second histograms.
const DEFAULT_RUN_ARGS: [&str; 2] = ["1", "5"];

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Set up, build, test and run hist"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Choose the eBPF toolchain (a nightly with rust-src, else Debian's rustc) and install what is missing
    Setup(setup::Options),
    /// Setup, then `cargo build --release` of the host crates
    Build,
    /// Setup, then fmt, clippy, doc, the tools' release builds and `cargo test` (as root)
    Test,
    /// Setup, then the criterion benches and (as root) the in-kernel cost beside libbpf-tools
    Bench {
        /// Arguments for `kernel-cost` (e.g. `--seconds 10 --json`)
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<String>,
    },
    /// Setup, build cpudist (release) and run it as root with ARGS (default: `1 5`)
    #[command(disable_help_flag = true)]
    Run {
        /// Arguments for cpudist (`cargo xtask run --help` shows cpudist's help)
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<OsString>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Cmd) -> Result<()> {
    let ws = Workspace::new()?;
    match command {
        Cmd::Setup(opts) => setup::run(&opts, &ws.cargo).map(drop),
        Cmd::Build => build(&ws),
        Cmd::Test => test(&ws),
        Cmd::Bench { args } => bench(&ws, &args),
        Cmd::Run { args } => run(&ws, args),
    }
}

fn build(ws: &Workspace) -> Result<()> {
    let tc = setup::run(&setup::Options::default(), &ws.cargo)?;
    ws.step(&tc, "cargo build --release", &["build", "--release"], &[])
}

fn test(ws: &Workspace) -> Result<()> {
    if !setup::is_root() {
        bail!(
            "`cargo xtask test` must run as root: the live tests load eBPF programs \
             (try `sudo -E env PATH=\"$PATH\" cargo xtask test`)"
        );
    }
    let setup = setup::Options {
        tests: true,
        ..Default::default()
    };
    let tc = setup::run(&setup, &ws.cargo)?;
    ws.step(
        &tc,
        "cargo fmt --all -- --check",
        &["fmt", "--all", "--", "--check"],
        &[],
    )?;
    ws.step(
        &tc,
        "cargo clippy --all-targets -- -D warnings",
        &["clippy", "--all-targets", "--", "-D", "warnings"],
        &[],
    )?;
    // The library crates; the binaries' docs would rebuild their eBPF objects once more.
    ws.step(
        &tc,
        "RUSTDOCFLAGS='-D warnings' cargo doc --no-deps -p hist-core -p hist-ebpf -p hist-user -p hist-build",
        &[
            "doc",
            "--no-deps",
            "-p",
            "hist-core",
            "-p",
            "hist-ebpf",
            "-p",
            "hist-user",
            "-p",
            "hist-build",
        ],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    // The live tests run the release binaries of the tools (HIST_TOOLS_DIR).
    let dir = ws.build_tools(&tc)?;
    let dir = dir
        .to_str()
        .context("the target folder's path is not UTF-8")?;
    ws.step(
        &tc,
        &format!("HIST_TOOLS_DIR={dir} cargo test"),
        &["test"],
        &[("HIST_TOOLS_DIR", dir)],
    )?;
    eprintln!("xtask: all steps passed");
    Ok(())
}

fn bench(ws: &Workspace, args: &[String]) -> Result<()> {
    let tc = setup::run(&setup::Options::default(), &ws.cargo)?;
    ws.step(
        &tc,
        "cargo bench -p hist-benches",
        &["bench", "-p", "hist-benches"],
        &[],
    )?;
    if !setup::is_root() {
        eprintln!("xtask: not root, so the in-kernel cost (kernel-cost) is not measured");
        return Ok(());
    }
    let bin = ws.build_tools(&tc)?.join("cpudist");
    let bin = bin
        .to_str()
        .context("the target folder's path is not UTF-8")?;
    let mut cargo_args = vec![
        "run",
        "--release",
        "-p",
        "hist-benches",
        "--bin",
        "kernel-cost",
        "--",
    ];
    cargo_args.extend(args.iter().map(String::as_str));
    ws.step(
        &tc,
        "cargo run --release -p hist-benches --bin kernel-cost",
        &cargo_args,
        &[("HIST_CPUDIST_BIN", bin)],
    )
}

fn run(ws: &Workspace, args: Vec<OsString>) -> Result<()> {
    let args: Vec<OsString> = if args.is_empty() {
        DEFAULT_RUN_ARGS.iter().map(OsString::from).collect()
    } else {
        args
    };
    let only_help = args
        .iter()
        .any(|a| matches!(a.to_str(), Some("-h" | "--help" | "-V" | "--version")));
    if !only_help && !setup::is_root() {
        bail!("`cargo xtask run` must run as root: cpudist loads eBPF programs");
    }
    let tc = setup::run(&setup::Options::default(), &ws.cargo)?;
    let bin = ws.build_tools(&tc)?.join("cpudist");
    eprintln!("==> {} {}", bin.display(), join_lossy(&args));
    // Replace this process: cpudist gets the terminal's signals (Ctrl-C) and its exit code is ours.
    let err = Command::new(&bin).args(&args).env("PATH", &tc.path).exec();
    Err(err).with_context(|| format!("cannot run {}", bin.display()))
}

fn join_lossy(args: &[OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

struct Workspace {
    root: PathBuf,
    /// The cargo that runs us (`$CARGO`), else `cargo` from `PATH`.
    cargo: OsString,
    /// `CARGO_TARGET_DIR` made absolute (cargo reads it relative to the folder it is started in).
    target_dir_env: Option<PathBuf>,
}

impl Workspace {
    fn new() -> Result<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask has no parent folder")?
            .to_path_buf();
        let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let target_dir_env = match env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => Some(env::current_dir()?.join(dir)),
            _ => None,
        };
        Ok(Self {
            root,
            cargo,
            target_dir_env,
        })
    }

    /// The workspace's target folder: `CARGO_TARGET_DIR` if set, else `<root>/target`.
    fn target_dir(&self) -> PathBuf {
        self.target_dir_env
            .clone()
            .unwrap_or_else(|| self.root.join("target"))
    }

    /// Builds the tools (release) and returns the folder that holds their binaries.
    fn build_tools(&self, tc: &Toolchain) -> Result<PathBuf> {
        let mut args = vec!["build", "--release"];
        for tool in TOOLS {
            args.extend(["-p", tool]);
        }
        self.step(tc, &format!("cargo {}", args.join(" ")), &args, &[])?;
        let dir = self.target_dir().join("release");
        for tool in TOOLS {
            if !dir.join(tool).is_file() {
                bail!("{} is missing after its build", dir.join(tool).display());
            }
        }
        Ok(dir)
    }

    /// Runs one cargo step in the workspace root; a failure names the step.
    fn step(
        &self,
        tc: &Toolchain,
        label: &str,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<()> {
        eprintln!("==> {label}");
        let started = Instant::now();
        let mut cmd = Command::new(&self.cargo);
        if let Some(dir) = &self.target_dir_env {
            cmd.env("CARGO_TARGET_DIR", dir);
        }
        let status = cmd
            .args(args)
            .envs(envs.iter().copied())
            .current_dir(&self.root)
            .env("RUSTC_BOOTSTRAP", "1")
            .env("HIST_EBPF_TOOLCHAIN", &tc.name)
            .env("PATH", &tc.path)
            .status()
            .with_context(|| format!("step `{label}`: cannot start cargo"))?;
        if !status.success() {
            bail!("step `{label}` failed ({status})");
        }
        eprintln!("==> ok in {:.0} s", started.elapsed().as_secs_f64());
        Ok(())
    }
}
