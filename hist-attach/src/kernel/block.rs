//! Block devices for block-I/O tools (biolatency, biosnoop): where a request's disk and flags
//! are on this kernel ([`request_fields`]), disk names by the device number a probe sees, and a
//! request's `cmd_flags` named as libbpf-tools' biolatency names them.

use std::{fs, path::Path};

/// The kernel's `MKDEV`, which the device numbers here are in.
pub use hist_core::block::kernel_dev;
use hist_core::block::{DiskFlags, RequestFields};

use super::{KernelBtf, KernelError, KernelField, read_error};

/// The kernel's list of block devices and their partitions.
const PROC_PARTITIONS: &str = "/proc/partitions";
/// The low bits of a request's `cmd_flags` that hold its operation (`REQ_OP_BITS`).
const REQ_OP_BITS: u32 = 8;
const REQ_OP_MASK: u32 = (1 << REQ_OP_BITS) - 1;

/// A block request's disk, a `struct gendisk *`: through its queue since 5.16, `rq_disk` before.
pub const REQUEST_DISK: KernelField = KernelField {
    name: "the disk of a block request",
    chains: &[&["request.q", "request_queue.disk"], &["request.rq_disk"]],
};
/// A disk's major number.
pub const DISK_MAJOR: KernelField = KernelField {
    name: "the major number of a disk",
    chains: &[&["gendisk.major"]],
};
/// A disk's first minor number: with the major, the whole disk's device number.
pub const DISK_FIRST_MINOR: KernelField = KernelField {
    name: "the first minor number of a disk",
    chains: &[&["gendisk.first_minor"]],
};
/// A block request's `cmd_flags`: its op in the low 8 bits, then `REQ_*` flags.
pub const REQUEST_CMD_FLAGS: KernelField = KernelField {
    name: "the flags of a block request",
    chains: &[&["request.cmd_flags"]],
};

/// Where a `tp_btf` probe on the block tracepoints finds the request and its disk and flags on
/// this kernel: the request's argument of `block_rq_issue` (`struct request *`: first since
/// 5.11, second before) and the [`REQUEST_DISK`], [`DISK_MAJOR`], [`DISK_FIRST_MINOR`] and
/// [`REQUEST_CMD_FLAGS`] fields.
///
/// # Errors
///
/// [`KernelError::FieldAbsent`] when BTF lacks one of the fields or the request argument, and
/// as [`KernelBtf::resolve_field`].
pub fn request_fields(btf: &KernelBtf) -> Result<RequestFields, KernelError> {
    let rq_arg = btf.tracepoint_arg_index("block_rq_issue", "struct request *")?;
    let rq_arg = rq_arg.ok_or(KernelError::FieldAbsent {
        field: "the request argument of block_rq_issue",
        tried: "btf_trace_block_rq_issue".into(),
    })?;
    Ok(RequestFields {
        rq_arg: rq_arg as u32,
        disk: btf.require_field(&REQUEST_DISK)?,
        major: btf.require_field(&DISK_MAJOR)?,
        first_minor: btf.require_field(&DISK_FIRST_MINOR)?,
        cmd_flags: btf.require_field(&REQUEST_CMD_FLAGS)?,
    })
}

/// What a block tool needs of this kernel, read once before it loads: where a request's fields
/// are for `tp_btf` ([`RequestFields::ABSENT`] without BTF, where only the tracefs tracepoints
/// can serve), the disks by name and number, and the names of request flags.
#[derive(Debug, Clone)]
pub struct BlockFacts {
    /// Where a request's disk and flags are, for the tool's config.
    pub fields: RequestFields,
    /// The disks and partitions.
    pub disks: Disks,
    /// The names of `cmd_flags`.
    pub flags: RequestFlags,
}

