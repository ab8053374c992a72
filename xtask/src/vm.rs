//! `cargo xtask vm`: Debian's own kernels booted under QEMU, for the hooks and file systems the
//! host kernel may lack (kprobes, fentry on modules, NFS, XFS as a module).
//!
//! virtme-ng boots a kernel image with the host's root file system shared read-only (writable
//! overlays on `/tmp`, `/var`, `/etc`…), so the repository, its `target/` and the host's
//! programs are at the same paths in the guest, and runs one command there as root; its output
//! and exit status come back. The kernels come from Debian's archive without touching the
//! system's apt sources: an apt run with its own sources list downloads `linux-image-<release>`,
//! which is unpacked into the cache, given a `modules.dep` and linked from
//! `/lib/modules/<release>` (where modprobe in the guest looks). No KVM by default: the machines
//! this runs on have `/dev/kvm`, but it is PVM's (the `kvm_pvm` module: nested virtualization
//! without hardware support), which runs only kernels built as PVM guests. Debian's are not:
//! QEMU dies setting MSR 0x10a, or without that MSR never gets past the firmware. `--kvm`
//! tries it on a machine where KVM is the real one.

use std::{
    env,
    ffi::OsString,
    fs,
    io::{BufRead as _, BufReader, Write as _},
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::setup;

/// A kernel line of the matrix: the spread of aya's own CI.
#[derive(Clone, Copy)]
pub(crate) struct Kernel {
    /// `major.minor`, as given to `--kernel`.
    pub line: &'static str,
    /// Debian's name for the release that ships it.
    pub debian: &'static str,
}

pub(crate) const KERNELS: [Kernel; 3] = [
    Kernel {
        line: "5.10",
        debian: "bullseye",
    },
    Kernel {
        line: "6.1",
        debian: "bookworm",
    },
    Kernel {
        line: "6.12",
        debian: "bookworm-backports",
    },
];

/// The apt sources that offer the three kernel lines (the newest 5.10 is in bullseye-security).
const SOURCES: &str = "\
deb http://deb.debian.org/debian bullseye main
deb http://deb.debian.org/debian-security bullseye-security main
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian-security bookworm-security main
deb http://deb.debian.org/debian bookworm-backports main
";
/// Drivers that udev's coldplug loads at boot for QEMU's emulated hardware (the q35 board's
/// SATA, SMBus, LPC and watchdog, PC speaker and mouse, KVM for the emulated CPU's SVM, the
/// CPU's crypto and CRC instructions) and that nothing here uses. Emulated, loading them is
/// most of the wait for udev to settle: 15 s of a 35 s boot of 5.10. Blacklisted on the
/// kernel command line, udev skips them; a `modprobe` by name would still load one, and the
/// kernel's own requests fall back to the generic code (`crc32c` for XFS).
const UNUSED_MODULES: &str = concat!(
    "ahci,libahci,libata,scsi_mod,sr_mod,cdrom,sg,i2c_i801,i2c_smbus,lpc_ich,iTCO_wdt,",
    "iTCO_vendor_support,intel_pmc_bxt,i6300esb,pcspkr,psmouse,serio_raw,evdev,button,",
    "kvm,kvm_amd,kvm_intel,irqbypass,ccp,aesni_intel,ghash_clmulni_intel,crc32_pclmul,",
    "crc32c_intel,crct10dif_pclmul,cryptd,crypto_simd,glue_helper",
);

/// What the guests use from the host's file system: QEMU; busybox and udev for virtme-ng's
/// init (without udev the guest's console ports are never found and the exit status is lost);
/// kmod (modprobe, depmod); the NFS server and XFS tools the tests use inside the guests.
const PACKAGES: [&str; 7] = [
    "qemu-system-x86",
    "busybox-static",
    "udev",
    "kmod",
    "xfsprogs",
    "nfs-kernel-server",
    "python3-venv",
];
const VIRTME_NG: &str = "virtme-ng==1.42";
/// The first line every guest command prints: the guest booted and the command started.
const GUEST_UP: &str = "hist-vm: guest up";
/// The last line: the command finished (with whatever status).
const GUEST_DONE: &str = "hist-vm: guest done";
/// How many lines of the guest's console a guest that died or hung leaves on our stderr.
const CONSOLE_TAIL: usize = 60;

#[derive(clap::Args)]
pub(crate) struct Options {
    /// The kernel to boot (default 6.1; with --tests, all three)
    #[arg(long, value_parser = ["5.10", "6.1", "6.12"])]
    pub kernel: Option<String>,
    /// Run the VM stage of `cargo xtask test` (the live tests in each guest) instead of COMMAND
    #[arg(long, conflicts_with = "command")]
    pub tests: bool,
    /// Use KVM (the machines this project is tested on have PVM's, which cannot boot Debian's
    /// kernels; software emulation otherwise)
    #[arg(long)]
    pub kvm: bool,
    /// The command to run in the guest as root, in the repository (default: `uname -r`)
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

/// A kernel ready to boot, and virtme-ng to boot it.
pub(crate) struct Guest {
    pub release: String,
    cache: PathBuf,
    vmlinuz: PathBuf,
    vng: PathBuf,
    kvm: bool,
    cpus: u32,
}

pub(crate) fn kernel(line: &str) -> Result<Kernel> {
    KERNELS
        .iter()
        .copied()
        .find(|k| k.line == line)
        .with_context(|| format!("no kernel {line} in the matrix (5.10, 6.1, 6.12)"))
}

/// Installs what the guests need and fetches `kernel` if it is not in the cache yet.
pub(crate) fn prepare(kernel: Kernel, kvm: bool) -> Result<Guest> {
    if !setup::is_root() {
        bail!(
            "the VMs need root (apt packages, /lib/modules links, loading eBPF programs in the \
             guest as the same user): run `sudo -E env PATH=\"$PATH\" cargo xtask vm …`"
        );
    }
    setup::install_packages(&PACKAGES, "the VMs")?;
    let cache = cache_dir()?;
    let vng = virtme_ng(&cache)?;
    let release = fetch_kernel(&cache, kernel)?;
    let root = cache.join("kernels").join(&release);
    link_modules(&root, &release)?;
    Ok(Guest {
        vmlinuz: root.join("boot").join(format!("vmlinuz-{release}")),
        release,
        cache,
        vng,
        kvm,
        cpus: 2,
    })
}

impl Guest {
    /// The guest with one vCPU instead of two: for timings, since both vCPUs share one host
    /// thread under emulation, and a program's run time would include the other vCPU's turns.
    pub(crate) fn single_cpu(self) -> Self {
        Self { cpus: 1, ..self }
    }

    /// Boots the kernel and runs `command` (a shell command line) as root in `cwd`; the
    /// command's output goes to `output`, line by line. Returns its exit status; a guest still
    /// running after `limit` is killed (an error).
    ///
    /// A guest that ends without the command having finished (a boot that went wrong, or a guest
    /// that died, under emulation) is booted once more; a command that finished and failed is
    /// not run again.
    pub(crate) fn run(
        &self,
        cwd: &Path,
        command: &str,
        limit: Duration,
        output: &Output,
    ) -> Result<ExitStatus> {
        // virtme-ng passes the command on the kernel's command line, which is cut at 2 KiB:
        // a script file (the guest sees the host's files) keeps any command whole. Its first
        // line tells the host that the guest is up.
        // One script per process and kernel: guests run side by side.
        let script = self
            .cache
            .join(format!("guest-{}-{}.sh", std::process::id(), self.release));
        fs::write(
            &script,
            format!(
                "echo {GUEST_UP}\n( {command}\n)\nstatus=$?\necho {GUEST_DONE}\nexit $status\n"
            ),
        )?;
        let command = format!("sh {}", shell_quote(&script.to_string_lossy()));
        let mut status = self.boot(cwd, &command, limit, output);
        if let Ok((exit, false)) = &status
            && !exit.success()
        {
            eprintln!(
                "vm: the {} guest ended before its command finished ({exit}); booting it again",
                self.release
            );
            status = self.boot(cwd, &command, limit, output);
        }
        let _ = fs::remove_file(&script);
        status.map(|(exit, _)| exit)
    }

    /// Boots once: the exit status, and whether the command finished.
    fn boot(
        &self,
        cwd: &Path,
        command: &str,
        limit: Duration,
        output: &Output,
    ) -> Result<(ExitStatus, bool)> {
        let mut vng = Command::new(&self.vng);
        vng.arg("-r").arg(&self.vmlinuz);
        if !self.kvm {
            // One host thread for both vCPUs: with QEMU's default multi-threaded TCG, a guest
            // patching its kernel text (every detach of a tracepoint program does, through
            // static calls) hung for good now and then: one vCPU waited on an IPI that the
            // other, spinning in the code being patched, never answered (soft lockup in
            // `smp_call_function_many_cond` from `text_poke_bp`, on 6.1; 5.10 and 6.12 guests
            // hung or died the same way under the cpudist tests).
            vng.args(["--disable-kvm", "--qemu-opts=-accel tcg,thread=single"]);
        }
        vng.arg("--cpus").arg(self.cpus.to_string());
        // 9p straight away: virtiofsd cannot start here, and virtme-ng waits 3 s for it.
        vng.arg("--force-9p");
        vng.arg("--append")
            .arg(format!("modprobe.blacklist={UNUSED_MODULES}"));
        vng.args(["--memory", "2G", "--user", "root", "--verbose"])
            .arg("--cwd")
            .arg(cwd)
            .args(["--exec", command])
            .stdin(Stdio::null());
        // virtme-ng runs its helpers (virtme-run…) from PATH.
        let bin = self.vng.parent().context("virtme-ng has no folder")?;
        let mut dirs = vec![bin.to_path_buf()];
        dirs.extend(env::split_paths(&env::var_os("PATH").unwrap_or_default()));
        vng.env("PATH", env::join_paths(dirs)?);
        // Through pipes: QEMU reopens its stdout and stderr by path (/proc/self/fd/N), which
        // for a file starts writing at offset 0 again and overwrites what was there.
        // Its own process group: on a time-out QEMU (a grandchild) goes with it, and the pipes
        // close.
        let mut child = vng
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {}", self.vng.display()))?;
        let (up, done) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let stdout = {
            let (up, done) = (Arc::clone(&up), Arc::clone(&done));
            let output = output.clone();
            thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    match line.trim() {
                        GUEST_UP => up.store(true, Ordering::Relaxed),
                        GUEST_DONE => done.store(true, Ordering::Relaxed),
                        _ => output.line(line),
                    }
                }
            })
        };
        // The kernel's console (`--verbose`) and virtme-ng's own messages: kept in a file, and
        // their last lines shown when the guest dies or hangs (an oops, a lockup, an OOM kill).
        let console_log = self.cache.join(format!("console-{}.log", self.release));
        let mut console_file = fs::File::create(&console_log)
            .with_context(|| format!("cannot create {}", console_log.display()))?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let (up, errors) = (Arc::clone(&up), output.clone());
        let stderr = thread::spawn(move || {
            let mut tail = std::collections::VecDeque::with_capacity(CONSOLE_TAIL);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(console_file, "{line}");
                // The command's stderr shares the stream with the kernel's `[ seconds]` lines
                // and, before the command starts, the boot loader's.
                if up.load(Ordering::Relaxed) && !is_kernel_message(&line) {
                    errors.error_line(&line);
                }
                if tail.len() == CONSOLE_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
            tail
        });
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if started.elapsed() > limit {
                let group = format!("-{}", child.id());
                let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
                let _ = child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(200));
        };
        let _ = stdout.join();
        let tail = stderr.join().unwrap_or_default();
        let finished = done.load(Ordering::Relaxed);
        if !finished {
            eprintln!(
                "vm: the last {} lines of the {} guest's console ({}):",
                tail.len(),
                self.release,
                console_log.display()
            );
            for line in &tail {
                eprintln!("  | {line}");
            }
        }
        let status = status.with_context(|| {
            format!(
                "the {} guest was still running after {} s: killed",
                self.release,
                limit.as_secs()
            )
        })?;
        Ok((status, finished))
    }
}

