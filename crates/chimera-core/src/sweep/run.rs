//! The sweep runner: for each point in order, a warm-up call whenever the load-time options
//! (num_ctx, num_gpu, num_batch, num_thread) differ from the previous point's, then N measured
//! calls; each finished point is appended to the [`Store`] before the next one starts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, GenRequest, no_sink};
use crate::events::{Event, Events, NoteLevel, Stage};
use crate::options::LoadKey;

use super::SweepError;
use super::grid::Point;
use super::store::{PointResult, RunSample, Store};

/// The default prompt of a sweep point: short, fixed, asks for a long-ish answer so decode
/// throughput dominates (num_predict bounds it).
pub const DEFAULT_PROMPT: &str = "Explain, in a numbered list of ten short points, how a \
transformer language model turns a prompt into generated text.";

/// When to make an unmeasured warm-up call before a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Warmup {
    /// When a load-time option changes (and before the first point).
    #[default]
    OnLoadChange,
    /// Before every point.
    Always,
    /// Never (cold loads land in the first measured run).
    Never,
}

/// What to run at each point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepConfig {
    pub model: String,
    pub system: Option<String>,
    pub prompt: String,
    /// Measured runs per point.
    pub runs: usize,
    pub warmup: Warmup,
    /// Seed of the shuffled point order (None = grid order).
    pub shuffle_seed: Option<u64>,
}

/// Result of [`run_sweep`].
#[derive(Debug, Clone, PartialEq)]
pub struct SweepOutcome {
    /// Points run now.
    pub ran: usize,
    /// Points skipped because they were already finished (resume).
    pub skipped: usize,
    /// Warm-up calls made.
    pub warmups: usize,
    /// Measured calls that failed.
    pub failed_calls: usize,
}

/// Run every point of `points` (already in run order) that `store` has not finished.
/// `stop` is polled between calls: when set, the sweep ends with [`SweepError::Interrupted`]
/// after keeping every finished point.
pub async fn run_sweep(
    backend: &dyn Backend,
    cfg: &SweepConfig,
    points: &[Point],
    store: &mut Store,
    events: &Events,
    stop: Option<Arc<AtomicBool>>,
) -> Result<SweepOutcome, SweepError> {
    let finished = store.finished_keys();
    let total = points.len();
    let mut out = SweepOutcome { ran: 0, skipped: 0, warmups: 0, failed_calls: 0 };
    let mut last_load: Option<LoadKey> = None;
    let stopped = || stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
    for (order, p) in points.iter().enumerate() {
        if finished.contains(&p.key) {
            out.skipped += 1;
            continue;
        }
        if stopped() {
            return Err(SweepError::Interrupted { done: out.skipped + out.ran, total });
        }
        events.emit(Event::Progress {
            job: "sweep".into(),
            done: (out.skipped + out.ran) as u64,
            total: total as u64,
            label: p.label.clone(),
        });
        let req = GenRequest::generate(&cfg.model, cfg.system.as_deref(), &cfg.prompt, p.options.clone());
        let load = p.options.load_key();
        let need_warmup = match cfg.warmup {
            Warmup::Always => true,
            Warmup::Never => false,
            Warmup::OnLoadChange => last_load.as_ref() != Some(&load),
        };
        let mut warmup_ms = None;
        if need_warmup {
            events.emit(Event::StageStarted { agent: p.label.clone(), stage: Stage::Warmup });
            let r = backend.generate(&req, &no_sink).await;
            out.warmups += 1;
            let (ms, ok) = match &r {
                Ok(rec) => (rec.e2e_ms(), true),
                Err(f) => {
                    events.emit(Event::Note {
                        level: NoteLevel::Warn,
                        text: format!("warm-up of {} failed: {}", p.label, f.error),
                    });
                    (f.partial.e2e_ms(), false)
                }
            };
            warmup_ms = ms;
            events.emit(Event::StageFinished {
                agent: p.label.clone(),
                stage: Stage::Warmup,
                secs: ms.unwrap_or(0.0) / 1000.0,
                ok,
            });
        }
        last_load = Some(load);
        let mut runs = Vec::with_capacity(cfg.runs);
        for i in 0..cfg.runs {
            if stopped() {
                return Err(SweepError::Interrupted { done: out.skipped + out.ran, total });
            }
            let sample = match backend.generate(&req, &no_sink).await {
                Ok(rec) => RunSample::from_record(i, &rec),
                Err(f) => {
                    out.failed_calls += 1;
                    events.emit(Event::Note {
                        level: NoteLevel::Warn,
                        text: format!("{} run {}: {}", p.label, i + 1, f.error),
                    });
                    RunSample::from_record(i, &f.partial)
                }
            };
            runs.push(sample);
        }
        store.append(PointResult::new(p, order, warmup_ms, runs))?;
        out.ran += 1;
    }
    events.emit(Event::Progress {
        job: "sweep".into(),
        done: total as u64,
        total: total as u64,
        label: "done".into(),
    });
    Ok(out)
}
