//! One agent workflow: ingest → facts → analysis call → parse → report call → grounding →
//! report, each stage timed and announced as [`Event`]s. [`run_agent`] never panics and always
//! writes `report.md`, `metrics.json` and `manifest.json` into the output folder, also when a
//! stage fails or the run is cancelled (Ctrl-C): the report then says at which stage and keeps
//! the metrics gathered so far.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use futures::FutureExt;
use serde::{Deserialize, Serialize};

pub use crate::records::agent::{AgentMetrics, AgentOutcome, AgentRecord};

use crate::backend::{Backend, BackendInfo, CallRecord, GenRequest, TokenChunk};
use crate::events::{CancellationToken, Event, Events, Stage};
use crate::export::{self, AgentReport, Json, Markdown};
use crate::fsutil::WriteError;
use crate::grounding::{self, Dim, KnownNumber};
use crate::inventory::{self, CollectOptions, Inventory};
use crate::manifest::Manifest;
use crate::options::GenOptions;
use crate::persona::Persona;
use crate::prompt::{self, PromptPlan};
use crate::workflow::{self, HandoffLink, Workflow};

mod session;

/// Who the agent is and how it calls the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSpec {
    /// `# {label}` of the report, and the agent's name in events.
    pub label: String,
    /// Shown as **Agent Type** (the seed shows the label there; defaults to it).
    pub agent_type: String,
    pub persona: Persona,
    pub model: String,
    /// Options sent with both calls (unset = server default).
    pub options: GenOptions,
    /// Output budget of the analysis call when `options.num_predict` is unset.
    pub analysis_num_predict: i64,
    /// Output budget of the report call when `options.num_predict` is unset.
    pub report_num_predict: i64,
    /// Context window used for the prompt budget when `options.num_ctx` is unset
    /// (the server's default; [`prompt::DEFAULT_CTX_TOKENS`] when unknown).
    pub default_ctx_tokens: u32,
    /// The steps the agent runs (default: the built-in `analyst`, the seed's two calls).
    pub workflow: Workflow,
}

impl AgentSpec {
    /// A spec with the default output budgets (analysis 256, report 384 tokens).
    pub fn new(
        label: impl Into<String>,
        persona: Persona,
        model: impl Into<String>,
        options: GenOptions,
    ) -> Self {
        let label = label.into();
        AgentSpec {
            agent_type: label.clone(),
            label,
            persona,
            model: model.into(),
            options,
            analysis_num_predict: prompt::ANALYSIS_NUM_PREDICT,
            report_num_predict: prompt::REPORT_NUM_PREDICT,
            default_ctx_tokens: prompt::DEFAULT_CTX_TOKENS,
            workflow: workflow::builtin(workflow::DEFAULT_WORKFLOW)
                .expect("the default workflow is built in"),
        }
    }

    /// The context window the prompts are budgeted for.
    pub fn ctx_tokens(&self) -> u32 {
        self.options.num_ctx.unwrap_or(self.default_ctx_tokens)
    }
}

/// One execution of an agent.
pub struct AgentRun<'a> {
    pub spec: &'a AgentSpec,
    pub backend: Arc<dyn Backend>,
    pub data_dirs: Vec<PathBuf>,
    pub collect: CollectOptions,
    pub out_dir: PathBuf,
    pub events: Events,
    /// Cancelled (Ctrl-C): the workflow stops at once, the unfinished call is dropped, and the
    /// report is written with what finished, failed at the current stage.
    pub cancel: CancellationToken,
    /// Where hand-offs are exchanged with the other agents of the run (`chimera multi`); the
    /// agent's final output (or its error) is published there when it ends.
    pub handoff: Option<HandoffLink>,
}

/// Mutable state of a run, readable after a failure or panic.
struct State {
    out: AgentOutcome,
    inventory: Option<Arc<Inventory>>,
    current: Stage,
    /// The model's answers in order (primers excluded), for the grounding check.
    generated: Vec<String>,
    /// When the last LLM call ended (think time counts from there).
    last_call_end: Option<Instant>,
    /// When the workflow's steps began (until the session's figures are taken).
    session_start: Option<Instant>,
}

/// A stage failure: which stage, what happened.
struct Failure {
    stage: Stage,
    message: String,
}

