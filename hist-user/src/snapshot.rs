//! Typed, owned copies of histogram maps, with per-CPU values already summed.

use std::collections::BTreeMap;

use hist_core::{Buckets, Log2};

/// One histogram: counts of the finite slots `0..=max_slot` and of the overflow slot.
///
/// Always valid: at least one finite slot and the overflow slot, whatever it is built from.
/// Counts saturate at `u64::MAX` rather than wrap or panic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    /// `max_slot + 2` counters (at least 2); the last one is the overflow slot.
    counts: Vec<u64>,
}

/// [`Histogram::merge`] of histograms with different slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot merge a histogram of max_slot {other} into one of max_slot {this}")]
pub struct MaxSlotMismatch {
    /// The `max_slot` of the histogram merged into.
    pub this: u32,
    /// The `max_slot` of the one merged.
    pub other: u32,
}

/// An empty histogram of one finite slot (max_slot 0).
impl Default for Histogram {
    fn default() -> Self {
        Self::new(0)
    }
}

impl Histogram {
    /// An empty histogram of finite slots `0..=max_slot`.
    pub fn new(max_slot: u32) -> Self {
        Self {
            counts: vec![0; max_slot as usize + 2],
        }
    }

    /// A histogram from its finite slots and its overflow count; no finite slot at all is
    /// one empty slot (max_slot 0).
    pub fn from_counts(finite: &[u64], overflow: u64) -> Self {
        let mut counts = if finite.is_empty() {
            vec![0]
        } else {
            finite.to_vec()
        };
        counts.push(overflow);
        Self { counts }
    }

    /// The highest finite slot.
    pub fn max_slot(&self) -> u32 {
        self.counts.len() as u32 - 2
    }

    /// The counts of the finite slots `0..=max_slot`.
    pub fn finite(&self) -> &[u64] {
        &self.counts[..self.counts.len() - 1]
    }

    /// The count of the overflow slot: values above the top finite slot.
    pub fn overflow(&self) -> u64 {
        self.counts[self.counts.len() - 1]
    }

    /// The overflow slot, `max_slot + 1`.
    pub fn overflow_slot(&self) -> u32 {
        self.max_slot() + 1
    }

    /// The count of `slot` (the overflow slot is `max_slot + 1`); 0 past the end.
    pub fn count(&self, slot: u32) -> u64 {
        self.counts.get(slot as usize).copied().unwrap_or(0)
    }

    /// Adds `count` to `slot`; a slot past the overflow slot counts as overflow.
    pub fn add(&mut self, slot: u32, count: u64) {
        let last = self.counts.len() - 1;
        let counter = &mut self.counts[(slot as usize).min(last)];
        *counter = counter.saturating_add(count);
    }

    /// Adds every count of `other` to this one.
    ///
    /// # Errors
    ///
    /// [`MaxSlotMismatch`] when `other` has other slots (and this one is left unchanged).
    pub fn merge(&mut self, other: &Histogram) -> Result<(), MaxSlotMismatch> {
        if other.max_slot() != self.max_slot() {
            return Err(MaxSlotMismatch {
                this: self.max_slot(),
                other: other.max_slot(),
            });
        }
        for (slot, &count) in other.counts.iter().enumerate() {
            self.add(slot as u32, count);
        }
        Ok(())
    }

    /// What was counted after `earlier`, an earlier reading of the same counters: the
    /// difference slot by slot (counters only grow; a slot `earlier` lacks counts from zero).
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let counts = self
            .counts
            .iter()
            .enumerate()
            .map(|(slot, &now)| now.saturating_sub(earlier.count(slot as u32)))
            .collect();
        Histogram { counts }
    }

    /// The number of values counted, overflow included (at most `u64::MAX`).
    pub fn total(&self) -> u64 {
        saturating_sum(&self.counts)
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.counts.iter().all(|&c| c == 0)
    }

    /// `(slot, value range, count)` of every slot, overflow last, under `buckets` (the
    /// histogram does not know whether it was filled with log2 or linear slots).
    pub fn rows<B: Buckets + 'static>(
        &self,
        buckets: B,
    ) -> impl Iterator<Item = (u32, std::ops::RangeInclusive<u64>, u64)> + '_ {
        self.counts.iter().enumerate().map(move |(slot, &count)| {
            let slot = slot as u32;
            (slot, buckets.bounds(slot), count)
        })
    }

    /// The log2 slot layout of this histogram.
    pub fn log2(&self) -> Log2 {
        Log2::new(self.max_slot())
    }
}

/// The sum of `counts`, stopping at `u64::MAX` rather than wrapping or panicking: per-CPU
/// copies of a counter, the slots of a histogram, the causes of drops.
pub(crate) fn saturating_sum<'a>(counts: impl IntoIterator<Item = &'a u64>) -> u64 {
    counts
        .into_iter()
        .fold(0, |sum, &count| sum.saturating_add(count))
}

/// The histograms of one map, by prefix, in prefix order. Prefixes that counted nothing are
/// absent.
pub type Snapshot<P> = BTreeMap<P, Histogram>;

/// The histograms of `parts` (each CPU's, of one map) added up slot for slot, by prefix.
pub(crate) fn merged<P: Ord + Copy>(parts: &[Snapshot<P>]) -> Snapshot<P> {
    let mut sum = Snapshot::new();
    for (prefix, hist) in parts.iter().flatten() {
        let total = sum
            .entry(*prefix)
            .or_insert_with(|| Histogram::new(hist.max_slot()));
        for slot in 0..=hist.overflow_slot() {
            total.add(slot, hist.count(slot));
        }
    }
    sum
}

/// What `now` counted after `before`, an earlier reading of the same map: the prefixes that
/// counted something since, each with its difference slot by slot.
pub(crate) fn since<P: Ord + Copy>(now: &Snapshot<P>, before: &Snapshot<P>) -> Snapshot<P> {
    now.iter()
        .filter_map(|(prefix, now)| {
            let counted = before
                .get(prefix)
                .map_or_else(|| now.clone(), |before| now.since(before));
            (!counted.is_empty()).then_some((*prefix, counted))
        })
        .collect()
}
