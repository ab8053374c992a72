//! Devices and file systems the live tests and the kernel-cost bench trace: a loopback NFS mount,
//! a loop device and XFS on one, each set up by the kernel's own tools and taken down on drop (as root).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// Runs a shell command; its stdout, trimmed, or what failed with its stderr.
pub fn shell(command: &str) -> Result<String, String> {
    let output = Command::new("sh")
        .args(["-c", command])
        .output()
        .map_err(|error| format!("cannot run sh: {error}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("`{command}` failed: {}", stderr.trim()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A tmpfs exported by the kernel's NFS server and mounted back over NFSv4.2 on 127.0.0.1.
pub struct LoopbackNfs {
    dir: PathBuf,
}

impl LoopbackNfs {
    /// Why this kernel cannot serve and mount NFS (it has no `nfsd` or no `nfs4` file system,
    /// even after loading the modules), or `None` when it can.
    pub fn missing() -> Option<String> {
        // Modules where they are modules; built-in or absent otherwise, and then the check below.
        let _ = Command::new("modprobe")
            .args(["-qa", "nfsd", "nfs", "nfsv4"])
            .status();
        let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
        ["nfsd", "nfs4"]
            .into_iter()
            .find(|fs| !filesystems.lines().any(|l| l.ends_with(&format!("\t{fs}"))))
            .map(|fs| format!("this kernel has no {fs} file system"))
    }

    /// Mounts it, or says what failed (or why this kernel cannot: [`missing`](Self::missing)).
    pub fn mount() -> Result<Self, String> {
        if let Some(why) = Self::missing() {
            return Err(why);
        }
        let dir = std::env::temp_dir().join(format!("hist-nfs-{}", std::process::id()));
        let (export, mnt) = (dir.join("export"), dir.join("mnt"));
        for folder in [&export, &mnt] {
            std::fs::create_dir_all(folder)
                .map_err(|error| format!("cannot create {}: {error}", folder.display()))?;
        }
        // A 9p or overlay folder cannot be exported: a tmpfs can.
        shell(&format!("mount -t tmpfs tmpfs {}", export.display()))?;
        let nfs = Self { dir };
        shell("mountpoint -q /proc/fs/nfsd || mount -t nfsd nfsd /proc/fs/nfsd")?;
        shell(&format!(
            "exportfs -o rw,no_root_squash,fsid=0,insecure,no_subtree_check 127.0.0.1:{}",
            export.display()
        ))?;
        // Daemons: their output must not hold the pipes that `shell` reads to the end.
        shell("pgrep -x rpcbind >/dev/null || rpcbind -w >/dev/null 2>&1 </dev/null")?;
        shell("pgrep -x rpc.mountd >/dev/null || rpc.mountd >/dev/null 2>&1 </dev/null")?;
        shell("rpc.nfsd 4 >/dev/null 2>&1 </dev/null")?;
        shell(&format!(
            "mount -t nfs4 -o vers=4.2 127.0.0.1:/ {}",
            mnt.display()
        ))?;
        Ok(nfs)
    }

    /// Where the NFS file system is mounted.
    pub fn mnt(&self) -> PathBuf {
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

/// A loop device over a sparse file in a temporary folder; detached and removed on drop.
pub struct LoopDevice {
    dir: PathBuf,
    device: String,
}

impl LoopDevice {
    /// Makes a sparse image of `megabytes` MB, formatted by `mkfs` (a command that takes the
    /// image's path last: `mkfs.xfs -q`) unless `None`, and attaches a loop device to it; or says
    /// what failed. Waits for udev to have probed the new device, where udev runs.
    pub fn attach(megabytes: u32, mkfs: Option<&str>) -> Result<LoopDevice, String> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("hist-loop-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        // Where it is a module (Debian's kernels); built in here, and then this does nothing.
        let _ = Command::new("modprobe").args(["-q", "loop"]).status();
        let image = dir.join("image");
        shell(&format!("truncate -s {megabytes}M {}", image.display()))?;
        if let Some(mkfs) = mkfs {
            shell(&format!("{mkfs} {}", image.display()))?;
        }
        let device = shell(&format!("losetup -f --show {}", image.display()))?;
        let _ = Command::new("udevadm").arg("settle").status();
        let loop_device = LoopDevice { dir, device };
        loop_device.wait_idle();
        Ok(loop_device)
    }

    /// Waits (up to 10 s) until nothing has read or written the device for half a second:
    /// udev's probe of a new device (blkid's few dozen reads) may begin after `udevadm settle`
    /// returned, and a test counts every request of the disk.
    fn wait_idle(&self) {
        let stat = format!("/sys/block/{}/stat", self.name());
        let mut last = std::fs::read_to_string(&stat).unwrap_or_default();
        for _ in 0..20 {
            std::thread::sleep(std::time::Duration::from_millis(500));
            let now = std::fs::read_to_string(&stat).unwrap_or_default();
            if now == last {
                return;
            }
            last = now;
        }
    }

    /// The device's path: `/dev/loop3`.
    pub fn path(&self) -> &str {
        &self.device
    }

    /// The disk's name in `/proc/partitions` and in the tools' `-d`: `loop3`.
    pub fn name(&self) -> &str {
        self.device.trim_start_matches("/dev/")
    }

    /// The temporary folder, for a mount point beside the image.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.device]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A file system on a loop device, mounted in a temporary folder; gone on drop.
pub struct MountedImage {
    loop_device: LoopDevice,
}

/// The XFS image the reclaim tests fill with inodes.
pub type Xfs = MountedImage;

impl MountedImage {
    /// Makes and mounts a 400 MB XFS image, or says what failed.
    pub fn mount() -> Result<MountedImage, String> {
        Self::mount_fs("xfs", "mkfs.xfs -q")
    }

    /// Makes a 400 MB image of file system `fs` with `mkfs` (a command that takes the image's
    /// path last) and mounts it, or says what failed.
    pub fn mount_fs(fs: &str, mkfs: &str) -> Result<MountedImage, String> {
        // Where it is a module (Debian's kernels); built in here, and then this does nothing.
        let _ = Command::new("modprobe").args(["-q", fs]).status();
        let loop_device = LoopDevice::attach(400, Some(mkfs))?;
        let image = MountedImage { loop_device };
        std::fs::create_dir_all(image.mnt())
            .map_err(|error| format!("cannot create {}: {error}", image.mnt().display()))?;
        shell(&format!(
            "mount -t {fs} {} {}",
            image.loop_device.path(),
            image.mnt().display()
        ))?;
        Ok(image)
    }

    /// Where the file system is mounted.
    pub fn mnt(&self) -> PathBuf {
        self.loop_device.dir().join("mnt")
    }
}

impl Drop for MountedImage {
    fn drop(&mut self) {
        // Before the loop device is detached (its own drop, after this).
        let _ = Command::new("umount").arg(self.mnt()).status();
    }
}

/// Makes the kernel reclaim the inodes of the files in `dir`: drops the clean inode cache,
/// reads the folder back in, and drops it again.
pub fn reclaim_inodes(dir: &Path) -> Result<(), String> {
    shell("sync; echo 2 > /proc/sys/vm/drop_caches")?;
    let entries = std::fs::read_dir(dir)
        .map_err(|error| format!("cannot list {}: {error}", dir.display()))?;
    for entry in entries.flatten() {
        let _ = entry.metadata();
    }
    shell("echo 2 > /proc/sys/vm/drop_caches")?;
    Ok(())
}

/// A cgroup (v2) of its own below the cgroup2 mount (mounted at `/tmp/hist-cgroup2` where there
/// is none, and left there for the other tests), for `-c`; removed on drop, once the processes
/// put in it have exited.
pub struct Cgroup {
    dir: PathBuf,
}

impl Cgroup {
    /// Makes the cgroup, or says what failed.
    pub fn create() -> Result<Cgroup, String> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mounts = std::fs::read_to_string("/proc/mounts").map_err(|e| e.to_string())?;
        let cgroup2 = mounts.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(fields[1]))
        });
        let root = match cgroup2 {
            Some(root) => root,
            None => {
                // Tests in parallel may get here at once: a second mount is harmless.
                let root = std::env::temp_dir().join("hist-cgroup2");
                std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
                shell(&format!("mount -t cgroup2 none {}", root.display()))?;
                root
            }
        };
        let dir = root.join(format!("hist-test-{}-{n}", std::process::id()));
        std::fs::create_dir(&dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        Ok(Cgroup { dir })
    }

    /// Its directory, what `-c` takes.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Moves process `pid` (all its threads) into it.
    pub fn add(&self, pid: u32) -> Result<(), String> {
        let procs = self.dir.join("cgroup.procs");
        std::fs::write(&procs, pid.to_string())
            .map_err(|error| format!("cannot write {}: {error}", procs.display()))
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // A process that has exited leaves its cgroup when it is reaped, a moment later.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
