//! tracefs: finding it, mounting it, and looking tracepoints up in it.

use std::{
    fs, io,
    path::{Path, PathBuf},
    process::Command,
};

use super::{KernelError, read_error};

/// Where [`ensure_tracefs`] mounts tracefs, and where aya looks for it first.
pub const TRACEFS_MOUNT_POINT: &str = "/sys/kernel/tracing";

/// Where tracefs appears (automounted) inside a debugfs mounted at `/sys/kernel/debug`; aya's
/// second choice.
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

const PROC_MOUNTS: &str = "/proc/mounts";

/// Mount points of every tracefs in a `/proc/mounts` text, in order (octal escapes such as `\040`
/// for a space are decoded).
fn parse_tracefs_mounts(mounts: &str) -> Vec<PathBuf> {
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_ascii_whitespace();
            let (_source, target, fstype) = (fields.next()?, fields.next()?, fields.next()?);
            (fstype == "tracefs").then(|| PathBuf::from(unescape_mount_path(target)))
        })
        .collect()
}

/// Decodes the `\ooo` octal escapes the kernel writes in `/proc/mounts` for space, tab, newline
/// and backslash.
fn unescape_mount_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| {
            bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)) && d[0] <= b'3'
        });
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_tracefs_mounts() -> Result<Vec<PathBuf>, KernelError> {
    let path = Path::new(PROC_MOUNTS);
    let mounts = fs::read_to_string(path).map_err(|e| read_error(path, e))?;
    Ok(parse_tracefs_mounts(&mounts))
}

/// The tracefs at one of the two places aya 0.14 looks (`/sys/kernel/tracing`, then
/// `/sys/kernel/debug/tracing`), if there is one.
fn standard_tracefs(mounts: &[PathBuf]) -> Option<PathBuf> {
    // Listed in /proc/mounts is not enough: a later mount over /sys/kernel hides it.
    let mounted = |p: &str| mounts.iter().any(|m| m == Path::new(p)) && has_events(p);
    if mounted(TRACEFS_MOUNT_POINT) {
        return Some(PathBuf::from(TRACEFS_MOUNT_POINT));
    }
    // Looking inside /sys/kernel/debug/tracing automounts tracefs there when debugfs is mounted,
    // so it may be usable before it shows up in /proc/mounts.
    if mounted(DEBUGFS_TRACING) || Path::new(DEBUGFS_TRACING).join("events").is_dir() {
        return Some(PathBuf::from(DEBUGFS_TRACING));
    }
    None
}

/// Whether the tracefs mounted at `dir` has its `events` folder. Denied counts as there:
/// tracefs is mode 0700, so a user without root sees it mounted but cannot look inside.
fn has_events(dir: &str) -> bool {
    match fs::metadata(Path::new(dir).join("events")) {
        Ok(meta) => meta.is_dir(),
        Err(e) => e.kind() == io::ErrorKind::PermissionDenied,
    }
}

/// Finds a mounted tracefs: `/sys/kernel/tracing` if tracefs is mounted there, else
/// `/sys/kernel/debug/tracing` (tracefs inside debugfs), else the first other tracefs in
/// `/proc/mounts`.
///
/// Only the first two are seen by aya 0.14's tracepoint attach; use [`ensure_tracefs`] before
/// attaching.
///
/// # Errors
///
/// [`KernelError::TracefsNotMounted`] when there is none; [`KernelError::Read`] when
/// `/proc/mounts` cannot be read.
pub fn tracefs() -> Result<PathBuf, KernelError> {
    let mounts = read_tracefs_mounts()?;
    standard_tracefs(&mounts)
        .or_else(|| mounts.into_iter().next())
        .ok_or(KernelError::TracefsNotMounted)
}

/// Returns a tracefs that aya 0.14 can use (`/sys/kernel/tracing` or `/sys/kernel/debug/tracing`),
/// mounting one at `/sys/kernel/tracing` with `mount -t tracefs tracefs /sys/kernel/tracing` when
/// there is none. Nothing is ever unmounted.
///
/// Call it before the first tracepoint attach in the process: aya remembers, for the life of the
/// process, that it found no tracefs.
///
/// # Errors
///
/// [`KernelError::TracefsMount`] when mounting fails (typically: not root);
/// [`KernelError::Read`] when `/proc/mounts` cannot be read.
pub fn ensure_tracefs() -> Result<PathBuf, KernelError> {
    if let Some(path) = standard_tracefs(&read_tracefs_mounts()?) {
        return Ok(path);
    }
    let output = Command::new("mount")
        .args(["-t", "tracefs", "tracefs", TRACEFS_MOUNT_POINT])
        .output()
        .map_err(|e| KernelError::TracefsMount {
            reason: format!("cannot run mount: {e}"),
        })?;
    if !output.status.success() {
        // mount's first line says what went wrong; util-linux adds a line about dmesg.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = match stderr.lines().map(str::trim).find(|l| !l.is_empty()) {
            Some(first) => first.to_owned(),
            None => format!("mount exited with {}", output.status),
        };
        return Err(KernelError::TracefsMount { reason });
    }
    standard_tracefs(&read_tracefs_mounts()?).ok_or_else(|| KernelError::TracefsMount {
        reason: format!("mount succeeded but no tracefs is listed at {TRACEFS_MOUNT_POINT}"),
    })
}

