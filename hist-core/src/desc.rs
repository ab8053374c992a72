//! The one description of a histogram that the eBPF program and the user-space tool share.
//!
//! A tool declares its histogram once, in a small `no_std` crate that both sides compile:
//!
//! ```
//! use hist_core::{HistDesc, Layout, Unit};
//!
//! /// Which operation a latency belongs to: the key prefix.
//! #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, bytemuck::Pod, bytemuck::Zeroable)]
//! #[repr(transparent)]
//! pub struct Op(pub u32);
//! hist_core::key_prefix!(Op);
//!
//! /// XFS reclaim latency, per operation.
//! pub struct ReclaimLatency;
//! impl HistDesc for ReclaimLatency {
//!     type Prefix = Op;
//!     const NAME: &'static str = "RECLAIM_LATENCY";
//!     const LAYOUT: Layout = Layout::log2(26);
//!     const UNIT: Unit = Unit::Microseconds;
//!     const PREFIXES: u32 = 2;
//! }
//! assert_eq!(ReclaimLatency::MAX_ENTRIES, 56); // (26 + 2) × 2
//! ```
//!
//! The kernel side declares its map from it (`hist_ebpf::maps! { static RECLAIM_LATENCY:
//! HashHist<ReclaimLatency>; }`, a build error when the static is named otherwise), sized
//! [`HistDesc::MAX_ENTRIES`]; the user side opens the map by [`HistDesc::NAME`] and refuses one
//! whose key size, value size or `max_entries` disagrees, so the two sides cannot drift apart
//! into a silently wrong histogram.

use core::{marker::PhantomData, ops::RangeInclusive};

use crate::{Buckets, KeyPrefix, Linear, Log2, LogLinear, StartDesc, map_entries, names};

/// What a histogram map holds and how it is read: shared by both sides of a tool.
///
/// Implement it on a unit struct in the crate both sides depend on (see the
/// [module docs](self)).
pub trait HistDesc {
    /// What selects one histogram in the map: an op code, a pid, `()` for a single one.
    type Prefix: KeyPrefix;
    /// The map's name in the eBPF object: the identifier of the kernel side's static, which
    /// `hist_ebpf::maps!` checks when the eBPF crate builds ([`crate::names`]).
    const NAME: &'static str;
    /// How values become slots.
    const LAYOUT: Layout;
    /// The unit of the recorded values (the default one, when a tool offers `-m`).
    const UNIT: Unit;
    /// How many prefixes the map must hold at once.
    const PREFIXES: u32;
    /// The map's size: [`map_entries`]`(max_slot, PREFIXES)`, exact for the overflow slot.
    const MAX_ENTRIES: u32 = map_entries(Self::LAYOUT.max_slot(), Self::PREFIXES);
}