impl BlockFacts {
    /// Reads `/proc/partitions` and, where the kernel has BTF, the request's fields and flags.
    ///
    /// # Errors
    ///
    /// As [`Disks::load`], [`request_fields`] and [`RequestFlags::from_btf`].
    pub fn load() -> Result<BlockFacts, KernelError> {
        let disks = Disks::load()?;
        let (fields, flags) = match KernelBtf::load() {
            Ok(btf) => (request_fields(&btf)?, RequestFlags::from_btf(&btf)?),
            Err(_) => (RequestFields::ABSENT, RequestFlags::libbpf_tools()),
        };
        Ok(BlockFacts {
            fields,
            disks,
            flags,
        })
    }

    /// The name of the disk `dev`, or `Unknown`, as libbpf-tools prints it.
    pub fn disk_name(&self, dev: u32) -> &str {
        self.disks.name_of(dev).unwrap_or("Unknown")
    }

    /// The device number of the disk `-d` names (`sdc`), 0 for none.
    ///
    /// # Errors
    ///
    /// [`KernelError::NoSuchDisk`] when `/proc/partitions` has no such disk.
    pub fn disk_dev(&self, name: Option<&str>) -> Result<u32, KernelError> {
        let Some(name) = name else { return Ok(0) };
        let dev = self.disks.dev_of(name);
        dev.ok_or_else(|| KernelError::NoSuchDisk(name.to_owned()))
    }

    /// A histogram's section value as libbpf-tools' biolatency prints it: the disk's name
    /// (`per_disk`), the flags' (`per_flags`: `Sync-Write`), or both (`sda\tflags = Write`, after
    /// `disk = `).
    pub fn label(&self, key: &DiskFlags, per_disk: bool, per_flags: bool) -> String {
        let disk = self.disk_name(key.dev);
        match (per_disk, per_flags) {
            (true, true) => format!("{disk}\tflags = {}", self.flags.name(key.flags)),
            (false, true) => self.flags.name(key.flags),
            _ => disk.to_owned(),
        }
    }
}

/// The block devices and partitions of `/proc/partitions`, by kernel device number
/// ([`kernel_dev`]), to name the devices a probe reports and to filter on one by name.
#[derive(Debug, Clone, Default)]
pub struct Disks {
    devices: Vec<(u32, String)>,
}

impl Disks {
    /// Reads `/proc/partitions`.
    ///
    /// # Errors
    ///
    /// [`KernelError::Read`] when it cannot be read.
    pub fn load() -> Result<Disks, KernelError> {
        let path = Path::new(PROC_PARTITIONS);
        let text = fs::read_to_string(path).map_err(|e| read_error(path, e))?;
        Ok(Disks::parse(&text))
    }

    /// The devices of a `/proc/partitions` text: `major minor #blocks name` lines, the header
    /// and any other line skipped.
    pub fn parse(text: &str) -> Disks {
        let devices = text
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let major = fields.next()?.parse().ok()?;
                let minor = fields.next()?.parse().ok()?;
                let name = fields.nth(1)?;
                Some((kernel_dev(major, minor), name.to_owned()))
            })
            .collect();
        Disks { devices }
    }

    /// The kernel device number of the device or partition `name` (`"nvme0n1"`).
    pub fn dev_of(&self, name: &str) -> Option<u32> {
        self.devices
            .iter()
            .find(|(_, n)| n == name)
            .map(|(d, _)| *d)
    }

    /// The name of the device or partition with kernel device number `dev`.
    pub fn name_of(&self, dev: u32) -> Option<&str> {
        self.devices
            .iter()
            .find(|(d, _)| *d == dev)
            .map(|(_, n)| n.as_str())
    }
}

