//! Multi-agent concurrency (`chimera multi`): scenarios and agent files (`spec`), the true
//! speedup math (`math`), the solo → concurrent scheduler with crash-safe per-run files
//! (`orchestrate`), aggregates over runs (`summary`), Markdown output (`render`), and the jobs
//! it runs (`jobs`).

pub mod jobs;
pub mod math;
pub mod orchestrate;
pub mod render;
pub mod spec;
pub mod summary;

pub use orchestrate::{
    AgentJob, AgentRunRecord, AgentSlot, JobOutcome, MultiError, MultiPlan, Phase, PhaseResult, RunRecord,
    RunStatus, run_multi, run_multi_with_records,
};
pub use spec::{AgentDef, Scenario, SpecError};
pub use summary::MultiSummary;
pub use tokio_util::sync::CancellationToken;

#[cfg(test)]
mod tests;
