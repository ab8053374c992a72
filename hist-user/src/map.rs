//! Readers over the aya maps that `hist-ebpf` histograms live in.
//!
//! Each reader accepts both the shared and the per-CPU kind of its map, so switching the kernel
//! side between `HashHist` and `PerCpuHashHist` (or `ArrayHist` and `PerCpuArrayHist`) needs no
//! change in user space.

use aya::maps::{
    Array, HashMap, IterableMap as _, Map, MapData, MapError, PerCpuArray, PerCpuHashMap,
    PerCpuValues,
};
use hist_core::{HistKey, KeyPrefix};

use crate::{Error, Histogram, Snapshot, batch::lookup_batch, snapshot::saturating_sum};

/// A hash-map histogram (`HashHist` / `PerCpuHashHist`) keyed by [`HistKey<P>`].
pub struct HashHistMap<P: KeyPrefix> {
    map: HashKind<P>,
    max_slot: u32,
}

enum HashKind<P: KeyPrefix> {
    Shared(HashMap<MapData, HistKey<P>, u64>),
    PerCpu(PerCpuHashMap<MapData, HistKey<P>, u64>),
}

impl<P: KeyPrefix + Ord> HashHistMap<P> {
    /// Wraps `map` (from `Ebpf::take_map`), whose histograms have finite slots `0..=max_slot`.
    pub fn new(map: Map, max_slot: u32) -> Result<Self, Error> {
        let map = match map {
            Map::HashMap(_) => HashKind::Shared(HashMap::try_from(map)?),
            Map::PerCpuHashMap(_) => HashKind::PerCpu(PerCpuHashMap::try_from(map)?),
            other => return Err(wrong_type("a hash or per-CPU hash map", &other)),
        };
        Ok(Self { map, max_slot })
    }

    /// Reads every histogram, summing per-CPU copies: a few thousand entries per `bpf(2)` call
    /// with `BPF_MAP_LOOKUP_BATCH` (Linux 5.6), else one key at a time as
    /// [`snapshot_key_by_key`](Self::snapshot_key_by_key) does.
    pub fn snapshot(&self) -> Result<Snapshot<P>, Error> {
        let (data, per_cpu) = match &self.map {
            HashKind::Shared(map) => (map.map(), false),
            HashKind::PerCpu(map) => (map.map(), true),
        };
        let Some(entries) = lookup_batch::<HistKey<P>>(data, per_cpu)? else {
            return self.snapshot_key_by_key();
        };
        let mut snapshot = Snapshot::new();
        for (key, values) in entries
            .keys
            .iter()
            .zip(entries.values.chunks_exact(entries.per_key))
        {
            let HistKey { prefix, slot } = *key;
            let value = saturating_sum(values);
            snapshot
                .entry(prefix)
                .or_insert_with(|| Histogram::new(self.max_slot))
                .add(slot, value);
        }
        snapshot.retain(|_, hist| !hist.is_empty());
        Ok(snapshot)
    }

    /// Whether the map keeps a counter per CPU (`PerCpuHashHist`).
    pub fn is_per_cpu(&self) -> bool {
        matches!(self.map, HashKind::PerCpu(_))
    }

    /// Each CPU's histograms (index = CPU), as [`snapshot`](Self::snapshot) reads them before
    /// summing; `None` for a shared map (`HashHist`), whose counters belong to no CPU.
    pub fn snapshot_per_cpu(&self) -> Result<Option<Vec<Snapshot<P>>>, Error> {
        let HashKind::PerCpu(map) = &self.map else {
            return Ok(None);
        };
        let mut per_cpu: Vec<Snapshot<P>> = Vec::new();
        let mut count = |key: HistKey<P>, values: &[u64]| {
            per_cpu.resize_with(per_cpu.len().max(values.len()), Snapshot::new);
            let HistKey { prefix, slot } = key;
            for (cpu, &value) in values.iter().enumerate().filter(|(_, v)| **v != 0) {
                per_cpu[cpu]
                    .entry(prefix)
                    .or_insert_with(|| Histogram::new(self.max_slot))
                    .add(slot, value);
            }
        };
        match lookup_batch::<HistKey<P>>(map.map(), true)? {
            Some(entries) => {
                let values = entries.values.chunks_exact(entries.per_key);
                for (key, values) in entries.keys.iter().zip(values) {
                    count(*key, values);
                }
            }
            None => {
                for entry in map.iter() {
                    let (key, values) = entry?;
                    count(key, &values);
                }
            }
        }
        Ok(Some(per_cpu))
    }

