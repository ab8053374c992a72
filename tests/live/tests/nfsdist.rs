//! nfsdist against a real NFS client: a loopback NFSv4.2 mount of an exported tmpfs, where this
//! kernel can serve and mount one (Debian's kernels in the VM stage: `nfsd`, `nfs` and `nfsv4`
//! are modules there). A workload of known size runs under `nfsdist -p PID` on every hook this
//! kernel offers for NFS's functions, forced one by one, and on the default plan: each op's
//! histogram holds exactly the number of calls made. Where the kernel has no NFS at all, the
//! tool's refusal is what latency_tools.rs checks.

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use common::{Traced, Workload, report, section_totals, sh, trace_around};
use hist_user::kernel::{self, KernelBtf};

/// Calls of each file operation in the workload.
const TIMES: u64 = 200;

/// A tmpfs exported by the kernel's NFS server and mounted back over NFSv4.2 on 127.0.0.1.
struct LoopbackNfs {
    dir: PathBuf,
}

impl LoopbackNfs {
    /// Mounts it, or says why this kernel cannot (no NFS server or client).
    fn mount() -> Result<Self, String> {
        // Modules where they are modules; built-in or absent otherwise, and then the check below.
        let _ = Command::new("modprobe")
            .args(["-qa", "nfsd", "nfs", "nfsv4"])
            .status();
        let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap();
        for fs in ["nfsd", "nfs4"] {
            if !filesystems.lines().any(|l| l.ends_with(&format!("\t{fs}"))) {
                return Err(format!("this kernel has no {fs} file system"));
            }
        }
        let dir = std::env::temp_dir().join(format!("hist-nfs-{}", std::process::id()));
        let (export, mnt) = (dir.join("export"), dir.join("mnt"));
        std::fs::create_dir_all(&export).unwrap();
        std::fs::create_dir_all(&mnt).unwrap();
        // A 9p or overlay folder cannot be exported: a tmpfs can.
        sh(&format!("mount -t tmpfs tmpfs {}", export.display()));
        let nfs = Self { dir };
        sh("mountpoint -q /proc/fs/nfsd || mount -t nfsd nfsd /proc/fs/nfsd");
        sh(&format!(
            "exportfs -o rw,no_root_squash,fsid=0,insecure,no_subtree_check 127.0.0.1:{}",
            export.display()
        ));
        // Daemons: their output must not hold the pipes that `sh` reads to the end.
        sh("pgrep -x rpcbind >/dev/null || rpcbind -w >/dev/null 2>&1 </dev/null");
        sh("pgrep -x rpc.mountd >/dev/null || rpc.mountd >/dev/null 2>&1 </dev/null");
        sh("rpc.nfsd 4 >/dev/null 2>&1 </dev/null");
        sh(&format!(
            "mount -t nfs4 -o vers=4.2 127.0.0.1:/ {}",
            mnt.display()
        ));
        Ok(nfs)
    }

    fn mnt(&self) -> PathBuf {
        self.dir.join("mnt")
    }
}

impl Drop for LoopbackNfs {
    fn drop(&mut self) {
        let export = self.dir.join("export");
        let _ = Command::new("umount").arg(self.mnt()).status();
        let _ = Command::new("exportfs")
            .arg("-u")
            .arg(format!("127.0.0.1:{}", export.display()))
            .status();
        let _ = Command::new("rpc.nfsd").arg("0").status();
        let _ = Command::new("umount").arg(&export).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The hooks nfsdist must be able to use here, probed independently of its attach plan:
/// kprobe where the kernel has kprobes and NFS's functions are in kallsyms; fentry where NFS's
/// functions are in BTF (the nfs module's) and the kernel loads fentry programs.
fn usable_hooks() -> Vec<&'static str> {
    let mut hooks = Vec::new();
    let in_kallsyms = |f: &str| {
        let symbols = kernel::kallsyms_lookup(f).unwrap();
        kernel::pick_attachable(&symbols).is_some()
    };
    if Path::new("/sys/kernel/btf/nfs").exists() && kernel::fentry_supported().unwrap() {
        let btf = KernelBtf::load().unwrap();
        if btf.func_owner("nfs_file_read").unwrap().is_some() {
            hooks.push("fentry");
        }
    }
    if kernel::kprobes_supported() && in_kallsyms("nfs_file_read") {
        hooks.push("kprobe");
    }
    hooks
}

/// Runs the workload on the NFS mount under `nfsdist -v -p PID [args]`; the totals per op and
/// the hooks it reported.
fn traced_workload(nfs: &LoopbackNfs, args: &[&str]) -> (Vec<(String, u64)>, String) {
    let file = nfs.mnt().join("file");
    let workload = Workload::spawn(&["files", file.to_str().unwrap(), &TIMES.to_string()]);
    // Its file is written before it waits to be started: not part of what is counted.
    while std::fs::metadata(&file).map_or(true, |m| m.len() < 64 << 10) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let pid = workload.pid().to_string();
    let mut all = vec!["-v", "-p", &pid];
    all.extend(args);
    let mut workload = Some(workload);
    let Traced { output, stderr, .. } = trace_around("nfsdist", &all, || {
        workload.take().unwrap().run_to_end();
    });
    (section_totals(&output), stderr)
}

#[test]
fn nfsdist_counts_every_call_of_a_known_workload_on_every_hook() {
    let nfs = match LoopbackNfs::mount() {
        Ok(nfs) => nfs,
        Err(why) => {
            // No NFS here: nfsdist must refuse (the lines are checked in latency_tools.rs).
            let status = Command::new(common::tool_bin("nfsdist"))
                .args(["1", "1"])
                .output()
                .unwrap()
                .status;
            assert_eq!(status.code(), Some(1), "{why}, yet nfsdist did not fail");
            report(&format!("nfsdist: {why}: refuses, as it must"));
            return;
        }
    };
    let hooks = usable_hooks();
    assert!(!hooks.is_empty(), "NFS is mounted but no hook reaches it");
    let expected: Vec<(String, u64)> = ["read", "write", "open", "fsync", "getattr"]
        .iter()
        .map(|op| ((*op).to_owned(), TIMES))
        .collect();
    for hook in ["fentry", "kprobe", "tracepoint"] {
        if !hooks.contains(&hook) {
            // Forcing a hook this kernel lacks is one line per op and exit 1.
            let output = Command::new(common::tool_bin("nfsdist"))
                .args(["--attach", hook, "1", "1"])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "--attach {hook}: {stderr}");
            assert_eq!(stderr.lines().count(), 5, "{stderr}");
            continue;
        }
        let (totals, stderr) = traced_workload(&nfs, &["--attach", hook]);
        assert_eq!(totals, expected, "--attach {hook}:\n{stderr}");
        report(&format!(
            "nfsdist --attach {hook}: read, write, open, fsync, getattr × {TIMES} exact"
        ));
    }
    // The default plan picks the best hook there is for every op.
    let (totals, stderr) = traced_workload(&nfs, &[]);
    assert_eq!(totals, expected, "{stderr}");
    let picked: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("nfsdist: "))
        .collect();
    assert_eq!(picked.len(), 5, "{stderr}");
    for line in &picked {
        assert!(line.contains(&format!(": {} on ", hooks[0])), "{line}");
        report(line);
    }
}
