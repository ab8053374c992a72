//! Slot math: which slot a value falls in, what a slot spans, and how big a map must be.
//!
//! A histogram has the finite slots `0..=max_slot` and one **overflow slot** `max_slot + 1`
//! that counts every value above the top finite slot (it is `+Inf` in Prometheus terms).
//! Nothing is clamped silently into the top finite slot. Each key prefix therefore needs
//! `max_slot + 2` entries, and a map holding `prefixes` of them needs exactly
//! [`map_entries`]`(max_slot, prefixes)` = `(max_slot + 2) × prefixes` entries; a hash map
//! sized this way can never fill up.
//!
//! # log2 slots
//!
//! Slot 0 holds `{0, 1}`; slot `s ≥ 1` holds `[2^s, 2^(s+1) − 1]`, i.e. `s = ⌊log2(v)⌋` with
//! `log2(0) = 0`. This is libbpf-tools' `log2l()`. bcc's `bpf_log2l()` is the same plus one.
//!
//! # log-linear slots
//!
//! Each power of two is cut into `2^k` equal sub-buckets (`k` is the *precision*, at most 5, as
//! bpftrace's `hist(n, k)`). Values below `2^k` have a slot each: slot `v` holds `{v}`, so 0 has
//! its own slot. A value `v ≥ 2^k` with `e = ⌊log2(v)⌋` is in slot
//! `s = (e − k)·2^k + ⌊v / 2^(e−k)⌋`: its top `k + 1` bits, after `e − k` groups of `2^k`.
//! Slot `s ≥ 2^k` of group `g = ⌊s / 2^k⌋` and sub-bucket `j = s mod 2^k` holds
//! `[(2^k + j)·2^(g−1), (2^k + j + 1)·2^(g−1) − 1]`: `2^(g−1)` values, at most `1/2^k` of its
//! first, so a value reported as its slot's first is at most `2^−k` below it (k = 3: 12.5 %).
//! With `k = 0` this is log2 with a separate zero slot: `{0}`, `{1}`, `[2, 3]`, `[4, 7]`…
//! (ebpf_exporter's `exp2zero`), where bcc's log2 above puts 0 and 1 together.
//!
//! # linear slots
//!
//! Slot `s` holds `[base + s·step, base + (s+1)·step − 1]`: `s = (v − base) / step`.
//! Values below `base` count in slot 0, as there is no underflow slot.

use core::ops::RangeInclusive;

use num_traits::{PrimInt, Unsigned};

/// `⌊log2(v)⌋` for an unsigned integer of any width, with `log2(0) = log2(1) = 0`.
///
/// This is the log2 slot of `v` before the overflow slot is applied (see [`Log2::slot`]).
///
/// ```
/// use hist_core::log2;
/// assert_eq!(log2(0u8), 0);
/// assert_eq!(log2(1u16), 0);
/// assert_eq!(log2(1023u32), 9);
/// assert_eq!(log2(1024u64), 10);
/// assert_eq!(log2(u128::MAX), 127);
/// ```
#[inline(always)]
pub fn log2<T: PrimInt + Unsigned>(v: T) -> u32 {
    match v.to_u64() {
        Some(v) => log2_u64(v),
        // Only `u128` values above `u64::MAX` get here, never on BPF.
        None => T::zero().count_zeros() - 1 - v.leading_zeros(),
    }
}

/// `⌊log2(v)⌋` of a `u64`, in the form that is cheapest on the target.
///
/// On the host `leading_zeros` is one instruction (`lzcnt`). BPF has no count-leading-zeros:
/// there it is a binary search written in BPF assembly, 20 instructions (see `log2_bpf` in
/// this file's source; the slot with its overflow cap is 23).
#[inline(always)]
pub fn log2_u64(v: u64) -> u32 {
    #[cfg(target_arch = "bpf")]
    {
        log2_bpf(v)
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        if v == 0 { 0 } else { 63 - v.leading_zeros() }
    }
}

