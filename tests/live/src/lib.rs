//! What the live-kernel tests share: the compiled test probes.

/// The compiled test probes (`tests/probes`).
pub static PROBES: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/hist-test-probes"));
