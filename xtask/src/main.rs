//! `cargo xtask`: set-up of the eBPF toolchain, build, test and run.
//!
//! Every cargo run made from here gets `HIST_EBPF_TOOLCHAIN=<toolchain>` (read by the `build.rs`
//! of the crates that embed eBPF objects through hist-build, whose nested eBPF build alone needs
//! `RUSTC_BOOTSTRAP=1`, and sets it there) and a `PATH` with cargo's bin folder, where
//! `bpf-linker` usually lives.

mod passed;
mod setup;
mod vm;

use std::{
    env,
    ffi::OsString,
    fs,
    io::{self, Write as _},
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
    sync::Mutex,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};

use crate::{passed::Passed, setup::Toolchain};

/// The example tools, built in release for the live tests, `run` and the benches.
const TOOLS: [&str; 7] = [
    "cpudist",
    "nfsdist",
    "xfsreclaim",
    "biolatency",
    "runqlat",
    "fsdist",
    "funclatency",
];

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
    /// Setup, then the release build of the tools (cpudist, nfsdist, xfsreclaim, biolatency,
    /// runqlat, fsdist, funclatency) into target/release
    Build,
    /// Setup, then fmt, clippy, doc, the tools' release builds, `cargo test --release` (as
    /// root) and the VM stage: the live tests again in Debian's 5.10, 6.1 and 6.12 kernels under
    /// QEMU. The tests, the out-of-tree build and each guest are skipped when they passed before
    /// with the same files, toolchain and kernel
    Test {
        /// Skip the VM stage (CI and the README's command run it)
        #[arg(long)]
        no_vm: bool,
        /// Run every step, even those that passed before with the same files
        #[arg(long)]
        force: bool,
        /// Run the VM stage on these kernels only (e.g. `--kernel 6.1`)
        #[arg(long = "kernel", value_parser = ["5.10", "6.1", "6.12"])]
        kernels: Vec<String>,
    },
    /// Boot one of Debian's kernels under QEMU and run COMMAND in it as root, in this repository
    /// with the tools built (e.g. `cargo xtask vm --kernel 6.1 -- target/release/nfsdist 1 5`)
    Vm(vm::Options),
    /// Setup, then the criterion benches and (as root) the in-kernel cost of each tool beside
    /// libbpf-tools and bpftrace: cpudist on this kernel, nfsdist, fsdist and xfsreclaim in the
    /// VM kernels
    Bench {
        /// Measure cpudist on this kernel only, not nfsdist, fsdist and xfsreclaim in the VM kernels
        #[arg(long)]
        no_vm: bool,
        /// Measure nfsdist, fsdist and xfsreclaim in the VM kernels only (no criterion, no cpudist
        /// here)
        #[arg(long, conflicts_with = "no_vm")]
        vm_only: bool,
        /// The VM kernels to measure nfsdist, fsdist and xfsreclaim in (default: all three)
        #[arg(long = "kernel", value_parser = ["5.10", "6.1", "6.12"])]
        kernels: Vec<String>,
        /// Arguments for `kernel-cost` (e.g. `--seconds 10 --json`)
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<String>,
    },
    /// Setup, build cpudist (release) and run it with ARGS (default: `1 5`); needs root, or CAP_BPF and CAP_PERFMON
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
        Cmd::Test {
            no_vm,
            force,
            kernels,
        } => test(&ws, no_vm, force, &kernels),
        Cmd::Vm(opts) => vm(&ws, &opts),
        Cmd::Bench {
            no_vm,
            vm_only,
            kernels,
            args,
        } => bench(&ws, (!vm_only, !no_vm), &kernels, &args),
        Cmd::Run { args } => run(&ws, args),
    }
}

/// The tools as `run` and `test` build them: one feature set, so a build here leaves nothing
/// for `run` to rebuild (a rebuild would drop the capabilities setcap gave cpudist).
fn build(ws: &Workspace) -> Result<()> {
    let tc = setup::run(&setup::Options::default(), &ws.cargo)?;
    ws.build_tools(&tc).map(drop)
}