/// libbpf-tools' flags in the order it prints them: the `enum req_flag_bits` enumerator, the
/// name, and the bit in libbpf-tools' header.
const FLAGS: [(&str, &str, u32); 11] = [
    ("__REQ_NOWAIT", "NoWait-", 21),
    ("__REQ_BACKGROUND", "Background-", 20),
    ("__REQ_RAHEAD", "ReadAhead-", 19),
    ("__REQ_PREFLUSH", "PreFlush-", 18),
    ("__REQ_FUA", "FUA-", 17),
    ("__REQ_INTEGRITY", "Integrity-", 16),
    ("__REQ_IDLE", "Idle-", 15),
    ("__REQ_NOMERGE", "NoMerge-", 14),
    ("__REQ_PRIO", "Priority-", 13),
    ("__REQ_META", "Metadata-", 12),
    ("__REQ_SYNC", "Sync-", 11),
];

/// libbpf-tools' operations: the `enum req_op` (`req_opf` before 6.0) enumerator, the name, and
/// the value in libbpf-tools' header.
const OPS: [(&str, &str, u32); 16] = [
    ("REQ_OP_READ", "Read", 0),
    ("REQ_OP_WRITE", "Write", 1),
    ("REQ_OP_FLUSH", "Flush", 2),
    ("REQ_OP_DISCARD", "Discard", 3),
    ("REQ_OP_SECURE_ERASE", "SecureErase", 5),
    ("REQ_OP_ZONE_RESET", "ZoneReset", 6),
    ("REQ_OP_WRITE_SAME", "WriteSame", 7),
    ("REQ_OP_ZONE_RESET_ALL", "ZoneResetAll", 8),
    ("REQ_OP_WRITE_ZEROES", "WriteZeroes", 9),
    ("REQ_OP_ZONE_OPEN", "ZoneOpen", 10),
    ("REQ_OP_ZONE_CLOSE", "ZoneClose", 11),
    ("REQ_OP_ZONE_FINISH", "ZoneFinish", 12),
    ("REQ_OP_SCSI_IN", "SCSIIn", 32),
    ("REQ_OP_SCSI_OUT", "SCSIOut", 33),
    ("REQ_OP_DRV_IN", "DrvIn", 34),
    ("REQ_OP_DRV_OUT", "DrvOut", 35),
];

