//! Names the two sides must agree on fail the build when they differ.

#[test]
fn mismatched_names_do_not_build() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}

#[test]
fn concatenations_are_compared_exactly() {
    use hist_core::names::{is_concat, str_eq};
    assert!(is_concat("DIST_SUM", &["DIST", "_SUM"]));
    assert!(is_concat("scan_start_btf", &["scan", "_start", "_btf"]));
    assert!(!is_concat("DIST_SUM", &["DIST"]));
    assert!(!is_concat("DIST", &["DIST", "_SUM"]));
    assert!(!is_concat("DIST_SUN", &["DIST", "_SUM"]));
    assert!(str_eq("", ""));
    assert!(!str_eq("a", ""));
}
