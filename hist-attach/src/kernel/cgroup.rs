//! cgroups (v2), for tools that filter or split by them: where the hierarchy is mounted, and the
//! path of a cgroup by its id (its directory's inode number, what `kernfs_node.id` holds).

use std::{
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

/// Where cgroup v2 is mounted: `/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` beside v1; `None`
/// when it is not.
pub fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(fields[1]))
    })
}

/// The path below the cgroup2 mount (`/system.slice/ssh.service`; `/` for the root) of the
/// cgroup whose id has `id` as its low 32 bits (a histogram keyed by `u32`: ids differ there
/// until 2^32 cgroups have been made), or `None` when there is no such cgroup now.
pub fn cgroup_path(id: u32) -> Option<String> {
    let root = cgroup2_mount()?;
    let found = find(&root, id)?;
    let below = found.strip_prefix(&root).ok()?;
    Some(format!("/{}", below.display()))
}

/// The directory below `dir` (itself included) whose inode number's low 32 bits are `id`.
fn find(dir: &Path, id: u32) -> Option<PathBuf> {
    let meta = std::fs::metadata(dir).ok()?;
    if meta.ino() as u32 == id {
        return Some(dir.to_owned());
    }
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .find_map(|entry| find(&entry.path(), id))
}