/// Where a guest's output goes: our stdout as it comes, or a buffer to print in one piece
/// (guests that run side by side).
#[derive(Clone)]
pub(crate) enum Output {
    /// Each line to stdout at once.
    Stdout,
    /// Each line kept, in order.
    Buffer(Arc<std::sync::Mutex<Vec<String>>>),
}

impl Output {
    /// A new, empty buffer.
    pub(crate) fn buffer() -> Self {
        Self::Buffer(Arc::default())
    }

    fn line(&self, line: String) {
        match self {
            Self::Stdout => println!("{line}"),
            Self::Buffer(lines) => lines.lock().unwrap_or_else(|e| e.into_inner()).push(line),
        }
    }

    /// A line of the command's stderr: to our stderr, or kept with the rest.
    fn error_line(&self, line: &str) {
        match self {
            Self::Stdout => eprintln!("{line}"),
            Self::Buffer(_) => self.line(line.to_owned()),
        }
    }

    /// The lines kept so far (none for [`Output::Stdout`]).
    pub(crate) fn take(&self) -> Vec<String> {
        match self {
            Self::Stdout => Vec::new(),
            Self::Buffer(lines) => {
                std::mem::take(&mut *lines.lock().unwrap_or_else(|e| e.into_inner()))
            }
        }
    }
}

