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

/// fsdist's (and nfsdist's) probes (`examples/fsdist/fsdist-ebpf`).
pub static FSDIST: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/fsdist"));

/// fsdist's probe built with `hist_ebpf`'s `task-storage`.
pub static FSDIST_TASK_STORAGE: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/fsdist-task-storage"));

/// xfsreclaim's probes (`examples/xfsreclaim/xfsreclaim-ebpf`).
pub static XFSRECLAIM: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xfsreclaim"));

/// xfsreclaim's probe built with `hist_ebpf`'s `task-storage`.
pub static XFSRECLAIM_TASK_STORAGE: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xfsreclaim-task-storage"));