/// `⌊log2(v)⌋` on BPF: a binary search over the bit width, one conditional jump per step.
///
/// Each step asks whether the value has bits above the lower half of the remaining width
/// (32, 16, 8, 4, 2 bits), and if so shifts them down and adds the half-width to the result;
/// the last bit is added without a test. 20 instructions in all, counted in the verifier's
/// output of cpudist's program (`bpftool prog dump xlated`), where LLVM makes 33 of the same
/// search written in Rust: it turns each `if` into selects, or `(v > k) << s` into a move, a
/// jump and a move, and spills `v` for want of registers. `leading_zeros` costs 40 (bit smear
/// and popcount). Jumps on unknown values cost the verifier nothing extra: the result is never
/// used as a pointer offset, so its states merge at each join.
///
/// The live test `tests/live/tests/slots.rs` checks it against the host form on every
/// boundary `2^k − 1, 2^k, 2^k + 1` and on random values, in every kernel of the matrix.
#[cfg(target_arch = "bpf")]
#[inline(always)]
fn log2_bpf(v: u64) -> u32 {
    let r: u64;
    // SAFETY: register arithmetic only: no memory, no stack, no calls; every jump is forward
    // within the block.
    unsafe {
        core::arch::asm!(
            "{r} = 0",
            "{t} = {v}",
            "{t} >>= 32",
            "if {t} == 0 goto 1f",
            "{v} = {t}",
            "{r} = 32",
            "1:",
            "if {v} <= 0xffff goto 2f",
            "{v} >>= 16",
            "{r} |= 16",
            "2:",
            "if {v} <= 0xff goto 3f",
            "{v} >>= 8",
            "{r} |= 8",
            "3:",
            "if {v} <= 0xf goto 4f",
            "{v} >>= 4",
            "{r} |= 4",
            "4:",
            "if {v} <= 3 goto 5f",
            "{v} >>= 2",
            "{r} |= 2",
            "5:",
            "{v} >>= 1",
            "{r} |= {v}",
            v = inout(reg) v => _,
            t = out(reg) _,
            r = out(reg) r,
            options(pure, nomem, nostack),
        );
    }
    // SAFETY: the search adds at most 32 + 16 + 8 + 4 + 2 + 1 = 63. Said to LLVM, this saves
    // the zero-extension of the `u32` result (2 instructions).
    unsafe { core::hint::assert_unchecked(r < 64) };
    r as u32
}

/// Number of entries a map needs for `prefixes` histograms of finite slots `0..=max_slot`:
/// `(max_slot + 2) × prefixes` (the `+ 2` is slot 0 and the overflow slot).
///
/// ```
/// // The XFS reclaim monitor: max_latency_slot = 26, two operations.
/// assert_eq!(hist_core::map_entries(26, 2), 56);
/// ```
pub const fn map_entries(max_slot: u32, prefixes: u32) -> u32 {
    slots_per_prefix(max_slot) * prefixes
}

/// The counters of one prefix's histogram: slots `0..=max_slot` and the overflow slot.
pub const fn slots_per_prefix(max_slot: u32) -> u32 {
    max_slot + 2
}

/// Where an array histogram (`hist_ebpf::ArrayHist`) keeps `slot` of the histogram of prefix
/// index `prefix`: `prefix × (max_slot + 2) + slot`. A slot above the overflow slot counts in
/// the overflow slot, so a map of [`map_entries`]`(max_slot, prefixes)` holds every index of
/// prefixes `0..prefixes`.
///
/// ```
/// assert_eq!(hist_core::array_index(0, 5, 26), 5);
/// assert_eq!(hist_core::array_index(1, 0, 26), 28);
/// assert_eq!(hist_core::array_index(1, 99, 26), 28 + 27); // the overflow slot
/// ```
#[inline(always)]
pub const fn array_index(prefix: u32, slot: u32, max_slot: u32) -> u32 {
    prefix * slots_per_prefix(max_slot) + capped_slot(slot, max_slot)
}

/// `slot`, or the overflow slot `max_slot + 1` when it is above: the slot a map of
/// [`map_entries`] keys holds every count in.
#[inline(always)]
pub const fn capped_slot(slot: u32, max_slot: u32) -> u32 {
    if slot > max_slot + 1 {
        max_slot + 1
    } else {
        slot
    }
}

/// How values map to the slots of a histogram. Implemented by [`Log2`] and [`Linear`].
pub trait Buckets: Copy {
    /// The highest finite slot.
    fn max_slot(&self) -> u32;

