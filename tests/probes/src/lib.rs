// The library target exists so that user crates can name this crate as a build-dependency,
// which makes cargo rebuild them when the eBPF code changes (see aya-build).
#![no_std]