/// Names a block request's `cmd_flags` (`"Sync-Write"`) as libbpf-tools' biolatency
/// `print_cmd_flags` does, with the bits of some kernel: the flag bits and operation numbers
/// moved between kernels.
#[derive(Debug, Clone)]
pub struct RequestFlags {
    /// The mask of each flag and its name, in printing order.
    flags: Vec<(u32, &'static str)>,
    /// Each operation and its name.
    ops: Vec<(u32, &'static str)>,
}

impl RequestFlags {
    /// The bits of libbpf-tools' header (`blk_types.h`, Linux 5.x).
    pub fn libbpf_tools() -> RequestFlags {
        RequestFlags {
            flags: FLAGS
                .iter()
                .map(|&(_, name, bit)| (1 << bit, name))
                .collect(),
            ops: OPS.iter().map(|&(_, name, op)| (op, name)).collect(),
        }
    }

    /// The bits of the kernel whose BTF `btf` is; a flag or operation it lacks is not named. When
    /// it has none of the flags (or none of the operations), libbpf-tools' are used instead.
    ///
    /// # Errors
    ///
    /// [`KernelError::BtfParse`] when vmlinux BTF is malformed.
    pub fn from_btf(btf: &KernelBtf) -> Result<RequestFlags, KernelError> {
        let names: Vec<&str> = FLAGS.iter().chain(&OPS).map(|&(e, _, _)| e).collect();
        let values = btf.enum_values(&names)?;
        let (flag_values, op_values) = values.split_at(FLAGS.len());
        // The kernel's value of each entry of `table`, when it has one in `0..=max`.
        let found = |table: &[(&str, &'static str, u32)], values: &[Option<i64>], max: i64| {
            let known = table
                .iter()
                .zip(values)
                .filter_map(|(&(_, name, _), value)| {
                    let value = value.filter(|v| (0..=max).contains(v))?;
                    Some((value as u32, name))
                });
            known.collect::<Vec<_>>()
        };
        let fallback = RequestFlags::libbpf_tools();
        let flags: Vec<_> = found(&FLAGS, flag_values, 31)
            .into_iter()
            .map(|(bit, name)| (1 << bit, name))
            .collect();
        let ops = found(&OPS, op_values, i64::from(REQ_OP_MASK));
        Ok(RequestFlags {
            flags: if flags.is_empty() {
                fallback.flags
            } else {
                flags
            },
            ops: if ops.is_empty() { fallback.ops } else { ops },
        })
    }

    /// The flags set in `cmd_flags`, each followed by `-`, then its operation (`cmd_flags &
    /// REQ_OP_MASK`), `"Unknown"` for one without a name.
    pub fn name(&self, cmd_flags: u32) -> String {
        let mut name: String = self
            .flags
            .iter()
            .filter(|(mask, _)| cmd_flags & mask != 0)
            .map(|(_, flag)| *flag)
            .collect();
        let op = cmd_flags & REQ_OP_MASK;
        let op_name = self.ops.iter().find(|(o, _)| *o == op);
        name.push_str(op_name.map_or("Unknown", |(_, n)| n));
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_by_kernel_device_number() {
        let disks = Disks::parse(
            "major minor  #blocks  name\n\n   7        0     102400 loop0\n \
             259        0  10485760 nvme0n1\n 259        1     524288 nvme0n1p1\n",
        );
        assert_eq!(disks.dev_of("loop0"), Some(7 << 20));
        assert_eq!(disks.dev_of("nvme0n1"), Some(kernel_dev(259, 0)));
        assert_eq!(disks.name_of((259 << 20) | 1), Some("nvme0n1p1"));
        assert_eq!(disks.dev_of("major"), None);
        assert_eq!(disks.name_of(kernel_dev(8, 0)), None);
    }

    #[test]
    fn libbpf_tools_names() {
        let flags = RequestFlags::libbpf_tools();
        assert_eq!(flags.name((1 << 11) | 1), "Sync-Write");
        assert_eq!(flags.name(0), "Read");
        assert_eq!(flags.name(0x7f), "Unknown");
        assert_eq!(flags.name(4), "Unknown");
        assert_eq!(
            flags.name((1 << 21) | (1 << 17) | (1 << 12) | (1 << 11) | 35),
            "NoWait-FUA-Metadata-Sync-DrvOut"
        );
    }

    #[test]
    fn bits_from_btf_else_libbpf_tools() {
        use crate::kernel::btf::tests::blob;
        // enum { __REQ_SYNC = 9, __REQ_FUA = 10 }; enum { REQ_OP_WRITE = 1, REQ_OP_DRV_IN = 13 }
        let strings = b"\0__REQ_SYNC\0__REQ_FUA\0REQ_OP_WRITE\0REQ_OP_DRV_IN\0";
        let words = [
            &[0, 6 << 24 | 2, 4, 1, 9, 12, 10][..],
            &[0, 6 << 24 | 2, 4, 22, 1, 35, 13],
        ]
        .concat();
        let btf = KernelBtf::from_parts(blob(&words, strings), Vec::new()).unwrap();
        let flags = RequestFlags::from_btf(&btf).unwrap();
        assert_eq!(flags.name((1 << 9) | 1), "Sync-Write");
        assert_eq!(flags.name((1 << 10) | (1 << 9) | 13), "FUA-Sync-DrvIn");
        assert_eq!(
            flags.name((1 << 11) | 34),
            "Unknown",
            "not this kernel's bits"
        );
        assert_eq!(flags.name(0), "Unknown", "this kernel has no REQ_OP_READ");

        let no_enums = KernelBtf::from_parts(blob(&[], b"\0"), Vec::new()).unwrap();
        let flags = RequestFlags::from_btf(&no_enums).unwrap();
        assert_eq!(flags.name((1 << 11) | 1), "Sync-Write");
    }
}