    /// The slot that `value` is counted in: a finite slot, or the overflow slot.
    fn slot(&self, value: u64) -> u32;

    /// The smallest value counted in `slot`.
    fn low(&self, slot: u32) -> u64;

    /// The overflow slot, `max_slot + 1`: every value above the top finite slot.
    #[inline(always)]
    fn overflow_slot(&self) -> u32 {
        self.max_slot() + 1
    }

    /// Entries per prefix: the finite slots plus the overflow slot.
    #[inline(always)]
    fn slots_per_prefix(&self) -> u32 {
        self.max_slot() + 2
    }

    /// The values counted in `slot`. The overflow slot spans up to `u64::MAX`.
    fn bounds(&self, slot: u32) -> RangeInclusive<u64> {
        let high = if slot >= self.overflow_slot() {
            u64::MAX
        } else {
            self.low(slot + 1).saturating_sub(1).max(self.low(slot))
        };
        self.low(slot)..=high
    }
}

/// Power-of-two slots `0..=max_slot` plus the overflow slot (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Log2 {
    max_slot: u32,
}

impl Log2 {
    /// Log2 slots up to `max_slot` (at most 63; a `u64` has no value above slot 63).
    pub const fn new(max_slot: u32) -> Self {
        assert!(
            max_slot <= 63,
            "a log2 histogram of u64 has at most 64 slots (max_slot 63)"
        );
        Self { max_slot }
    }

    /// The highest finite slot (as [`Buckets::max_slot`], usable in `const` items).
    pub const fn max_slot(&self) -> u32 {
        self.max_slot
    }
}

impl Buckets for Log2 {
    #[inline(always)]
    fn max_slot(&self) -> u32 {
        self.max_slot
    }

    #[inline(always)]
    fn slot(&self, value: u64) -> u32 {
        let slot = log2_u64(value);
        if slot > self.max_slot {
            self.max_slot + 1
        } else {
            slot
        }
    }

    fn low(&self, slot: u32) -> u64 {
        match slot {
            0 => 0,
            64.. => u64::MAX,
            s => 1 << s,
        }
    }

    fn bounds(&self, slot: u32) -> RangeInclusive<u64> {
        let high = match slot {
            _ if slot > self.max_slot => u64::MAX,
            63.. => u64::MAX,
            s => (2 << s) - 1,
        };
        self.low(slot)..=high
    }
}

/// Log-linear slots of precision `k` (`2^k` sub-buckets per power of two) `0..=max_slot`, plus
/// the overflow slot (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogLinear {
    precision: u32,
    max_slot: u32,
}

impl LogLinear {
    /// The highest precision: 32 sub-buckets per power of two.
    pub const MAX_PRECISION: u32 = 5;

    /// Log-linear slots `0..=max_slot` of precision `precision` (at most
    /// [`MAX_PRECISION`](Self::MAX_PRECISION)); `max_slot` at most the slot of `u64::MAX`.
    pub const fn new(precision: u32, max_slot: u32) -> Self {
        assert!(
            precision <= Self::MAX_PRECISION,
            "log-linear precision is at most 5 (32 sub-buckets per power of two)"
        );
        assert!(
            max_slot < (65 - precision) << precision,
            "a u64 has no value above the slot of u64::MAX, (65 − k)·2^k − 1"
        );
        Self {
            precision,
            max_slot,
        }
    }

    /// The slots of precision `precision` that reach as high as log2 slots up to
    /// `log2_max_slot` do (values up to `2^(log2_max_slot + 1) − 1`), so that `--precision k`
    /// keeps a tool's range: the top power of two cut into `2^k`.
    ///
    /// ```
    /// use hist_core::{Buckets, Log2, LogLinear};
    /// let fine = LogLinear::covering(3, 26);
    /// assert_eq!(fine.max_slot(), 199);
    /// assert_eq!(*fine.bounds(fine.max_slot()).end(), *Log2::new(26).bounds(26).end());
    /// ```
    pub const fn covering(precision: u32, log2_max_slot: u32) -> Self {
        assert!(
            precision <= Self::MAX_PRECISION,
            "log-linear precision is at most 5 (32 sub-buckets per power of two)"
        );
        assert!(log2_max_slot <= 63, "a log2 layout has at most max_slot 63");
        Self::covering_in_range(precision, log2_max_slot)
    }

