//! Privileges: the effective capability set of this process, read from `/proc/self/status`.

use std::{fs, path::Path};

use super::{KernelError, read_error};

/// Capability number of `CAP_SYS_ADMIN`: enough on its own to load and attach any eBPF program.
pub const CAP_SYS_ADMIN: u32 = 21;
/// Capability number of `CAP_PERFMON` (Linux 5.8+): tracing and perf events, with `CAP_BPF`.
pub const CAP_PERFMON: u32 = 38;
/// Capability number of `CAP_BPF` (Linux 5.8+): loading programs and creating maps, with
/// `CAP_PERFMON` for tracing programs.
pub const CAP_BPF: u32 = 39;

const PROC_SELF_STATUS: &str = "/proc/self/status";

/// The effective capability mask (`CapEff:`, hexadecimal) of a `/proc/<pid>/status` text, or
/// `None` when the text has no well-formed `CapEff:` line.
///
/// ```
/// use hist_attach::kernel::parse_cap_eff;
/// assert_eq!(parse_cap_eff("Name:\tcat\nCapEff:\t000000c000000000\n"), Some(0xc0_0000_0000));
/// assert_eq!(parse_cap_eff("Name:\tcat\n"), None);
/// ```
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix("CapEff:")?.trim();
        u64::from_str_radix(value, 16).ok()
    })
}

/// Whether an effective capability mask may load and attach tracing eBPF programs: it holds
/// `CAP_SYS_ADMIN`, or both `CAP_BPF` and `CAP_PERFMON`.
///
/// ```
/// use hist_attach::kernel::{CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, caps_sufficient};
/// assert!(caps_sufficient(1 << CAP_SYS_ADMIN));
/// assert!(caps_sufficient(1 << CAP_BPF | 1 << CAP_PERFMON));
/// assert!(!caps_sufficient(1 << CAP_BPF));
/// ```
pub fn caps_sufficient(cap_eff: u64) -> bool {
    let has = |cap: u32| cap_eff & (1 << cap) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}

/// Checks that this process may load and attach tracing eBPF programs: its effective capabilities
/// (`CapEff` in `/proc/self/status`) hold `CAP_SYS_ADMIN` (as root does), or both `CAP_BPF` and
/// `CAP_PERFMON`.
///
/// # Errors
///
/// [`KernelError::Privileges`] when they do not; [`KernelError::Read`] or [`KernelError::Parse`]
/// when `/proc/self/status` cannot be read or has no `CapEff:` line.
pub fn check_privileges() -> Result<(), KernelError> {
    let path = Path::new(PROC_SELF_STATUS);
    let status = fs::read_to_string(path).map_err(|e| read_error(path, e))?;
    let cap_eff = parse_cap_eff(&status).ok_or_else(|| KernelError::Parse {
        path: path.to_owned(),
        reason: "no CapEff line".to_owned(),
    })?;
    if caps_sufficient(cap_eff) {
        Ok(())
    } else {
        let program = std::env::current_exe().unwrap_or_else(|_| "<this program>".into());
        Err(KernelError::Privileges { cap_eff, program })
    }
}
