//! [`IntervalReader`]: a histogram map read interval by interval without clearing it, so that
//! the intervals add up exactly.

use std::collections::{BTreeMap, BTreeSet};

use hist_core::HistDesc;

use crate::{
    DropCounters, Drops, Error, HistMap, Snapshot,
    snapshot::{merged, since},
};

/// What was counted in one interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntervalCounts<P> {
    /// The histograms of the prefixes that counted something in the interval.
    pub histograms: Snapshot<P>,
    /// With [`IntervalReader::per_cpu`], the same split by CPU (index = CPU): they sum to
    /// `histograms` slot for slot.
    pub per_cpu: Option<Vec<Snapshot<P>>>,
    /// Their sums in the interval, when the object keeps sums.
    pub sums: Option<BTreeMap<P, u64>>,
    /// The events lost in the interval.
    pub drops: Drops,
}

/// Reads a [`HistMap`] (and the drop counters) interval by interval, as differences of
/// cumulative readings.
///
/// bcc reads its map and then clears it; an increment that lands between the read of a key and
/// its delete is lost, and at a high event rate some always do. Here the kernel's counters only
/// grow: each interval reads them whole and reports the difference from the previous reading.
/// An increment lands either before a read, and is in that interval, or after it, and is in
/// the next: the intervals sum to exactly what was counted. It costs the probe nothing, and
/// a read is cheaper than bcc's (one pass over the map, no delete per key); a generation flip
/// between two maps, the alternative, would add a lookup to every event and double the maps.
///
/// Without deletes, a map keyed by something that comes and goes (pids) would keep the dead.
/// Given a way to tell that a prefix can no longer count ([`IntervalReader::retire_when`]), the
/// reader deletes a prefix that was gone at the previous reading already and counted nothing
/// since: its last event is long in (a task's last switch follows its exit within
/// microseconds), so the delete loses nothing; should the prefix come back (a reused pid), it
/// counts from zero.
pub struct IntervalReader<H: HistDesc> {
    map: HistMap<H>,
    drops: Option<DropCounters>,
    gone: Option<fn(&H::Prefix) -> bool>,
    /// The previous reading.
    histograms: Snapshot<H::Prefix>,
    /// The previous reading by CPU, when the reader reads by CPU.
    per_cpu: Option<Vec<Snapshot<H::Prefix>>>,
    sums: BTreeMap<H::Prefix, u64>,
    dropped: Drops,
    /// The prefixes that were gone at the previous reading.
    gone_before: BTreeSet<H::Prefix>,
}

impl<H: HistDesc> IntervalReader<H>
where
    H::Prefix: Ord + aya::Pod,
{
    /// Reads `map`, and `drops` when the object has them, from now on: the first interval
    /// holds everything counted so far.
    pub fn new(map: HistMap<H>, drops: Option<DropCounters>) -> Self {
        Self {
            map,
            drops,
            gone: None,
            histograms: Snapshot::new(),
            per_cpu: None,
            sums: BTreeMap::new(),
            dropped: Drops::NONE,
            gone_before: BTreeSet::new(),
        }
    }

    /// Deletes from the map the prefixes for which `gone` is true (the pid of a process that
    /// exited) once they were gone for a whole interval and counted nothing in it.
    pub fn retire_when(self, gone: fn(&H::Prefix) -> bool) -> Self {
        Self {
            gone: Some(gone),
            ..self
        }
    }

    /// Also splits each interval by CPU ([`IntervalCounts::per_cpu`]), from one reading of each
    /// CPU's counters.
    ///
    /// # Errors
    ///
    /// [`Error::SharedMap`] for a map whose counters belong to no CPU (`HashHist`, `ArrayHist`).
    pub fn per_cpu(self) -> Result<Self, Error> {
        if !self.map.is_per_cpu() {
            return Err(Error::SharedMap { map: H::NAME });
        }
        // No reading yet: every CPU's first interval holds all it counted so far.
        Ok(Self {
            per_cpu: Some(Vec::new()),
            ..self
        })
    }

    /// What was counted since the previous call (since the map was created, the first time).
    pub fn read(&mut self) -> Result<IntervalCounts<H::Prefix>, Error> {
        let dropped = DropCounters::read_or_none(self.drops.as_ref())?;
        let (histograms, per_cpu) = match self.per_cpu {
            None => (self.map.snapshot()?, None),
            Some(_) => {
                let per_cpu = self.map.snapshot_per_cpu()?.unwrap_or_default();
                (merged(&per_cpu), Some(per_cpu))
            }
        };
        let sums = self.map.sums()?;
        let interval = IntervalCounts {
            histograms: since(&histograms, &self.histograms),
            per_cpu: per_cpu
                .as_ref()
                .zip(self.per_cpu.as_ref())
                .map(|(now, before)| {
                    let empty = Snapshot::new();
                    now.iter()
                        .enumerate()
                        .map(|(cpu, now)| since(now, before.get(cpu).unwrap_or(&empty)))
                        .collect()
                }),
            sums: sums.as_ref().map(|sums| {
                sums.iter()
                    .map(|(prefix, now)| {
                        let before = self.sums.get(prefix).copied().unwrap_or(0);
                        (*prefix, now.saturating_sub(before))
                    })
                    .filter(|(_, sum)| *sum != 0)
                    .collect()
            }),
            drops: dropped.since(&self.dropped),
        };
        self.histograms = histograms;
        if per_cpu.is_some() {
            self.per_cpu = per_cpu;
        }
        self.sums = sums.unwrap_or_default();
        self.dropped = dropped;
        self.retire(&interval)?;
        Ok(interval)
    }

    /// Deletes the prefixes gone since the previous reading that counted nothing in
    /// `interval`; remembers which are gone now.
    fn retire(&mut self, interval: &IntervalCounts<H::Prefix>) -> Result<(), Error> {
        let Some(gone) = self.gone else {
            return Ok(());
        };
        let gone_now: BTreeSet<H::Prefix> = self
            .histograms
            .keys()
            .filter(|prefix| gone(prefix))
            .copied()
            .collect();
        for prefix in gone_now.intersection(&self.gone_before) {
            if !interval.histograms.contains_key(prefix) {
                self.map.remove_prefix(*prefix)?;
                self.histograms.remove(prefix);
                for cpu in self.per_cpu.iter_mut().flatten() {
                    cpu.remove(prefix);
                }
                self.sums.remove(prefix);
            }
        }
        self.gone_before = gone_now;
        Ok(())
    }

    /// The map, cumulative since it was created, minus the prefixes retired.
    pub fn map(&self) -> &HistMap<H> {
        &self.map
    }
}
