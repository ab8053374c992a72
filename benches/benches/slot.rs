//! The bucket math of hist-core, per value, on the host.
//!
//! Every function runs over the same 4096 pseudo-random values whose magnitudes are spread
//! evenly over all bit widths (so every slot is hit and no branch predictor can learn the
//! sequence), each value passed through `black_box` so nothing is hoisted or vectorized
//! across values, as in a probe that sees one value per event. A naive shift loop is the
//! reference the others are compared with.
//!
//! Run: `cargo bench -p hist-benches --bench slot`.

mod common;
use common::XorShift;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hist_core::{Buckets, Linear, Log2, LogLinear};

const VALUES: usize = 4096;

/// `VALUES` values of up to `bits` bits, their bit widths uniform over `0..=bits`.
fn values(bits: u32) -> Vec<u64> {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    (0..VALUES)
        .map(|_| {
            let width = (rng.next() % (bits as u64 + 1)) as u32;
            match width {
                0 => 0,
                w => (rng.next() >> (64 - w)) | (1 << (w - 1)),
            }
        })
        .collect()
}

/// The reference: shift right until one bit is left.
#[inline]
fn log2_shift_loop(mut v: u64) -> u32 {
    let mut slot = 0;
    while v > 1 {
        v >>= 1;
        slot += 1;
    }
    slot
}

/// Sums `f` over `values`, each value hidden from the optimizer.
fn sum<T: Copy>(values: &[T], f: impl Fn(T) -> u32) -> u64 {
    values.iter().map(|&v| f(black_box(v)) as u64).sum()
}

fn log2_u64_forms(c: &mut Criterion) {
    let values = values(64);
    // All forms must agree before their speeds mean anything.
    for &v in &values {
        let expected = log2_shift_loop(v);
        assert_eq!(hist_core::log2_u64(v), expected, "log2_u64({v})");
        assert_eq!(hist_core::log2(v), expected, "log2({v})");
    }

    let mut group = c.benchmark_group("log2_u64");
    group.throughput(Throughput::Elements(VALUES as u64));
    group.bench_function("shift_loop_reference", |b| {
        b.iter(|| sum(&values, log2_shift_loop))
    });
    group.bench_function("log2_u64_host", |b| {
        b.iter(|| sum(&values, hist_core::log2_u64))
    });
    // What the slot is measured against: one bare `lzcnt` (the host form less its zero test).
    group.bench_function("bare_leading_zeros", |b| {
        b.iter(|| sum(&values, |v: u64| 63 - (v | 1).leading_zeros()))
    });
    group.finish();
}

fn log2_generic(c: &mut Criterion) {
    let mut group = c.benchmark_group("log2_generic");
    group.throughput(Throughput::Elements(VALUES as u64));
    let u8s: Vec<u8> = values(8).into_iter().map(|v| v as u8).collect();
    let u16s: Vec<u16> = values(16).into_iter().map(|v| v as u16).collect();
    let u32s: Vec<u32> = values(32).into_iter().map(|v| v as u32).collect();
    let u64s = values(64);
    group.bench_function(BenchmarkId::new("log2", "u8"), |b| {
        b.iter(|| sum(&u8s, hist_core::log2::<u8>))
    });
    group.bench_function(BenchmarkId::new("log2", "u16"), |b| {
        b.iter(|| sum(&u16s, hist_core::log2::<u16>))
    });
    group.bench_function(BenchmarkId::new("log2", "u32"), |b| {
        b.iter(|| sum(&u32s, hist_core::log2::<u32>))
    });
    group.bench_function(BenchmarkId::new("log2", "u64"), |b| {
        b.iter(|| sum(&u64s, hist_core::log2::<u64>))
    });
    group.finish();
}

fn bucket_slots(c: &mut Criterion) {
    let values = values(64);
    // cpudist's layout (max_slot 35), and 100 linear slots 1000 wide: over values that mostly
    // fall in them (`in_range`) and over the values spread over 64 bits, most of which land
    // in the overflow slot (`any_u64`). The layouts go through `black_box` so the division
    // by the step is a real division, not a multiplication by a known constant.
    let log2 = black_box(Log2::new(35));
    let linear = black_box(Linear::new(0, 1000, 99));
    // Eight sub-buckets per power of two over the same range as `log2`.
    let log_linear = black_box(LogLinear::covering(3, 35));
    let small_values: Vec<u64> = values.iter().map(|v| v % 120_000).collect();

    let mut group = c.benchmark_group("slot");
    group.throughput(Throughput::Elements(VALUES as u64));
    group.bench_function("log2_max35", |b| b.iter(|| sum(&values, |v| log2.slot(v))));
    group.bench_function("log_linear3_max35", |b| {
        b.iter(|| sum(&values, |v| log_linear.slot(v)))
    });
    group.bench_function("linear_1000x100_in_range", |b| {
        b.iter(|| sum(&small_values, |v| linear.slot(v)))
    });
    group.bench_function("linear_1000x100_any_u64", |b| {
        b.iter(|| sum(&values, |v| linear.slot(v)))
    });
    group.finish();
}

// criterion_group! writes an undocumented public function.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group!(benches, log2_u64_forms, log2_generic, bucket_slots);
}
criterion_main!(group::benches);
