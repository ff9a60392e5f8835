//! Multi-agent concurrency (`chimera multi`): scenarios and agent files (`spec`), the plan
//! (`plan`), the true speedup math (`math`), the solo → concurrent scheduler with crash-safe
//! per-run files (`orchestrate`), aggregates over runs (`summary`) and
//! the jobs it runs (`jobs`). The results are [`crate::records::multi`].

pub mod jobs;
pub mod math;
pub mod orchestrate;
pub mod plan;
pub mod spec;
pub mod summary;

pub use crate::records::multi::{
    AgentRunRecord, MultiSummary, Phase, PhaseResult, RunRecord, RunStatus, ScenarioName,
};
pub use orchestrate::{AgentJob, JobOutcome, MultiError, run_multi, run_multi_with_records};
pub use plan::{AgentSlot, MultiPlan};
pub use spec::{AgentDef, Scenario, SpecError};
pub use tokio_util::sync::CancellationToken;

#[cfg(test)]
mod tests;
