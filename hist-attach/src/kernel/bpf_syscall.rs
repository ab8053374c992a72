//! The `bpf(2)` calls hist-attach makes itself, where aya 0.14 has no API: `BPF_PROG_LOAD` with
//! `attach_btf_obj_fd` (fentry on module functions, the `tp_btf` test load), the kernel's BTF
//! objects by id, and `BPF_RAW_TRACEPOINT_OPEN`. Each `union bpf_attr` variant is the prefix of
//! the union that its command reads (`include/uapi/linux/bpf.h`); the kernel requires the rest
//! to be zero.

use std::{
    ffi::c_long,
    io, mem,
    os::fd::{FromRawFd, OwnedFd, RawFd},
};

use aya_obj::generated::bpf_cmd;

/// How many times `BPF_PROG_LOAD` is retried when it fails with `EAGAIN`, as libbpf does.
const LOAD_ATTEMPTS: usize = 5;

/// `union bpf_attr` for `BPF_PROG_LOAD`, up to `attach_btf_obj_fd` (Linux 5.10).
#[repr(C)]
#[derive(Default)]
pub(crate) struct ProgLoadAttr {
    pub(crate) prog_type: u32,
    pub(crate) insn_cnt: u32,
    pub(crate) insns: u64,
    pub(crate) license: u64,
    pub(crate) log_level: u32,
    pub(crate) log_size: u32,
    pub(crate) log_buf: u64,
    pub(crate) kern_version: u32,
    pub(crate) prog_flags: u32,
    pub(crate) prog_name: [u8; 16],
    pub(crate) prog_ifindex: u32,
    pub(crate) expected_attach_type: u32,
    pub(crate) prog_btf_fd: u32,
    pub(crate) func_info_rec_size: u32,
    pub(crate) func_info: u64,
    pub(crate) func_info_cnt: u32,
    pub(crate) line_info_rec_size: u32,
    pub(crate) line_info: u64,
    pub(crate) line_info_cnt: u32,
    pub(crate) attach_btf_id: u32,
    pub(crate) attach_btf_obj_fd: u32,
    pub(crate) _pad: u32,
}

/// `union bpf_attr` for `BPF_RAW_TRACEPOINT_OPEN`.
#[repr(C)]
pub(crate) struct RawTracepointOpenAttr {
    pub(crate) name: u64,
    pub(crate) prog_fd: u32,
    pub(crate) _pad: u32,
}

/// `union bpf_attr` for `BPF_BTF_GET_NEXT_ID` (`id` is `start_id`) and `BPF_BTF_GET_FD_BY_ID`
/// (`id` is `btf_id`).
#[repr(C)]
#[derive(Default)]
pub(crate) struct IdAttr {
    pub(crate) id: u32,
    pub(crate) next_id: u32,
    pub(crate) open_flags: u32,
}

/// `union bpf_attr` for `BPF_OBJ_GET_INFO_BY_FD`.
#[repr(C)]
pub(crate) struct InfoAttr {
    pub(crate) bpf_fd: u32,
    pub(crate) info_len: u32,
    pub(crate) info: u64,
}

/// `struct bpf_btf_info` (Linux 5.11: `name`, `kernel_btf`).
#[repr(C)]
#[derive(Default)]
pub(crate) struct BtfInfo {
    pub(crate) btf: u64,
    pub(crate) btf_size: u32,
    pub(crate) id: u32,
    pub(crate) name: u64,
    pub(crate) name_len: u32,
    pub(crate) kernel_btf: u32,
}

/// `bpf(cmd, attr, sizeof attr)`.
///
/// # Safety
///
/// `T` must be the prefix of `union bpf_attr` that `cmd` reads, and every pointer and file
/// descriptor in `attr` must be valid for what `cmd` does with it until the call returns.
pub(crate) unsafe fn sys_bpf<T>(cmd: bpf_cmd, attr: &mut T) -> io::Result<c_long> {
    // SAFETY: the kernel reads (and for some commands writes) `size_of::<T>()` bytes at `attr`,
    // which is a live exclusive reference; the pointers inside are the caller's promise.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as c_long,
            std::ptr::from_mut(attr),
            mem::size_of::<T>(),
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// [`sys_bpf`] for a command that returns a new file descriptor.
///
/// # Safety
///
/// As [`sys_bpf`], and `cmd` must return a new file descriptor on success.
pub(crate) unsafe fn sys_bpf_fd<T>(cmd: bpf_cmd, attr: &mut T) -> io::Result<OwnedFd> {
    // SAFETY: the caller's promise, passed on.
    let fd = unsafe { sys_bpf(cmd, attr) }?;
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::other("bpf(2) returned a bad fd"))?;
    // SAFETY: the command returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `BPF_PROG_LOAD`, retried on `EAGAIN`.
///
/// # Safety
///
/// As [`sys_bpf`] for `attr`.
pub(crate) unsafe fn prog_load(attr: &mut ProgLoadAttr) -> io::Result<OwnedFd> {
    let mut attempt = 1;
    loop {
        // SAFETY: the caller's promise; BPF_PROG_LOAD returns a program fd.
        match unsafe { sys_bpf_fd(bpf_cmd::BPF_PROG_LOAD, attr) } {
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && attempt < LOAD_ATTEMPTS => {
                attempt += 1;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prog_load_attr_has_the_kernel_layout() {
        // Up to and including attach_btf_obj_fd (offset 112), padded to 8.
        assert_eq!(mem::size_of::<ProgLoadAttr>(), 120);
        assert_eq!(mem::offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(mem::offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(mem::offset_of!(ProgLoadAttr, attach_btf_id), 108);
    }
}