    /// [`snapshot`](Self::snapshot) through aya's iteration: two `bpf(2)` calls per key (next
    /// key, lookup). The fallback for kernels without batch lookups, and the baseline the batch
    /// is measured against.
    pub fn snapshot_key_by_key(&self) -> Result<Snapshot<P>, Error> {
        let mut snapshot = Snapshot::new();
        let mut count = |key: HistKey<P>, value: u64| {
            let HistKey { prefix, slot } = key;
            snapshot
                .entry(prefix)
                .or_insert_with(|| Histogram::new(self.max_slot))
                .add(slot, value);
        };
        match &self.map {
            HashKind::Shared(map) => {
                for entry in map.iter() {
                    let (key, value) = entry?;
                    count(key, value);
                }
            }
            HashKind::PerCpu(map) => {
                for entry in map.iter() {
                    let (key, values) = entry?;
                    count(key, saturating_sum(values.iter()));
                }
            }
        }
        snapshot.retain(|_, hist| !hist.is_empty());
        Ok(snapshot)
    }

    /// Deletes every entry, as bcc's `table.clear()` does between intervals.
    pub fn clear(&mut self) -> Result<(), Error> {
        match &mut self.map {
            HashKind::Shared(map) => {
                for key in map.keys().collect::<Result<Vec<_>, _>>()? {
                    remove_if_present(map.remove(&key))?;
                }
            }
            HashKind::PerCpu(map) => {
                for key in map.keys().collect::<Result<Vec<_>, _>>()? {
                    remove_if_present(map.remove(&key))?;
                }
            }
        }
        Ok(())
    }

    /// Deletes every slot of `prefix` (a prefix that can no longer count, such as the pid of a
    /// process that exited), leaving the other prefixes alone.
    pub fn remove_prefix(&mut self, prefix: P) -> Result<(), Error> {
        for slot in 0..=self.max_slot + 1 {
            let key = HistKey::new(prefix, slot);
            match &mut self.map {
                HashKind::Shared(map) => remove_if_present(map.remove(&key))?,
                HashKind::PerCpu(map) => remove_if_present(map.remove(&key))?,
            }
        }
        Ok(())
    }

    /// The number of entries (distinct keys) in the map now.
    pub fn len(&self) -> Result<usize, Error> {
        // A failed key lookup is an error, not an entry.
        Ok(match &self.map {
            HashKind::Shared(map) => map.keys().collect::<Result<Vec<_>, _>>()?.len(),
            HashKind::PerCpu(map) => map.keys().collect::<Result<Vec<_>, _>>()?.len(),
        })
    }

    /// True when the map has no entries.
    pub fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.len()? == 0)
    }
}

/// An array histogram (`ArrayHist` / `PerCpuArrayHist`) indexed `prefix × (max_slot + 2) + slot`;
/// its prefixes are the indexes `0..prefixes`.
pub struct ArrayHistMap {
    map: ArrayKind,
    max_slot: u32,
}

enum ArrayKind {
    Shared(Array<MapData, u64>),
    PerCpu(PerCpuArray<MapData, u64>),
}

impl ArrayHistMap {
    /// Wraps `map` (from `Ebpf::take_map`), whose histograms have finite slots `0..=max_slot`.
    pub fn new(map: Map, max_slot: u32) -> Result<Self, Error> {
        let map = match map {
            Map::Array(_) => ArrayKind::Shared(Array::try_from(map)?),
            Map::PerCpuArray(_) => ArrayKind::PerCpu(PerCpuArray::try_from(map)?),
            other => return Err(wrong_type("an array or per-CPU array map", &other)),
        };
        let len = match &map {
            ArrayKind::Shared(map) => map.len(),
            ArrayKind::PerCpu(map) => map.len(),
        };
        let slots_per_prefix = hist_core::slots_per_prefix(max_slot);
        if len % slots_per_prefix != 0 {
            return Err(Error::ArraySize {
                len,
                slots_per_prefix,
            });
        }
        Ok(Self { map, max_slot })
    }

