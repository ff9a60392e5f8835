//! Jobs the multi-agent scheduler runs: [`WorkflowJob`], the full agent workflow
//! ([`crate::agent::run_agent`], the production job), and [`CallsJob`], a fixed list of
//! generation calls per agent (used by tests and the scaling benchmark).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::orchestrate::{AgentJob, JobOutcome};
use crate::agent::{AgentRun, AgentSpec, run_agent};
use crate::backend::{Backend, CallRecord, GenRequest, no_sink};
use crate::events::{CancellationToken, Event, Events, Stage};
use crate::export::{self, Json};
use crate::inventory::CollectOptions;
use crate::latency::CallSamples;
use crate::options::GenOptions;
use crate::records::multi::{CallsRecord, FailedAt, Phase};
use crate::workflow::{HandoffLink, Handoffs};

/// One agent of a [`CallsJob`]: its backend (share one `Arc` per server = one pool), model,
/// options and the (system, prompt) pairs it sends in order.
#[derive(Clone)]
pub struct CallsAgent {
    pub label: String,
    pub backend: Arc<dyn Backend>,
    pub model: String,
    pub options: GenOptions,
    pub prompts: Vec<(Option<String>, String)>,
}

/// Each agent sends its prompts one after the other; `calls.json` records every call when
/// `write_calls` is set.
pub struct CallsJob {
    pub agents: Vec<CallsAgent>,
    pub events: Events,
    /// Write `calls.json` (atomically, fsync'd) into the agent's folder after its calls.
    pub write_calls: bool,
}

/// Fold call records into a job outcome (tokens summed, decode tok/s averaged, first and
/// worst TTFT, ITL p99 over every gap).
pub fn outcome_from_calls(calls: &[CallRecord], error: Option<String>) -> JobOutcome {
    let rates: Vec<f64> = calls.iter().filter_map(CallRecord::decode_tok_s).collect();
    let (ttft_max_ms, itl_p99_ms) = session_latency(calls);
    JobOutcome {
        ok: error.is_none(),
        error,
        failed_stage: None,
        tokens: calls.iter().map(CallRecord::output_tokens).sum(),
        decode_tok_s: crate::stats::mean(&rates),
        ttft_ms: calls.first().and_then(CallRecord::ttft_ms),
        ttft_max_ms,
        itl_p99_ms,
        report_path: None,
        latency: Some(CallSamples::of_calls(calls)),
        session: None,
    }
}

/// A session's worst TTFT and its ITL p99 over the gaps of all its calls, ms.
pub fn session_latency(calls: &[CallRecord]) -> (Option<f64>, Option<f64>) {
    let ttft_max = calls.iter().filter_map(CallRecord::ttft_ms).reduce(f64::max);
    let mut gaps: Vec<f64> = calls.iter().flat_map(CallRecord::itl_ms).collect();
    gaps.sort_by(f64::total_cmp);
    (ttft_max, crate::stats::percentile_sorted(&gaps, 99.0))
}

#[async_trait]
impl AgentJob for CallsJob {
    async fn warmup(&self, agent: usize) -> Result<(), String> {
        let a = self.agents.get(agent).ok_or("no such agent")?;
        warm(a.backend.as_ref(), &a.model, &a.options).await
    }

