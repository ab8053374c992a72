//! Snapshots of a big hash histogram read with `BPF_MAP_LOOKUP_BATCH` equal the key-by-key
//! reading, for the shared and the per-CPU kind, and take far fewer system calls.

use std::time::Instant;

use aya::maps::{HashMap, Map, MapData, PerCpuHashMap, PerCpuValues};
use aya_obj::generated::bpf_map_type;
use hist_core::HistKey;
use hist_user::HashHistMap;

const MAX_SLOT: u32 = 11;
/// 100 000 keys: 7 693 prefixes of 13 slots, less the tail.
const ENTRIES: u32 = 100_000;

/// A standalone map of `kind` with room for [`ENTRIES`] histogram keys.
fn create(kind: bpf_map_type) -> MapData {
    let obj = aya_obj::Map::new_from_params(kind as u32, 8, 8, ENTRIES, 0);
    MapData::create(obj, "hist_batch_test", None).expect("create a map (root?)")
}

fn keys() -> impl Iterator<Item = (HistKey<u32>, u64)> {
    (0..ENTRIES).map(|i| {
        (
            HistKey::new(i / (MAX_SLOT + 2), i % (MAX_SLOT + 2)),
            u64::from(i) + 1,
        )
    })
}

fn compare(map: Map, per_cpu: u64) {
    let hist = HashHistMap::<u32>::new(map, MAX_SLOT).unwrap();
    let started = Instant::now();
    let batch = hist.snapshot().unwrap();
    let batch_time = started.elapsed();
    let started = Instant::now();
    let key_by_key = hist.snapshot_key_by_key().unwrap();
    let key_by_key_time = started.elapsed();
    assert_eq!(batch, key_by_key);
    let total: u64 = batch.values().map(|h| h.total()).sum();
    let expected: u64 = keys().map(|(_, v)| v).sum::<u64>() * per_cpu;
    assert_eq!(total, expected);
    assert_eq!(batch.len() as u32, ENTRIES.div_ceil(MAX_SLOT + 2));
    eprintln!(
        "{ENTRIES} keys: batch {batch_time:?}, key by key {key_by_key_time:?} ({:.1}×)",
        key_by_key_time.as_secs_f64() / batch_time.as_secs_f64()
    );
}

#[test]
fn batch_snapshot_of_a_shared_hash_equals_key_by_key() {
    let data = create(bpf_map_type::BPF_MAP_TYPE_HASH);
    let id = data.info().unwrap().id();
    let mut writer: HashMap<_, HistKey<u32>, u64> =
        HashMap::try_from(Map::HashMap(MapData::from_id(id).unwrap())).unwrap();
    for (key, value) in keys() {
        writer.insert(key, value, 0).unwrap();
    }
    compare(Map::HashMap(data), 1);
}

#[test]
fn batch_snapshot_of_a_per_cpu_hash_equals_key_by_key() {
    let data = create(bpf_map_type::BPF_MAP_TYPE_PERCPU_HASH);
    let id = data.info().unwrap().id();
    let mut writer: PerCpuHashMap<_, HistKey<u32>, u64> =
        PerCpuHashMap::try_from(Map::PerCpuHashMap(MapData::from_id(id).unwrap())).unwrap();
    let cpus = aya::util::nr_cpus().unwrap();
    for (key, value) in keys() {
        let values = PerCpuValues::try_from(vec![value; cpus]).unwrap();
        writer.insert(key, values, 0).unwrap();
    }
    compare(Map::PerCpuHashMap(data), cpus as u64);
}
