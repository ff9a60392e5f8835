//! Runs one load level: sessions (one agent run each, through the multi-agent [`AgentJob`])
//! started on an arrival schedule (open loop) or by N workers back to back (closed loop),
//! spread over the agents' servers, each judged against the SLO.
//!
//! No coordinated omission: in open loop every session is its own task started at its
//! planned time whatever earlier sessions are doing, and its latency (session wall, first
//! call's TTFT) counts from the PLANNED start, so a stalled server — or a client that falls
//! behind — cannot hide the wait; the client's own lateness is recorded as schedule error.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::events::{Event, Events};
use crate::multi::orchestrate::{AgentJob, JobOutcome};
use crate::multi::plan::AgentSlot;
use crate::multi::spec::slug;
use crate::records::multi::Phase;
use crate::records::traffic::{LoadModel, SessionRecord, Spread};
use crate::traffic::arrivals::{ArrivalError, Stop, schedule};
use crate::traffic::slo::{SessionFigures, Slo};

/// One load level to run.
#[derive(Debug, Clone)]
pub struct LevelPlan {
    pub load: LoadModel,
    /// Measured sessions (count or duration); warm-ups come on top.
    pub stop: Stop,
    /// The first sessions of the run, left out of every figure.
    pub warmup_sessions: u32,
    /// The agents sessions are spread over (one per server, or a scenario's agents).
    pub agents: Vec<AgentSlot>,
    pub spread: Spread,
    pub slo: Slo,
    /// Each session's files go to `out_dir/sessions/NNNNN-<agent>/`.
    pub out_dir: PathBuf,
}

/// Why a level could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Arrival(#[from] ArrivalError),
    #[error("no agents to run sessions on")]
    NoAgents,
    #[error("--concurrency must be at least 1")]
    NoConcurrency,
}

/// The sessions a level ran (in start order) and whether it was interrupted.
#[derive(Debug, Clone)]
pub struct LevelRun {
    pub sessions: Vec<SessionRecord>,
    pub interrupted: bool,
}

/// Picks the agent of each session.
struct Spreader {
    spread: Spread,
    in_flight: Vec<AtomicUsize>,
}

impl Spreader {
    fn new(spread: Spread, n: usize) -> Self {
        Spreader { spread, in_flight: (0..n).map(|_| AtomicUsize::new(0)).collect() }
    }

    /// The agent for session `index`, counted as in flight until [`Spreader::done`].
    fn pick(&self, index: usize) -> usize {
        let i = match self.spread {
            Spread::RoundRobin => index % self.in_flight.len(),
            Spread::LeastLoaded => (0..self.in_flight.len())
                .min_by_key(|&i| self.in_flight[i].load(Ordering::Relaxed))
                .unwrap_or(0),
        };
        self.in_flight[i].fetch_add(1, Ordering::Relaxed);
        i
    }

    fn done(&self, agent: usize) {
        self.in_flight[agent].fetch_sub(1, Ordering::Relaxed);
    }
}

/// How close tokio's timer is trusted to get: it counts in 1 ms ticks, rounds a deadline up to
/// the next tick and fires it only once its tick has fully passed, so it wakes anywhere in
/// [deadline, deadline + 1 ms) — plus the tick it may lose when parking. A sleep to 2 ms before
/// the deadline therefore ends before it.
const TIMER_MARGIN: Duration = Duration::from_millis(2);

