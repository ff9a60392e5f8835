//! The capacity search, orchestrated: each level the search asks for is run `repeats` times
//! (each a [`run_level`]), its repeats pooled, and `capacity.json` / `capacity.md` rewritten
//! after every level so an interruption keeps what was measured; the answer (highest level
//! meeting the SLO, sustainable sessions/min, concurrent agents, whether the bracketing levels
//! can be told apart, saturation point) is computed from the pooled levels.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::level::{interval_text, level_name, meets};
use super::saturation::{CurvePoint, saturation};
use super::search::{Measured, SearchPlan, bracket, next_level};
use crate::events::{Event, Events, NoteLevel};
use crate::export::{self, Json};
use crate::multi::orchestrate::AgentJob;
use crate::multi::plan::AgentSlot;
use crate::records::multi::MultiManifest;
use crate::records::traffic::{Axis, CapacityRecord, LevelRecord, LoadModel, SessionRecord, Spread};
use crate::stats::summarize;
use crate::traffic::arrivals::{Arrival, Stop};
use crate::traffic::level::summarize_level;
use crate::traffic::run::{LevelPlan, RunError, run_level};
use crate::traffic::slo::Slo;

/// At least this many repeats per level: fewer cannot show their spread.
pub const MIN_REPEATS: u32 = 3;

/// How open-loop sessions arrive at each rate level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Shape {
    /// Evenly spaced (the default: a level's result does not depend on a random draw).
    #[default]
    Constant,
    /// Poisson arrivals; repeat r of a level uses seed `seed + r`.
    Poisson { seed: u64 },
}

/// What a capacity search runs.
#[derive(Debug, Clone)]
pub struct CapacityPlan {
    pub axis: Axis,
    pub shape: Shape,
    pub search: SearchPlan,
    pub repeats: u32,
    /// Measured sessions (or seconds) per repeat.
    pub stop: Stop,
    pub warmup_sessions: u32,
    pub agents: Vec<AgentSlot>,
    pub spread: Spread,
    pub slo: Slo,
    pub quantile: f64,
    pub out_dir: PathBuf,
    pub manifest: Option<MultiManifest>,
}

/// Why the search could not run.
#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    #[error("--repeats must be at least {MIN_REPEATS}: each level is measured at least three times")]
    Repeats,
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Export(#[from] export::ExportError),
}

/// The level's file-safe name: `rate_2.5` or `concurrency_4`.
pub fn level_dir(axis: Axis, level: f64) -> String {
    match axis {
        Axis::Concurrency => format!("concurrency_{level}"),
        Axis::Rate => format!("rate_{level:.4}").trim_end_matches('0').trim_end_matches('.').to_string(),
    }
}

fn load_model(plan: &CapacityPlan, level: f64, repeat: u32) -> LoadModel {
    match (plan.axis, plan.shape) {
        (Axis::Concurrency, _) => LoadModel::Closed { concurrency: level.round().max(1.0) as u32 },
        (Axis::Rate, Shape::Constant) => LoadModel::Open { arrival: Arrival::Constant { per_sec: level } },
        (Axis::Rate, Shape::Poisson { seed }) => {
            LoadModel::Open { arrival: Arrival::Poisson { per_sec: level, seed: seed + u64::from(repeat) } }
        }
    }
}

/// The sessions of several repeats laid end to end (each repeat's clock shifted by the
/// windows before it), so one summary pools them: goodput = Σ passing / Σ windows.
pub fn concat_repeats(repeats: &[Vec<SessionRecord>]) -> Vec<SessionRecord> {
    let mut out = Vec::new();
    let mut offset = 0.0;
    for rep in repeats {
        let measured = || rep.iter().filter(|s| !s.warmup);
        let start = measured().map(|s| s.planned_s).fold(f64::INFINITY, f64::min);
        let end = measured().map(|s| s.ended_s).fold(f64::NEG_INFINITY, f64::max);
        if !start.is_finite() {
            continue;
        }
        for s in measured() {
            let mut s = s.clone();
            s.planned_s += offset - start;
            s.started_s += offset - start;
            s.ended_s += offset - start;
            out.push(s);
        }
        offset += end - start;
    }
    out
}

