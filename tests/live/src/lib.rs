//! What the live-kernel tests share: the compiled eBPF objects of the repository. The test
//! probes' descriptions are `hist-test-descs`'s, the file systems they trace
//! `hist-test-fixtures`'s.

/// The compiled test probes (`tests/hist-test-probes`).
pub static PROBES: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/hist-test-probes"));

/// cpudist's probe (`examples/cpudist/cpudist-ebpf`).
pub static CPUDIST: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/cpudist"));

/// cpudist's probe built with `hist_ebpf`'s `task-storage`, for kernels that have it.
pub static CPUDIST_TASK_STORAGE: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/cpudist-task-storage"));

/// nfsdist's probes (`examples/nfsdist/nfsdist-ebpf`).
pub static NFSDIST: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/nfsdist"));

/// nfsdist's probe built with `hist_ebpf`'s `task-storage`.
pub static NFSDIST_TASK_STORAGE: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/nfsdist-task-storage"));

/// xfsreclaim's probes (`examples/xfsreclaim/xfsreclaim-ebpf`).
pub static XFSRECLAIM: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xfsreclaim"));

/// xfsreclaim's probe built with `hist_ebpf`'s `task-storage`.
pub static XFSRECLAIM_TASK_STORAGE: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xfsreclaim-task-storage"));
