//! Every name the eBPF object and user space must agree on, in one place.
//!
//! An aya object is found by names: user space takes a map, writes a global and attaches a
//! program by the name the eBPF side gave it. Here those names are constants that both sides
//! use, and the eBPF side's declarations are checked against them when the eBPF crate builds
//! (`const` assertions in `hist_ebpf`'s macros), so a mismatch fails the build, not the run:
//!
//! | what | eBPF side | user side |
//! |---|---|---|
//! | a histogram map | `hist_ebpf::maps!`: the static is named [`HistDesc::NAME`] | `HistMap::<H>::take` |
//! | a start map | `hist_ebpf::maps!`: named [`StartDesc::NAME`] | sized by it at load (`Starts<S>`) |
//! | its sums | `hist_ebpf::maps!`: named [`HistDesc::NAME`] + [`SUM_SUFFIX`] | [`HistDesc::NAME`] + [`SUM_SUFFIX`] |
//! | its default prefix's per-CPU array | `hist_ebpf::maps!`: named [`HistDesc::NAME`] + [`DEFAULT_SUFFIX`] | read into the histogram of the default prefix |
//! | the config | `hist_ebpf::ebpf_program!`: a static named [`CONFIG`] | written with `override_global(CONFIG, …)` |
//! | a program per op and hook | `hist_ebpf::latency_probes!`, `tracepoint_latency!`: stem + a [`ProgramSuffix`] | `hist_attach::plan` attaches an [`OpSpec`]'s stem + the same suffix |
//!
//! A description and the static declared for it cannot drift apart:
//!
//! ```compile_fail
//! # use hist_core::{HistDesc, Layout, Unit};
//! pub struct Dist;
//! impl HistDesc for Dist {
//!     type Prefix = u32;
//!     const NAME: &'static str = "DIST";
//!     const LAYOUT: Layout = Layout::log2(26);
//!     const UNIT: Unit = Unit::Microseconds;
//!     const PREFIXES: u32 = 1;
//! }
//! // The static is `LATENCY`, the description says `DIST`: this does not build.
//! hist_core::assert_map_name!(LATENCY, [Dist::NAME]);
//! ```
//!
//! [`HistDesc::NAME`]: crate::HistDesc::NAME
//! [`StartDesc::NAME`]: crate::StartDesc::NAME

/// The name of a tool's load-time config static, which `hist_ebpf::ebpf_program!` declares and
/// user space writes before loading.
pub const CONFIG: &str = "CONFIG";

/// The name of hist-ebpf's cgroup array, in every object: slot 0 holds the cgroup of `-c`
/// (`Settings::cgroup`), which user space puts there after loading.
pub const CGROUP_MAP: &str = "HIST_CGROUP";

/// What follows a histogram map's name in the name of its sums map: `DIST` keeps its sums in
/// `DIST_SUM`.
pub const SUM_SUFFIX: &str = "_SUM";

/// What follows a histogram map's name in the name of the per-CPU array that counts its
/// default prefix (all zero: a tool's one histogram when it does not split), beside a hash
/// that counts the others (`hist_ebpf::DefaultHist`): `LATENCY` has `LATENCY_DEFAULT`.
pub const DEFAULT_SUFFIX: &str = "_DEFAULT";

/// The suffixes of the program names of one op: a program is named by its op's stem (`read`,
/// `sched_switch`) followed by the suffix of its hook and role (`read_fentry`,
/// `sched_switch_btf`). `hist_ebpf`'s macros name the programs they write so, and
/// `hist_attach`'s plans attach the programs so named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ProgramSuffix {
    /// `{stem}_fentry`: at the function's entry, by fentry.
    Fentry,
    /// `{stem}_fexit`: at its exit, by fexit.
    Fexit,
    /// `{stem}_kprobe`: at the function's entry, by kprobe.
    Kprobe,
    /// `{stem}_kretprobe`: at its exit, by kretprobe.
    Kretprobe,
    /// `{stem}_btf`: at a tracepoint, by tp_btf.
    TpBtf,
    /// `{stem}_tp`: at a tracepoint, by tracefs.
    Tracepoint,
}

