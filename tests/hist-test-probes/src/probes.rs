use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_current_task, bpf_get_prandom_u32,
        bpf_get_smp_processor_id, bpf_ktime_get_ns,
    },
    macros::{btf_tracepoint, map, tracepoint},
    maps::{Array, HashMap, PerCpuArray},
    programs::{BtfTracePointContext, TracePointContext},
};
use hist_ebpf::{
    ArrayHist, DefaultHist, FieldPath, HashHist, HistKey, Histogram as _, PerCpuArrayHist,
    PerCpuHashHist, StartSlots, StartTimes, Sums,
};

use aya_ebpf::EbpfContext as _;
use hist_ebpf::hist_core::Buckets as _;

use hist_test_descs::{
    CountArray, CountHash, CountPerCpuArray, CountPerCpuHash, CountSplit, DROP_PREFIXES,
    FIELD_COUNT, KEY_OPS, KEYED_RESULTS, KeysHist, NestFine, NestLog2, Request, RequestStart,
    RoomyHist, SLOT_KEYS, SLOT_LAYOUTS, SLOT_VALUES, START_SLOTS_RESULTS, TinyHist, TinySlots,
    TinyStart,
};

// ---- keys: what hist-ebpf writes into a hash map, next to a naive padded key ----

hist_ebpf::maps! {
    static KEYS_HIST: HashHist<KeysHist>;
}

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
    let op = (now >> 3) % KEY_OPS as u64;
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

hist_ebpf::maps! {
    static COUNT_HASH: HashHist<CountHash>;
    static COUNT_PERCPU_HASH: PerCpuHashHist<CountPerCpuHash>;
    static COUNT_ARRAY: ArrayHist<CountArray>;
    static COUNT_PERCPU_ARRAY: PerCpuArrayHist<CountPerCpuArray>;
    static COUNT_SPLIT: HashHist<CountSplit>;
    static COUNT_SPLIT_DEFAULT: DefaultHist<CountSplit>;
}

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
    (&COUNT_SPLIT, &COUNT_SPLIT_DEFAULT).record(prefix, value);
    0
}

// ---- drops: maps too small for what the probe records, next to one that has room ----

hist_ebpf::maps! {
    static TINY_HIST: HashHist<TinyHist>;
    static TINY_HIST_SUM: Sums<TinyHist>;
    static ROOMY_HIST: HashHist<RoomyHist>;
    /// Room for three starts.
    static TINY_START: StartTimes<TinyStart>;
}

#[tracepoint]
pub fn drops_getpid(_ctx: TracePointContext) -> u32 {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    // SAFETY: as in `count_getpid`.
    if tgid != unsafe { core::ptr::read_volatile(&TARGET_TGID) } {
        return 0;
    }
    // SAFETY: BPF helper without arguments.
    let prefix = unsafe { bpf_get_prandom_u32() } % DROP_PREFIXES;
    TINY_HIST.record(prefix, 0);
    TINY_HIST_SUM.add(prefix, 1);
    ROOMY_HIST.record(prefix, 0);
    TINY_START.start_at(&prefix, 1);
    0
}

// ---- keyed starts: replace, insert-if-absent, take and a full map, on chosen timestamps ----

hist_ebpf::maps! {
    static REQUEST_START: StartTimes<RequestStart>;
}
/// What `keyed_getpid` found, in the order its comments give.
#[map]
static KEYED_OUT: Array<u64> = Array::with_max_entries(KEYED_RESULTS, 0);

#[tracepoint]
pub fn keyed_getpid(_ctx: TracePointContext) -> u32 {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    // SAFETY: as in `count_getpid`.
    if tgid != unsafe { core::ptr::read_volatile(&TARGET_TGID) } {
        return 0;
    }
    let request = |sector| Request {
        dev: 8,
        queue: 1,
        sector,
    };
    let (a, b, c) = (request(100), request(200), request(300));
    let starts = &REQUEST_START;
    let results = [
        // 0: a later start replaces: 1000 − 300.
        {
            starts.start_at(&a, 100);
            starts.start_at(&a, 300);
            starts.elapsed_ns_at(&a, 1000)
        },
        // 1: taken already: none.
        starts.elapsed_ns_at(&a, 1000),
        // 2: insert-if-absent keeps the first start: 1000 − 100.
        {
            starts.start_if_absent_at(&a, 100);
            starts.start_if_absent_at(&a, 300);
            starts.elapsed_ns_at(&a, 1000)
        },
        // 3: a full map (a and b in flight, room for two) refuses c twice, two drops…
        {
            starts.start_at(&a, 10);
            starts.start_at(&b, 20);
            starts.start_at(&c, 30);
            starts.start_if_absent_at(&c, 30);
            starts.take(&c)
        },
        // 4: …but a key in it may be started again, either way, with no drop: 50 − 40.
        {
            starts.start_if_absent_at(&b, 30);
            starts.start_at(&b, 40);
            starts.elapsed_ns_at(&b, 50)
        },
        // 5: the start of a, as it was: 10.
        starts.take(&a),
    ];
    for (index, result) in results.into_iter().enumerate() {
        if let Some(out) = KEYED_OUT.get_ptr_mut(index as u32) {
            // SAFETY: an array map value, ours for the duration of the program.
            unsafe { *out = result.unwrap_or(u64::MAX) };
        }
    }
    0
}