fn test(ws: &Workspace, no_vm: bool, force: bool, kernels: &[String]) -> Result<()> {
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
    // The library crates, as docs.rs builds them (every feature); the binaries' docs would
    // rebuild their eBPF objects once more.
    let libraries = LIBRARIES.iter().flat_map(|crate_name| ["-p", crate_name]);
    let mut doc = vec!["doc", "--no-deps", "--all-features"];
    doc.extend(libraries.clone());
    ws.step(
        &tc,
        &format!("RUSTDOCFLAGS='-D warnings' cargo {}", doc.join(" ")),
        &doc,
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    // Publishable: each packs and builds alone (path dependencies resolved as versions).
    let mut package = vec!["package", "--allow-dirty"];
    package.extend(libraries);
    let package_dir = forget_packaged_builds(&ws.target_dir())?;
    let package_dir = package_dir
        .to_str()
        .context("the target folder's path is not UTF-8")?;
    ws.step(
        &tc,
        &format!("cargo {}", package.join(" ")),
        &package,
        &[("CARGO_TARGET_DIR", package_dir)],
    )?;
    // The live tests run the release binaries of the tools (HIST_TOOLS_DIR).
    let dir = ws.build_tools(&tc)?;
    let dir = dir
        .to_str()
        .context("the target folder's path is not UTF-8")?;
    // What the tests' outcome depends on besides the files: the eBPF toolchain and the kernel.
    let passed = Passed::new(&ws.root, &ws.target_dir(), force)?;
    let host_kernel = std::fs::read_to_string("/proc/version").unwrap_or_default();
    // Optimized, like the tools: the guests run these same binaries, and the build of the
    // tests shares the tools' dependencies.
    let step = format!("HIST_TOOLS_DIR={dir} cargo test --release");
    let key = passed.key("cargo test", &[&tc.name, &host_kernel]);
    if !passed.skip(key.as_ref(), &step) {
        ws.step(
            &tc,
            &step,
            &["test", "--release"],
            &[("HIST_TOOLS_DIR", dir)],
        )?;
        passed.record(key.as_ref())?;
    }
    let key = passed.key("out of tree", &[&tc.name, &host_kernel]);
    if !passed.skip(key.as_ref(), "out of tree") {
        out_of_tree(ws, &tc)?;
        passed.record(key.as_ref())?;
    }
    if !no_vm {
        vm_stage(ws, &tc, dir, kernels, &passed)?;
    }
    eprintln!("xtask: all steps passed");
    Ok(())
}

/// The crates a tool depends on, published together.
const LIBRARIES: [&str; 7] = [
    "hist-core",
    "hist-ebpf",
    "hist-user",
    "hist-attach",
    "hist-output",
    "hist-tool",
    "hist-build",
];

/// The README's "Using hist outside this repository", followed to the letter: cpudist copied to
/// a folder outside the workspace, given the README's `Cargo.toml` (with this clone's path),
/// built with plain `cargo build --release`, and run for one second.
fn out_of_tree(ws: &Workspace, tc: &Toolchain) -> Result<()> {
    eprintln!("==> out of tree: examples/cpudist copied, built and run by the README");
    let started = Instant::now();
    let readme = std::fs::read_to_string(ws.root.join("README.md"))?;
    let manifest = readme
        .split_once("## Using hist outside this repository")
        .and_then(|(_, section)| section.split_once("```toml\n"))
        .and_then(|(_, block)| block.split_once("```"))
        .map(|(toml, _)| toml)
        .context("the README has no Cargo.toml under \"Using hist outside this repository\"")?;
    let root = ws.root.to_str().context("the clone's path is not UTF-8")?;
    let dir = env::temp_dir().join("hist-out-of-tree");
    // A fresh copy, but the build folder of the last one kept: with the files' times kept
    // too (`cp -p`), cargo rebuilds what changed only.
    std::fs::create_dir_all(&dir)?;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let kept = ["target", "Cargo.toml", "Cargo.lock"];
        if !kept
            .iter()
            .any(|name| path.file_name() == Some(name.as_ref()))
        {
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        }
    }
    setup::checked(
        Command::new("sh")
            .arg("-c")
            .arg("cp -rp \"$0\"/examples/cpudist/* \"$1\"/")
            .arg(&ws.root)
            .arg(&dir),
        "copying examples/cpudist",
    )?;
    // Written only when they differ from the last copy's, which keeps their times.
    let write_if_changed = |name: &str, text: String| -> Result<()> {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&path, text)?;
        }
        Ok(())
    };
    write_if_changed("Cargo.toml", manifest.replace("/path/to/hist", root))?;
    // The versions this workspace is tested with, rather than whatever is newest today.
    write_if_changed(
        "Cargo.lock",
        std::fs::read_to_string(ws.root.join("Cargo.lock"))?,
    )?;
    setup::checked(
        Command::new(&ws.cargo)
            .args(["build", "--release", "--quiet"])
            .current_dir(&dir)
            .env_remove("CARGO_TARGET_DIR")
            .env("PATH", &tc.path),
        "cargo build --release (out of tree)",
    )?;
    let out = Command::new(dir.join("target/release/cpudist"))
        .args(["1", "1"])
        .output()
        .context("cannot run the out-of-tree cpudist")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !text.contains("usecs               : count") {
        bail!(
            "the out-of-tree cpudist did not print a histogram ({}):\n{text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    eprintln!("==> ok in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The test binaries run again in every guest: every live-kernel test (tests/live), hist-attach's
/// kernel probing and attach plans on the running kernel included.
const GUEST_TESTS: [(&str, &str); 18] = [
    ("hist-live-tests", "verifier"),
    ("hist-live-tests", "batch"),
    ("hist-live-tests", "drops"),
    ("hist-live-tests", "keyed"),
    ("hist-live-tests", "fields"),
    ("hist-live-tests", "keys"),
    ("hist-live-tests", "slots"),
    ("hist-live-tests", "counting"),
    ("hist-live-tests", "description"),
    ("hist-live-tests", "cpudist"),
    ("hist-live-tests", "latency_tools"),
    ("hist-live-tests", "nfsdist"),
    ("hist-live-tests", "fsdist"),
    ("hist-live-tests", "funclatency"),
    ("hist-live-tests", "biolatency"),
    ("hist-live-tests", "runqlat"),
    ("hist-live-tests", "attach_kernel"),
    ("hist-live-tests", "attach_plan"),
];
/// Software emulation runs the guests several times slower than the host: the tests' busiest
/// workloads (`HIST_TIME_SCALE`) shrink by this factor there.
const GUEST_TIME_SCALE: &str = "8";
/// A guest whose tests hang is killed after this: the stage must end within CI's hour. The
/// slowest guest (three side by side on two CPUs) took 5½ to 9 min on fresh machines, and 15
/// on one that was building beside them; this leaves room for a busier one.
const GUEST_TEST_LIMIT: Duration = Duration::from_secs(20 * 60);

/// Runs [`GUEST_TESTS`] in each kernel of the matrix (or of `only`), one boot per kernel, and
/// prints which hook each tool picked there. Each guest emulates its CPUs on one host thread;
/// all run at once, and each one's output is printed whole when it ends.
fn vm_stage(
    ws: &Workspace,
    tc: &Toolchain,
    tools_dir: &str,
    only: &[String],
    passed: &Passed,
) -> Result<()> {
    let binaries = ws.test_binaries(tc, &GUEST_TESTS)?;
    // Installs and downloads first, one at a time (apt takes a lock).
    let mut guests = Vec::new();
    for kernel in vm::KERNELS {
        if !only.is_empty() && !only.iter().any(|k| k == kernel.line) {
            continue;
        }
        let guest = vm::prepare(kernel, false)?;
        let script = guest_script(&kernel, &guest.release, tools_dir, &binaries);
        let step = format!("VM {} ({})", kernel.line, guest.release);
        let key = passed.key(&step, &[&tc.name, &guest.release, &script]);
        if !passed.skip(key.as_ref(), &step) {
            guests.push((kernel, guest, script, key));
        }
    }
    // All at once: a guest is one host thread (TCG, single-threaded), and three sharing two
    // CPUs finish sooner than two side by side and then the third alone.
    let side_by_side = guests.len();
    let queue = Mutex::new(guests.iter());
    let failed = Mutex::new(Vec::new());
    let run_next = || {
        loop {
            // The lock only for taking the next guest, not while it runs.
            let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
            let Some((kernel, guest, script, key)) = next else {
                break;
            };
            let started = Instant::now();
            eprintln!("==> VM {} ({}): live tests", kernel.line, guest.release);
            let output = vm::Output::buffer();
            let status = guest.run(&ws.root, script, GUEST_TEST_LIMIT, &output);
            let ok = matches!(&status, Ok(status) if status.success());
            let recorded = if ok {
                passed.record(key.as_ref())
            } else {
                Ok(())
            };
            // One guest's output at a time, whole.
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "==> VM {} ({}): output", kernel.line, guest.release);
            for line in output.take() {
                let _ = writeln!(out, "{line}");
            }
            if let Err(error) = &status {
                let _ = writeln!(out, "error: {error:#}");
            }
            if let Err(error) = &recorded {
                let _ = writeln!(out, "warning: {error:#}");
            }
            let _ = writeln!(
                out,
                "==> VM {} {} in {:.0} s",
                kernel.line,
                if ok { "ok" } else { "FAILED" },
                started.elapsed().as_secs_f64()
            );
            if !ok {
                failed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(kernel.line);
            }
        }
    };
    thread::scope(|scope| {
        for _ in 0..side_by_side {
            scope.spawn(run_next);
        }
    });
    let mut failed = failed.into_inner().unwrap_or_else(|e| e.into_inner());
    if !failed.is_empty() {
        failed.sort();
        bail!("the VM stage failed on {}", failed.join(", "));
    }
    Ok(())
}

/// Forgets what `cargo package` built and unpacked of our library crates on an earlier run,
/// and returns the target folder it builds in (`<target>/package-check`, its own, so that
/// forgetting costs no rebuild of the workspace). Cargo takes a registry crate of the same
/// version to be unchanged, and the verification builds each crate against the others as
/// registry crates: it would build hist-user against an old hist-core. So the crates' sources
/// unpacked in `$CARGO_HOME/registry/src/-<hash>/` (the local registry's folder has no name
/// before its hash) and their builds in that folder go.
fn forget_packaged_builds(target_dir: &Path) -> Result<PathBuf> {
    let ours = |name: &str| {
        LIBRARIES.iter().any(|library| {
            [library.to_string(), library.replace('-', "_")]
                .iter()
                .any(|stem| {
                    name.strip_prefix(stem.as_str())
                        .is_some_and(|rest| rest.starts_with('-'))
                })
        })
    };
    let remove_ours = |dir: &Path| -> Result<()> {
        let Ok(entries) = fs::read_dir(dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let name = name.strip_prefix("lib").unwrap_or(&name);
            if ours(name) {
                let path = entry.path();
                let removed = if path.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                removed.with_context(|| format!("removing {}", path.display()))?;
            }
        }
        Ok(())
    };
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    if let Some(Ok(registries)) = cargo_home.map(|home| fs::read_dir(home.join("registry/src"))) {
        for registry in registries.flatten() {
            if registry.file_name().to_string_lossy().starts_with('-') {
                remove_ours(&registry.path())?;
            }
        }
    }
    let package_dir = target_dir.join("package-check");
    for dir in [".fingerprint", "deps"] {
        remove_ours(&package_dir.join("debug").join(dir))?;
    }
    Ok(package_dir)
}

/// The shell script a guest of `kernel` runs: every test binary, then a real cpudist run, then
/// the report of the hooks picked.
fn guest_script(
    kernel: &vm::Kernel,
    release: &str,
    tools_dir: &str,
    binaries: &[(String, String)],
) -> String {
    let report = format!("/tmp/hist-report-{}", kernel.line);
    // The tools and the test binaries run from the guest's tmpfs, copied there first: the host's
    // files reach the guest over 9p without a page cache (virtme-ng mounts the root with
    // cache=none), so every start of a 5 MB tool read it again (`cpudist --version`: 200 ms
    // from 9p, 73 ms from tmpfs; 20 s of the 6.12 guest's 190).
    let bin = "/dev/shm/hist";
    let tools = TOOLS.map(|tool| vm::shell_quote(&format!("{tools_dir}/{tool}")));
    let mut script = format!(
        "mkdir -p {bin}/tools {bin}/tests && cp {} {bin}/tools/ || exit 1; ",
        tools.join(" ")
    );
    for (name, binary) in binaries {
        script.push_str(&format!(
            "cp {} {bin}/tests/{name} || exit 1; ",
            vm::shell_quote(binary)
        ));
    }
    // Every module the tests use, loaded up front: the tests probe the kernel as it then is.
    script.push_str(&format!(
        "modprobe -qa loop ext4 xfs nfsd nfs nfsv4; export HIST_TOOLS_DIR={bin}/tools \
         HIST_TIME_SCALE={GUEST_TIME_SCALE} HIST_TEST_REPORT={report}; failed=; "
    ));
    for (name, _) in binaries {
        // Each binary's time, so the slow ones show in the log.
        script.push_str(&format!(
            "echo '--> {name}'; t=$(date +%s); {bin}/tests/{name} || \
             failed=\"$failed {name}\"; echo \"--> {name}: $(( $(date +%s) - t )) s\"; "
        ));
    }
    // cpudist's pick, from a real one-second run.
    script.push_str(&format!(
        "{bin}/tools/cpudist -v 1 1 2>>{report} >/dev/null || failed=\"$failed cpudist-run\"; "
    ));
    script.push_str(&format!(
        "echo '--> hooks on {release}:'; cat {report} 2>/dev/null; \
         [ -z \"$failed\" ] || {{ echo \"failed in the guest:$failed\"; exit 1; }}"
    ));
    script
}

fn vm(ws: &Workspace, opts: &vm::Options) -> Result<()> {
    let tc = setup::run(&setup::Options::default(), &ws.cargo)?;
    let tools_dir = ws.build_tools(&tc)?;
    if opts.tests {
        let tools_dir = tools_dir
            .to_str()
            .context("the target folder's path is not UTF-8")?;
        let only: Vec<String> = opts.kernel.iter().cloned().collect();
        // Asked for by name: run, whatever passed before.
        let passed = Passed::new(&ws.root, &ws.target_dir(), true)?;
        return vm_stage(ws, &tc, tools_dir, &only, &passed);
    }
    let kernel = vm::kernel(opts.kernel.as_deref().unwrap_or("6.1"))?;
    let guest = vm::prepare(kernel, opts.kvm)?;
    let command = if opts.command.is_empty() {
        "uname -r".to_owned()
    } else {
        let words: Vec<String> = opts.command.iter().map(|a| vm::shell_quote(a)).collect();
        words.join(" ")
    };
    eprintln!("==> VM {} ({}): {command}", kernel.line, guest.release);
    let status = guest.run(
        &ws.root,
        &command,
        Duration::from_secs(24 * 3600),
        &vm::Output::Stdout,
    )?;
    if !status.success() {
        bail!("`{command}` failed in the {} guest ({status})", kernel.line);
    }
    Ok(())
}

/// `(here, in_vms)`: what to measure on this machine (criterion, cpudist) and whether to
/// measure in the VM kernels.
fn bench(
    ws: &Workspace,
    (here, in_vms): (bool, bool),
    kernels: &[String],
    args: &[String],
) -> Result<()> {
    let tc = setup::run(&setup::Options::default(), &ws.cargo)?;
    if here {
        ws.step(
            &tc,
            "cargo bench -p hist-benches",
            &["bench", "-p", "hist-benches"],
            &[],
        )?;
    }
    if !setup::is_root() {
        eprintln!("xtask: not root, so the in-kernel cost (kernel-cost) is not measured");
        return Ok(());
    }
    // The reference tools and the counter reader of the in-kernel comparison.
    setup::install_packages(
        &["libbpf-tools", "bpftrace", "bpftool"],
        "the kernel-cost bench",
    )?;
    let tools_dir = ws.build_tools(&tc)?;
    let tools_dir = tools_dir
        .to_str()
        .context("the target folder's path is not UTF-8")?;
    let mut cargo_args = vec![
        "build",
        "--release",
        "-p",
        "hist-benches",
        "--bin",
        "kernel-cost",
    ];
    if here {
        cargo_args[0] = "run";
        cargo_args.push("--");
        cargo_args.extend(args.iter().map(String::as_str));
    }
    ws.step(
        &tc,
        &format!("cargo {}", cargo_args.join(" ")),
        &cargo_args,
        &[("HIST_TOOLS_DIR", tools_dir)],
    )?;
    // Built by the run above.
    let kernel_cost = ws.target_dir().join("release/kernel-cost");
    let kernel_cost = kernel_cost
        .to_str()
        .context("the target folder's path is not UTF-8")?;
    if !in_vms {
        return Ok(());
    }
    // One guest at a time: guests side by side would share the host's CPUs.
    for kernel in vm::KERNELS {
        if !kernels.is_empty() && !kernels.iter().any(|k| k == kernel.line) {
            continue;
        }
        let guest = vm::prepare(kernel, false)?.single_cpu();
        let mut line = format!(
            "modprobe -qa loop ext4 xfs nfsd nfs nfsv4; HIST_TOOLS_DIR={} {} --tool nfsdist --tool fsdist --tool xfsreclaim",
            vm::shell_quote(tools_dir),
            vm::shell_quote(kernel_cost)
        );
        for arg in args {
            line.push(' ');
            line.push_str(&vm::shell_quote(arg));
        }
        eprintln!("==> VM {} ({}): kernel-cost", kernel.line, guest.release);
        let status = guest.run(
            &ws.root,
            &line,
            Duration::from_secs(3600),
            &vm::Output::Stdout,
        )?;
        if !status.success() {
            bail!("kernel-cost failed in the {} guest ({status})", kernel.line);
        }
    }
    Ok(())
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
    // Without root or the capabilities, cpudist may still have them as file capabilities
    // (setcap), which a build that replaces the binary drops.
    let bin = ws.target_dir().join("release/cpudist");
    let needs_caps = !only_help && !setup::can_trace();
    let no_caps = |why: &str| {
        anyhow::anyhow!(
            "`cargo xtask run` needs root, or CAP_BPF and CAP_PERFMON, to load cpudist's eBPF \
             programs{why}: run `sudo -E env PATH=\"$PATH\" cargo xtask run`, or, without sudo, \
             `cargo xtask build` and have root run `setcap cap_bpf,cap_perfmon+ep {}` (again \
             after each build)",
            bin.display()
        )
    };
    if needs_caps && !setup::has_file_capabilities(&bin) {
        return Err(no_caps(""));
    }
    let tc = setup::run(&setup::Options::default(), &ws.cargo)?;
    ws.build_tools(&tc)?;
    if needs_caps && !setup::has_file_capabilities(&bin) {
        return Err(no_caps(
            " (the build replaced cpudist, and with it its capabilities)",
        ));
    }
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

    /// Builds every test binary as the host's test step does (`cargo test --release`: so here
    /// nothing is rebuilt) and returns `(target, path)` of each of `wanted`'s `(package, test
    /// target)`. Optimized, because emulated unoptimized code is slow enough to matter: in the
    /// 6.1 guest the test binaries took 370 s unoptimized and 224 s optimized (kallsyms and BTF
    /// read by hand, the objects parsed before each load).
    fn test_binaries(
        &self,
        tc: &Toolchain,
        wanted: &[(&str, &str)],
    ) -> Result<Vec<(String, String)>> {
        let mut cmd = Command::new(&self.cargo);
        if let Some(dir) = &self.target_dir_env {
            cmd.env("CARGO_TARGET_DIR", dir);
        }
        cmd.args(["test", "--release", "--no-run", "--message-format=json"]);
        let out = cmd
            .current_dir(&self.root)
            .env("HIST_EBPF_TOOLCHAIN", &tc.name)
            .env("PATH", &tc.path)
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("cannot start cargo test --no-run")?;
        if !out.status.success() {
            bail!("cargo test --no-run failed ({})", out.status);
        }
        let mut found = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let target = &message["target"];
            let (Some(name), Some(exe)) = (target["name"].as_str(), message["executable"].as_str())
            else {
                continue;
            };
            let package = message["package_id"].as_str().unwrap_or_default();
            let is_test = target["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "test"));
            if is_test
                && wanted
                    .iter()
                    .any(|(p, t)| *t == name && package.contains(p))
            {
                found.push((name.to_owned(), exe.to_owned()));
            }
        }
        // In `wanted`'s order, not cargo's (which varies between runs): the guest script
        // lists them, and it is part of each guest's key in the record of passed steps.
        let mut ordered = Vec::with_capacity(wanted.len());
        for (_, test) in wanted {
            let Some(at) = found.iter().position(|(name, _)| name == test) else {
                bail!("cargo built no test binary `{test}`");
            };
            ordered.push(found.swap_remove(at));
        }
        Ok(ordered)
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
