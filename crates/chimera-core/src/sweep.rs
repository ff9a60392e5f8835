//! `chimera sweep`: a grid over any generation options, measured point by point with a
//! warm-up whenever a load-time option changes, resumable, then ranked (throughput, TTFT,
//! composite), with the Pareto front and the best configuration against the baseline.
//!
//! Workload of a point: one generation call per run with a fixed prompt (see [`run`]), one
//! whole agent workflow per run (`--agent-data`, [`run::run_sweep_agents`]), or a multi-agent
//! scenario per run — solo then concurrent phase — (`--scenario`, [`scenario`]); with a load
//! axis (`--arrival`/`--concurrency`, [`load`]) each run is a load run of agent sessions.

pub mod config;
pub mod grid;
pub mod load;
pub mod output;
pub mod plan;
pub mod rank;
pub mod run;
pub mod scenario;
pub mod store;
pub mod summary;

pub use crate::records::sweep::{Best, MultiPoint, MultiRun, PointResult, Ranking, RunSample};
pub use config::{AgentWorkload, ScenarioWorkload, SweepConfig};
pub use grid::{Axis, Grid, Point};
pub use plan::{SweepFinished, SweepPlan, run_plan};
pub use rank::rank;
pub use run::{run_sweep, run_sweep_agents};
pub use scenario::{run_sweep_scenario, run_sweep_scenario_on};
pub use store::Store;

/// Errors of a sweep; the message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("invalid grid: {0}")]
    Grid(String),
    #[error("option {name}={value} is not valid: {detail}")]
    BadOption { name: String, value: String, detail: String },
    #[error("{0} already holds sweep results; pass --resume to continue it or choose another --out")]
    Exists(String),
    #[error("writing results: {0}")]
    Io(String),
    #[error("the sweep was interrupted after {done} of {total} points; run again with --resume")]
    Interrupted { done: usize, total: usize },
    #[error(
        "--resume: the output folder holds {have} but this command runs {want}; pass the same --scenario/--agents or another --out"
    )]
    OtherWorkload { have: String, want: String },
    #[error(
        "--resume: the finished point {label} was measured with --runs {have} but this command asks for --runs {want}; \
         pass --runs {have} to continue it, or start again with --force (or another --out)"
    )]
    OtherRuns { label: String, have: usize, want: usize },
    #[error(
        "--resume: the finished point {label} ran the workflow {have} but this command runs {want}; \
         pass the same --workflow (with the same file contents) to continue it, or start again with --force (or another --out)"
    )]
    OtherWorkflow { label: String, have: String, want: String },
}
