//! The program's drop counters ([`hist_core::drops`]): how many events found a map full, by
//! cause, read beside the histograms so that no loss goes unreported.

use std::fmt;

use aya::{
    Ebpf,
    maps::{MapData, PerCpuArray},
};
use hist_core::{DROPS_MAP, DropCause};

use crate::{Error, snapshot::saturating_sum};

/// Events lost per [`DropCause`], summed over the CPUs: cumulative since the program was
/// loaded when read, or the difference of two readings ([`Drops::since`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drops([u64; DropCause::COUNT as usize]);

impl Drops {
    /// No events lost.
    pub const NONE: Drops = Drops([0; DropCause::COUNT as usize]);

    /// The events lost for `cause`.
    pub fn get(&self, cause: DropCause) -> u64 {
        self.0[cause as usize]
    }

    /// Every cause with its count, in counter order, zeros included.
    pub fn iter(&self) -> impl Iterator<Item = (DropCause, u64)> + '_ {
        DropCause::ALL
            .into_iter()
            .map(|cause| (cause, self.get(cause)))
    }

    /// All events lost.
    pub fn total(&self) -> u64 {
        saturating_sum(&self.0)
    }

    /// What was lost after `earlier`, a previous reading of the same counters.
    pub fn since(&self, earlier: &Drops) -> Drops {
        Drops(std::array::from_fn(|i| {
            self.0[i].saturating_sub(earlier.0[i])
        }))
    }
}

impl From<[u64; DropCause::COUNT as usize]> for Drops {
    fn from(counts: [u64; DropCause::COUNT as usize]) -> Self {
        Drops(counts)
    }
}

/// bcc's warning style, the causes that lost anything:
/// `WARNING: 12 events not counted (histogram map full: 8, start map full: 4)`.
impl fmt::Display for Drops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let causes: Vec<String> = self
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(cause, n)| format!("{}: {n}", cause.description()))
            .collect();
        write!(
            f,
            "WARNING: {} events not counted ({})",
            self.total(),
            causes.join(", ")
        )
    }
}

/// The drop counters of a loaded program ([`DROPS_MAP`]).
pub struct DropCounters {
    map: PerCpuArray<MapData, u64>,
}

impl DropCounters {
    /// Takes the counters out of `ebpf`; `None` when the object has none (it declares no map
    /// of `hist-ebpf`, so it cannot lose anything this way).
    pub fn open(ebpf: &mut Ebpf) -> Result<Option<Self>, Error> {
        let Some(map) = ebpf.take_map(DROPS_MAP) else {
            return Ok(None);
        };
        let map = PerCpuArray::try_from(map)?;
        if map.len() != DropCause::COUNT {
            return Err(Error::Mismatch {
                map: DROPS_MAP,
                what: "max_entries",
                object: map.len().into(),
                description: DropCause::COUNT.into(),
            });
        }
        Ok(Some(Self { map }))
    }

    /// [`read`](Self::read) for an object that may have no counters: none lost then.
    pub fn read_or_none(counters: Option<&Self>) -> Result<Drops, Error> {
        counters.map_or(Ok(Drops::NONE), Self::read)
    }

    /// The events lost since the program was loaded, per cause.
    pub fn read(&self) -> Result<Drops, Error> {
        let mut counts = [0; DropCause::COUNT as usize];
        for (cause, count) in counts.iter_mut().enumerate() {
            let per_cpu = self.map.get(&(cause as u32), 0)?;
            *count = saturating_sum(per_cpu.iter());
        }
        Ok(Drops(counts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_names_the_causes_that_lost_events() {
        let drops = Drops([8, 0, 4]);
        assert_eq!(drops.total(), 12);
        assert_eq!(
            drops.to_string(),
            "WARNING: 12 events not counted (histogram map full: 8, start map full: 4)"
        );
        assert_eq!(Drops([9, 1, 4]).since(&drops), Drops([1, 1, 0]));
        assert_eq!(Drops::NONE.total(), 0);
        assert_eq!(Drops([u64::MAX, 1, 0]).total(), u64::MAX);
    }
}
