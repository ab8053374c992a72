use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_ktime_get_ns},
    macros::{map, tracepoint},
    maps::HashMap,
    programs::TracePointContext,
};
use hist_ebpf::{
    ArrayHist, HashHist, HistDesc, HistKey, Histogram as _, PerCpuArrayHist, PerCpuHashHist,
    hist_core::{Layout, Unit},
};

/// Slots of the test histograms; values of 2^12 and above land in the overflow slot.
const MAX_SLOT: u32 = 11;
/// Logical prefixes of the key test: the low bits of the timestamp, `0..KEY_OPS`.
const KEY_OPS: u64 = 3;

/// A test histogram's description: `u32` prefixes, log2 slots up to `MAX_SLOT`. The live tests
/// declare the same descriptions on their side (and wrong ones, to see them refused).
macro_rules! desc {
    ($desc:ident, $name:literal, $prefixes:expr) => {
        struct $desc;
        impl HistDesc for $desc {
            type Prefix = u32;
            const NAME: &'static str = $name;
            const LAYOUT: Layout = Layout::log2(MAX_SLOT);
            const UNIT: Unit = Unit::Nanoseconds;
            const PREFIXES: u32 = $prefixes;
        }
    };
}

desc!(KeysHist, "KEYS_HIST", KEY_OPS as u32);
desc!(CountHash, "COUNT_HASH", 4);
desc!(CountPerCpuHash, "COUNT_PERCPU_HASH", 4);
desc!(CountArray, "COUNT_ARRAY", 2);
desc!(CountPerCpuArray, "COUNT_PERCPU_ARRAY", 2);

// ---- keys: what hist-ebpf writes into a hash map, next to a naive padded key ----

#[map]
static KEYS_HIST: HashHist<KeysHist> = HashHist::new();

/// A prefix made of a comm-like byte array, filled through `HistKey::zeroed()`.
#[map]
static KEYS_ZEROED: HashMap<HistKey<[u8; 8]>, u64> = HashMap::with_max_entries(1024, 0);

/// The naive key of a C port: `{ u8 op; u64 slot; }` has 7 bytes of padding.
#[repr(C)]
struct PaddedKey {
    op: u8,
    slot: u64,
}

#[map]
static KEYS_PADDED: HashMap<PaddedKey, u64> = HashMap::with_max_entries(4096, 0);

#[tracepoint]
pub fn keys_sched_switch(_ctx: TracePointContext) -> u32 {
    // SAFETY: BPF helpers without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let op = (now >> 3) % KEY_OPS;
    // A spread of values over slots 0..=MAX_SLOT+1 (overflow included).
    let value = (now >> 7) & 0x1fff;

    KEYS_HIST.record(op as u32, value);

    let slot = hist_ebpf::hist_core::log2(value) as u32;
    let mut zeroed = HistKey::<[u8; 8]>::zeroed();
    zeroed.prefix[0] = b'a' + op as u8;
    zeroed.slot = slot;
    count(&KEYS_ZEROED, &zeroed);

    let padded = PaddedKey {
        op: op as u8,
        slot: slot as u64,
    };
    count(&KEYS_PADDED, &padded);
    0
}

fn count<K>(map: &HashMap<K, u64>, key: &K) {
    if let Some(value) = map.get_ptr_mut(key) {
        // SAFETY: a live map value; only this test's low-rate probe writes it.
        unsafe { *value += 1 };
    } else {
        let _ = map.insert(key, &1, 0);
    }
}

// ---- exact counting: every getpid() of one process, into every map kind ----

/// The tgid to count; set by user space before load.
#[unsafe(no_mangle)]
static TARGET_TGID: u32 = 0;

#[map]
static COUNT_HASH: HashHist<CountHash> = HashHist::new();
#[map]
static COUNT_PERCPU_HASH: PerCpuHashHist<CountPerCpuHash> = PerCpuHashHist::new();
#[map]
static COUNT_ARRAY: ArrayHist<CountArray> = ArrayHist::new();
#[map]
static COUNT_PERCPU_ARRAY: PerCpuArrayHist<CountPerCpuArray> = PerCpuArrayHist::new();

#[tracepoint]
pub fn count_getpid(_ctx: TracePointContext) -> u32 {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    // SAFETY: a read-only global that user space set at load time; volatile so the compiler
    // does not fold it to its initial value.
    if tgid != unsafe { core::ptr::read_volatile(&TARGET_TGID) } {
        return 0;
    }
    // SAFETY: BPF helper without arguments.
    let cpu = unsafe { bpf_get_smp_processor_id() };
    // SAFETY: BPF helper without arguments.
    let value = unsafe { bpf_ktime_get_ns() } & 0x1fff;
    let prefix = cpu & 1;
    COUNT_HASH.record(prefix, value);
    COUNT_PERCPU_HASH.record(prefix, value);
    COUNT_ARRAY.record(prefix, value);
    COUNT_PERCPU_ARRAY.record(prefix, value);
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
