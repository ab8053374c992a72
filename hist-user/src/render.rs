//! Text renderers (placeholder; replaced by the bcc-exact renderer).
use crate::Histogram;

/// Renders `hist` like bcc's `print_log2_hist`.
pub fn log2_hist(hist: &Histogram, val_type: &str) -> String {
    format!("{val_type}: {:?}\n", hist.finite())
}