/// Run one agent. Never panics; always tries to write the report, metrics and manifest.
pub async fn run_agent(run: AgentRun<'_>) -> AgentOutcome {
    let t0 = Instant::now();
    let spec = run.spec;
    let mut st = State {
        out: AgentOutcome {
            label: spec.label.clone(),
            persona: spec.persona.key.clone(),
            model: spec.model.clone(),
            options: spec.options.clone(),
            ok: false,
            failed_stage: None,
            error: None,
            calls: Vec::new(),
            call_stages: Vec::new(),
            stage_secs: BTreeMap::new(),
            wall_secs: 0.0,
            files_analyzed: 0,
            facts_total: 0,
            metrics: AgentMetrics::default(),
            prompts: Vec::new(),
            analysis: None,
            model_text: String::new(),
            grounding: None,
            backend: BackendInfo {
                kind: Some(run.backend.kind()),
                endpoint: run.backend.endpoint(),
                ..Default::default()
            },
            notes: Vec::new(),
            report_path: run.out_dir.join("report.md"),
            metrics_path: run.out_dir.join("metrics.json"),
            manifest_path: run.out_dir.join("manifest.json"),
            workflow: spec.workflow.name.clone(),
            steps: Vec::new(),
            session: None,
            computed_findings: None,
        },
        inventory: None,
        current: Stage::Ingest,
        generated: Vec::new(),
        last_call_end: None,
        session_start: None,
    };
    let result = tokio::select! {
        r = AssertUnwindSafe(workflow(&run, &mut st)).catch_unwind() => Some(r),
        () = run.cancel.cancelled() => None,
    };
    match result {
        None => {
            st.out.failed_stage = Some(st.current);
            st.out.error = Some(format!(
                "interrupted (Ctrl-C) during the {} stage; the figures are those of the stages that finished",
                st.current
            ));
            run.events.emit(Event::StageFinished {
                agent: spec.label.clone(),
                stage: st.current,
                secs: 0.0,
                ok: false,
            });
        }
        Some(Ok(Ok(()))) => st.out.ok = true,
        Some(Ok(Err(f))) => {
            st.out.failed_stage = Some(f.stage);
            st.out.error = Some(f.message);
        }
        Some(Err(panic)) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            st.out.failed_stage = Some(st.current);
            st.out.error = Some(format!("internal error (please report it): {msg}"));
            run.events.emit(Event::StageFinished {
                agent: spec.label.clone(),
                stage: st.current,
                secs: 0.0,
                ok: false,
            });
        }
    }
    st.out.metrics = AgentMetrics::from_calls(&st.out.calls);
    // Cancelled or panicked mid-session: the figures of what ran.
    session::close_session(&mut st);
    if let Some(link) = &run.handoff {
        let output = match &st.out.error {
            None => Ok(st.out.model_text.clone()),
            Some(e) => Err(format!("the agent failed: {e}")),
        };
        link.board.publish(&spec.label, link.round, output);
    }
    write_outputs(&run, &mut st, t0).await;
    run.events.emit(Event::AgentFinished {
        agent: spec.label.clone(),
        ok: st.out.ok,
        secs: st.out.wall_secs,
    });
    st.out
}

/// Time one stage and announce it.
fn begin(run: &AgentRun<'_>, st: &mut State, stage: Stage) -> Instant {
    st.current = stage;
    run.events.emit(Event::StageStarted { agent: run.spec.label.clone(), stage });
    Instant::now()
}

fn end(run: &AgentRun<'_>, st: &mut State, stage: Stage, t: Instant, ok: bool) {
    let secs = t.elapsed().as_secs_f64();
    *st.out.stage_secs.entry(stage).or_insert(0.0) += secs;
    run.events.emit(Event::StageFinished { agent: run.spec.label.clone(), stage, secs, ok });
}

async fn workflow(run: &AgentRun<'_>, st: &mut State) -> Result<(), Failure> {
    let spec = run.spec;
    // Backend facts for the manifest; not fatal (the calls report their own errors).
    match run.backend.info(Some(&spec.model)).await {
        Ok(info) => st.out.backend = info,
        Err(e) => {
            st.out.notes.push(format!("model info unavailable: {e}"));
            if let Ok(info) = run.backend.info(None).await {
                st.out.backend = info;
            }
        }
    }

    // Ingest + facts (no LLM).
    let t = begin(run, st, Stage::Ingest);
    let dirs = run.data_dirs.clone();
    let opts = run.collect.clone();
    let inv = tokio::task::spawn_blocking(move || inventory::collect(&dirs, &opts)).await;
    let inv = match inv {
        Ok(Ok(inv)) => inv,
        Ok(Err(e)) => {
            end(run, st, Stage::Ingest, t, false);
            return Err(Failure { stage: Stage::Ingest, message: e.to_string() });
        }
        Err(e) => {
            end(run, st, Stage::Ingest, t, false);
            return Err(Failure { stage: Stage::Ingest, message: format!("ingest task failed: {e}") });
        }
    };
    st.out.files_analyzed = inv.analysed_files();
    st.out.facts_total = inv.facts.facts_total;
    end(run, st, Stage::Ingest, t, true);
    let inv = Arc::new(inv);
    st.inventory = Some(inv.clone());

    // The workflow's steps. Prompts, parsing and grounding run off the async thread (`off_thread`).
    session::run_steps(run, st, &inv).await?;

    // Grounding: every number the model wrote (primers excluded).
    let t = begin(run, st, Stage::Grounding);
    let (s, i) = (spec.clone(), inv.clone());
    let generated = st.generated.join("\n\n");
    let g = off_thread(move || grounding::check(&generated, &known_numbers(&i, &s))).await;
    st.out.grounding = Some(g);
    end(run, st, Stage::Grounding, t, true);
    Ok(())
}

