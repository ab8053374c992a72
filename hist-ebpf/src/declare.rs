//! Declaring the maps of a description under the names user space looks for.

use hist_core::HistDesc;

/// A map that holds something of a description: its histogram, or its sums. Its static must be
/// named [`HistDesc::NAME`] followed by [`NAME_SUFFIX`](Self::NAME_SUFFIX), which
/// [`maps!`](crate::maps) checks when the eBPF crate builds.
pub trait DescribedMap {
    /// The description the map belongs to.
    type Desc: HistDesc;
    /// What follows [`HistDesc::NAME`] in the map's name: `""` for the histogram,
    /// [`SUM_SUFFIX`](hist_core::names::SUM_SUFFIX) for its sums.
    const NAME_SUFFIX: &'static str;
}

/// Declares the maps of descriptions, as `#[map]` statics, and fails the build when a static is
/// not named as its description says ([`hist_core::names`]): a histogram's static is named
/// [`HistDesc::NAME`], its sums' `{NAME}_SUM`, because user space finds them by those names.
///
/// ```ignore
/// hist_ebpf::maps! {
///     static DIST: PerCpuArrayHist<Dist>;
///     static DIST_SUM: Sums<Dist>;
/// }
/// ```
#[macro_export]
macro_rules! maps {
    ($($(#[$attr:meta])* static $name:ident: $map:ty;)+) => {$(
        $(#[$attr])*
        #[$crate::__private::aya_ebpf::macros::map]
        static $name: $map = <$map>::new();
        $crate::hist_core::assert_map_name!(
            $name,
            <$map as $crate::DescribedMap>::Desc,
            <$map as $crate::DescribedMap>::NAME_SUFFIX
        );
    )+};
}