/// Whether the tracepoint `category:name` (for example `sched:sched_switch`) exists: whether
/// `<tracefs>/events/<category>/<name>` is a directory. It does not mount tracefs; call
/// [`ensure_tracefs`] first.
///
/// A `category` or `name` that is empty, `.`, `..` or contains `/` names no tracepoint.
///
/// # Errors
///
/// [`KernelError::TracefsNotMounted`] when no tracefs is mounted; [`KernelError::Read`] when the
/// directory cannot be looked at (tracefs is readable by root only).
pub fn tracepoint_exists(category: &str, name: &str) -> Result<bool, KernelError> {
    let valid = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains('/');
    if !valid(category) || !valid(name) {
        return Ok(false);
    }
    let path = tracefs()?.join("events").join(category).join(name);
    match fs::metadata(&path) {
        Ok(meta) => Ok(meta.is_dir()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(read_error(&path, e)),
    }
}

/// Where the field `field` of the tracepoint `category:name`'s record is, in bytes from the
/// record's start, from `<tracefs>/events/<category>/<name>/format`: what a classic tracepoint
/// program reads it at (`TracePointContext::read_at`), on this kernel. It does not mount
/// tracefs; call [`ensure_tracefs`] first.
///
/// # Errors
///
/// [`KernelError::TracepointFieldAbsent`] when the format has no such field;
/// [`KernelError::TracefsNotMounted`] and [`KernelError::Read`] as for [`tracepoint_exists`].
pub fn tracepoint_field_offset(
    category: &str,
    name: &str,
    field: &str,
) -> Result<u32, KernelError> {
    let path = tracefs()?
        .join("events")
        .join(category)
        .join(name)
        .join("format");
    let format = fs::read_to_string(&path).map_err(|e| read_error(&path, e))?;
    format_field_offset(&format, field).ok_or_else(|| KernelError::TracepointFieldAbsent {
        tracepoint: format!("{category}:{name}"),
        field: field.to_owned(),
        format: path.display().to_string(),
    })
}

/// The `offset:` of the field named `field` in a tracepoint format's text
/// (`\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;`); an array field is named
/// without its `[N]`.
fn format_field_offset(format: &str, field: &str) -> Option<u32> {
    format.lines().find_map(|line| {
        let mut parts = line.trim().split(';').map(str::trim);
        let declaration = parts.next()?.strip_prefix("field:")?;
        let declared = declaration.split_ascii_whitespace().last()?;
        let declared = declared.split('[').next()?;
        let offset = parts.find_map(|part| part.strip_prefix("offset:"))?;
        (declared == field).then(|| offset.parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any `/proc/mounts` text, hostile escapes and cut lines included, gives mount points
        /// or none, never a panic.
        #[test]
        fn any_mounts_text_parses(text in "(tracefs [ -~\\\\]{0,40} tracefs [ -~]{0,10}\n|[ -~\\\\\n]{0,60})*") {
            let _ = parse_tracefs_mounts(&text);
        }

        #[test]
        fn any_escapes_decode(path in "[ -~\\\\]{0,40}") {
            let _ = unescape_mount_path(&path);
        }
    }

    #[test]
    fn finds_a_fields_offset_in_a_format() {
        let format = "name: sched_switch\nID: 316\nformat:\n\
            \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
            \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
            \tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\
            \tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;\n\
            \tfield:long prev_state;\toffset:32;\tsize:8;\tsigned:1;\n\n\
            print fmt: \"prev_comm=%s\", REC->prev_comm\n";
        assert_eq!(format_field_offset(format, "common_type"), Some(0));
        assert_eq!(format_field_offset(format, "prev_comm"), Some(8));
        assert_eq!(format_field_offset(format, "prev_state"), Some(32));
        assert_eq!(format_field_offset(format, "prev"), None);
        assert_eq!(format_field_offset(format, "next_pid"), None);
        assert_eq!(format_field_offset("", "x"), None);
    }

    proptest! {
        /// Any text gives an offset or none, never a panic.
        #[test]
        fn any_format_text_parses(text in "[ -~\t\n]{0,200}", field in "[a-z_]{1,8}") {
            let _ = format_field_offset(&text, &field);
        }
    }

    #[test]
    fn finds_tracefs_mounts_and_decodes_escapes() {
        let mounts = "sysfs /sys sysfs rw 0 0\n\
                      tracefs /sys/kernel/tracing tracefs rw,relatime 0 0\n\
                      debugfs /sys/kernel/debug debugfs rw 0 0\n\
                      none /my\\040trace tracefs rw 0 0\n";
        assert_eq!(
            parse_tracefs_mounts(mounts),
            [
                PathBuf::from("/sys/kernel/tracing"),
                PathBuf::from("/my trace")
            ]
        );
        assert!(parse_tracefs_mounts("proc /proc proc rw 0 0\n").is_empty());
        assert_eq!(unescape_mount_path(r"a\134b\011c\9"), "a\\b\tc\\9");
    }
}
