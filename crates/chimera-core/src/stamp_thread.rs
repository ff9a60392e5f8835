//! The thread that timestamps streams, raised to real-time priority where the OS allows it, so a
//! token is stamped when it arrives and not when the scheduler next gets round to the thread.
//!
//! Why: on a kernel without full preemption (Linux's default `PREEMPT_NONE`/`voluntary`), a
//! woken thread of normal priority can wait up to a scheduler tick (4 ms at 250 Hz) behind
//! another thread on its CPU, even while the other CPU is idle (BENCHMARKS.md, "TTFT timestamp
//! error"). A `SCHED_FIFO` thread preempts normal threads at once. The policy is set with
//! `SCHED_RESET_ON_FORK`, so every thread the stamping thread creates later (tokio's blocking
//! pool, the engine's threads, rayon) starts at normal priority: only stamping is raised.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// What the user asked for (`--stamp-priority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StampPriority {
    /// Real-time when the OS allows it, else normal (the reason is recorded).
    #[default]
    Auto,
    /// Real-time or an error.
    Realtime,
    /// Never raise it.
    Normal,
}

/// The real-time priority used: the lowest, above every normal thread and below the kernel's own
/// real-time threads.
pub const RT_PRIORITY: u8 = 1;

/// How the stamping thread runs; recorded in every run manifest (`host.stamp_thread`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StampThread {
    /// `SCHED_FIFO` (real-time) or `SCHED_OTHER` (normal).
    pub policy: String,
    /// Real-time priority, 0 for `SCHED_OTHER`.
    pub priority: u8,
    /// Why it runs at normal priority, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl StampThread {
    fn normal(reason: impl Into<String>) -> Self {
        StampThread { policy: "SCHED_OTHER".into(), priority: 0, reason: Some(reason.into()) }
    }

    /// True when the thread runs at real-time priority.
    pub fn is_realtime(&self) -> bool {
        self.policy == "SCHED_FIFO"
    }
}

/// `--stamp-priority realtime` and the OS said no.
#[derive(Debug, thiserror::Error)]
#[error(
    "real-time priority for the stamping thread was refused ({0}); run as root, give the binary \
     CAP_SYS_NICE (`setcap cap_sys_nice+ep $(which chimera)`) or an rtprio limit of at least 1 \
     (`ulimit -r 1`, limits.conf), or use --stamp-priority auto to fall back to normal priority"
)]
pub struct RefusedError(String);

static CURRENT: OnceLock<StampThread> = OnceLock::new();

/// Apply `want` to the calling thread, the one that will read and stamp streams, and remember the
/// result for [`current`] (the first call in a process is the one recorded).
pub fn apply(want: StampPriority) -> Result<StampThread, RefusedError> {
    let got = match want {
        StampPriority::Normal => StampThread::normal("--stamp-priority normal"),
        StampPriority::Auto | StampPriority::Realtime => match raise() {
            Ok(()) => StampThread { policy: "SCHED_FIFO".into(), priority: RT_PRIORITY, reason: None },
            Err(e) if want == StampPriority::Realtime => return Err(RefusedError(e)),
            Err(e) => StampThread::normal(format!("real-time priority refused: {e}")),
        },
    };
    Ok(CURRENT.get_or_init(|| got).clone())
}

/// How this process's stamping thread runs; `None` when nothing applied a policy (a library user
/// who runs streams on threads of their own).
pub fn current() -> Option<StampThread> {
    CURRENT.get().cloned()
}

#[cfg(target_os = "linux")]
fn raise() -> Result<(), String> {
    let param = libc::sched_param { sched_priority: i32::from(RT_PRIORITY) };
    // SAFETY: a plain syscall on the calling thread (pid 0) with a valid parameter struct.
    let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param) };
    if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error().to_string()) }
}

#[cfg(not(target_os = "linux"))]
fn raise() -> Result<(), String> {
    Err("real-time scheduling is only used on Linux".into())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// `/proc/thread-self/stat`'s scheduling policy (0 = SCHED_OTHER, 1 = SCHED_FIFO).
    fn policy_of(stat: &str) -> u32 {
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        after.split(' ').nth(38).unwrap().parse().unwrap()
    }

    #[test]
    fn a_raised_thread_is_fifo_and_its_children_start_normal() {
        // A thread of its own: the policy must not leak into the test harness's threads.
        std::thread::spawn(|| {
            let got = apply(StampPriority::Auto).unwrap();
            let me = policy_of(&std::fs::read_to_string("/proc/thread-self/stat").unwrap());
            if got.is_realtime() {
                assert_eq!((me, got.priority), (1, RT_PRIORITY));
                let child = std::thread::spawn(|| std::fs::read_to_string("/proc/thread-self/stat").unwrap())
                    .join()
                    .unwrap();
                assert_eq!(
                    policy_of(&child),
                    0,
                    "a thread created by the stamping thread inherited real-time"
                );
            } else {
                assert_eq!(me, 0);
                assert!(got.reason.as_deref().is_some_and(|r| r.starts_with("real-time priority refused")));
            }
            assert_eq!(current(), Some(got));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn the_refusal_says_what_to_do() {
        let e = RefusedError("Operation not permitted (os error 1)".into()).to_string();
        assert!(
            e.contains("CAP_SYS_NICE") && e.contains("ulimit -r 1") && e.contains("--stamp-priority auto"),
            "{e}"
        );
    }
}
