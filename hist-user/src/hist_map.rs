//! A histogram map opened from its shared description, checked against the loaded map.

use std::{collections::BTreeMap, mem::size_of};

use aya::{
    Ebpf,
    maps::{HashMap, IterableMap as _, Map, MapData, MapError},
};
use hist_core::{HistDesc, HistKey, KeyPrefix, Layout, map_entries};

use crate::{
    ArrayHistMap, Error, HashHistMap, Histogram, Snapshot,
    map::{remove_if_present, wrong_type},
};

/// The histogram map described by `H` (with its `{NAME}_SUM` map and its default prefix's
/// `{NAME}_DEFAULT` array, when the object has them),
/// taken from a loaded [`Ebpf`] and checked against the description: a map whose key size,
/// value size or `max_entries` differs is refused with an error naming both values, never read
/// into a wrong histogram.
///
/// It reads any of the four kinds `hist-ebpf` declares (hash, per-CPU hash, array, per-CPU
/// array); an array's prefixes are its indexes, so `H::Prefix` must then be 4 bytes (a `u32`).
/// A `hist_ebpf::DefaultHist` beside it counts the default prefix (all zero bytes): it is read
/// into that prefix's histogram, so a snapshot does not show where a count was kept.
pub struct HistMap<H: HistDesc> {
    layout: Layout,
    reader: Reader<H::Prefix>,
    sums: Option<HashMap<MapData, H::Prefix, u64>>,
    default: Option<ArrayHistMap>,
}

enum Reader<P: KeyPrefix> {
    Hash(HashHistMap<P>),
    Array(ArrayHistMap),
}

