//! The user-space side of `hist`, and its lean reader: open a histogram map from its shared
//! description ([`HistMap`], checked against the loaded map), read it interval by interval
//! without losing a count ([`IntervalReader`]), with the events dropped beside it
//! ([`DropCounters`]), estimate percentiles ([`percentile`]), and render it exactly as bcc does
//! ([`render`]).
//!
//! ```no_run
//! # fn main() -> Result<(), hist_user::Error> {
//! # let mut ebpf: aya::Ebpf = unimplemented!();
//! use hist_core::{HistDesc, Layout, Unit};
//! use hist_user::{DropCounters, HistMap, IntervalReader, render};
//!
//! /// The description the eBPF side declared its map from (in a crate both sides share).
//! struct OpLatency;
//! impl HistDesc for OpLatency {
//!     type Prefix = u32;
//!     const NAME: &'static str = "OP_LATENCY";
//!     const LAYOUT: Layout = Layout::log2(26);
//!     const UNIT: Unit = Unit::Microseconds;
//!     const PREFIXES: u32 = 2;
//! }
//!
//! let mut intervals =
//!     IntervalReader::new(HistMap::<OpLatency>::open(&mut ebpf)?, DropCounters::open(&mut ebpf)?);
//! let counted = intervals.read()?; // what was counted since the last read
//! for (op, hist) in &counted.histograms {
//!     print!("\noperation = {op}\n{}", render::log2_hist(hist, "usecs"));
//! }
//! # Ok(()) }
//! ```
//!
//! Its dependencies are aya's own and little else. JSON, Prometheus and heatmaps are
//! `hist-output`'s; bcc's flags and the interval loop of a whole tool are `hist-tool`'s.
#![deny(missing_docs)]

mod batch;
mod deltas;
mod drops;
mod error;
mod hist_map;
mod map;
pub mod percentile;
pub mod render;
mod report;
mod snapshot;

pub use aya;
pub use deltas::{IntervalCounts, IntervalReader};
pub use drops::{DropCounters, Drops};
pub use error::Error;
pub use hist_core;
pub use hist_map::HistMap;
pub use map::{ArrayHistMap, HashHistMap};
pub use report::Report;
pub use snapshot::{Histogram, MaxSlotMismatch, Snapshot};
