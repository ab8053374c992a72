//! A child process with a known behaviour, for the live-kernel tests. It waits for a line on
//! stdin (so the tracer can attach to its pid first), runs one pattern, prints `switches N` (how
//! many times the kernel switched its threads out during the pattern, as `getrusage` counts them,
//! voluntary and involuntary) and exits. The patterns:
//!
//! * `getpid CALLS THREADS`: exactly CALLS `getpid()` syscalls, split over THREADS threads;
//! * `sleep MS TIMES`: sleeps MS milliseconds TIMES times;
//! * `sleeps FILE US:TIMES…`: sleeps of US microseconds, TIMES of each, interleaved; writes how
//!   long each took (µs, wall clock, one per line) to FILE at the end;
//! * `spin SPIN_MS SLEEP_US TIMES`: spins on the CPU for SPIN_MS ms, then sleeps SLEEP_US µs,
//!   TIMES times; as a real-time task where it may (root), so that a busy machine's other tasks
//!   do not cut its spins into shorter slices;
//! * `files PATH TIMES`: writes a 64 KiB file at PATH (before the go line), then TIMES times
//!   opens it, reads 4 KiB (`pread`), writes 4 KiB (`pwrite`), `fsync`s it, `stat`s its path and
//!   closes it: TIMES of each of those calls, one file operation each;
//! * `churn PROCESSES`: forks PROCESSES children one after another, each exiting at once;
//! * `ping-pong TIMES`: two threads pass a byte back and forth over two pipes TIMES times, each
//!   reading until the other writes: usually 2 × TIMES wake-ups of one thread by the other, fewer
//!   when a byte arrives before its reader sleeps (two CPUs, or a vCPU the host held back);
//! * `direct-reads DEVICE TIMES`: reads 4 KiB from the block device DEVICE, opened read-only
//!   with `O_DIRECT` (before the go line), TIMES times at successive offsets: one block request
//!   each, past the page cache; read-only, so closing it makes udev probe nothing.
use std::{
    env,
    fs::{self, OpenOptions},
    io,
    os::unix::fs::FileExt as _,
    thread,
    time::{Duration, Instant},
};

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let number = |i: usize| -> u64 {
        args.get(i).and_then(|a| a.parse().ok()).unwrap_or_else(|| {
            panic!("usage: workload getpid|sleep|sleeps|spin|files|churn|ping-pong|direct-reads ARGS… (got {args:?})")
        })
    };
    if args.first().map(String::as_str) == Some("files") {
        fs::write(&args[1], vec![7u8; 64 << 10]).expect("write the file");
    }
    let device = (args.first().map(String::as_str) == Some("direct-reads")).then(|| {
        use std::os::unix::fs::OpenOptionsExt as _;
        let open = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(&args[1]);
        open.expect("open the device with O_DIRECT")
    });
    io::stdin()
        .read_line(&mut String::new())
        .expect("read go line");
    let before = switches();
    match args.first().map(String::as_str) {
        Some("getpid") => {
            let (calls, threads) = (number(1), number(2));
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let mine = calls / threads + u64::from(t < calls % threads);
                    thread::spawn(move || {
                        for _ in 0..mine {
                            // glibc does not cache getpid(): one syscall per call.
                            std::hint::black_box(std::process::id());
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().expect("worker");
            }
        }
        Some("sleep") => {
            let (ms, times) = (number(1), number(2));
            for _ in 0..times {
                thread::sleep(Duration::from_millis(ms));
            }
        }
        Some("sleeps") => {
            let mut left: Vec<(u64, u64)> = args[2..]
                .iter()
                .map(|group| {
                    let (us, times) = group.split_once(':').expect("US:TIMES");
                    (us.parse().expect("US"), times.parse().expect("TIMES"))
                })
                .collect();
            let mut took = Vec::new();
            while left.iter().any(|&(_, times)| times > 0) {
                for (us, times) in left.iter_mut().filter(|(_, times)| *times > 0) {
                    let start = Instant::now();
                    thread::sleep(Duration::from_micros(*us));
                    took.push(start.elapsed().as_micros().to_string());
                    *times -= 1;
                }
            }
            fs::write(&args[1], took.join("\n")).expect("write the durations");
        }
        Some("spin") => {
            let (spin_ms, sleep_us, times) = (number(1), number(2), number(3));
            let lowest_fifo = libc::sched_param { sched_priority: 1 };
            // SAFETY: sets this process's own policy from a valid parameter; failure (not
            // root) leaves it as it was.
            unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &lowest_fifo) };
            for _ in 0..times {
                let start = Instant::now();
                while start.elapsed() < Duration::from_millis(spin_ms) {
                    std::hint::spin_loop();
                }
                thread::sleep(Duration::from_micros(sleep_us));
            }
        }
        Some("files") => {
            let (path, times) = (&args[1], number(2));
            let mut block = [0u8; 4096];
            for i in 0..times {
                let offset = (i % 16) * 4096;
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .expect("open");
                file.read_exact_at(&mut block, offset).expect("pread");
                file.write_all_at(&block, offset).expect("pwrite");
                file.sync_all().expect("fsync");
                fs::metadata(path).expect("stat");
            }
        }
        Some("churn") => {
            for _ in 0..number(1) {
                // SAFETY: fork(2) of a single-threaded process.
                match unsafe { libc::fork() } {
                    // SAFETY: `_exit` is async-signal-safe, as a forked child needs.
                    0 => unsafe { libc::_exit(0) },
                    -1 => panic!("fork: {}", io::Error::last_os_error()),
                    child => {
                        let mut status = 0;
                        // SAFETY: waiting for our own child, into a local.
                        unsafe { libc::waitpid(child, &mut status, 0) };
                    }
                }
            }
        }
        Some("ping-pong") => {
            use std::io::{Read as _, Write as _};
            let times = number(1);
            let (mut ping_rx, mut ping_tx) = io::pipe().expect("pipe");
            let (mut pong_rx, mut pong_tx) = io::pipe().expect("pipe");
            let echo = thread::spawn(move || {
                let mut byte = [0u8];
                for _ in 0..times {
                    ping_rx.read_exact(&mut byte).expect("ping");
                    pong_tx.write_all(&byte).expect("pong");
                }
            });
            let mut byte = [1u8];
            for _ in 0..times {
                ping_tx.write_all(&byte).expect("ping");
                pong_rx.read_exact(&mut byte).expect("pong");
            }
            echo.join().expect("echo thread");
        }
        Some("direct-reads") => {
            let device = device.expect("opened above");
            // O_DIRECT wants a buffer aligned to the logical block size: 4096 is enough.
            #[repr(C, align(4096))]
            struct Block([u8; 4096]);
            let mut block = Block([0; 4096]);
            for i in 0..number(2) {
                let read = device.read_at(&mut block.0, i * 4096).expect("pread");
                assert_eq!(
                    read, 4096,
                    "a short read: is the device smaller than TIMES × 4 KiB?"
                );
            }
        }
        _ => panic!(
            "usage: workload getpid|sleep|sleeps|spin|files|churn|ping-pong|direct-reads ARGS…"
        ),
    }
    println!("switches {}", switches() - before);
}

/// Context switches of this process's threads so far, voluntary and involuntary, as the kernel
/// counts them: each is a wait on a run queue before the thread runs again.
fn switches() -> i64 {
    // SAFETY: an all-zero rusage is a valid value, and getrusage writes only into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer to a local.
    let done = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(done, 0, "getrusage: {}", io::Error::last_os_error());
    usage.ru_nvcsw + usage.ru_nivcsw
}