/// Run CPU-heavy work (prompt and report rendering, grounding, file writes with fsync) on a
/// blocking thread, so the async thread stays free to timestamp other agents' streams. A panic
/// inside is re-raised here (and caught by [`run_agent`] as the current stage's failure).
async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => match e.try_into_panic() {
            Ok(p) => std::panic::resume_unwind(p),
            Err(e) => panic!("a blocking task was cancelled: {e}"),
        },
    }
}

/// One streaming LLM call for `stage`; the record (complete or partial) is kept, and its index
/// in `calls` returned.
async fn call(
    run: &AgentRun<'_>,
    st: &mut State,
    stage: Stage,
    plan: &PromptPlan,
    req: GenRequest,
) -> Result<usize, Failure> {
    let spec = run.spec;
    let t = begin(run, st, stage);
    let first_at: OnceLock<f64> = OnceLock::new();
    let agent = spec.label.clone();
    let events = run.events.clone();
    let sink = move |c: TokenChunk<'_>| {
        let first = *first_at.get_or_init(|| c.at_ms);
        let span_s = (c.at_ms - first) / 1000.0;
        let tok_s = if c.index > 0 && span_s > 0.0 { c.index as f64 / span_s } else { 0.0 };
        events.emit(Event::Tokens { agent: agent.clone(), stage, tokens: c.index + 1, tok_s });
    };
    let res = run.backend.generate(&req, &sink).await;
    st.last_call_end = Some(Instant::now());
    let retry = match &res {
        Ok(rec) => rec.retry.as_ref(),
        Err(f) => f.partial.retry.as_ref(),
    };
    if let Some(r) = retry {
        st.out.notes.push(format!(
            "{} call: the request failed on a reused connection ({}) and was retried once on a fresh \
             connection; its TTFT counts from the retry",
            stage.as_str(),
            r.error
        ));
    }
    match res {
        Ok(rec) => {
            truncation_note(&mut st.out.notes, stage, &rec);
            st.out.calls.push(rec);
            st.out.prompts.push(plan.clone());
            st.out.call_stages.push(stage);
            end(run, st, stage, t, true);
            Ok(st.out.calls.len() - 1)
        }
        Err(f) => {
            st.out.calls.push(*f.partial);
            st.out.call_stages.push(stage);
            st.out.prompts.push(plan.clone());
            end(run, st, stage, t, false);
            Err(Failure { stage, message: f.error.to_string() })
        }
    }
}

/// A note when the call's prompt was truncated (with the dropped tokens when the server says),
/// or when whether it was cannot be known (once per reason: it is the same for every call).
fn truncation_note(notes: &mut Vec<String>, stage: Stage, rec: &CallRecord) {
    let prompt = rec.server.prompt_eval_count.unwrap_or(0) + rec.server.prompt_cached_count.unwrap_or(0);
    let note = match (rec.prompt_truncated, rec.prompt_tokens_dropped.filter(|&n| n > 0)) {
        (Some(true), Some(n)) => {
            format!(
                "{} prompt truncated by the server to fit the context: {n} prompt tokens dropped, {prompt} kept",
                stage.as_str()
            )
        }
        (Some(true), None) => {
            format!(
                "{} prompt filled num_ctx ({prompt} prompt tokens): the server truncated it",
                stage.as_str()
            )
        }
        (None, _) => match rec.truncation_unknown() {
            Some(why) => format!("prompt truncation unknown: {why}"),
            None => return,
        },
        (Some(false), _) => return,
    };
    if !notes.contains(&note) {
        notes.push(note);
    }
}

