//! What the running kernel offers an aya program, and how to attach to it with fallbacks.
//!
//! Nothing here is about histograms: any aya program that must choose between fentry, kprobes,
//! BTF tracepoints and tracepoints can use it.
//!
//! * [`kernel`]: the facts, each check failing with one line that says what to do — privileges
//!   and capabilities, `/proc/kallsyms` (compiler and module suffixes), vmlinux and module BTF
//!   (functions, struct members), tracefs, and test loads of each program type; plus fentry on
//!   module functions, which aya 0.14 cannot attach (aya's issue #300).
//! * [`functions`]: functions named at run time (`vfs_*`, `c:malloc`), resolved to what a
//!   kprobe, fentry or uprobe is put on.
//! * [`plan`]: per operation of a tool, the candidate hooks checked against those facts in order
//!   (fentry/fexit → kprobe/kretprobe → `tp_btf` → tracepoint), attached with fallback, and one
//!   line per operation when none works.
//!
//! With the feature `clap`, [`plan::Hook`] is a `clap::ValueEnum` for an `--attach HOOK` flag.
#![deny(missing_docs)]

pub mod functions;
pub mod kernel;
pub mod plan;
