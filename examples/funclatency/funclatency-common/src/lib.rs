//! What both sides of funclatency compile: the description of its histogram map, one
//! histogram per traced function.
#![no_std]

use hist_core::{HistDesc, Layout, Unit, func::MAX_FUNCS};

/// Latency of each traced function, by its index among the functions the pattern matched, in
/// ns (µs with `-u`, ms with `-m`).
pub struct FuncLatency;

impl HistDesc for FuncLatency {
    type Prefix = u32;
    const NAME: &'static str = "LATENCY";
    /// Up to 2^41 ns (36 min): slower calls count in the overflow slot.
    const LAYOUT: Layout = Layout::log2(40);
    const UNIT: Unit = Unit::Nanoseconds;
    const PREFIXES: u32 = MAX_FUNCS as u32;
}
