//! `BPF_MAP_LOOKUP_BATCH` (Linux 5.6), which aya 0.14 has no API for (aya's issue #1124): a
//! hash map's entries in a few system calls instead of two per key.

use std::{
    ffi::c_long,
    io, mem,
    os::fd::{AsFd as _, AsRawFd as _},
};

use aya::maps::{MapData, MapError};
use aya_obj::generated::bpf_cmd;

use crate::Error;

/// `union bpf_attr` for `BPF_MAP_LOOKUP_BATCH` (`include/uapi/linux/bpf.h`): the prefix of the
/// union this command reads; the kernel requires the rest to be zero.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// The entries of a hash map as one batch lookup read them: `keys[i]` has the values
/// `values[i * per_key..][..per_key]` (one per CPU for a per-CPU map).
pub(crate) struct Batch<K> {
    pub(crate) keys: Vec<K>,
    pub(crate) values: Vec<u64>,
    pub(crate) per_key: usize,
}

/// Entries asked for per `BPF_MAP_LOOKUP_BATCH` call, at first; doubled when a hash bucket holds
/// more (`ENOSPC`).
const BATCH_ENTRIES: usize = 4096;

/// Every entry of the hash map `data` (of `u64` values, one per CPU when `per_cpu`) by
/// `BPF_MAP_LOOKUP_BATCH`; `None` when this kernel cannot (before 5.6, or a map kind without
/// batch lookups), for the caller to iterate instead.
pub(crate) fn lookup_batch<K: aya::Pod>(
    data: &MapData,
    per_cpu: bool,
) -> Result<Option<Batch<K>>, Error> {
    let per_key = if per_cpu {
        aya::util::nr_cpus().map_err(|(_, error)| MapError::IoError(error))?
    } else {
        1
    };
    let fd = data.fd().as_fd().as_raw_fd() as u32;
    let mut found = Batch {
        keys: Vec::new(),
        values: Vec::new(),
        per_key,
    };
    let mut capacity = BATCH_ENTRIES;
    // The position in the map: a bucket index for hash maps, opaque to user space.
    let (mut position, mut next) = (0u64, 0u64);
    let mut started = false;
    loop {
        // SAFETY: `K: Pod` is valid for any bytes, and all-zero keys are only overwritten.
        let mut keys: Vec<K> = vec![unsafe { std::mem::zeroed() }; capacity];
        let mut values = vec![0u64; capacity * per_key];
        let mut attr = BatchAttr {
            in_batch: if started {
                (&raw const position) as u64
            } else {
                0
            },
            out_batch: (&raw mut next) as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: capacity as u32,
            map_fd: fd,
            ..BatchAttr::default()
        };
        // SAFETY: BatchAttr is the prefix of bpf_attr that the command reads; `keys` and
        // `values` hold `count` keys and `count` values (per-CPU: one u64 per possible CPU, the
        // 8-byte rounding of a u64), the batch positions are u64 (the kernel uses 4 bytes for
        // hash maps), and all of them outlive the call.
        let result = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                bpf_cmd::BPF_MAP_LOOKUP_BATCH as c_long,
                &raw mut attr,
                mem::size_of::<BatchAttr>(),
            )
        };
        let result = if result < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        };
        let read = (attr.count as usize).min(capacity);
        let at_end = match result {
            Ok(_) => false,
            // The end of the map: the last entries came with it.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => true,
            // A bucket bigger than the batch: ask for more at once, from the same position.
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && capacity < 1 << 24 => {
                capacity *= 2;
                continue;
            }
            // No batch lookups here (524 is the kernel's ENOTSUPP): iterate instead.
            Err(e)
                if !started
                    && matches!(
                        e.raw_os_error(),
                        Some(libc::EINVAL | libc::ENOTSUP | libc::ENOSYS | 524)
                    ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(MapError::IoError(e).into()),
        };
        found.keys.extend_from_slice(&keys[..read]);
        found.values.extend_from_slice(&values[..read * per_key]);
        if at_end {
            return Ok(Some(found));
        }
        position = next;
        started = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_attr_has_the_kernel_layout() {
        assert_eq!(mem::size_of::<BatchAttr>(), 56);
        assert_eq!(mem::offset_of!(BatchAttr, elem_flags), 40);
        assert_eq!(mem::offset_of!(BatchAttr, map_fd), 36);
    }
}