    /// [`covering`](Self::covering) for arguments known to be in range, with no panic path: the
    /// kernel side computes it at run time from a precision user space wrote.
    #[inline(always)]
    pub(crate) const fn covering_in_range(precision: u32, log2_max_slot: u32) -> Self {
        let top = if log2_max_slot < precision {
            precision
        } else {
            log2_max_slot
        };
        // top ≤ 63 and precision ≤ 5, so this is at most (65 − k)·2^k − 1: the slot of u64::MAX.
        Self {
            precision,
            max_slot: ((top - precision + 2) << precision) - 1,
        }
    }

    /// The number of sub-buckets per power of two is `2^precision`.
    pub const fn precision(&self) -> u32 {
        self.precision
    }

    /// The highest finite slot (as [`Buckets::max_slot`], usable in `const` items).
    pub const fn max_slot(&self) -> u32 {
        self.max_slot
    }
}

impl Buckets for LogLinear {
    #[inline(always)]
    fn max_slot(&self) -> u32 {
        self.max_slot
    }

    #[inline(always)]
    fn slot(&self, value: u64) -> u32 {
        let k = self.precision;
        // In u64 throughout: BPF compares 64-bit registers, and a u32 result would cost a
        // zero-extension before the cap.
        let slot = if value < 1 << k {
            value
        } else {
            let shift = u64::from(log2_u64(value)) - u64::from(k);
            // SAFETY: value ≥ 2^k, so log2(value) ≥ k and 0 ≤ shift ≤ 63. Said to LLVM, this
            // saves the `& 63` that Rust's shift semantics would add.
            unsafe { core::hint::assert_unchecked(shift < 64) };
            (shift << k) + (value >> shift)
        };
        if slot > self.max_slot as u64 {
            self.max_slot + 1
        } else {
            slot as u32
        }
    }

    fn low(&self, slot: u32) -> u64 {
        let k = self.precision;
        if slot < 1 << k {
            return slot as u64;
        }
        let (group, sub) = (slot >> k, slot & ((1 << k) - 1));
        // Past the slot of u64::MAX (the overflow slot of the widest layout) there is no value.
        if group - 1 > 63 - k {
            return u64::MAX;
        }
        ((1u64 << k) + sub as u64) << (group - 1)
    }

    fn bounds(&self, slot: u32) -> RangeInclusive<u64> {
        // The slot after the one of u64::MAX has no first value: `low` says u64::MAX.
        let high = match self.low(slot + 1) {
            _ if slot > self.max_slot => u64::MAX,
            u64::MAX => u64::MAX,
            next => next - 1,
        };
        self.low(slot)..=high
    }
}

/// Equal-width slots `[base + s·step, base + (s+1)·step − 1]` for `s` in `0..=max_slot`,
/// plus the overflow slot. Values below `base` count in slot 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Linear {
    base: u64,
    step: u64,
    max_slot: u32,
}

impl Linear {
    /// Linear slots of width `step` (at least 1) starting at `base`.
    pub const fn new(base: u64, step: u64, max_slot: u32) -> Self {
        assert!(step > 0, "a linear histogram needs a step of at least 1");
        Self {
            base,
            step,
            max_slot,
        }
    }

    /// The first value of slot 0.
    pub const fn base(&self) -> u64 {
        self.base
    }

    /// The width of a slot.
    pub const fn step(&self) -> u64 {
        self.step
    }

    /// The highest finite slot (as [`Buckets::max_slot`], usable in `const` items).
    pub const fn max_slot(&self) -> u32 {
        self.max_slot
    }
}

impl Buckets for Linear {
    #[inline(always)]
    fn max_slot(&self) -> u32 {
        self.max_slot
    }

    #[inline(always)]
    fn slot(&self, value: u64) -> u32 {
        let index = value.saturating_sub(self.base) / self.step;
        if index > self.max_slot as u64 {
            self.max_slot + 1
        } else {
            index as u32
        }
    }

    fn low(&self, slot: u32) -> u64 {
        self.base
            .saturating_add((slot as u64).saturating_mul(self.step))
    }
}
