//! An open- or closed-loop `chimera multi` run from plan to files: the level is run, judged,
//! and written as `load.json` ([`LoadRecord`]) and `load.md`.

use std::sync::Arc;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::capacity::report::load_markdown;
use crate::events::Events;
use crate::export::{self, ExportError, Json};
use crate::multi::orchestrate::AgentJob;
use crate::records::multi::MultiManifest;
use crate::records::traffic::{LoadModel, LoadRecord};
use crate::traffic::level::summarize_level;
use crate::traffic::run::{LevelPlan, RunError, run_level};

/// Why a load run stopped before writing its results.
#[derive(Debug, thiserror::Error)]
pub enum LoadRunError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// Run `plan` and write `load.json` and `load.md` into its `out_dir`.
pub async fn run_load(
    plan: &LevelPlan,
    quantile: f64,
    manifest: Option<MultiManifest>,
    job: Arc<dyn AgentJob>,
    cancel: &CancellationToken,
    events: &Events,
) -> Result<LoadRecord, LoadRunError> {
    let run = run_level(plan, job, cancel, events).await?;
    let open = matches!(plan.load, LoadModel::Open { .. });
    let mut notes = Vec::new();
    let summary = summarize_level(&run.sessions, quantile, open);
    if summary.client_behind {
        notes.push(
            "the client fell behind its schedule (schedule error p99 over 10 ms): these figures are unreliable; \
             lower the rate or run the client on a less busy machine"
                .to_string(),
        );
    }
    let rec = LoadRecord {
        created_at: Utc::now(),
        load: plan.load.clone(),
        spread: plan.spread,
        slo: plan.slo.clone(),
        slo_quantile: quantile,
        warmup_sessions: plan.warmup_sessions,
        interrupted: run.interrupted,
        summary,
        sessions: run.sessions,
        notes,
        manifest,
    };
    std::fs::create_dir_all(&plan.out_dir)
        .map_err(|e| ExportError::Write(crate::fsutil::WriteError::at(&plan.out_dir)(e)))?;
    export::write(&Json, &rec, &plan.out_dir.join("load.json"))?;
    let md = plan.out_dir.join("load.md");
    crate::fsutil::write_atomic(&md, load_markdown(&rec).as_bytes())
        .map_err(|e| ExportError::Write(crate::fsutil::WriteError::at(&md)(e)))?;
    Ok(rec)
}