    /// How many histograms the map holds.
    pub fn prefixes(&self) -> u32 {
        self.len() / hist_core::slots_per_prefix(self.max_slot)
    }

    fn len(&self) -> u32 {
        match &self.map {
            ArrayKind::Shared(map) => map.len(),
            ArrayKind::PerCpu(map) => map.len(),
        }
    }

    /// Reads every histogram that counted something, summing per-CPU copies.
    pub fn snapshot(&self) -> Result<Snapshot<u32>, Error> {
        let counts: Vec<u64> = match &self.map {
            ArrayKind::Shared(map) => map.iter().collect::<Result<_, _>>()?,
            ArrayKind::PerCpu(map) => map
                .iter()
                .map(|values| values.map(|values| saturating_sum(values.iter())))
                .collect::<Result<_, _>>()?,
        };
        Ok(histograms(&counts, self.max_slot as usize + 2))
    }

    /// Whether the map keeps a counter per CPU (`PerCpuArrayHist`).
    pub fn is_per_cpu(&self) -> bool {
        matches!(self.map, ArrayKind::PerCpu(_))
    }

    /// Each CPU's histograms (index = CPU), as [`snapshot`](Self::snapshot) reads them before
    /// summing; `None` for a shared map (`ArrayHist`), whose counters belong to no CPU.
    pub fn snapshot_per_cpu(&self) -> Result<Option<Vec<Snapshot<u32>>>, Error> {
        let ArrayKind::PerCpu(map) = &self.map else {
            return Ok(None);
        };
        let counts: Vec<PerCpuValues<u64>> = map.iter().collect::<Result<_, _>>()?;
        let cpus = counts.first().map_or(0, |values| values.len());
        let slots_per_prefix = self.max_slot as usize + 2;
        let per_cpu = (0..cpus)
            .map(|cpu| {
                let counts: Vec<u64> = counts.iter().map(|values| values[cpu]).collect();
                histograms(&counts, slots_per_prefix)
            })
            .collect();
        Ok(Some(per_cpu))
    }

    /// Sets every counter to zero.
    pub fn clear(&mut self) -> Result<(), Error> {
        let len = self.len();
        match &mut self.map {
            ArrayKind::Shared(map) => {
                for index in 0..len {
                    map.set(index, 0, 0)?;
                }
            }
            ArrayKind::PerCpu(map) => {
                let cpus = aya::util::nr_cpus().map_err(|(_, error)| MapError::IoError(error))?;
                for index in 0..len {
                    let zeros =
                        PerCpuValues::try_from(vec![0u64; cpus]).map_err(MapError::IoError)?;
                    map.set(index, zeros, 0)?;
                }
            }
        }
        Ok(())
    }
}

/// The histograms of an array's counters, `slots_per_prefix` per prefix; those that counted
/// nothing are left out.
fn histograms(counts: &[u64], slots_per_prefix: usize) -> Snapshot<u32> {
    counts
        .chunks_exact(slots_per_prefix)
        .enumerate()
        .filter(|(_, counts)| counts.iter().any(|&c| c != 0))
        .map(|(prefix, counts)| {
            let (overflow, finite) = counts.split_last().expect("max_slot + 2 > 0");
            (prefix as u32, Histogram::from_counts(finite, *overflow))
        })
        .collect()
}

/// A key that vanished between listing and removal (another reader cleared it) is not an error.
pub(crate) fn remove_if_present(result: Result<(), MapError>) -> Result<(), Error> {
    match result {
        Err(MapError::KeyNotFound) => Ok(()),
        other => Ok(other?),
    }
}

pub(crate) fn wrong_type(expected: &'static str, map: &Map) -> Error {
    let found = format!("{map:?}");
    let found = found.split('(').next().unwrap_or("map").to_string();
    Error::WrongMapType { expected, found }
}
