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
    /// A syscall on the map failed.
    #[error(transparent)]
    Map(#[from] MapError),
}
