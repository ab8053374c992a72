//! The main loop of an interval tool: wait `interval` seconds or until Ctrl-C, whichever comes
//! first, as bcc's tools do (`sleep(interval)` + `KeyboardInterrupt`).
//!
//! SIGINT and SIGTERM are blocked and taken synchronously with `sigtimedwait`, so there is no
//! signal handler, no flag polling and no extra thread: the wait ends the moment the signal
//! arrives, and the tool prints what it gathered before exiting 0.

use std::{io, mem::MaybeUninit, ptr, time::Duration};

/// Why [`Intervals::wait`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wakeup {
    /// The interval elapsed.
    Elapsed,
    /// SIGINT (Ctrl-C) or SIGTERM arrived.
    Interrupted,
}

/// Waits for intervals or an interrupt. Create it first thing in `main`, before any thread
/// starts, so that every thread inherits the blocked signals.
pub struct Intervals {
    signals: libc::sigset_t,
    interval: Duration,
}

impl Intervals {
    /// Blocks SIGINT and SIGTERM in this thread (and threads started later) and returns a
    /// waiter for intervals of `interval`.
    pub fn new(interval: Duration) -> io::Result<Self> {
        let mut signals = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initializes the set; sigaddset and pthread_sigmask take valid
        // pointers to it and to nothing (the old mask is not wanted).
        let signals = unsafe {
            libc::sigemptyset(signals.as_mut_ptr());
            libc::sigaddset(signals.as_mut_ptr(), libc::SIGINT);
            libc::sigaddset(signals.as_mut_ptr(), libc::SIGTERM);
            let error = libc::pthread_sigmask(libc::SIG_BLOCK, signals.as_ptr(), ptr::null_mut());
            if error != 0 {
                return Err(io::Error::from_raw_os_error(error));
            }
            signals.assume_init()
        };
        Ok(Self { signals, interval })
    }

    /// Sleeps one interval, or less if SIGINT/SIGTERM arrives.
    pub fn wait(&self) -> io::Result<Wakeup> {
        let timeout = libc::timespec {
            tv_sec: self.interval.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
            tv_nsec: self.interval.subsec_nanos() as libc::c_long,
        };
        loop {
            // SAFETY: valid pointers to the signal set and the timeout; no siginfo wanted.
            let signal = unsafe { libc::sigtimedwait(&self.signals, ptr::null_mut(), &timeout) };
            if signal >= 0 {
                return Ok(Wakeup::Interrupted);
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EAGAIN) => return Ok(Wakeup::Elapsed),
                // Another signal (e.g. SIGWINCH) interrupted the wait: bcc's sleep() would
                // go on too. The interval restarts, which only matters for such signals.
                Some(libc::EINTR) => continue,
                _ => return Err(error),
            }
        }
    }
}

/// The local time as `HH:MM:SS`, like bcc's `strftime("%H:%M:%S")`.
pub fn local_time_hms() -> String {
    // SAFETY: time(NULL) has no preconditions; localtime_r writes into our `tm`.
    let tm = unsafe {
        let now = libc::time(ptr::null_mut());
        let mut tm = MaybeUninit::<libc::tm>::zeroed();
        if libc::localtime_r(&now, tm.as_mut_ptr()).is_null() {
            return "??:??:??".into();
        }
        tm.assume_init()
    };
    format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
}
