//! A precise sleep for scripted streams: a Linux timerfd (the kernel's high-resolution timer)
//! watched by tokio's reactor, so a step goes out within tens of microseconds of its scripted
//! time without the server spinning on a CPU the client under test needs.
//!
//! tokio's own timer wheel rounds to whole milliseconds; the old fix (a yield loop over the last
//! millisecond) kept one CPU busy for as long as a stream ran, which on a 2-core machine delayed
//! the very client whose timing a test or benchmark measures.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create, timerfd_settime,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

/// One stream's timer: created once, re-armed for every step.
pub(crate) struct PreciseTimer {
    fd: Option<AsyncFd<OwnedFd>>,
}

impl PreciseTimer {
    /// A timer on `CLOCK_MONOTONIC` (the clock behind [`Instant`]). If the kernel refuses one
    /// (no file descriptors left), waits fall back to tokio's millisecond timer.
    pub(crate) fn new() -> Self {
        let fd = timerfd_create(TimerfdClockId::Monotonic, TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC)
            .ok()
            // SAFETY: an `OwnedFd` returns the one descriptor it owns, open until it is dropped,
            // and the `AsyncFd` owns it: the descriptor outlives its registration.
            .and_then(|fd| unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.ok());
        PreciseTimer { fd }
    }

    /// Sleep until `deadline`; returns at once when it has passed.
    pub(crate) async fn wait_until(&mut self, deadline: Instant) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let Some(fd) = &self.fd else {
            tokio::time::sleep_until(deadline).await;
            return;
        };
        if arm(fd.get_ref(), left).is_err() || wait_fired(fd).await.is_err() {
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// Arm `fd` once, `left` from now.
fn arm(fd: &OwnedFd, left: Duration) -> io::Result<()> {
    let zero = Timespec { tv_sec: 0, tv_nsec: 0 };
    let value = Timespec {
        tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(left.subsec_nanos()),
    };
    timerfd_settime(fd, TimerfdTimerFlags::empty(), &Itimerspec { it_interval: zero, it_value: value })?;
    Ok(())
}

/// Wait until the armed timer has expired (its counter read, so the next arm starts clean).
async fn wait_fired(fd: &AsyncFd<OwnedFd>) -> io::Result<()> {
    loop {
        let mut ready = fd.readable().await?;
        let mut count = [0u8; 8];
        match rustix::io::read(fd.get_ref(), &mut count) {
            Ok(_) => return Ok(()),
            Err(e) if e == rustix::io::Errno::AGAIN => ready.clear_ready(),
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_until_the_deadline_and_not_long_after() {
        let mut t = PreciseTimer::new();
        assert!(t.fd.is_some(), "timerfd available on Linux");
        for us in [300u64, 1_500, 0, 2_000] {
            let deadline = Instant::now() + Duration::from_micros(us);
            t.wait_until(deadline).await;
            let now = Instant::now();
            assert!(now >= deadline, "woke {:?} early", deadline - now);
            // Loose: a loaded CI machine may delay any wake-up; what must hold is that the
            // timer is not tokio's millisecond wheel rounding up to the next tick and beyond.
            assert!(now - deadline < Duration::from_millis(50), "woke {:?} late", now - deadline);
        }
    }

    #[tokio::test]
    async fn a_past_deadline_returns_at_once() {
        let mut t = PreciseTimer::new();
        let past = Instant::now() - Duration::from_millis(5);
        let before = Instant::now();
        t.wait_until(past).await;
        assert!(before.elapsed() < Duration::from_millis(50));
    }
}