impl ProgramSuffix {
    /// The suffix, `_` included.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Fentry => "_fentry",
            Self::Fexit => "_fexit",
            Self::Kprobe => "_kprobe",
            Self::Kretprobe => "_kretprobe",
            Self::TpBtf => "_btf",
            Self::Tracepoint => "_tp",
        }
    }
}

/// One operation a tool traces and the ways to hook it: its programs' stem, the kernel
/// functions or tracepoints they attach to. `hist_attach::plan` resolves and attaches it; a
/// tool's common crate can hold its table (`no_std`), so that its tests read the same one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpSpec {
    /// "read", "count", "sched_switch": how -v output and errors name it.
    pub name: &'static str,
    /// Stem of the eBPF program names: a program is named by the stem and its hook's
    /// [`ProgramSuffix`], `{program}_fentry`, `{program}_fexit`,
    /// `{program}_kprobe`, `{program}_kretprobe` (entry/exit of a function); for tracepoints
    /// see `tracepoints`.
    pub program: &'static str,
    /// Kernel functions whose entry and exit are traced, alternatives in order of preference
    /// (`&["nfs4_file_open", "nfs_file_open"]`): for each hook, the first that exists is used.
    /// Empty: no fentry/kprobe candidates.
    pub functions: &'static [&'static str],
    /// The module that provides `functions` when the kernel does not have them built in
    /// (`Some("nfs")`), for the hint in the error.
    pub module: Option<&'static str>,
    /// Tracepoints attached together for this op (a single one, or a start/end pair), as
    /// `(role, category, event)`: the program `{program}{role}_btf` is attached as tp_btf to
    /// `event`, `{program}{role}_tp` to the tracefs tracepoint `category:event`
    /// ([`TracepointRole::stem_suffix`]). Empty: no tracepoint candidates.
    pub tracepoints: &'static [(TracepointRole, &'static str, &'static str)],
}

/// Which program of an op a tracepoint runs: its only one (`sched_switch_btf`), or the start
/// or the end of a pair (`scan_start_btf`, `scan_end_btf`, as
/// `hist_ebpf::tracepoint_latency!` names them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TracepointRole {
    /// The op's one program: `{program}`.
    Only,
    /// The start of a pair: `{program}_start`.
    Start,
    /// The end of a pair: `{program}_end`.
    End,
}

impl TracepointRole {
    /// What follows the op's program stem: `""`, [`START_STEM_SUFFIX`], [`END_STEM_SUFFIX`].
    pub const fn stem_suffix(self) -> &'static str {
        match self {
            Self::Only => "",
            Self::Start => START_STEM_SUFFIX,
            Self::End => END_STEM_SUFFIX,
        }
    }
}

impl OpSpec {
    /// An op traced at the entry and exit of a kernel function: the first of `functions` the
    /// kernel has, provided by `module` when not built in. Its programs are named after the op
    /// (`read_kprobe`, …, as `hist_ebpf::latency_probes!` names them): give the op's own name,
    /// `Op::READ.name()`, which the eBPF side's build checks its programs against.
    pub const fn function(
        name: &'static str,
        functions: &'static [&'static str],
        module: Option<&'static str>,
    ) -> Self {
        Self {
            name,
            program: name,
            functions,
            module,
            tracepoints: &[],
        }
    }

    /// An op traced at tracepoints, attached together (one, or a start/end pair), each given
    /// as `(role, category, event)`: tp_btf on the event, else the tracefs tracepoint
    /// `category:event`, by the programs named after the op and the role.
    pub const fn tracepoints(
        name: &'static str,
        tracepoints: &'static [(TracepointRole, &'static str, &'static str)],
    ) -> Self {
        Self {
            name,
            program: name,
            functions: &[],
            module: None,
            tracepoints,
        }
    }
}

