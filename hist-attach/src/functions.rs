//! Functions named at run time, as funclatency's `PATTERN` names them: a kernel function or a
//! glob of them (`vfs_read`, `vfs_*`, module functions included), or a function of a library
//! or program (`c:malloc`, `/usr/bin/bash:readline`, `:main` with `-p`), resolved to what a
//! probe is put on.
//!
//! Kernel functions are those of `available_filter_functions` (tracefs): exactly the ones with
//! an ftrace site, which fentry and a kprobe at entry both need. A user function is a defined
//! text symbol of the ELF file, put at its offset in the file; aliases at one address
//! (`malloc`, `__libc_malloc`) are one function.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use object::{Object as _, ObjectSection as _, ObjectSymbol as _, SymbolKind};

use crate::kernel::{KernelError, ensure_tracefs};

/// What a function is, for a probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Function {
    /// A kernel function, and the module it is in (`None`: vmlinux).
    Kernel {
        /// The function's name.
        name: String,
        /// Its module.
        module: Option<String>,
    },
    /// A function of an ELF file.
    User {
        /// Its symbol.
        name: String,
        /// The file.
        path: PathBuf,
        /// Its offset in the file.
        offset: u64,
    },
}

impl Function {
    /// Its name, as a section of the output shows it.
    pub fn name(&self) -> &str {
        match self {
            Self::Kernel { name, .. } | Self::User { name, .. } => name,
        }
    }
}

/// Why a pattern names no function to trace. One line each.
#[derive(Debug, thiserror::Error)]
pub enum FunctionError {
    /// Reading the kernel's functions failed.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// Nothing matched.
    #[error("no function matches {pattern}{where_}")]
    NoMatch {
        /// The pattern.
        pattern: String,
        /// ` in <file>`, or nothing for the kernel.
        where_: String,
    },
    /// The kernel does not list its traceable functions.
    #[error(
        "cannot list the kernel's traceable functions ({path}: {reason}): tracing a kernel \
         function needs ftrace (CONFIG_FUNCTION_TRACER) and kprobes or fentry"
    )]
    NoKernelFunctions {
        /// `available_filter_functions`.
        path: String,
        /// Why it could not be read.
        reason: String,
    },
    /// More matched than one tool can trace.
    #[error("{pattern} matches {count} functions; at most {max} can be traced: narrow it")]
    TooMany {
        /// The pattern.
        pattern: String,
        /// How many matched.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// The library or program of `LIB:FUNC` was not found, or cannot be read.
    #[error("{0}")]
    File(String),
}

/// The functions `pattern` names, at most `max`, by name: `FUNC` (a kernel function or glob) or
/// `FILE:FUNC`, where `FILE` is a path, a library (`c` is `libc.so.*`, in `-p`'s process or the
/// linker's cache), a program on `PATH`, or empty for `-p`'s own program.
///
/// # Errors
///
/// [`FunctionError`]: nothing matches, too many do, or the file cannot be found or read.
pub fn resolve(
    pattern: &str,
    pid: Option<u32>,
    max: usize,
) -> Result<Vec<Function>, FunctionError> {
    let mut found = match pattern.split_once(':') {
        None => kernel_functions(pattern)?,
        Some((file, func)) => {
            let path = find_file(file, pid)?;
            user_functions(&path, func)?
        }
    };
    found.sort_by(|a, b| a.name().cmp(b.name()));
    if found.is_empty() {
        let where_ = match pattern.split_once(':') {
            Some((file, _)) => format!(" in {file}"),
            None => " among the kernel's traceable functions (available_filter_functions)".into(),
        };
        return Err(FunctionError::NoMatch {
            pattern: pattern.to_owned(),
            where_,
        });
    }
    if found.len() > max {
        return Err(FunctionError::TooMany {
            pattern: pattern.to_owned(),
            count: found.len(),
            max,
        });
    }
    Ok(found)
}

/// Whether `name` matches `glob`: `*` any run of characters, `?` one, the rest itself.
pub fn glob_matches(glob: &str, name: &str) -> bool {
    let (glob, name) = (glob.as_bytes(), name.as_bytes());
    // The classic two-pointer match, backtracking to the last `*`.
    let (mut g, mut n, mut star, mut mark) = (0, 0, None, 0);
    while n < name.len() {
        if g < glob.len() && (glob[g] == b'?' || glob[g] == name[n]) {
            g += 1;
            n += 1;
        } else if g < glob.len() && glob[g] == b'*' {
            star = Some(g);
            mark = n;
            g += 1;
        } else if let Some(s) = star {
            g = s + 1;
            mark += 1;
            n = mark;
        } else {
            return false;
        }
    }
    glob[g..].iter().all(|&c| c == b'*')
}

