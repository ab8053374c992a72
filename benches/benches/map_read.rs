//! Reading a 100 000-key hash histogram from the kernel: `HashHistMap::snapshot` (batch
//! lookups, `BPF_MAP_LOOKUP_BATCH`, 4096 keys per call) against
//! `HashHistMap::snapshot_key_by_key` (aya's iteration, two calls per key), in the same run.
//! As root (it creates the map); without the privileges it says so and measures nothing.
//!
//! Run: `sudo cargo bench -p hist-benches --bench map_read`.

use std::hint::black_box;

use aya::maps::{HashMap, Map, MapData};
use aya_obj::generated::bpf_map_type;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hist_core::HistKey;
use hist_user::HashHistMap;

const MAX_SLOT: u32 = 11;
const ENTRIES: u32 = 100_000;

/// A hash map of `ENTRIES` histogram keys, filled, read through a `HashHistMap`.
fn filled_map() -> Option<HashHistMap<u32>> {
    let obj =
        aya_obj::Map::new_from_params(bpf_map_type::BPF_MAP_TYPE_HASH as u32, 8, 8, ENTRIES, 0);
    let data = match MapData::create(obj, "hist_bench", None) {
        Ok(data) => data,
        Err(error) => {
            eprintln!("map_read: cannot create a map ({error}): run as root to measure");
            return None;
        }
    };
    let id = data.info().ok()?.id();
    let mut writer: HashMap<_, HistKey<u32>, u64> =
        HashMap::try_from(Map::HashMap(MapData::from_id(id).ok()?)).ok()?;
    for i in 0..ENTRIES {
        let key = HistKey::new(i / (MAX_SLOT + 2), i % (MAX_SLOT + 2));
        writer.insert(key, u64::from(i) + 1, 0).ok()?;
    }
    HashHistMap::new(Map::HashMap(data), MAX_SLOT).ok()
}

fn map_read(c: &mut Criterion) {
    let Some(map) = filled_map() else {
        return;
    };
    assert_eq!(map.snapshot().unwrap(), map.snapshot_key_by_key().unwrap());
    let mut group = c.benchmark_group("map_read");
    group.throughput(Throughput::Elements(u64::from(ENTRIES)));
    group.sample_size(20);
    group.bench_function("batch_100k", |b| {
        b.iter(|| black_box(map.snapshot().unwrap()))
    });
    group.bench_function("key_by_key_100k", |b| {
        b.iter(|| black_box(map.snapshot_key_by_key().unwrap()))
    });
    group.finish();
}

// criterion_group! writes an undocumented public function.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group!(benches, map_read);
}
criterion_main!(group::benches);
