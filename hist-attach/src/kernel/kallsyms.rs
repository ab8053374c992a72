//! `/proc/kallsyms`: kernel text symbols, with their compiler suffixes and modules.

use std::{
    fs::File,
    io::{self, BufRead, BufReader},
    path::Path,
};

use super::{KernelError, read_error};

const PROC_KALLSYMS: &str = "/proc/kallsyms";

/// Words GCC and LLVM append to a function's name when they clone or split it; each may be
/// followed by a number (`.isra.0`, `.constprop.3`, `.llvm.123456789`).
const SUFFIX_WORDS: &[&str] = &[
    "isra",
    "constprop",
    "part",
    "cold",
    "llvm",
    "lto_priv",
    "localalias",
];

/// One text symbol of `/proc/kallsyms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelSymbol {
    /// Its address; reads as 0 when the reader lacks the privileges to see addresses
    /// (`kernel.kptr_restrict`).
    pub address: u64,
    /// Its `nm` type letter: `t`/`T` (local/global text) or `w`/`W` (weak).
    pub kind: char,
    /// Its full name, compiler suffix included: `finish_task_switch.isra.0`.
    pub name: String,
    /// The compiler suffix of [`name`](Self::name) (`.isra.0`, `.cold`, `.constprop.0.isra.0`),
    /// or `""` for a plain name.
    pub suffix: String,
    /// The module it belongs to (`nfs` for a line ending in `\t[nfs]`), or `None` when built in.
    pub module: Option<String>,
}

impl KernelSymbol {
    /// Parses one `/proc/kallsyms` line, `address type name` optionally followed by
    /// `\t[module]`. Returns `None` for malformed lines and for symbols that are not text
    /// (types other than `t`, `T`, `w`, `W`).
    ///
    /// ```
    /// use hist_attach::kernel::KernelSymbol;
    /// let sym = KernelSymbol::parse_line("ffffffffc0a01000 t nfs_file_read.cold\t[nfs]").unwrap();
    /// assert_eq!((sym.base_name(), sym.suffix.as_str()), ("nfs_file_read", ".cold"));
    /// assert_eq!(sym.module.as_deref(), Some("nfs"));
    /// assert!(KernelSymbol::parse_line("ffffffff82000000 D jiffies").is_none());
    /// ```
    pub fn parse_line(line: &str) -> Option<KernelSymbol> {
        let (symbol, module) = match line.split_once('\t') {
            Some((symbol, module)) => {
                let module = module.trim().strip_prefix('[')?.strip_suffix(']')?;
                (symbol, Some(module.to_owned()))
            }
            None => (line, None),
        };
        let mut fields = symbol.split_ascii_whitespace();
        let (address, kind, name) = (fields.next()?, fields.next()?, fields.next()?);
        if fields.next().is_some() {
            return None;
        }
        let kind = match kind {
            "t" | "T" | "w" | "W" => kind.chars().next()?,
            _ => return None,
        };
        let address = u64::from_str_radix(address, 16).ok()?;
        let (_, suffix) = split_compiler_suffix(name);
        Some(KernelSymbol {
            address,
            kind,
            name: name.to_owned(),
            suffix: suffix.to_owned(),
            module,
        })
    }

    /// The name without its compiler suffix: `finish_task_switch` for
    /// `finish_task_switch.isra.0`.
    pub fn base_name(&self) -> &str {
        &self.name[..self.name.len() - self.suffix.len()]
    }

    /// Whether this is the cold (rarely run, split-off) part of a function, not an entry point.
    pub fn is_cold(&self) -> bool {
        self.suffix.split('.').any(|word| word == "cold")
    }
}