// ---- start slots: replace, insert-if-absent, free, and a slot two keys share ----

hist_ebpf::maps! {
    static TINY_SLOTS: StartSlots<TinySlots>;
}
/// What `start_slots_getpid` found, in the order its comments give.
#[map]
static START_SLOTS_OUT: Array<u64> = Array::with_max_entries(START_SLOTS_RESULTS, 0);

#[tracepoint]
pub fn start_slots_getpid(_ctx: TracePointContext) -> u32 {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    // SAFETY: as in `count_getpid`.
    if tgid != unsafe { core::ptr::read_volatile(&TARGET_TGID) } {
        return 0;
    }
    // a and b share a slot, c has another.
    let [a, b, c] = SLOT_KEYS;
    let slots = &TINY_SLOTS;
    let results = [
        // 0: a later start replaces: 1000 − 300.
        {
            slots.start_at(&a, 100);
            slots.start_at(&a, 300);
            slots.elapsed_ns_at(&a, 1000)
        },
        // 1: freed already: none.
        slots.elapsed_ns_at(&a, 1000),
        // 2: insert-if-absent keeps the first start: 1000 − 100.
        {
            slots.start_if_absent_at(&a, 100);
            slots.start_if_absent_at(&a, 300);
            slots.elapsed_ns_at(&a, 1000)
        },
        // 3: b takes a's slot while a is in flight: one drop, and a's end finds no start…
        {
            slots.start_at(&a, 10);
            slots.start_at(&b, 20);
            slots.elapsed_ns_at(&a, 1000)
        },
        // 4: …while b's finds its own: 50 − 20.
        slots.elapsed_ns_at(&b, 50),
        // 5: a slot freed takes a key again with no drop, beside another slot's: 10 − 5.
        {
            slots.start_at(&c, 5);
            slots.start_at(&a, 7);
            slots.elapsed_ns_at(&c, 10)
        },
    ];
    for (index, result) in results.into_iter().enumerate() {
        if let Some(out) = START_SLOTS_OUT.get_ptr_mut(index as u32) {
            // SAFETY: an array map value, ours for the duration of the program.
            unsafe { *out = result.unwrap_or(u64::MAX) };
        }
    }
    0
}

// ---- kernel fields: read at offsets user space resolved from BTF and tracefs ----

/// The paths of `FIELD_COUNT` fields of the current task, written by the test.
#[unsafe(no_mangle)]
static FIELD_PATHS: [FieldPath; FIELD_COUNT as usize] = [FieldPath::ABSENT; FIELD_COUNT as usize];
/// Where sys_enter_getpid's record keeps `__syscall_nr`, from its tracefs format.
#[unsafe(no_mangle)]
static SYSCALL_NR_OFFSET: u32 = 0;
/// What the probe read: each field of `FIELD_PATHS` (`u64::MAX` when it got nothing), then the
/// syscall number.
#[map]
static FIELDS_OUT: Array<u64> = Array::with_max_entries(FIELD_COUNT + 1, 0);

#[tracepoint]
pub fn fields_getpid(ctx: TracePointContext) -> u32 {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    // SAFETY: as in `count_getpid`.
    if tgid != unsafe { core::ptr::read_volatile(&TARGET_TGID) } {
        return 0;
    }
    // SAFETY: a BPF helper without arguments.
    let task = unsafe { bpf_get_current_task() };
    for index in 0..FIELD_COUNT {
        // SAFETY: a global user space wrote before loading; volatile, or the compiler would
        // fold the all-absent initializer in.
        let paths = unsafe { core::ptr::read_volatile(&FIELD_PATHS) };
        let value = hist_ebpf::read_field::<u32>(task, &paths[index as usize]);
        if let Some(out) = FIELDS_OUT.get_ptr_mut(index) {
            // SAFETY: an array map value, ours for the duration of the program.
            unsafe { *out = value.map_or(u64::MAX, u64::from) };
        }
    }
    // SAFETY: as above.
    let offset = unsafe { core::ptr::read_volatile(&SYSCALL_NR_OFFSET) };
    // SAFETY: the record is at least as long as the offset its format gives.
    let syscall_nr =
        unsafe { ctx.read_at::<i32>(offset as usize) }.map_or(u64::MAX, |nr| nr as u64);
    if let Some(out) = FIELDS_OUT.get_ptr_mut(FIELD_COUNT) {
        // SAFETY: as above.
        unsafe { *out = syscall_nr };
    }
    0
}

