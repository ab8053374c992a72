//! File systems, for file-system latency tools (fsdist, ext4dist, xfsdist, nfsdist): the file
//! operations they time ([`Op`]: read, write, open, fsync, getattr) and, per file system, the
//! kernel functions of each one: libbpf-tools' fsdist's, with NFSv4's open besides.
//!
//! A tool's programs are the same for every file system (`hist_ebpf::latency_probes!`, one
//! line per op); the attach plan puts them on the functions of the one asked for.

use crate::OpSpec;

crate::ops! {
    /// A file operation: the section `operation = 'read'` of the output.
    pub struct Op {
        READ = 0 => "read",
        WRITE = 1 => "write",
        OPEN = 2 => "open",
        FSYNC = 3 => "fsync",
        GETATTR = 4 => "getattr",
    }
}

/// A file system: its name (`-t ext4`) and the kernel functions of its operations, those of
/// libbpf-tools' fsdist. An op it has no function for (XFS's and btrfs' getattr) is left out.
pub struct FileSystem {
    /// `-t`'s value, and the module to load when its functions are missing.
    pub name: &'static str,
    /// Each op's functions, in order of preference.
    pub ops: &'static [OpSpec],
}

impl FileSystem {
    /// The file system `-t name` names.
    pub fn named(name: &str) -> Option<&'static FileSystem> {
        FILE_SYSTEMS.iter().find(|fs| fs.name == name)
    }
}

/// The file systems fsdist knows, in `-t`'s order.
pub const FILE_SYSTEMS: [FileSystem; 5] = [BTRFS, EXT4, NFS, XFS, F2FS];

/// One op of file system `module` on `functions`.
const fn op(op: Op, functions: &'static [&'static str], module: &'static str) -> OpSpec {
    OpSpec::function(op.name(), functions, Some(module))
}

/// btrfs (libbpf-tools has no getattr for it).
pub const BTRFS: FileSystem = FileSystem {
    name: "btrfs",
    ops: &[
        op(Op::READ, &["btrfs_file_read_iter"], "btrfs"),
        op(Op::WRITE, &["btrfs_file_write_iter"], "btrfs"),
        op(Op::OPEN, &["btrfs_file_open"], "btrfs"),
        op(Op::FSYNC, &["btrfs_sync_file"], "btrfs"),
    ],
};

/// ext4.
pub const EXT4: FileSystem = FileSystem {
    name: "ext4",
    ops: &[
        op(Op::READ, &["ext4_file_read_iter"], "ext4"),
        op(Op::WRITE, &["ext4_file_write_iter"], "ext4"),
        op(Op::OPEN, &["ext4_file_open"], "ext4"),
        op(Op::FSYNC, &["ext4_sync_file"], "ext4"),
        op(Op::GETATTR, &["ext4_file_getattr"], "ext4"),
    ],
};

/// The NFS client. NFSv4 opens go through `nfs4_file_open` (libbpf-tools traces only
/// `nfs_file_open`, and so counts no NFSv4 open).
pub const NFS: FileSystem = FileSystem {
    name: "nfs",
    ops: &[
        op(Op::READ, &["nfs_file_read"], "nfs"),
        op(Op::WRITE, &["nfs_file_write"], "nfs"),
        op(Op::OPEN, &["nfs4_file_open", "nfs_file_open"], "nfs"),
        op(Op::FSYNC, &["nfs_file_fsync"], "nfs"),
        op(Op::GETATTR, &["nfs_getattr"], "nfs"),
    ],
};

/// XFS (libbpf-tools has no getattr for it).
pub const XFS: FileSystem = FileSystem {
    name: "xfs",
    ops: &[
        op(Op::READ, &["xfs_file_read_iter"], "xfs"),
        op(Op::WRITE, &["xfs_file_write_iter"], "xfs"),
        op(Op::OPEN, &["xfs_file_open"], "xfs"),
        op(Op::FSYNC, &["xfs_file_fsync"], "xfs"),
    ],
};

/// F2FS.
pub const F2FS: FileSystem = FileSystem {
    name: "f2fs",
    ops: &[
        op(Op::READ, &["f2fs_file_read_iter"], "f2fs"),
        op(Op::WRITE, &["f2fs_file_write_iter"], "f2fs"),
        op(Op::OPEN, &["f2fs_file_open"], "f2fs"),
        op(Op::FSYNC, &["f2fs_sync_file"], "f2fs"),
        op(Op::GETATTR, &["f2fs_getattr"], "f2fs"),
    ],
};