/// A kernel console line, `[   12.345678] …`, rather than the guest command's own stderr.
fn is_kernel_message(line: &str) -> bool {
    line.trim_start()
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .is_some_and(|(stamp, _)| {
            let stamp = stamp.trim();
            !stamp.is_empty() && stamp.chars().all(|c| c.is_ascii_digit() || c == '.')
        })
}

/// Where kernels and virtme-ng are kept between runs (`HIST_VM_CACHE` overrides it). The guests
/// must see it, also as other users (the tests run children as `nobody`, which read the kernel's
/// config through `/lib/modules/<release>`): not under /var/cache (the guests mount a tmpfs
/// there), nor under root's home (mode 0700).
const DEFAULT_CACHE: &str = "/var/lib/hist-vm";

fn cache_dir() -> Result<PathBuf> {
    let dir = env::var_os("HIST_VM_CACHE")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_CACHE), PathBuf::from);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Readable by every user of the guests, whatever the umask.
    fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    Ok(dir)
}

/// virtme-ng in its own virtualenv in the cache (not the system's Python packages).
fn virtme_ng(cache: &Path) -> Result<PathBuf> {
    let venv = cache.join("venv");
    let vng = venv.join("bin").join("vng");
    if vng.is_file() {
        return Ok(vng);
    }
    eprintln!("vm: installing {VIRTME_NG} into {}", venv.display());
    // Debian's Python (python3-venv above), whatever `python3` is first on PATH.
    setup::checked(
        Command::new("/usr/bin/python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv),
        "python3 -m venv",
    )?;
    setup::checked(
        Command::new(venv.join("bin").join("pip"))
            .args(["install", "-q", VIRTME_NG])
            .stdin(Stdio::null()),
        &format!("pip install {VIRTME_NG}"),
    )?;
    Ok(vng)
}

/// The newest kernel release of `kernel`'s line in the cache, fetching it from Debian's archive
/// when there is none.
fn fetch_kernel(cache: &Path, kernel: Kernel) -> Result<String> {
    let kernels = cache.join("kernels");
    if let Some(release) = cached_release(&kernels, kernel) {
        return Ok(release);
    }
    let started = Instant::now();
    let apt_dir = cache.join("apt");
    let sources = apt_dir.join("sources.list");
    fs::create_dir_all(apt_dir.join("lists/partial"))?;
    fs::create_dir_all(apt_dir.join("cache/archives/partial"))?;
    fs::write(&sources, SOURCES)?;
    let apt_options: Vec<OsString> = [
        ("Dir::Etc::SourceList", sources.as_os_str()),
        ("Dir::Etc::SourceParts", Path::new("/dev/null").as_os_str()),
        ("Dir::State::Lists", apt_dir.join("lists").as_os_str()),
        ("Dir::Cache", apt_dir.join("cache").as_os_str()),
    ]
    .iter()
    .flat_map(|(key, value)| {
        let mut option = OsString::from(format!("{key}="));
        option.push(value);
        [OsString::from("-o"), option]
    })
    .collect();
    eprintln!(
        "vm: fetching Debian's {} kernel ({})",
        kernel.line, kernel.debian
    );
    setup::checked(
        Command::new("apt-get")
            .args(&apt_options)
            .args(["-q", "update"]),
        "apt-get update (kernel sources)",
    )?;
    let out = Command::new("apt-cache")
        .args(&apt_options)
        .args(["show", "linux-image-amd64"])
        .output()
        .context("cannot run apt-cache")?;
    let package = newest_image(&String::from_utf8_lossy(&out.stdout), kernel.line)
        .with_context(|| format!("Debian's archive offers no {} kernel", kernel.line))?;
    let debs = cache.join("debs");
    fs::create_dir_all(&debs)?;
    setup::checked(
        Command::new("apt-get")
            .args(&apt_options)
            .args(["-q", "download", &package])
            .current_dir(&debs),
        &format!("apt-get download {package}"),
    )?;
    let release = package
        .strip_prefix("linux-image-")
        .context("unexpected package name")?
        .to_owned();
    let deb = fs::read_dir(&debs)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{package}_")))
        })
        .with_context(|| format!("{package} was not downloaded"))?;
    // Unpacked next to its final place, then renamed: an interrupted run leaves no half kernel.
    let partial = kernels.join(format!(".{release}.partial"));
    let _ = fs::remove_dir_all(&partial);
    fs::create_dir_all(&partial)?;
    setup::checked(
        Command::new("dpkg").arg("-x").arg(&deb).arg(&partial),
        "dpkg -x",
    )?;
    // The package's modules.dep is made by its postinst, which `dpkg -x` does not run.
    setup::checked(
        Command::new("depmod").arg("-b").arg(&partial).arg(&release),
        "depmod",
    )?;
    fs::rename(&partial, kernels.join(&release))?;
    fs::remove_file(&deb)?;
    eprintln!(
        "vm: kernel {release} ready in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(release)
}