impl<H: HistDesc> HistMap<H>
where
    H::Prefix: Ord + aya::Pod,
{
    /// Takes the map `H::NAME` (and `{H::NAME}_SUM`, `{H::NAME}_DEFAULT` if present) out of
    /// `ebpf`.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchMap`] when the object has no map of that name, [`Error::Mismatch`] when
    /// it disagrees with `H`, [`Error::WrongMapType`] for a map kind that holds no histogram.
    pub fn open(ebpf: &mut Ebpf) -> Result<Self, Error> {
        Self::open_with_layout(ebpf, H::LAYOUT)
    }

    /// [`open`](Self::open) for a map recorded and sized in `layout` rather than the
    /// description's: its refinement at a tool's `--precision` ([`Layout::refined`]).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open); the map must have `layout`'s number of entries.
    pub fn open_with_layout(ebpf: &mut Ebpf, layout: Layout) -> Result<Self, Error> {
        let map = ebpf
            .take_map(H::NAME)
            .ok_or(Error::NoSuchMap { name: H::NAME })?;
        let max_slot = layout.max_slot();
        let (data, is_array) = match &map {
            Map::HashMap(data) | Map::PerCpuHashMap(data) => (data, false),
            Map::Array(data) | Map::PerCpuArray(data) => (data, true),
            other => {
                let expected = "a hash, per-CPU hash, array or per-CPU array map";
                return Err(wrong_type(expected, other));
            }
        };
        let info = data.info()?;
        let key_size = if is_array {
            size_of::<u32>()
        } else {
            size_of::<HistKey<H::Prefix>>()
        };
        agrees::<H>([
            ("key size (bytes)", info.key_size(), key_size as u32),
            (
                "value size (bytes)",
                info.value_size(),
                size_of::<u64>() as u32,
            ),
            (
                "max_entries",
                info.max_entries(),
                map_entries(max_slot, H::PREFIXES),
            ),
        ])?;
        let reader = if is_array {
            if size_of::<H::Prefix>() != size_of::<u32>() {
                return Err(Error::Mismatch {
                    map: H::NAME,
                    what: "prefix size (bytes) of an array histogram",
                    object: size_of::<u32>() as u64,
                    description: size_of::<H::Prefix>() as u64,
                });
            }
            Reader::Array(ArrayHistMap::new(map, max_slot)?)
        } else {
            Reader::Hash(HashHistMap::new(map, max_slot)?)
        };
        let sum_name = format!("{}{}", H::NAME, hist_core::names::SUM_SUFFIX);
        let sums = match ebpf.take_map(&sum_name) {
            Some(map) => {
                let sums: HashMap<MapData, H::Prefix, u64> = HashMap::try_from(map)?;
                let info = sums.map().info()?;
                agrees::<H>([
                    (
                        "key size (bytes) of its _SUM map",
                        info.key_size(),
                        size_of::<H::Prefix>() as u32,
                    ),
                    (
                        "max_entries of its _SUM map",
                        info.max_entries(),
                        H::PREFIXES,
                    ),
                ])?;
                Some(sums)
            }
            None => None,
        };
        let default_name = format!("{}{}", H::NAME, hist_core::names::DEFAULT_SUFFIX);
        let default = match ebpf.take_map(&default_name) {
            Some(map) => {
                let default = ArrayHistMap::new(map, max_slot)?;
                let prefixes = default.prefixes();
                agrees::<H>([("histograms of its _DEFAULT map", prefixes, 1)])?;
                Some(default)
            }
            None => None,
        };
        Ok(Self {
            layout,
            reader,
            sums,
            default,
        })
    }

    /// The layout the map is read in.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Reads every histogram, per-CPU copies summed; prefixes that counted nothing are absent.
    pub fn snapshot(&self) -> Result<Snapshot<H::Prefix>, Error> {
        let mut snapshot = match &self.reader {
            Reader::Hash(map) => map.snapshot()?,
            Reader::Array(map) => by_prefix(map.snapshot()?),
        };
        if let Some(default) = &self.default {
            with_default(&mut snapshot, default.snapshot()?, self.layout.max_slot());
        }
        Ok(snapshot)
    }

    /// Whether the map keeps a counter per CPU (`PerCpuHashHist`, `PerCpuArrayHist`), and so
    /// has [per-CPU histograms](Self::snapshot_per_cpu).
    pub fn is_per_cpu(&self) -> bool {
        match &self.reader {
            Reader::Hash(map) => map.is_per_cpu(),
            Reader::Array(map) => map.is_per_cpu(),
        }
    }

    /// Each CPU's histograms (index = CPU), read at once; `None` when the map is a shared one
    /// (`HashHist`, `ArrayHist`), whose counters belong to no CPU. They sum, slot for slot, to
    /// a [`snapshot`](Self::snapshot) of the same moment.
    pub fn snapshot_per_cpu(&self) -> Result<Option<Vec<Snapshot<H::Prefix>>>, Error> {
        let per_cpu = match &self.reader {
            Reader::Hash(map) => map.snapshot_per_cpu()?,
            Reader::Array(map) => map
                .snapshot_per_cpu()?
                .map(|per_cpu| per_cpu.into_iter().map(by_prefix).collect()),
        };
        let Some(default) = &self.default else {
            return Ok(per_cpu);
        };
        let Some(mut per_cpu) = per_cpu else {
            return Ok(None);
        };
        // A per-CPU array, so it has each CPU's counts whenever the map beside it does.
        let defaults = default.snapshot_per_cpu()?.unwrap_or_default();
        for (snapshot, default) in per_cpu.iter_mut().zip(defaults) {
            with_default(snapshot, default, self.layout.max_slot());
        }
        Ok(Some(per_cpu))
    }

    /// The sum of the recorded values per prefix, when the object keeps sums (a `{NAME}_SUM`
    /// map) and the programs were told to fill it (`Settings::sums`).
    pub fn sums(&self) -> Result<Option<BTreeMap<H::Prefix, u64>>, Error> {
        let Some(sums) = &self.sums else {
            return Ok(None);
        };
        Ok(Some(sums.iter().collect::<Result<_, MapError>>()?))
    }

    /// Deletes the histogram and the sum of `prefix`, one that can no longer count (the pid of
    /// a process that exited), so that a map keyed by pids does not fill with the dead. An
    /// array map's prefixes are fixed: nothing to delete there.
    pub fn remove_prefix(&mut self, prefix: H::Prefix) -> Result<(), Error> {
        if let Reader::Hash(map) = &mut self.reader {
            map.remove_prefix(prefix)?;
        }
        if let Some(sums) = &mut self.sums {
            remove_if_present(sums.remove(&prefix))?;
        }
        Ok(())
    }

    /// Clears the histograms and the sums, as bcc's `table.clear()` does between intervals.
    pub fn clear(&mut self) -> Result<(), Error> {
        match &mut self.reader {
            Reader::Hash(map) => map.clear()?,
            Reader::Array(map) => map.clear()?,
        }
        if let Some(default) = &mut self.default {
            default.clear()?;
        }
        if let Some(sums) = &mut self.sums {
            for key in sums.keys().collect::<Result<Vec<_>, _>>()? {
                remove_if_present(sums.remove(&key))?;
            }
        }
        Ok(())
    }
}

/// An array's histograms by index as histograms by prefix (a 4-byte prefix, checked at open).
fn by_prefix<P: KeyPrefix + Ord>(snapshot: Snapshot<u32>) -> Snapshot<P> {
    snapshot
        .into_iter()
        .filter_map(|(index, hist)| Some((bytemuck::try_cast(index).ok()?, hist)))
        .collect()
}

/// Adds the default prefix's histogram, read from its array (`defaults`: index 0, when it
/// counted something), to that prefix's histogram in `snapshot`.
fn with_default<P: KeyPrefix + Ord>(
    snapshot: &mut Snapshot<P>,
    defaults: Snapshot<u32>,
    max_slot: u32,
) {
    for (_, counted) in defaults {
        let hist = snapshot
            .entry(P::zeroed())
            .or_insert_with(|| Histogram::new(max_slot));
        // Both were read in the map's layout: the same slots.
        let _ = hist.merge(&counted);
    }
}

/// Each `(what, in the object, in the description)` agrees, or the first that does not is a
/// [`Error::Mismatch`] of the map of `H`.
fn agrees<H: HistDesc>(
    properties: impl IntoIterator<Item = (&'static str, u32, u32)>,
) -> Result<(), Error> {
    for (what, object, description) in properties {
        if object != description {
            return Err(Error::Mismatch {
                map: H::NAME,
                what,
                object: object.into(),
                description: description.into(),
            });
        }
    }
    Ok(())
}
