//! The user-side cost of one interval: turning raw map entries into a snapshot, and printing it.
//!
//! The raw entries stand in for what a per-CPU hash map of `HistKey<u32>` returns (a key
//! `{pid, slot}` and one counter per CPU) so no kernel is needed: the map syscalls themselves
//! are not measured here, only what hist-user does with their results.
//!
//! * `snapshot/…`: building `Snapshot<u32>` from those entries, as `HashHistMap::snapshot`
//!   does (`Histogram::new` per prefix, `add` per entry, per-CPU counters summed), and the
//!   alternative of one histogram per CPU combined with `Histogram::merge`.
//! * `render/…`: bcc's text for one histogram (`cpudist`) and for 1000 pids (`cpudist -P`).
//!
//! Run: `cargo bench -p hist-benches --bench render`.

mod common;
use common::XorShift;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hist_user::{Histogram, Snapshot, render};

/// cpudist's highest finite slot.
const MAX_SLOT: u32 = 35;
const PIDS: u32 = 1000;
const CPUS: usize = 8;

/// One map entry: `HistKey { prefix: pid, slot }` and its per-CPU counters.
struct Entry {
    pid: u32,
    slot: u32,
    per_cpu: [u64; CPUS],
}

/// `PIDS` processes, each with 4 to 15 consecutive slots counted somewhere between slot 0
/// and 30 (µs up to ~30 min), in hash-map order (shuffled), with one pid in 50 also counting
/// in the overflow slot.
fn entries() -> Vec<Entry> {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let mut entries = Vec::new();
    for pid in 1..=PIDS {
        let first = (rng.next() % 16) as u32;
        let slots = 4 + (rng.next() % 12) as u32;
        for slot in first..first + slots {
            let mut per_cpu = [0; CPUS];
            for count in &mut per_cpu {
                *count = rng.next() % 500;
            }
            entries.push(Entry { pid, slot, per_cpu });
        }
        if pid % 50 == 0 {
            entries.push(Entry {
                pid,
                slot: MAX_SLOT + 1,
                per_cpu: [1; CPUS],
            });
        }
    }
    for i in (1..entries.len()).rev() {
        entries.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    entries
}

/// What `HashHistMap::snapshot` does with a per-CPU hash map's entries.
fn snapshot_summed(entries: &[Entry]) -> Snapshot<u32> {
    let mut snapshot = Snapshot::new();
    for entry in entries {
        snapshot
            .entry(entry.pid)
            .or_insert_with(|| Histogram::new(MAX_SLOT))
            .add(entry.slot, entry.per_cpu.iter().sum());
    }
    snapshot.retain(|_, hist| !hist.is_empty());
    snapshot
}

/// One histogram per CPU and pid, then `merge`d: the other way to sum per-CPU copies.
fn snapshot_merged(entries: &[Entry]) -> Snapshot<u32> {
    let mut per_cpu: Vec<Snapshot<u32>> = vec![Snapshot::new(); CPUS];
    for entry in entries {
        for (cpu, &count) in entry.per_cpu.iter().enumerate() {
            per_cpu[cpu]
                .entry(entry.pid)
                .or_insert_with(|| Histogram::new(MAX_SLOT))
                .add(entry.slot, count);
        }
    }
    let mut snapshot = Snapshot::new();
    for cpu in &per_cpu {
        for (&pid, hist) in cpu {
            snapshot
                .entry(pid)
                .or_insert_with(|| Histogram::new(MAX_SLOT))
                .merge(hist)
                .expect("one layout");
        }
    }
    snapshot
}

fn snapshot(c: &mut Criterion) {
    let entries = entries();
    assert_eq!(snapshot_summed(&entries), snapshot_merged(&entries));

    let mut group = c.benchmark_group("snapshot");
    group.throughput(Throughput::Elements(entries.len() as u64));
    group.bench_function("summed_1000_pids", |b| {
        b.iter(|| snapshot_summed(black_box(&entries)))
    });
    group.bench_function("merged_1000_pids", |b| {
        b.iter(|| snapshot_merged(black_box(&entries)))
    });
    group.finish();
}

fn render(c: &mut Criterion) {
    let snapshot = snapshot_summed(&entries());
    // cpudist without -P: everything in one histogram.
    let mut all = Histogram::new(MAX_SLOT);
    for hist in snapshot.values() {
        all.merge(hist).expect("one layout");
    }
    let text = render::log2_hist_sections(&snapshot, "usecs", "pid", |pid| pid.to_string());
    assert_eq!(text.matches("\npid = ").count(), PIDS as usize);

    let mut group = c.benchmark_group("render");
    group.bench_function("log2_hist_one", |b| {
        b.iter(|| render::log2_hist(black_box(&all), "usecs"))
    });
    group.throughput(Throughput::Elements(PIDS as u64));
    group.bench_function("log2_hist_sections_1000_pids", |b| {
        b.iter(|| {
            render::log2_hist_sections(black_box(&snapshot), "usecs", "pid", |pid| pid.to_string())
        })
    });
    group.finish();
}

// criterion_group! writes an undocumented public function.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group!(benches, snapshot, render);
}
criterion_main!(group::benches);
