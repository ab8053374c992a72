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
    (@checked $($prefix:ty),+ $(,)?) => {$(
        // SAFETY: the assertion below fails the build if `HistKey<$prefix>` has padding.
        unsafe impl $crate::KeyPrefix for $prefix {}
        // `TaskKey<P>` has the same layout as `HistKey<P>` (`repr(C) { P, u32 }`), so this
        // proves it padding-free too.
        const _: () = ::core::assert!(
            ::core::mem::size_of::<$crate::HistKey<$prefix>>()
                == ::core::mem::size_of::<$prefix>() + ::core::mem::size_of::<u32>(),
            ::core::concat!(
                "HistKey<", ::core::stringify!($prefix), "> would have padding bytes: use a prefix of 4·n bytes ",
                "aligned to at most 4 (u32, [u8; 4*n], [u32; n]; a u64 as [u32; 2])"
            ),
        );
    )+};
    ($($prefix:ty),+ $(,)?) => {$(
        $crate::key_prefix!(@checked $prefix);
        // With hist-core's `user` feature, also an aya map key (a sums map is keyed by it).
        $crate::aya_pod!($prefix);
    )+};
}

/// With hist-core's `user` feature, makes a [`bytemuck::Pod`] type an `aya::Pod` too, so user
/// space can use it as a map key or value, or write it into a global at load time (a tool's
/// config); without the feature (the eBPF side) it expands to nothing. [`key_prefix!`] and
/// [`ops!`](crate::ops) call it for their types.
///
/// ```
/// #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
/// #[repr(C)]
/// struct Config {
///     verbose: u32,
/// }
/// hist_core::aya_pod!(Config);
/// ```
#[cfg(feature = "user")]
#[macro_export]
macro_rules! aya_pod {
    ($type:ty) => {
        const _: fn() = || {
            fn is_pod<T: $crate::__bytemuck::Pod>() {}
            is_pod::<$type>();
        };
        // SAFETY: `$type` is `bytemuck::Pod` (checked above): plain bytes, no padding, any bit
        // pattern valid, which is what `aya::Pod` asks.
        unsafe impl $crate::__aya::Pod for $type {}
    };
}

/// See the `user` version of this macro: without the feature it expands to nothing.
#[cfg(not(feature = "user"))]
#[macro_export]
macro_rules! aya_pod {
    ($type:ty) => {};
}

// aya already makes these map keys.
key_prefix!(
    @checked (),
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

/// A start-time map key: which operation (`prefix`, `()` when a task is in one at a time) of
/// which task (`tid`). Padding-free for the same reason as [`HistKey`], which has its layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TaskKey<P: KeyPrefix> {
    /// The operation, as in the histogram's key.
    pub prefix: P,
    /// The thread id (`bpf_get_current_pid_tgid() as u32`).
    pub tid: u32,
}

impl<P: KeyPrefix> TaskKey<P> {
    /// The key of `prefix` in the task `tid`.
    #[inline(always)]
    pub const fn new(prefix: P, tid: u32) -> Self {
        Self { prefix, tid }
    }
}

const _: () = assert!(core::mem::size_of::<TaskKey<u32>>() == core::mem::size_of::<HistKey<u32>>());

// SAFETY: all-zero bytes are a valid `P` and a valid `u32`.
unsafe impl<P: KeyPrefix> Zeroable for TaskKey<P> {}
// SAFETY: `repr(C) { P, u32 }` like `HistKey<P>`, which `P: KeyPrefix` proves padding-free.
unsafe impl<P: KeyPrefix> Pod for TaskKey<P> {}

/// Declares an operation type: a `u32` key prefix (so `{op, slot}` has no padding) with a named
/// constant and a label per operation, for tools whose histograms are per op.
///
/// ```
/// hist_core::ops! {
///     /// An NFS operation.
///     pub struct Op {
///         READ = 0 => "read",
///         WRITE = 1 => "write",
///     }
/// }
/// assert_eq!(Op::WRITE.name(), "write");
/// assert_eq!(Op::ALL, [Op::READ, Op::WRITE]);
/// assert_eq!(Op(7).name(), "unknown");
/// let key = hist_core::HistKey::new(Op::WRITE, 3);
/// assert_eq!(core::mem::size_of_val(&key), 8);
/// ```
#[macro_export]
macro_rules! ops {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$op_meta:meta])* $op:ident = $value:literal => $label:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(transparent)]
        $vis struct $name(pub u32);

        // SAFETY: a `repr(transparent)` `u32`: all-zero bytes are valid.
        unsafe impl $crate::__bytemuck::Zeroable for $name {}
        // SAFETY: a `repr(transparent)` `u32`: plain bytes, no padding, any bit pattern valid.
        unsafe impl $crate::__bytemuck::Pod for $name {}
        $crate::key_prefix!($name);

        // The op's index in an array histogram (`hist_ebpf::PerCpuArrayHist`).
        impl ::core::convert::From<$name> for u32 {
            fn from(op: $name) -> u32 {
                op.0
            }
        }

        #[allow(missing_docs)]
        impl $name {
            $($(#[$op_meta])* pub const $op: $name = $name($value);)+

            /// Every operation, in declaration order.
            pub const ALL: [$name; [$($value),+].len()] = [$($name::$op),+];

            /// The operation's label (`read`), or `"unknown"` for another value.
            pub const fn name(self) -> &'static str {
                match self.0 {
                    $($value => $label,)+
                    _ => "unknown",
                }
            }
        }
    };
}
