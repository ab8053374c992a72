//! The drop counters ([`hist_core::drops`]): one per-CPU array map per program, shared by every
//! histogram, sums and start map in it, and linked in only when one of them is used.

use aya_ebpf::{macros::map, maps::PerCpuArray};
use hist_core::DropCause;

use crate::plain_add;

/// One counter per [`DropCause`], per CPU. Named [`hist_core::DROPS_MAP`], where user space
/// looks for it.
#[map(name = "HIST_DROPS")]
static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(DropCause::COUNT, 0);
hist_core::assert_name!("HIST_DROPS", hist_core::DROPS_MAP);

/// Counts `events` lost for `cause`.
#[inline(always)]
pub(crate) fn count(cause: DropCause, events: u64) {
    if let Some(counter) = DROPS.get_ptr_mut(cause as u32) {
        plain_add(counter, events);
    }
}
