//! Events a probe saw but could not count, by cause: nothing is lost without a count.
//!
//! A histogram or start map is a fixed-size kernel map; an insert into a full one fails. The
//! kernel side (`hist-ebpf`) then adds one to the cause's counter in one per-CPU array map of
//! [`DropCause::COUNT`] entries named [`DROPS_MAP`], shared by every histogram of the program,
//! and user space (`hist-user`) reads it beside the histograms. In the normal case every
//! counter stays zero.
//!
//! | cause | what was lost |
//! |---|---|
//! | [`DropCause::HistogramFull`] | one value, not counted in its histogram |
//! | [`DropCause::SumsFull`] | one value, counted in its histogram but not added to its sum |
//! | [`DropCause::StartFull`] | one entry timestamp: the operation's latency will not be recorded |

/// The name of the drop counters' map in every eBPF object that uses `hist-ebpf`.
pub const DROPS_MAP: &str = "HIST_DROPS";

/// Why an event was not counted: the index of its counter in [`DROPS_MAP`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum DropCause {
    /// The histogram map was full: a new `{prefix, slot}` key had no room.
    HistogramFull = 0,
    /// The sums map was full: a new prefix had no room for its sum.
    SumsFull = 1,
    /// The start map was full: an operation's entry timestamp had no room.
    StartFull = 2,
}

impl DropCause {
    /// How many causes there are: the size of [`DROPS_MAP`].
    pub const COUNT: u32 = 3;
    /// Every cause, in counter order.
    pub const ALL: [DropCause; Self::COUNT as usize] =
        [Self::HistogramFull, Self::SumsFull, Self::StartFull];

    /// A name for labels and JSON keys: `histogram_full`, `sums_full`, `start_full`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::HistogramFull => "histogram_full",
            Self::SumsFull => "sums_full",
            Self::StartFull => "start_full",
        }
    }

    /// What it means, for a warning line: `histogram map full`.
    pub const fn description(self) -> &'static str {
        match self {
            Self::HistogramFull => "histogram map full",
            Self::SumsFull => "sums map full",
            Self::StartFull => "start map full",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_counter_order() {
        for (index, cause) in DropCause::ALL.iter().enumerate() {
            assert_eq!(*cause as usize, index);
        }
    }
}
