//! What the live-kernel tests share: the compiled eBPF objects of the repository.

/// The compiled test probes (`tests/probes`).
pub static PROBES: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/hist-test-probes"));

/// cpudist's probe (`examples/cpudist/cpudist-ebpf`).
pub static CPUDIST: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/cpudist"));