/// A release of `kernel`'s line already unpacked in `kernels` (`6.1` → `6.1.0-56-amd64`).
fn cached_release(kernels: &Path, kernel: Kernel) -> Option<String> {
    let prefix = format!("{}.", kernel.line);
    let mut releases: Vec<String> = fs::read_dir(kernels)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    releases.sort_by_key(|r| version_key(r));
    releases.pop()
}

/// The `linux-image-<release>` package of the newest `linux-image-amd64` of `line` in
/// `apt-cache show` output (its `Depends`).
fn newest_image(show: &str, line: &str) -> Option<String> {
    let prefix = format!("{line}.");
    show.split("\n\n")
        .filter_map(|stanza| {
            let field = |name: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::trim)
            };
            let version = field("Version:")?;
            let depends = field("Depends:")?;
            let package = depends.split_whitespace().next()?;
            version
                .starts_with(&prefix)
                .then(|| (version_key(version), package.to_owned()))
        })
        .max()
        .map(|(_, package)| package)
}

/// The numbers of a version, in order: enough to order Debian's kernel versions of one line.
fn version_key(version: &str) -> Vec<u64> {
    version
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// `/lib/modules/<release>` → the unpacked modules, unless the host has that kernel installed.
fn link_modules(root: &Path, release: &str) -> Result<()> {
    let target = root.join("lib/modules").join(release);
    let link = Path::new("/lib/modules").join(release);
    match fs::read_link(&link) {
        Ok(current) if current == target => return Ok(()),
        Ok(_) => fs::remove_file(&link)?,
        Err(_) if link.exists() => return Ok(()), // the host's own modules of that release
        Err(_) => {}
    }
    fs::create_dir_all("/lib/modules")?;
    std::os::unix::fs::symlink(&target, &link)
        .with_context(|| format!("cannot link {} to {}", link.display(), target.display()))
}

/// A shell word for `arg`.
pub(crate) fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_image_of_each_line() {
        let show = "Package: linux-image-amd64\nVersion: 6.12.95-1~bpo12+1\nDepends: linux-image-6.12.95+deb12-amd64 (= 6.12.95-1~bpo12+1)\n\n\
                    Package: linux-image-amd64\nVersion: 6.1.192-2\nDepends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)\n\n\
                    Package: linux-image-amd64\nVersion: 6.1.176-1\nDepends: linux-image-6.1.0-50-amd64 (= 6.1.176-1)\n\n\
                    Package: linux-image-amd64\nVersion: 5.10.262-1\nDepends: linux-image-5.10.0-46-amd64 (= 5.10.262-1)\n";
        assert_eq!(
            newest_image(show, "6.1").as_deref(),
            Some("linux-image-6.1.0-56-amd64")
        );
        assert_eq!(
            newest_image(show, "6.12").as_deref(),
            Some("linux-image-6.12.95+deb12-amd64")
        );
        assert_eq!(
            newest_image(show, "5.10").as_deref(),
            Some("linux-image-5.10.0-46-amd64")
        );
        assert_eq!(newest_image(show, "4.19"), None);
    }

    #[test]
    fn kernel_messages_are_told_from_the_command_stderr() {
        assert!(is_kernel_message("[   12.345678] loop: module loaded"));
        assert!(is_kernel_message("[0.000000] Linux version"));
        assert!(!is_kernel_message("nfsdist: this kernel has no NFS client"));
        assert!(!is_kernel_message("[sudo] password"));
        assert!(!is_kernel_message("[] x"));
    }

    #[test]
    fn quoting() {
        assert_eq!(
            shell_quote("target/release/nfsdist"),
            "target/release/nfsdist"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