/// The maps of one eBPF object that user space sizes at load, by description: a [`HistDesc`],
/// [`Starts`] of a [`StartDesc`], or a tuple of them (`(Latency, Starts<RequestStart>)`)
/// (`hist_tool::Tool::load`).
pub trait HistDescs {
    /// Calls `map(name, max_entries)` for each map, its name in parts to be joined, sized for
    /// `settings` on a kernel whose `pid_max` is `pid_max`: a histogram gets [`map_entries`] of
    /// the refined layout's `max_slot` and its `PREFIXES` (its default prefix's array, which an
    /// object may have, one prefix's), a start map
    /// [`StartDomain::entries`](crate::StartDomain::entries).
    fn each_map(settings: &Settings, pid_max: u32, map: impl FnMut(&[&'static str], u32));
}

impl<H: HistDesc> HistDescs for H {
    fn each_map(settings: &Settings, _: u32, mut map: impl FnMut(&[&'static str], u32)) {
        let max_slot = settings.layout::<H>().max_slot();
        map(&[H::NAME], map_entries(max_slot, H::PREFIXES));
        map(&[H::NAME, names::DEFAULT_SUFFIX], map_entries(max_slot, 1));
    }
}

/// The start map of `S`, among the maps user space sizes at load: [`StartDomain::entries`](crate::StartDomain::entries).
pub struct Starts<S>(PhantomData<S>);

impl<S: StartDesc> HistDescs for Starts<S> {
    fn each_map(_: &Settings, pid_max: u32, mut map: impl FnMut(&[&'static str], u32)) {
        map(&[S::NAME], S::DOMAIN.entries(pid_max));
    }
}

/// The map of `H` when this run does not use it: one entry, so that it takes no memory to
/// speak of (a hash map's entries are allocated when it is created). cpudist's per-task hash
/// without `-P`/`-L`: `tool.load::<(Dist, Unused<TaskDist>)>(…)`.
pub struct Unused<H>(PhantomData<H>);

impl<H: HistDesc> HistDescs for Unused<H> {
    fn each_map(_: &Settings, _: u32, mut map: impl FnMut(&[&'static str], u32)) {
        map(&[H::NAME], 1);
        map(&[H::NAME, names::DEFAULT_SUFFIX], 1);
    }
}

macro_rules! hist_descs_tuple {
    ($($desc:ident),+) => {
        impl<$($desc: HistDescs),+> HistDescs for ($($desc,)+) {
            fn each_map(settings: &Settings, pid_max: u32, mut map: impl FnMut(&[&'static str], u32)) {
                $($desc::each_map(settings, pid_max, &mut map);)+
            }
        }
    };
}
hist_descs_tuple!(A, B);
hist_descs_tuple!(A, B, C);
hist_descs_tuple!(A, B, C, D);

/// How values map to slots: log2, linear or log-linear, with finite slots `0..=max_slot` and one overflow
/// slot `max_slot + 1` (see [`crate::slot`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Power-of-two slots ([`Log2`]).
    Log2(Log2),
    /// Equal-width slots ([`Linear`]).
    Linear(Linear),
    /// `2^k` equal sub-buckets per power of two ([`LogLinear`]).
    LogLinear(LogLinear),
}

impl Layout {
    /// Log2 slots `0..=max_slot` (at most 63).
    pub const fn log2(max_slot: u32) -> Self {
        Self::Log2(Log2::new(max_slot))
    }

    /// Linear slots of width `step` from `base`, `0..=max_slot`.
    pub const fn linear(base: u64, step: u64, max_slot: u32) -> Self {
        Self::Linear(Linear::new(base, step, max_slot))
    }

    /// Log-linear slots of precision `precision` (`2^precision` sub-buckets per power of two,
    /// at most 5), `0..=max_slot`.
    pub const fn log_linear(precision: u32, max_slot: u32) -> Self {
        Self::LogLinear(LogLinear::new(precision, max_slot))
    }

    /// This layout at `precision` (a tool's `--precision k`): a log2 layout becomes log-linear
    /// slots of precision `k` over the same range ([`LogLinear::covering`]), so the top finite
    /// slot still ends where log2's does; precision 0 keeps it, and so do linear and log-linear
    /// layouts, which have no finer form. A precision above [`LogLinear::MAX_PRECISION`] counts
    /// as that maximum: the kernel side calls this with a value user space wrote, and must not
    /// panic.
    ///
    /// ```
    /// use hist_core::{Layout, LogLinear};
    /// assert_eq!(Layout::log2(26).refined(0), Layout::log2(26));
    /// assert_eq!(Layout::log2(26).refined(3), Layout::LogLinear(LogLinear::covering(3, 26)));
    /// assert_eq!(Layout::log2(26).refined(9), Layout::log2(26).refined(5));
    /// ```
    #[inline(always)]
    pub const fn refined(self, precision: u32) -> Self {
        match self {
            Self::Log2(log2) if precision > 0 => {
                let precision = if precision > LogLinear::MAX_PRECISION {
                    LogLinear::MAX_PRECISION
                } else {
                    precision
                };
                // Log2's max_slot is at most 63 (`Log2::new`).
                Self::LogLinear(LogLinear::covering_in_range(precision, log2.max_slot()))
            }
            other => other,
        }
    }

    /// The highest finite slot.
    pub const fn max_slot(&self) -> u32 {
        match self {
            Self::Log2(log2) => log2.max_slot(),
            Self::Linear(linear) => linear.max_slot(),
            Self::LogLinear(log_linear) => log_linear.max_slot(),
        }
    }
}

impl Buckets for Layout {
    #[inline(always)]
    fn max_slot(&self) -> u32 {
        Layout::max_slot(self)
    }

    #[inline(always)]
    fn slot(&self, value: u64) -> u32 {
        match self {
            Self::Log2(log2) => log2.slot(value),
            Self::Linear(linear) => linear.slot(value),
            Self::LogLinear(log_linear) => log_linear.slot(value),
        }
    }

    fn low(&self, slot: u32) -> u64 {
        match self {
            Self::Log2(log2) => log2.low(slot),
            Self::Linear(linear) => linear.low(slot),
            Self::LogLinear(log_linear) => log_linear.low(slot),
        }
    }

    fn bounds(&self, slot: u32) -> RangeInclusive<u64> {
        match self {
            Self::Log2(log2) => log2.bounds(slot),
            Self::Linear(linear) => linear.bounds(slot),
            Self::LogLinear(log_linear) => log_linear.bounds(slot),
        }
    }
}

/// The unit of recorded time values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Nanoseconds (`nsecs`).
    Nanoseconds,
    /// Microseconds (`usecs`), bcc's default.
    Microseconds,
    /// Milliseconds (`msecs`), bcc's `-m`.
    Milliseconds,
}

impl Unit {
    /// Nanoseconds in one unit: what the kernel side divides a nanosecond delta by.
    pub const fn nanos(self) -> u32 {
        match self {
            Self::Nanoseconds => 1,
            Self::Microseconds => 1_000,
            Self::Milliseconds => 1_000_000,
        }
    }

    /// bcc's label of the value column: `nsecs`, `usecs`, `msecs`.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Nanoseconds => "nsecs",
            Self::Microseconds => "usecs",
            Self::Milliseconds => "msecs",
        }
    }

    /// Seconds in one unit, for Prometheus (whose base unit is the second).
    pub fn seconds(self) -> f64 {
        self.nanos() as f64 / 1e9
    }
}

/// The load-time settings every tool shares, written by user space into the eBPF object before
/// it is loaded (see `hist_ebpf::Config` and `hist_user::Tool`).
///
/// `#[repr(C)]` and all `u32`: no padding, the same bytes on both sides. A tool with settings
/// of its own embeds this as its first field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Settings {
    /// Trace only this process (thread-group id, what `-p PID` names); 0 traces every process.
    pub tgid: u32,
    /// Nanoseconds per recorded unit ([`Unit::nanos`]): 1000 for `usecs`, 1 000 000 for `-m`.
    pub unit_nanos: u32,
    /// 1: also add every recorded value to the per-prefix sum map (for Prometheus' `_sum`);
    /// 0: don't, and pay nothing for it.
    pub sums: u32,
    /// `--precision k`: `2^k` sub-buckets per power of two instead of the description's log2
    /// slots ([`Layout::refined`]); 0 keeps log2. User space sizes the maps to match.
    pub precision: u32,
    /// `-c CGROUP`: 1 traces only tasks in the cgroup (v2) that user space put in slot 0 of
    /// [`CGROUP_MAP`](crate::names::CGROUP_MAP), or in one below it; 0 traces tasks of every cgroup.
    pub cgroup: u32,
}

impl Settings {
    /// Every process, in `unit`.
    pub const fn new(unit: Unit) -> Self {
        Self {
            tgid: 0,
            unit_nanos: unit.nanos(),
            sums: 0,
            precision: 0,
            cgroup: 0,
        }
    }

    /// The layout `H`'s map is recorded in under these settings: its description's, refined to
    /// [`precision`](Self::precision).
    #[inline(always)]
    pub const fn layout<H: HistDesc>(&self) -> Layout {
        H::LAYOUT.refined(self.precision)
    }

    /// Whether the process `tgid` is traced.
    #[inline(always)]
    pub const fn traces(&self, tgid: u32) -> bool {
        self.tgid == 0 || self.tgid == tgid
    }

    /// `nanos` in the recorded unit.
    #[inline(always)]
    pub const fn to_unit(&self, nanos: u64) -> u64 {
        // A zeroed config (never written) must not divide by zero: count nanoseconds then.
        if self.unit_nanos <= 1 {
            nanos
        } else {
            nanos / self.unit_nanos as u64
        }
    }
}

/// A tool's load-time configuration: [`Settings`] alone, or a tool's own `#[repr(C)]` struct
/// that holds them (cpudist's adds `-O`, `-P`…).
pub trait ToolConfig: bytemuck::Pod {
    /// The settings every tool shares.
    fn settings(&self) -> Settings;
}

/// Declares a tool's own config type: implements [`ToolConfig`] from its `settings` field and,
/// with the `user` feature, `aya::Pod` (see [`aya_pod!`](crate::aya_pod)) so user space can
/// write it at load time.
///
/// ```
/// #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
/// #[repr(C)]
/// pub struct Config {
///     pub settings: hist_core::Settings,
///     pub off_cpu: u32,
/// }
/// hist_core::tool_config!(Config);
/// # use hist_core::ToolConfig as _;
/// # let config = Config { settings: hist_core::Settings::new(hist_core::Unit::Milliseconds), off_cpu: 1 };
/// assert_eq!(config.settings().unit_nanos, 1_000_000);
/// ```
#[macro_export]
macro_rules! tool_config {
    ($config:ty) => {
        impl $crate::ToolConfig for $config {
            #[inline(always)]
            fn settings(&self) -> $crate::Settings {
                self.settings
            }
        }
        $crate::aya_pod!($config);
    };
}

impl ToolConfig for Settings {
    #[inline(always)]
    fn settings(&self) -> Settings {
        *self
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::new(Unit::Microseconds)
    }
}

#[cfg(feature = "user")]
// SAFETY: `Settings` is `Pod` (checked by the derive): four u32, no padding.
unsafe impl aya::Pod for Settings {}
