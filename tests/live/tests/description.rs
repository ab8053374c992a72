//! A histogram map opened from its shared description is checked against the loaded map: the
//! right description reads it, and a description with another `max_slot`, another prefix type
//! or another size is refused with an error naming both values.

mod common;

use hist_core::{HistDesc, Layout, Unit};
use hist_test_descs::{CountHash, CountPerCpuArray as CountArray};
use hist_user::{Error, HistMap};

/// Declares a description of a test-probe map (`tests/hist-test-probes`: log2 up to slot 11).
macro_rules! desc {
    ($desc:ident, $name:literal, $prefix:ty, $max_slot:expr, $prefixes:expr) => {
        struct $desc;
        impl HistDesc for $desc {
            type Prefix = $prefix;
            const NAME: &'static str = $name;
            const LAYOUT: Layout = Layout::log2($max_slot);
            const UNIT: Unit = Unit::Nanoseconds;
            const PREFIXES: u32 = $prefixes;
        }
    };
}

desc!(OtherMaxSlot, "COUNT_HASH", u32, 12, 4);
desc!(OtherPrefix, "COUNT_HASH", [u32; 2], 11, 4);
desc!(OtherSize, "COUNT_HASH", u32, 11, 8);
desc!(OtherName, "COUNT_HASHES", u32, 11, 4);
const CALLS: u64 = 1000;

#[test]
fn the_right_description_reads_the_map() {
    let (workload, mut ebpf) = common::getpid_traced_by("count_getpid", CALLS, 1);
    workload.run_to_end();
    let hash = HistMap::<CountHash>::open(&mut ebpf).unwrap();
    let total: u64 = hash.snapshot().unwrap().values().map(|h| h.total()).sum();
    assert_eq!(total, CALLS);
    let array = HistMap::<CountArray>::open(&mut ebpf).unwrap();
    assert_eq!(array.snapshot().unwrap(), hash.snapshot().unwrap());
    assert_eq!(hash.sums().unwrap(), None, "the probes keep no sums");
}

fn refused<H: HistDesc>() -> String
where
    H::Prefix: Ord + aya::Pod,
{
    let (_workload, mut ebpf) = common::getpid_traced_by("count_getpid", CALLS, 1);
    match HistMap::<H>::open(&mut ebpf) {
        Ok(_) => panic!("{} opened", std::any::type_name::<H>()),
        Err(error) => error.to_string(),
    }
}

#[test]
fn another_max_slot_is_refused() {
    assert_eq!(
        refused::<OtherMaxSlot>(),
        "map COUNT_HASH: max_entries is 52 in the eBPF object but 56 in its shared description \
         (rebuild the eBPF program and the tool from the same HistDesc)"
    );
}

#[test]
fn another_prefix_type_is_refused() {
    assert_eq!(
        refused::<OtherPrefix>(),
        "map COUNT_HASH: key size (bytes) is 8 in the eBPF object but 12 in its shared \
         description (rebuild the eBPF program and the tool from the same HistDesc)"
    );
}

#[test]
fn another_size_is_refused() {
    assert_eq!(
        refused::<OtherSize>(),
        "map COUNT_HASH: max_entries is 52 in the eBPF object but 104 in its shared description \
         (rebuild the eBPF program and the tool from the same HistDesc)"
    );
}

/// fsdist's `LATENCY` (log2 up to 26, 5 ops: 140 entries) described with as many entries
/// ((68 + 2) × 2) but 2 prefixes: only its `LATENCY_SUM` map (5 entries) can tell.
struct SameSizeOtherPrefixes;
impl HistDesc for SameSizeOtherPrefixes {
    type Prefix = u32;
    const NAME: &'static str = "LATENCY";
    const LAYOUT: Layout = Layout::linear(0, 1, 68);
    const UNIT: Unit = Unit::Microseconds;
    const PREFIXES: u32 = 2;
}

#[test]
fn a_sum_map_that_disagrees_is_refused() {
    let mut ebpf = aya::Ebpf::load(hist_live_tests::FSDIST).expect("load fsdist's object");
    let error = HistMap::<SameSizeOtherPrefixes>::open(&mut ebpf)
        .err()
        .expect("refused");
    assert_eq!(
        error.to_string(),
        "map LATENCY: max_entries of its _SUM map is 5 in the eBPF object but 2 in its shared \
         description (rebuild the eBPF program and the tool from the same HistDesc)"
    );
}

#[test]
fn another_name_is_refused() {
    let (_workload, mut ebpf) = common::getpid_traced_by("count_getpid", CALLS, 1);
    let error = HistMap::<OtherName>::open(&mut ebpf)
        .err()
        .expect("no such map");
    assert!(
        matches!(
            error,
            Error::NoSuchMap {
                name: "COUNT_HASHES"
            }
        ),
        "{error}"
    );
}