/// Splits a symbol name into its base and its compiler suffix: `("finish_task_switch",
/// ".isra.0")`. The suffix starts at the first `.` and is made of the words GCC/LLVM use
/// (`isra`, `constprop`, `part`, `cold`, `llvm`, `lto_priv`, `localalias`), each optionally
/// followed by a number; a name with any other dotted tail has no suffix.
///
/// ```
/// use hist_attach::kernel::split_compiler_suffix;
/// assert_eq!(split_compiler_suffix("f.constprop.0.isra.0"), ("f", ".constprop.0.isra.0"));
/// assert_eq!(split_compiler_suffix("f.cold"), ("f", ".cold"));
/// assert_eq!(split_compiler_suffix("do_sys_openat2"), ("do_sys_openat2", ""));
/// assert_eq!(split_compiler_suffix("f.123"), ("f.123", ""));
/// ```
pub fn split_compiler_suffix(name: &str) -> (&str, &str) {
    let Some(dot) = name.find('.') else {
        return (name, "");
    };
    let mut previous_was_word = false;
    let well_formed = dot > 0
        && name[dot + 1..].split('.').all(|token| {
            let is_word = SUFFIX_WORDS.contains(&token);
            let is_number = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
            let ok = is_word || (is_number && previous_was_word);
            previous_was_word = is_word;
            ok
        });
    if well_formed {
        name.split_at(dot)
    } else {
        (name, "")
    }
}

/// Every text symbol of a `/proc/kallsyms`-formatted reader that is the function `name`: named
/// exactly `name`, or `name` plus a compiler suffix (`name.isra.0`, `name.cold`, ...), in the
/// reader's order.
///
/// # Errors
///
/// The reader's I/O errors.
pub fn kallsyms_lookup_in<R: BufRead>(mut reader: R, name: &str) -> io::Result<Vec<KernelSymbol>> {
    let mut found = Vec::new();
    let mut line = String::new();
    while {
        line.clear();
        reader.read_line(&mut line)? != 0
    } {
        // Cheap filter before parsing: 120k+ lines, a handful of matches.
        if !line.contains(name) {
            continue;
        }
        let Some(symbol) = KernelSymbol::parse_line(line.trim_end_matches('\n')) else {
            continue;
        };
        let matches =
            symbol.name == name || (symbol.base_name() == name && !symbol.suffix.is_empty());
        if matches {
            found.push(symbol);
        }
    }
    Ok(found)
}

/// Every text symbol in `/proc/kallsyms` that is the kernel function `name` (see
/// [`kallsyms_lookup_in`]); empty when the function is not in the running kernel or its loaded
/// modules. Addresses read as 0 for unprivileged users; names are still right.
///
/// # Errors
///
/// [`KernelError::Read`] when `/proc/kallsyms` cannot be read.
pub fn kallsyms_lookup(name: &str) -> Result<Vec<KernelSymbol>, KernelError> {
    let path = Path::new(PROC_KALLSYMS);
    let file = File::open(path).map_err(|e| read_error(path, e))?;
    kallsyms_lookup_in(BufReader::with_capacity(1 << 16, file), name)
        .map_err(|e| read_error(path, e))
}

/// Picks the symbol to attach a kprobe to among those of one function, as bcc does for
/// `finish_task_switch` / `finish_task_switch.isra.0`: the plain name if present, else the first
/// suffixed one that is not a `.cold` fragment.
pub fn pick_attachable(symbols: &[KernelSymbol]) -> Option<&KernelSymbol> {
    symbols
        .iter()
        .find(|s| s.suffix.is_empty())
        .or_else(|| symbols.iter().find(|s| !s.is_cold()))
}

/// The symbol to attach to for the kernel function `name`: [`kallsyms_lookup`] then
/// [`pick_attachable`]. Its [`name`](KernelSymbol::name) is what to give a kprobe.
///
/// # Errors
///
/// [`KernelError::FunctionNotFound`] when `/proc/kallsyms` has no attachable symbol for it;
/// [`KernelError::Read`] when `/proc/kallsyms` cannot be read.
pub fn attachable_symbol(name: &str) -> Result<KernelSymbol, KernelError> {
    let symbols = kallsyms_lookup(name)?;
    pick_attachable(&symbols)
        .cloned()
        .ok_or_else(|| KernelError::FunctionNotFound {
            name: name.to_owned(),
        })
}
