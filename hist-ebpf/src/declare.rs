//! Declaring the maps of descriptions under the names user space looks for.

/// A map declared from a description: a histogram or its sums ([`HistDesc`](hist_core::HistDesc)),
/// or a start map ([`StartDesc`](hist_core::StartDesc)). Its static must be named
/// [`DESC_NAME`](Self::DESC_NAME) followed by [`NAME_SUFFIX`](Self::NAME_SUFFIX), which
/// [`maps!`](crate::maps) checks when the eBPF crate builds.
pub trait DescribedMap {
    /// The description's `NAME`.
    const DESC_NAME: &'static str;
    /// What follows it in the map's name: `""`, or
    /// [`SUM_SUFFIX`](hist_core::names::SUM_SUFFIX) for a histogram's sums.
    const NAME_SUFFIX: &'static str;
}

/// Declares the maps of descriptions, as `#[map]` statics, and fails the build when a static is
/// not named as its description says ([`hist_core::names`]): a histogram's static is named
/// [`HistDesc::NAME`](hist_core::HistDesc::NAME), its sums' `{NAME}_SUM`, a start map's
/// [`StartDesc::NAME`](hist_core::StartDesc::NAME), because user space finds and sizes them by
/// those names.
///
/// ```ignore
/// hist_ebpf::maps! {
///     static DIST: PerCpuArrayHist<Dist>;
///     static DIST_SUM: Sums<Dist>;
///     static REQUEST_START: StartTimes<RequestStart>;
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
            [<$map as $crate::DescribedMap>::DESC_NAME, <$map as $crate::DescribedMap>::NAME_SUFFIX]
        );
    )+};
}