/// The kernel functions matching `glob`, from tracefs' `available_filter_functions`
/// (`name` or `name [module]` per line), each name once.
fn kernel_functions(glob: &str) -> Result<Vec<Function>, FunctionError> {
    let path = ensure_tracefs()?.join("available_filter_functions");
    let text =
        std::fs::read_to_string(&path).map_err(|error| FunctionError::NoKernelFunctions {
            path: path.display().to_string(),
            reason: error.to_string(),
        })?;
    let mut seen = BTreeSet::new();
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let name = parts.next()?;
            let module = parts.next().map(|m| m.trim_matches(['[', ']']).to_owned());
            (glob_matches(glob, name) && seen.insert(name.to_owned())).then(|| Function::Kernel {
                name: name.to_owned(),
                module,
            })
        })
        .collect())
}

/// The file of `FILE:FUNC`: a path as given; else a library `lib<FILE>.so…` mapped by `pid`,
/// or in the linker's cache (`ldconfig -p`); else a program on `PATH`; empty: `pid`'s program.
fn find_file(file: &str, pid: Option<u32>) -> Result<PathBuf, FunctionError> {
    if file.contains('/') {
        return Ok(PathBuf::from(file));
    }
    if file.is_empty() {
        let pid = pid.ok_or_else(|| {
            FunctionError::File(":FUNC names a function of -p's program: give -p PID".into())
        })?;
        return std::fs::read_link(format!("/proc/{pid}/exe"))
            .map_err(|e| FunctionError::File(format!("cannot read /proc/{pid}/exe: {e}")));
    }
    let library = format!("lib{}.so", file.trim_start_matches("lib"));
    let is_library = |path: &str| {
        Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|name| {
                name.strip_prefix(library.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
            })
    };
    if let Some(pid) = pid
        && let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        && let Some(path) = maps
            .lines()
            .filter_map(|line| line.split_whitespace().nth(5))
            .find(|path| is_library(path))
    {
        return Ok(PathBuf::from(path));
    }
    // `\tlibc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6`, this machine's first.
    let cache = Command::new("ldconfig").arg("-p").output();
    let arch = if cfg!(target_arch = "x86_64") {
        "x86-64"
    } else {
        ""
    };
    if let Ok(cache) = cache {
        let text = String::from_utf8_lossy(&cache.stdout);
        let found = text.lines().find_map(|line| {
            let (head, path) = line.split_once(" => ")?;
            (head.contains(arch) && is_library(path.trim())).then(|| path.trim().to_owned())
        });
        if let Some(path) = found {
            return Ok(PathBuf::from(path));
        }
    }
    let on_path = std::env::var_os("PATH").and_then(|dirs| {
        std::env::split_paths(&dirs)
            .map(|dir| dir.join(file))
            .find(|path| path.is_file())
    });
    on_path.ok_or_else(|| {
        FunctionError::File(format!(
            "cannot find {file}: no library {library} (in -p's process or `ldconfig -p`) and no \
             program {file} on PATH; give a path"
        ))
    })
}

/// The defined text symbols of the ELF file `path` matching `glob`, at their offsets in the
/// file; one per address.
fn user_functions(path: &Path, glob: &str) -> Result<Vec<Function>, FunctionError> {
    let shown = path.display();
    let data = std::fs::read(path)
        .map_err(|e| FunctionError::File(format!("cannot read {shown}: {e}")))?;
    let elf = object::File::parse(&*data)
        .map_err(|e| FunctionError::File(format!("{shown} is not an ELF file: {e}")))?;
    let mut addresses = BTreeSet::new();
    let mut found = Vec::new();
    for symbol in elf.dynamic_symbols().chain(elf.symbols()) {
        let Ok(name) = symbol.name() else { continue };
        let defined = symbol.kind() == SymbolKind::Text && symbol.is_definition();
        if !defined || !glob_matches(glob, name) || !addresses.insert(symbol.address()) {
            continue;
        }
        let Some(section) = symbol
            .section_index()
            .and_then(|i| elf.section_by_index(i).ok())
        else {
            continue;
        };
        let Some((file_start, _)) = section.file_range() else {
            continue;
        };
        found.push(Function::User {
            name: name.to_owned(),
            path: path.to_owned(),
            offset: symbol.address() - section.address() + file_start,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn globs_match_as_a_shell_s() {
        assert!(glob_matches("vfs_read", "vfs_read"));
        assert!(!glob_matches("vfs_read", "vfs_readv"));
        assert!(glob_matches("vfs_*", "vfs_readv"));
        assert!(glob_matches("*_read*", "ext4_file_read_iter"));
        assert!(glob_matches("vfs_rea?", "vfs_read"));
        assert!(!glob_matches("vfs_*x", "vfs_read"));
        assert!(glob_matches("*", ""));
    }
}