/// Which argument of sched_switch's tp_btf is the task leaving the CPU, from the kernel's BTF.
#[unsafe(no_mangle)]
static PREV_ARG: u32 = 0;
/// `task_struct.pid`.
#[unsafe(no_mangle)]
static TASK_PID: FieldPath = FieldPath::ABSENT;
/// Switches whose outgoing task, read at `PREV_ARG`, is the current task (its pid read through
/// `TASK_PID`), and switches where it is not; per CPU.
#[map]
static ARGS_OUT: PerCpuArray<u64> = PerCpuArray::with_max_entries(2, 0);

#[btf_tracepoint(function = "sched_switch")]
pub fn args_sched_switch(ctx: BtfTracePointContext) -> i32 {
    // SAFETY: globals user space wrote before loading.
    let (index, pid_path) = unsafe {
        (
            core::ptr::read_volatile(&PREV_ARG),
            core::ptr::read_volatile(&TASK_PID),
        )
    };
    // sched_switch has had `preempt, prev, next` first since Linux 4.x.
    let Some(prev) = hist_ebpf::arg_at::<3>(ctx.as_ptr(), index) else {
        return 0;
    };
    let current = bpf_get_current_pid_tgid() as u32;
    let same = hist_ebpf::read_field::<u32>(prev, &pid_path) == Some(current);
    if let Some(out) = ARGS_OUT.get_ptr_mut(if same { 0 } else { 1 }) {
        // SAFETY: this CPU's copy, which no other program run touches meanwhile.
        unsafe { *out += 1 };
    }
    0
}

// ---- slots: the BPF form of the slot functions, on values user space chose ----

/// The values, written by user space before each getpid().
#[map]
static SLOT_IN: Array<u64> = Array::with_max_entries(SLOT_VALUES, 0);
/// For each value: `log2_u64`, then its slot in each of `SLOT_LAYOUTS`.
#[map]
static SLOT_OUT: Array<[u32; 4]> = Array::with_max_entries(SLOT_VALUES, 0);

#[tracepoint]
pub fn slots_getpid(_ctx: TracePointContext) -> u32 {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    // SAFETY: as in `count_getpid`.
    if tgid != unsafe { core::ptr::read_volatile(&TARGET_TGID) } {
        return 0;
    }
    for index in 0..SLOT_VALUES {
        let (Some(value), Some(out)) = (SLOT_IN.get(index), SLOT_OUT.get_ptr_mut(index)) else {
            return 0;
        };
        let value = *value;
        let slots = [
            hist_ebpf::hist_core::log2_u64(value),
            SLOT_LAYOUTS[0].slot(value),
            SLOT_LAYOUTS[1].slot(value),
            SLOT_LAYOUTS[2].slot(value),
        ];
        // SAFETY: an array map value, ours for the duration of the program.
        unsafe { *out = slots };
    }
    0
}

// ---- nesting: the same live values in a log2 and a log-linear histogram ----

#[map]
static NEST_LOG2: ArrayHist<NestLog2> = ArrayHist::new();
#[map]
static NEST_FINE: ArrayHist<NestFine> = ArrayHist::new();
/// When the current task of each CPU was switched in (as cpudist keeps it).
#[map]
static NEST_SWITCHED_IN: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// At every switch, the on-CPU time of the outgoing task, when it is one of the target's:
/// recorded once into each histogram, so that each log2 slot holds exactly what its
/// sub-buckets hold.
#[tracepoint]
pub fn nest_sched_switch(_ctx: TracePointContext) -> u32 {
    // SAFETY: BPF helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let Some(switched_in) = NEST_SWITCHED_IN.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: this CPU's own slot of a per-CPU array; nothing else writes it meanwhile.
    let since = unsafe { core::mem::replace(&mut *switched_in, now) };
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    // SAFETY: as in `count_getpid`.
    if since == 0 || tgid != unsafe { core::ptr::read_volatile(&TARGET_TGID) } {
        return 0;
    }
    NEST_LOG2.record(0, now - since);
    NEST_FINE.record(0, now - since);
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