/// The stem of the start program of a tracepoint pair: `{op}_start` (`hist_ebpf::tracepoint_latency!`).
pub const START_STEM_SUFFIX: &str = "_start";
/// The stem of the end program of a tracepoint pair: `{op}_end`.
pub const END_STEM_SUFFIX: &str = "_end";

/// Whether `a` and `b` are the same string, in a `const` context.
pub const fn str_eq(a: &str, b: &str) -> bool {
    is_concat(a, &[b])
}

/// Whether `name` is `parts` one after the other, in a `const` context: `DIST_SUM` is
/// `["DIST", "_SUM"]`.
pub const fn is_concat(name: &str, parts: &[&str]) -> bool {
    let name = name.as_bytes();
    let mut at = 0;
    let mut part = 0;
    while part < parts.len() {
        let bytes = parts[part].as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if at >= name.len() || name[at] != bytes[i] {
                return false;
            }
            at += 1;
            i += 1;
        }
        part += 1;
    }
    at == name.len()
}

/// Fails the build unless the map static `$ident` is named as its description says: the parts
/// one after the other, [`HistDesc::NAME`](crate::HistDesc::NAME) for a histogram, that and
/// [`SUM_SUFFIX`] for its sums, [`StartDesc::NAME`](crate::StartDesc::NAME) for a start map.
/// `hist_ebpf::maps!` asserts this for every map it declares.
///
/// ```
/// # use hist_core::{HistDesc, Layout, Unit};
/// # pub struct Dist;
/// # impl HistDesc for Dist {
/// #     type Prefix = u32;
/// #     const NAME: &'static str = "DIST";
/// #     const LAYOUT: Layout = Layout::log2(26);
/// #     const UNIT: Unit = Unit::Microseconds;
/// #     const PREFIXES: u32 = 1;
/// # }
/// hist_core::assert_map_name!(DIST, [Dist::NAME]);
/// hist_core::assert_map_name!(DIST_SUM, [Dist::NAME, hist_core::names::SUM_SUFFIX]);
/// ```
#[macro_export]
macro_rules! assert_map_name {
    ($ident:ident, [$($part:expr),+ $(,)?]) => {
        const _: () = ::core::assert!(
            $crate::names::is_concat(::core::stringify!($ident), &[$($part),+]),
            ::core::concat!(
                "the map static `",
                ::core::stringify!($ident),
                "` is not named as its description says (its NAME, plus _SUM for a \
                 histogram's sums): user space would not find it; rename the static or change \
                 NAME",
            ),
        );
    };
}

/// Fails the build unless the name `$name` (a string literal, or an identifier) is `$expected`:
/// for the names user space looks up that the eBPF side spells out (`#[map(name = "HIST_DROPS")]`,
/// `static CONFIG`).
#[macro_export]
macro_rules! assert_name {
    ($name:literal, $expected:expr) => {
        const _: () = ::core::assert!(
            $crate::names::str_eq($name, $expected),
            ::core::concat!(
                "the name `",
                $name,
                "` differs from the one user space looks for"
            ),
        );
    };
    ($name:ident, $expected:expr) => {
        const _: () = ::core::assert!(
            $crate::names::str_eq(::core::stringify!($name), $expected),
            ::core::concat!(
                "the name `",
                ::core::stringify!($name),
                "` differs from the one user space looks for"
            ),
        );
    };
}

/// Fails the build unless the program `$program` is named by the parts of its stem followed by
/// the suffix of its hook (a [`ProgramSuffix`]): what `hist_ebpf`'s program macros assert for
/// every program they write, with the stem from the op's name (`hist_core::ops!`).
#[macro_export]
macro_rules! assert_program_name {
    ($program:ident, [$($stem:expr),+], $suffix:expr) => {
        const _: () = ::core::assert!(
            $crate::names::is_concat(
                ::core::stringify!($program),
                &[$($stem,)+ $crate::names::ProgramSuffix::as_str($suffix)],
            ),
            ::core::concat!(
                "the program `",
                ::core::stringify!($program),
                "` is not named by its op's name and hook (hist_core::names): \
                 the attach plan would not find it",
            ),
        );
    };
}
