//! The descriptions of the test probes' maps, compiled by both sides as a tool's common crate
//! is: by the probes (`tests/hist-test-probes`) and by the live tests (`tests/live`).
#![no_std]

use hist_core::{HistDesc, Layout, StartDesc, StartDomain, Unit};

/// Slots of the test histograms; values of 2^12 and above land in the overflow slot.
pub const MAX_SLOT: u32 = 11;
/// Logical prefixes of the key test: the low bits of the timestamp, `0..KEY_OPS`.
pub const KEY_OPS: u32 = 3;
/// Prefixes the drop probe records: `0..DROP_PREFIXES`, at random.
pub const DROP_PREFIXES: u32 = 5;

/// A test histogram's description: `u32` prefixes, log2 slots up to `MAX_SLOT`.
macro_rules! desc {
    ($(#[$doc:meta])* $desc:ident, $name:literal, $prefixes:expr) => {
        $(#[$doc])*
        pub struct $desc;
        impl HistDesc for $desc {
            type Prefix = u32;
            const NAME: &'static str = $name;
            const LAYOUT: Layout = Layout::log2(MAX_SLOT);
            const UNIT: Unit = Unit::Nanoseconds;
            const PREFIXES: u32 = $prefixes;
        }
    };
}

desc!(
    /// Keys written from `sched_switch`, one prefix per op.
    KeysHist, "KEYS_HIST", KEY_OPS
);
desc!(
    /// Every getpid() of the child, per CPU parity.
    CountHash, "COUNT_HASH", 4
);
desc!(
    /// The same, per-CPU.
    CountPerCpuHash, "COUNT_PERCPU_HASH", 4
);
desc!(
    /// The same, in an array.
    CountArray, "COUNT_ARRAY", 2
);
desc!(
    /// The same, in a per-CPU array.
    CountPerCpuArray, "COUNT_PERCPU_ARRAY", 2
);
desc!(
    /// The same, prefix 0 in a per-CPU array (`DefaultHist`) and prefix 1 in a hash.
    CountSplit, "COUNT_SPLIT", 4
);
desc!(
    /// Room for every prefix of the drop probe.
    RoomyHist, "ROOMY_HIST", DROP_PREFIXES
);

/// Room for one prefix: slots 0, 1 and overflow, 3 keys. The drop probe records only 0
/// (slot 0), so 3 prefixes fit, and its sums map (one entry per prefix) has room for one.
pub struct TinyHist;
impl HistDesc for TinyHist {
    type Prefix = u32;
    const NAME: &'static str = "TINY_HIST";
    const LAYOUT: Layout = Layout::log2(1);
    const UNIT: Unit = Unit::Nanoseconds;
    const PREFIXES: u32 = 1;
}

/// Room for three starts in flight: the drop probe's fourth prefix finds it full.
pub struct TinyStart;
impl StartDesc for TinyStart {
    type Key = u32;
    const NAME: &'static str = "TINY_START";
    const DOMAIN: StartDomain = StartDomain::InFlight(3);
}

/// A request-like key that another task or CPU could end: no padding (`Pod`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Request {
    /// A device number.
    pub dev: u32,
    /// Which queue of the device.
    pub queue: u32,
    /// The sector the request starts at.
    pub sector: u64,
}

/// The keyed start test's map: two requests in flight at most.
pub struct RequestStart;
impl StartDesc for RequestStart {
    type Key = Request;
    const NAME: &'static str = "REQUEST_START";
    const DOMAIN: StartDomain = StartDomain::InFlight(2);
}

/// What the keyed start probe computes, in order, from timestamps it chose (see
/// `keyed_getpid`); `u64::MAX` where a start was not found.
pub const KEYED_RESULTS: u32 = 6;

/// The start-slots test's table: four slots, keyed by a number.
pub struct TinySlots;
impl StartDesc for TinySlots {
    type Key = u64;
    const NAME: &'static str = "TINY_SLOTS";
    const DOMAIN: StartDomain = StartDomain::Slots(4);
}

/// Keys of [`TinySlots`]: the first two share a slot, the third has another
/// (`hist_core::start::slot_of`, the probe's own hash).
pub const SLOT_KEYS: [u64; 3] = {
    const fn slot(key: u64) -> u32 {
        hist_core::start::slot_of(&[key], 4)
    }
    let a = 1;
    let mut b = a + 1;
    while slot(b) != slot(a) {
        b += 1;
    }
    let mut c = a + 1;
    while slot(c) == slot(a) {
        c += 1;
    }
    [a, b, c]
};

/// What the start-slots probe computes, in order (see `start_slots_getpid`).
pub const START_SLOTS_RESULTS: u32 = 6;

/// The kernel fields the field probe reads from the current task, by index in `FIELD_PATHS`:
/// its parent's tgid by the first chain; the same with a chain this kernel lacks tried first;
/// one this kernel lacks altogether. The test resolves them from BTF.
pub const FIELD_COUNT: u32 = 3;

/// Values per round of the slot test: the probe computes the slots of this many values at once.
pub const SLOT_VALUES: u32 = 64;
/// The layouts whose BPF slot function the slot test compares with the host's: log2 with the
/// overflow slot above 2^36 (cpudist's), a linear one, and log-linear with 8 sub-buckets per
/// power of two up to the same 2^36.
pub const SLOT_LAYOUTS: [hist_core::Layout; 3] = [
    hist_core::Layout::log2(35),
    hist_core::Layout::linear(1000, 100, 50),
    hist_core::Layout::LogLinear(hist_core::LogLinear::covering(3, 35)),
];

/// The top finite log2 slot of the nesting test: values up to 2^41 ns (36 minutes).
pub const NEST_MAX_SLOT: u32 = 40;

/// The on-CPU time of each of the workload's slices in log2 slots, beside [`NestFine`].
pub struct NestLog2;
impl HistDesc for NestLog2 {
    type Prefix = u32;
    const NAME: &'static str = "NEST_LOG2";
    const LAYOUT: Layout = Layout::log2(NEST_MAX_SLOT);
    const UNIT: Unit = Unit::Nanoseconds;
    const PREFIXES: u32 = 1;
}

/// The same values, 8 sub-buckets per power of two over the same range (`--precision 3`).
pub struct NestFine;
impl HistDesc for NestFine {
    type Prefix = u32;
    const NAME: &'static str = "NEST_FINE";
    const LAYOUT: Layout = NestLog2::LAYOUT.refined(3);
    const UNIT: Unit = Unit::Nanoseconds;
    const PREFIXES: u32 = 1;
}
