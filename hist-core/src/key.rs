//! The composite histogram key `{prefix, slot}`, which cannot have padding.
//!
//! # Why padding is forbidden, not zeroed
//!
//! A map key is hashed and compared as raw bytes. Padding bytes are uninitialized: in C,
//! `struct key k = {};` zeroes them, but Rust has no equivalent that survives optimization.
//! A struct literal, `mem::zeroed()` followed by field writes, and `MaybeUninit::zeroed()`
//! followed by raw field writes all leave stack garbage in the padding of a BPF program's key,
//! because the optimizer drops stores to bytes the type says are padding. Verifiers running as
//! root accept that garbage, so one logical key silently becomes many map entries (measured on
//! Debian 6.1: 50 entries for 8 keys) and a map sized for `(max_slot + 2) × prefixes` fills up;
//! unprivileged verifiers reject the map call with `invalid indirect read from stack`.
//!
//! So [`HistKey<P>`] is `#[repr(C)] { prefix: P, slot: u32 }` and only exists for prefixes that
//! leave no padding in it: a prefix type must implement [`KeyPrefix`], and the only way to do so
//! is [`key_prefix!`](crate::key_prefix), which checks the layout at compile time.
//!
//! ```
//! use hist_core::HistKey;
//!
//! // An op code, a pid, a comm, a (pid, cpu) pair, or nothing at all:
//! let by_op = HistKey::new(2u32, 7);
//! let by_comm = HistKey::new(*b"kworker\0", 7);
//! let by_pid_cpu = HistKey::new([1234u32, 1], 7);
//! let single = HistKey::new((), 7);
//! assert_eq!(core::mem::size_of_val(&by_op), 8);
//! assert_eq!(core::mem::size_of_val(&by_comm), 12);
//! assert_eq!(core::mem::size_of_val(&by_pid_cpu), 12);
//! assert_eq!(core::mem::size_of_val(&single), 4);
//! ```
//!
//! A prefix that would leave padding does not compile:
//!
//! ```compile_fail,E0080
//! #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
//! #[repr(C)]
//! struct Op {
//!     code: u8, // HistKey<Op> would be { u8, 3 bytes of padding, u32 }
//! }
//! hist_core::key_prefix!(Op);
//! ```
//!
//! while the same prefix widened to four bytes does:
//!
//! ```
//! #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
//! #[repr(C)]
//! struct Op {
//!     code: u32,
//! }
//! hist_core::key_prefix!(Op);
//! let key = hist_core::HistKey::new(Op { code: 1 }, 3);
//! assert_eq!(bytemuck::bytes_of(&key), &[1, 0, 0, 0, 3, 0, 0, 0]);
//! ```

use bytemuck::{Pod, Zeroable};

/// A type that can be the prefix of a [`HistKey`] without leaving padding in it.
///
/// # Safety
///
/// `HistKey<Self>` must have no padding bytes. Do not implement this by hand: use
/// [`key_prefix!`](crate::key_prefix), which proves it at compile time.
pub unsafe trait KeyPrefix: Pod {}

/// Declares types usable as [`HistKey`] prefixes, proving at compile time that the key has no
/// padding: `size_of::<HistKey<P>>()` must equal `size_of::<P>() + 4`.
///
/// A prefix of 1, 2, 3, 5… bytes, or one aligned to 8 bytes whose size is not a multiple of 8
/// (a lone `u64`), leaves padding and fails to compile; use `u32`, `[u8; 4·n]` or `[u32; n]`.
#[macro_export]
macro_rules! key_prefix {
    ($($prefix:ty),+ $(,)?) => {$(
        // SAFETY: the assertion below fails the build if `HistKey<$prefix>` has padding.
        unsafe impl $crate::KeyPrefix for $prefix {}
        const _: () = ::core::assert!(
            ::core::mem::size_of::<$crate::HistKey<$prefix>>()
                == ::core::mem::size_of::<$prefix>() + ::core::mem::size_of::<u32>(),
            ::core::concat!(
                "HistKey<", ::core::stringify!($prefix), "> would have padding bytes: use a prefix of 4·n bytes ",
                "aligned to at most 4 (u32, [u8; 4*n], [u32; n]; a u64 as [u32; 2])"
            ),
        );
    )+};
}

key_prefix!(
    (),
    u32,
    i32,
    [u32; 2],
    [u32; 3],
    [u32; 4],
    [u8; 4],
    [u8; 8],
    [u8; 16]
);

/// A histogram map key: which histogram (`prefix`) and which slot of it.
///
/// `#[repr(C)]` with the prefix first, as bcc's keys (`{ u32 pid; u64 slot; }`), but with a
/// `u32` slot so that a 4-byte prefix needs no padding. See the [module docs](self).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HistKey<P: KeyPrefix> {
    /// Which histogram: an op code, a pid, a cpu, `()` for a single histogram…
    pub prefix: P,
    /// The slot within that histogram (see [`crate::slot`]).
    pub slot: u32,
}

impl<P: KeyPrefix> HistKey<P> {
    /// The key of `slot` in the histogram of `prefix`.
    #[inline(always)]
    pub const fn new(prefix: P, slot: u32) -> Self {
        Self { prefix, slot }
    }

    /// The all-zero key. Because the type has no padding, every byte of it is zero and stays
    /// zero through optimization (proven on the live kernel by the `keys` test).
    #[inline(always)]
    pub fn zeroed() -> Self {
        Zeroable::zeroed()
    }
}

// SAFETY: all-zero bytes are a valid `P` (it is `Pod`) and a valid `u32`.
unsafe impl<P: KeyPrefix> Zeroable for HistKey<P> {}
// SAFETY: both fields are `Pod`, the type is `repr(C)`, and `P: KeyPrefix` guarantees that
// the struct has no padding bytes.
unsafe impl<P: KeyPrefix> Pod for HistKey<P> {}

#[cfg(feature = "user")]
// SAFETY: `HistKey<P>` is `Pod` (see above): plain bytes, no padding, any bit pattern valid.
unsafe impl<P: KeyPrefix> aya::Pod for HistKey<P> {}