/// Sleep until `deadline` to within tens of microseconds, without spinning (the client shares
/// the CPU with the engine it measures): tokio's timer gets within [`TIMER_MARGIN`], then a
/// blocking-pool thread sleeps the rest with the OS's own timer (`nanosleep`). A paused test
/// clock stands still during that real sleep (blocking work inhibits its auto-advance), so the
/// last `sleep_until` then advances it to the deadline; with the real clock the deadline has
/// passed and nothing more is waited (a tokio sleep to a deadline just passed would wait for
/// its tick to end: up to 1 ms late).
pub async fn wait_until(deadline: Instant) {
    if deadline > Instant::now() + TIMER_MARGIN {
        tokio::time::sleep_until(deadline - TIMER_MARGIN).await;
    }
    let rest = deadline.saturating_duration_since(Instant::now());
    if rest > Duration::ZERO {
        // The JoinHandle errs only if the closure panicked, which a sleep does not.
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
    }
    if Instant::now() < deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

/// Shared by every session of a level.
struct Ctx {
    job: Arc<dyn AgentJob>,
    plan: LevelPlan,
    spreader: Spreader,
    t0: Instant,
    warmups: usize,
}

impl Ctx {
    /// Run session `index` planned at `planned` (from t0) and judge it.
    async fn session(&self, index: usize, planned: Duration, open_loop: bool) -> SessionRecord {
        let agent = self.spreader.pick(index);
        let slot = &self.plan.agents[agent];
        let dir = self.plan.out_dir.join("sessions").join(format!("{index:05}-{}", slug(&slot.label)));
        let started = self.t0.elapsed();
        // Closed loop has no schedule: a session is planned when its worker is free.
        let planned = if open_loop { planned } else { started };
        let late = started.saturating_sub(planned);
        let out: JobOutcome = self.job.run(agent, Phase::Concurrent, dir).await;
        let ended = self.t0.elapsed();
        self.spreader.done(agent);
        let late_ms = late.as_secs_f64() * 1000.0;
        let figures = SessionFigures {
            ok: out.ok,
            // The first call's TTFT counts from the planned start; later calls' as measured.
            ttft_max_ms: match (out.ttft_ms.map(|t| t + late_ms), out.ttft_max_ms) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            itl_p99_ms: out.itl_p99_ms,
            session_s: (ended - planned).as_secs_f64(),
        };
        SessionRecord {
            index: index as u32,
            warmup: index < self.warmups,
            agent: slot.label.clone(),
            server: slot.server.clone(),
            planned_s: planned.as_secs_f64(),
            started_s: started.as_secs_f64(),
            ended_s: ended.as_secs_f64(),
            schedule_error_ms: late_ms,
            pass: self.plan.slo.passes(&figures),
            missed: self.plan.slo.missed(&figures),
            figures,
            tokens: out.tokens,
            error: out.error,
        }
    }
}

fn progress(events: &Events, done: usize, total: Option<usize>, label: &str) {
    events.emit(Event::Progress {
        job: "load".into(),
        done: done as u64,
        total: total.unwrap_or(done) as u64,
        label: label.to_string(),
    });
}

/// Run one level. Ctrl-C (`cancel`) stops starting sessions and drops the running ones; the
/// finished ones are kept and the run is marked interrupted.
pub async fn run_level(
    plan: &LevelPlan,
    job: Arc<dyn AgentJob>,
    cancel: &CancellationToken,
    events: &Events,
) -> Result<LevelRun, RunError> {
    if plan.agents.is_empty() {
        return Err(RunError::NoAgents);
    }
    let warmups = plan.warmup_sessions as usize;
    let ctx = Arc::new(Ctx {
        job,
        plan: plan.clone(),
        spreader: Spreader::new(plan.spread, plan.agents.len()),
        t0: Instant::now(),
        warmups,
    });
    let (mut sessions, interrupted) = match &plan.load {
        LoadModel::Open { arrival } => {
            let stop = match plan.stop {
                Stop::Sessions(n) => Stop::Sessions(n.saturating_add(plan.warmup_sessions)),
                d => d,
            };
            let planned = schedule(arrival, stop)?;
            open_loop(&ctx, planned, cancel, events).await
        }
        LoadModel::Closed { concurrency } => {
            if *concurrency == 0 {
                return Err(RunError::NoConcurrency);
            }
            closed_loop(&ctx, *concurrency as usize, cancel, events).await
        }
    };
    sessions.sort_by_key(|s| s.index);
    Ok(LevelRun { sessions, interrupted })
}

async fn collect(
    set: &mut JoinSet<SessionRecord>,
    out: &mut Vec<SessionRecord>,
    cancel: &CancellationToken,
    events: &Events,
    total: Option<usize>,
) -> bool {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => {
                set.abort_all();
                return true;
            }
            r = set.join_next() => match r {
                None => return false,
                Some(Ok(s)) => {
                    out.push(s);
                    progress(events, out.len(), total, "sessions");
                }
                Some(Err(_)) => {} // a panicked session: recorded as missing, never fatal
            },
        }
    }
}

async fn open_loop(
    ctx: &Arc<Ctx>,
    planned: Vec<Duration>,
    cancel: &CancellationToken,
    events: &Events,
) -> (Vec<SessionRecord>, bool) {
    let total = planned.len();
    let mut set = JoinSet::new();
    let mut out = Vec::with_capacity(total);
    for (index, at) in planned.into_iter().enumerate() {
        // Finished sessions are collected while waiting, so memory stays flat; the wait itself
        // is one future across those wake-ups (its blocking sleep is not started twice).
        let wait = wait_until(ctx.t0 + at);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    set.abort_all();
                    return (out, true);
                }
                _ = &mut wait => break,
                Some(r) = set.join_next(), if !set.is_empty() => {
                    if let Ok(s) = r {
                        out.push(s);
                        progress(events, out.len(), Some(total), "sessions");
                    }
                }
            }
        }
        let c = Arc::clone(ctx);
        set.spawn(async move { c.session(index, at, true).await });
    }
    let interrupted = collect(&mut set, &mut out, cancel, events, Some(total)).await;
    (out, interrupted)
}

async fn closed_loop(
    ctx: &Arc<Ctx>,
    concurrency: usize,
    cancel: &CancellationToken,
    events: &Events,
) -> (Vec<SessionRecord>, bool) {
    let next = Arc::new(AtomicUsize::new(0));
    let (limit, until) = match ctx.plan.stop {
        Stop::Sessions(n) => (n as usize + ctx.warmups, None),
        Stop::DurationSecs(d) => (usize::MAX, Some(Duration::from_secs_f64(d))),
    };
    let total = (limit != usize::MAX).then_some(limit);
    // Finished sessions land here as they end, so an interruption keeps them.
    let done = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut set = JoinSet::new();
    for _ in 0..concurrency {
        let (c, next, done, events) = (Arc::clone(ctx), Arc::clone(&next), Arc::clone(&done), events.clone());
        set.spawn(async move {
            loop {
                // The duration covers the whole run; warm-ups always run first.
                if until.is_some_and(|u| c.t0.elapsed() >= u) && next.load(Ordering::Relaxed) >= c.warmups {
                    break;
                }
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= limit {
                    break;
                }
                let s = c.session(index, Duration::ZERO, false).await;
                let n = done.lock().map(|mut d| {
                    d.push(s);
                    d.len()
                });
                progress(&events, n.unwrap_or(0), total, "sessions");
            }
        });
    }
    let interrupted = tokio::select! {
        _ = cancel.cancelled() => true,
        _ = async { while set.join_next().await.is_some() {} } => false,
    };
    if interrupted {
        set.abort_all();
    }
    let out = done.lock().map(|mut d| std::mem::take(&mut *d)).unwrap_or_default();
    (out, interrupted)
}