/// Numbers the model may cite: facts (with units), every inventory number, and the run's own
/// configuration and persona text.
pub fn known_numbers(inv: &Inventory, spec: &AgentSpec) -> Vec<KnownNumber> {
    let mut k = Vec::new();
    let dim_of = |unit: &str| match unit {
        "ms" => Some((Dim::TimeMs, 1.0)),
        "s" => Some((Dim::TimeMs, 1000.0)),
        "tok/s" => Some((Dim::Rate, 1.0)),
        "%" => Some((Dim::Percent, 1.0)),
        "bytes" => Some((Dim::Bytes, 1.0)),
        "KB" => Some((Dim::Bytes, 1024.0)),
        "MB" => Some((Dim::Bytes, 1_048_576.0)),
        "GB" => Some((Dim::Bytes, 1_073_741_824.0)),
        _ => None,
    };
    for f in &inv.facts.facts {
        let (dim, scale) = dim_of(&f.unit).unwrap_or((Dim::Plain, 1.0));
        k.push(KnownNumber::new(
            f.value * scale,
            dim,
            format!("{} {} ({} {})", f.metric, f.stat, f.file, f.location),
        ));
    }
    for g in &inv.facts.groups {
        let (dim, scale) = dim_of(&g.unit).unwrap_or((Dim::Plain, 1.0));
        let s = &g.summary;
        let what = format!("{} {} in {}", g.metric, g.stat, g.files.join(", "));
        for (x, name) in
            [(s.mean, "mean"), (s.median, "median"), (s.p95, "p95"), (s.min, "min"), (s.max, "max")]
        {
            k.push(KnownNumber::new(x * scale, dim, format!("{name} of {what}")));
        }
        if let Some(sd) = s.sd {
            k.push(KnownNumber::new(sd * scale, dim, format!("sd of {what}")));
        }
        if let Some(cv) = s.cv {
            k.push(KnownNumber::new(cv * 100.0, Dim::Percent, format!("CV of {what}")));
        }
    }
    for (v, label) in inv.known_numbers() {
        k.push(KnownNumber::new(v, Dim::Plain, format!("inventory: {label}")));
    }
    let o = &spec.options;
    let cfg: [(&str, Option<f64>); 7] = [
        ("num_gpu", o.num_gpu.map(|v| v as f64)),
        ("num_ctx", o.num_ctx.map(f64::from)),
        ("temperature", o.temperature),
        ("top_p", o.top_p),
        ("top_k", o.top_k.map(f64::from)),
        ("repeat_penalty", o.repeat_penalty),
        ("num_predict", o.num_predict.map(|v| v as f64)),
    ];
    for (name, v) in cfg {
        if let Some(v) = v {
            k.push(KnownNumber::new(v, Dim::Plain, format!("configuration {name}")));
        }
    }
    for f in grounding::extract(&spec.persona.text).0 {
        k.push(KnownNumber::new(f.value, Dim::Plain, "persona prompt"));
    }
    k
}

async fn write_outputs(run: &AgentRun<'_>, st: &mut State, t0: Instant) {
    let t = begin(run, st, Stage::Write);
    st.out.wall_secs = t0.elapsed().as_secs_f64();
    let manifest = Manifest::new(st.out.backend.clone(), run.spec.options.clone());
    let (dir, spec, out, inv) = (run.out_dir.clone(), run.spec.clone(), st.out.clone(), st.inventory.clone());
    let res = tokio::task::spawn_blocking(move || {
        write_all(&dir, &spec, out, inv.as_deref(), manifest).map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|e| Err(format!("the writer thread failed: {e}")));
    end(run, st, Stage::Write, t, res.is_ok());
    if let Err(e) = res {
        st.out.ok = false;
        if st.out.failed_stage.is_none() {
            st.out.failed_stage = Some(Stage::Write);
            st.out.error = Some(format!("{e}; check the --out folder"));
        }
    }
}

/// Write the three files; the error names the file that could not be written.
fn write_all(
    dir: &Path,
    spec: &AgentSpec,
    mut outcome: AgentOutcome,
    inventory: Option<&Inventory>,
    manifest: Manifest,
) -> Result<(), export::ExportError> {
    std::fs::create_dir_all(dir).map_err(WriteError::at(dir))?;
    outcome.computed_findings =
        inventory.map(|i| crate::findings::ComputedRecord::of(&crate::findings::compute(i)));
    let report = AgentReport {
        outcome: &outcome,
        agent_type: &spec.agent_type,
        persona_text: &spec.persona.text,
        inventory,
        manifest: &manifest,
    };
    export::write(&Markdown::default(), &report, &outcome.report_path)?;
    export::write(&Json, &manifest, &outcome.manifest_path)?;
    let metrics_path = outcome.metrics_path.clone();
    export::write(&Json, &AgentRecord { outcome, manifest }, &metrics_path)
}
