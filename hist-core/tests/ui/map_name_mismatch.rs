//! A histogram map whose static is not named as its description says does not build.
use hist_core::{HistDesc, Layout, Unit};

pub struct Dist;

impl HistDesc for Dist {
    type Prefix = u32;
    const NAME: &'static str = "DIST";
    const LAYOUT: Layout = Layout::log2(26);
    const UNIT: Unit = Unit::Microseconds;
    const PREFIXES: u32 = 1;
}

// Right: the histogram `DIST` and its sums `DIST_SUM`.
hist_core::assert_map_name!(DIST, [Dist::NAME]);
hist_core::assert_map_name!(DIST_SUM, [Dist::NAME, hist_core::names::SUM_SUFFIX]);

// Wrong: user space looks for `DIST`, and for `DIST_SUM`.
hist_core::assert_map_name!(LATENCY, [Dist::NAME]);
hist_core::assert_map_name!(DIST_SUMS, [Dist::NAME, hist_core::names::SUM_SUFFIX]);

fn main() {}
