//! The user-space side of `hist`: read eBPF histogram maps written by `hist-ebpf` into typed
//! snapshots, interval by interval without losing a count ([`IntervalReader`]), with the
//! events dropped beside them ([`DropCounters`]), and render them exactly as bcc does.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mut ebpf: aya::Ebpf = unimplemented!();
//! use hist_user::{HashHistMap, render};
//!
//! const MAX_SLOT: u32 = 26; // the same constant the eBPF program uses
//! let mut dist = HashHistMap::<u32>::new(ebpf.take_map("DIST").unwrap(), MAX_SLOT)?;
//! let snapshot = dist.snapshot()?;
//! for (pid, hist) in &snapshot {
//!     print!("\npid = {pid}\n{}", render::log2_hist(hist, "usecs"));
//! }
//! dist.clear()?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod deltas;
mod drops;
mod error;
mod hist_map;
pub mod interval;
pub mod kernel;
mod map;
pub mod output;
pub mod percentile;
pub mod plan;
pub mod render;
mod report;
mod snapshot;
pub mod tool;

pub use aya;
pub use deltas::{IntervalCounts, IntervalReader};
pub use drops::{DropCounters, Drops};
pub use error::Error;
pub use hist_core;
pub use hist_map::HistMap;
pub use map::{ArrayHistMap, HashHistMap};
pub use report::Report;
pub use snapshot::{Histogram, MaxSlotMismatch, Snapshot};