/// Fill in the answer of `rec` from its levels (pure).
pub fn conclude(rec: &mut CapacityRecord) {
    rec.levels.sort_by(|a, b| a.level.total_cmp(&b.level));
    let measured: Vec<Measured> =
        rec.levels.iter().map(|l| Measured { level: l.level, meets: meets(&l.pooled) }).collect();
    let (pass, fail) = bracket(&measured);
    rec.max_level = pass;
    rec.first_failing = fail;
    let at = |x: Option<f64>| x.and_then(|x| rec.levels.iter().find(|l| l.level == x));
    let (p, f) = (at(pass), at(fail));
    rec.sustainable_per_min =
        p.and_then(|l| summarize(&l.repeats.iter().filter_map(|r| r.goodput_per_min).collect::<Vec<_>>()));
    rec.concurrent_agents =
        p.and_then(|l| summarize(&l.repeats.iter().filter_map(|r| r.mean_in_flight).collect::<Vec<_>>()));
    rec.told_apart = match (p.and_then(|l| l.pooled.pass_interval), f.and_then(|l| l.pooled.pass_interval)) {
        (Some(a), Some(b)) => !a.overlaps(&b),
        _ => false,
    };
    rec.notes.retain(|n| !n.starts_with("cannot tell"));
    if let (Some(p), Some(f), false) = (p, f, rec.told_apart) {
        rec.notes.push(format!(
            "cannot tell levels {} and {} apart: their pass-rate 95 % intervals overlap ({} vs {}); raise --sessions or --repeats for a sharper answer",
            p.level,
            f.level,
            interval_text(&p.pooled),
            interval_text(&f.pooled)
        ));
    }
    let curve: Vec<CurvePoint> = rec
        .levels
        .iter()
        .filter_map(|l| {
            Some(CurvePoint {
                level: l.level,
                throughput: l.pooled.throughput_per_min?,
                latency: l.pooled.session_s.as_ref()?.median,
            })
        })
        .collect();
    rec.saturation_level = saturation(&curve);
}

fn write(plan: &CapacityPlan, rec: &CapacityRecord) -> Result<(), CapacityError> {
    export::write(&Json, rec, &plan.out_dir.join("capacity.json"))?;
    crate::fsutil::write_atomic(&plan.out_dir.join("capacity.md"), super::report::markdown(rec).as_bytes())
        .map_err(crate::fsutil::WriteError::at(&plan.out_dir.join("capacity.md")))
        .map_err(export::ExportError::from)?;
    Ok(())
}

/// Run the search. Ctrl-C keeps every finished level (the record says interrupted).
pub async fn run_capacity(
    plan: &CapacityPlan,
    job: Arc<dyn AgentJob>,
    cancel: &CancellationToken,
    events: &Events,
) -> Result<CapacityRecord, CapacityError> {
    if plan.repeats < MIN_REPEATS {
        return Err(CapacityError::Repeats);
    }
    let mut rec = CapacityRecord {
        created_at: Utc::now(),
        axis: plan.axis,
        slo: plan.slo.clone(),
        slo_quantile: plan.quantile,
        repeats: plan.repeats,
        spread: plan.spread,
        levels: Vec::new(),
        max_level: None,
        first_failing: None,
        sustainable_per_min: None,
        concurrent_agents: None,
        told_apart: false,
        saturation_level: None,
        interrupted: false,
        notes: Vec::new(),
        manifest: plan.manifest.clone(),
    };
    let mut measured: Vec<Measured> = Vec::new();
    'search: while let Some(level) = next_level(&plan.search, &measured) {
        let mut runs = Vec::new();
        for r in 1..=plan.repeats {
            events.emit(Event::Note {
                level: NoteLevel::Info,
                text: format!("{}: repeat {r}/{}", level_name(plan.axis, level), plan.repeats),
            });
            let lp = LevelPlan {
                load: load_model(plan, level, r),
                stop: plan.stop,
                warmup_sessions: plan.warmup_sessions,
                agents: plan.agents.clone(),
                spread: plan.spread,
                slo: plan.slo.clone(),
                out_dir: plan
                    .out_dir
                    .join("levels")
                    .join(level_dir(plan.axis, level))
                    .join(format!("repeat_{r}")),
            };
            let run = run_level(&lp, Arc::clone(&job), cancel, events).await?;
            if run.interrupted {
                rec.interrupted = true;
                rec.notes.push(format!(
                    "interrupted during {}; that level is left out",
                    level_name(plan.axis, level)
                ));
                break 'search;
            }
            runs.push(run.sessions);
        }
        let open = plan.axis == Axis::Rate;
        let repeats: Vec<_> = runs.iter().map(|s| summarize_level(s, plan.quantile, open)).collect();
        let pooled = summarize_level(&concat_repeats(&runs), plan.quantile, open);
        if pooled.client_behind {
            rec.notes.push(format!(
                "{}: the client fell behind its schedule (schedule error p99 over 10 ms): the level is unreliable and counted as failing",
                level_name(plan.axis, level)
            ));
        }
        measured.push(Measured { level, meets: meets(&pooled) });
        events.emit(Event::Note {
            level: NoteLevel::Info,
            text: format!(
                "{}: {} of {} sessions passed {} → {}",
                level_name(plan.axis, level),
                pooled.passing,
                pooled.sessions,
                interval_text(&pooled),
                if meets(&pooled) { "meets the SLO" } else { "fails the SLO" }
            ),
        });
        rec.levels.push(LevelRecord { level, repeats, pooled });
        conclude(&mut rec);
        write(plan, &rec)?;
    }
    conclude(&mut rec);
    write(plan, &rec)?;
    Ok(rec)
}