    async fn run(&self, agent: usize, phase: Phase, out_dir: PathBuf) -> JobOutcome {
        let Some(a) = self.agents.get(agent) else {
            return JobOutcome { error: Some(format!("no agent #{agent}")), ..Default::default() };
        };
        let t0 = std::time::Instant::now();
        self.events.emit(Event::StageStarted { agent: a.label.clone(), stage: Stage::Analysis });
        let mut calls = Vec::new();
        let mut error = None;
        for (system, prompt) in &a.prompts {
            let req = GenRequest::generate(&a.model, system.as_deref(), prompt, a.options.clone());
            match a.backend.generate(&req, &no_sink).await {
                Ok(rec) => calls.push(rec),
                Err(f) => {
                    error = Some(f.error.to_string());
                    calls.push(*f.partial);
                    break;
                }
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        let ok = error.is_none();
        self.events.emit(Event::StageFinished { agent: a.label.clone(), stage: Stage::Analysis, secs, ok });
        self.events.emit(Event::AgentFinished { agent: a.label.clone(), ok, secs });
        let mut out = outcome_from_calls(&calls, error);
        if !ok {
            out.failed_stage = Some(FailedAt::Call(calls.len()));
        }
        if !self.write_calls {
            return out;
        }
        let path = out_dir.join("calls.json");
        let doc = CallsRecord { label: a.label.clone(), phase, calls };
        // File I/O (with fsync) off the async workers, so concurrent agents do not queue on it.
        let p = path.clone();
        let written = tokio::task::spawn_blocking(move || export::write(&Json, &doc, &p))
            .await
            .unwrap_or_else(|e| Err(export::ExportError::Serialize { what: "calls", detail: e.to_string() }));
        match written {
            Ok(()) => out.report_path = Some(path),
            Err(e) => {
                out.ok = false;
                out.error.get_or_insert_with(|| e.to_string());
            }
        }
        out
    }
}

/// One agent of a [`WorkflowJob`]: its spec and backend (one `Arc` per server = one pool).
#[derive(Clone)]
pub struct WorkflowAgent {
    pub spec: AgentSpec,
    pub backend: Arc<dyn Backend>,
}

/// The production job: each agent runs its workflow (ingest → the workflow's steps →
/// grounding) over `data_dirs` and writes its report in the seed layout. Agents exchange
/// hand-offs on one board: the n-th run of an agent in a phase publishes to, and reads from,
/// that phase's n-th round.
pub struct WorkflowJob {
    pub agents: Vec<WorkflowAgent>,
    pub data_dirs: Vec<PathBuf>,
    pub collect: CollectOptions,
    pub events: Events,
    pub handoffs: HandoffRounds,
}

impl WorkflowJob {
    /// A job whose agents share one fresh hand-off board (`chimera multi`'s solo → concurrent
    /// runs, a multi-agent sweep point).
    pub fn new(
        agents: Vec<WorkflowAgent>,
        data_dirs: Vec<PathBuf>,
        collect: CollectOptions,
        events: Events,
    ) -> Self {
        WorkflowJob { agents, data_dirs, collect, events, handoffs: HandoffRounds::default() }
    }

    /// The same job for a load run (`multi --arrival/--concurrency`, `capacity`, a sweep's load
    /// axis): its sessions are independent single agent runs, so there is no hand-off board —
    /// nothing is kept from one session to the next, however long the run. Hand-off workflows
    /// are refused before such a run (a session has no producer to read from).
    pub fn without_handoffs(mut self) -> Self {
        self.handoffs.off = true;
        self
    }
}

/// The hand-off board of a [`WorkflowJob`] and how many times each agent ran in each phase.
#[derive(Debug, Default)]
pub struct HandoffRounds {
    board: Arc<Handoffs>,
    runs: Mutex<HashMap<(usize, Phase), u64>>,
    /// No board (load runs, see [`WorkflowJob::without_handoffs`]).
    off: bool,
}

impl HandoffRounds {
    /// The link for agent `agent`'s next run in `phase` (none when the board is off).
    fn next(&self, agent: usize, phase: Phase) -> Option<HandoffLink> {
        if self.off {
            return None;
        }
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let n = runs.entry((agent, phase)).or_insert(0);
        let round = *n * 2 + u64::from(phase == Phase::Concurrent);
        *n += 1;
        Some(HandoffLink { board: Arc::clone(&self.board), round })
    }
}

/// A one-token call with `options` (load-time options included), so the server loads the
/// model the way the measured calls will need it.
async fn warm(backend: &dyn Backend, model: &str, options: &GenOptions) -> Result<(), String> {
    let opts = options.merged(&GenOptions { num_predict: Some(1), ..Default::default() });
    let req = GenRequest::generate(model, None, "Hello", opts);
    backend.generate(&req, &no_sink).await.map(|_| ()).map_err(|e| e.to_string())
}

#[async_trait]
impl AgentJob for WorkflowJob {
    async fn warmup(&self, agent: usize) -> Result<(), String> {
        let a = self.agents.get(agent).ok_or("no such agent")?;
        warm(a.backend.as_ref(), &a.spec.model, &a.spec.options).await
    }

    async fn run(&self, agent: usize, phase: Phase, out_dir: PathBuf) -> JobOutcome {
        let Some(a) = self.agents.get(agent) else {
            return JobOutcome { error: Some(format!("no agent #{agent}")), ..Default::default() };
        };
        let out = run_agent(AgentRun {
            spec: &a.spec,
            backend: Arc::clone(&a.backend),
            data_dirs: self.data_dirs.clone(),
            collect: self.collect.clone(),
            out_dir,
            events: self.events.clone(),
            // The multi-agent scheduler stops an agent by dropping it (see `run_multi`).
            cancel: CancellationToken::new(),
            handoff: self.handoffs.next(agent, phase),
        })
        .await;
        let (ttft_max_ms, itl_p99_ms) = session_latency(&out.calls);
        JobOutcome {
            ok: out.ok,
            ttft_max_ms,
            itl_p99_ms,
            error: out.error,
            failed_stage: out.failed_stage.map(FailedAt::Stage),
            tokens: out.metrics.tokens_generated,
            decode_tok_s: out.metrics.throughput_tok_s,
            ttft_ms: out.metrics.ttft_ms,
            report_path: out.report_path.is_file().then_some(out.report_path),
            latency: Some(CallSamples::of_calls(&out.calls)),
            session: out.session,
        }
    }
}
