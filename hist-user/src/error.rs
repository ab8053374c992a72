use aya::maps::MapError;

/// Errors of reading and clearing histogram maps.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The map is not of a kind this reader understands.
    #[error("map is a {found}, expected {expected}")]
    WrongMapType {
        /// What the reader accepts.
        expected: &'static str,
        /// What the map is.
        found: String,
    },
    /// An array map's length is not a multiple of `max_slot + 2`.
    #[error(
        "array map of {len} entries does not hold whole histograms of {slots_per_prefix} slots \
         (max_slot + 2): size it with hist_core::map_entries"
    )]
    ArraySize {
        /// The map's length.
        len: u32,
        /// `max_slot + 2`.
        slots_per_prefix: u32,
    },
    /// The eBPF object has no map of the name a description gives.
    #[error(
        "the eBPF object has no map named {name} (declare it with hist_ebpf::maps!, which \
         checks its name against HistDesc::NAME, and rebuild both sides)"
    )]
    NoSuchMap {
        /// The name looked for.
        name: &'static str,
    },
    /// A loaded map disagrees with the shared description it is opened with.
    #[error(
        "map {map}: {what} is {object} in the eBPF object but {description} in its shared \
         description (rebuild the eBPF program and the tool from the same HistDesc)"
    )]
    Mismatch {
        /// The map's name.
        map: &'static str,
        /// What differs.
        what: &'static str,
        /// The loaded map's value.
        object: u64,
        /// What the description implies.
        description: u64,
    },
    /// Per-CPU histograms were asked of a map whose counters all CPUs share.
    #[error(
        "map {map} is shared by all CPUs and has no per-CPU histograms (declare it a \
         PerCpuArrayHist or PerCpuHashHist)"
    )]
    SharedMap {
        /// The map's name.
        map: &'static str,
    },
    /// A syscall on the map failed.
    #[error(transparent)]
    Map(#[from] MapError),
}
