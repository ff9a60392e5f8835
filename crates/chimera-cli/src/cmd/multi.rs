//! `chimera multi`: N agents at once (a built-in scenario or a TOML agents file), one backend
//! and connection pool per server, solo then concurrent phases per run, true speedup, live
//! progress, Ctrl-C that keeps finished runs, and an exit code that says whether all went well.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use chimera_core::agent::AgentSpec;
use chimera_core::backend::{Backend, BackendKind};
use chimera_core::manifest::HostInfo;
use chimera_core::multi::jobs::{WorkflowAgent, WorkflowJob};
use chimera_core::multi::spec::{AgentDef, Scenario, check_handoffs, load_agents_file, validate_agents};
use chimera_core::multi::{AgentSlot, MultiPlan, MultiSummary, ScenarioName, run_multi};
use chimera_core::outdir::{OutDir, Reuse};
use chimera_core::persona::Persona;
use chimera_core::records::multi::{ManifestAgent, ManifestServer, MultiManifest};
use chimera_core::workflow::{self, Workflow};

use chimera_core::records::traffic::{LoadModel, LoadRecord, Spread};
use chimera_core::traffic::arrivals::{Arrival, Stop};
use chimera_core::traffic::record::run_load;
use chimera_core::traffic::run::LevelPlan;
use chimera_core::traffic::slo::Slo;

use super::agent::{DataArgs, DataConfig, WorkflowChoice};
use super::capacity::LoadArgs;
use crate::args::{
    BackendArgs, BackendChoice, BackendConfig, Chimera2Args, ChimeraArgs, JsonOut, OptionArgs, Plain,
    deprecated,
};
use crate::exit::Exit;
use crate::select;
use crate::session::Session;

/// Arguments of `chimera multi`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    /// Every agent's workflow unless its [[agents]] table names one (`workflow = ...`).
    #[command(flatten)]
    pub workflow: WorkflowChoice,
    /// Built-in scenario: baseline_vs_chimera, chimera_hetero or chimera_homo (`-` or `_`).
    #[arg(long, default_value = "chimera_hetero", value_parser = parse_scenario)]
    pub scenario: Scenario,
    /// TOML file of agents (any number): [[agents]] label, persona, persona_file, backend, url,
    /// model, workflow, [agents.options]. Replaces --scenario.
    #[arg(long, value_name = "FILE")]
    pub agents_file: Option<PathBuf>,
    /// Deprecated spelling of --agents-file (`--agents N` is an agent count elsewhere).
    #[arg(long = "agents", value_name = "FILE", hide = true, conflicts_with = "agents_file")]
    pub agents_file_old: Option<PathBuf>,
    /// Server of the second agent of a built-in scenario (e.g. http://127.0.0.1:11435);
    /// default: the same as --url.
    #[arg(long, value_name = "URL")]
    pub url2: Option<String>,
    /// Measured runs (each: warm-up, solo phase, concurrent phase).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Skip the solo phase (no true speedup; only the concurrent phase is measured).
    #[arg(long)]
    pub no_solo: bool,
    /// Skip the per-server warm-up call before each run.
    #[arg(long)]
    pub no_warmup: bool,
    /// Flag contention when an agent's slowdown (concurrent ÷ solo) exceeds this.
    #[arg(long, default_value_t = 1.25)]
    pub contention_threshold: f64,
    /// Output folder (default: multi_<scenario>_<UTC timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace the --out folder when it holds the results of an earlier run (only a folder of
    /// Chimera results is replaced; without it such a folder is refused).
    #[arg(long)]
    pub force: bool,
    /// Also write summary.json to FILE (`-` = stdout, instead of the headline). A bare --json
    /// (the old spelling) still prints it on stdout, with a warning.
    #[arg(long, value_name = "FILE|-", num_args = 0..=1, default_missing_value = "")]
    pub json: Option<String>,
    /// No progress display (warnings only).
    #[arg(long, short)]
    pub quiet: bool,
    /// Open loop: sessions (each one agent run; the agents take turns, see --spread) arrive
    /// at a rate: constant:2/s, poisson:2/s[:SEED], ramp:1/s..10/s (over the run) or
    /// trace:FILE (offsets in seconds, one per line). Latency counts from the planned arrival.
    #[arg(long, value_name = "SPEC", value_parser = arrival, conflicts_with_all = ["runs", "no_solo", "concurrency"])]
    pub arrival: Option<Arrival>,
    /// Closed loop over sessions: N at once, each worker starting its next session when the
    /// last ends (with --sessions or --duration).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), conflicts_with_all = ["runs", "no_solo"])]
    pub concurrency: Option<u32>,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub common: OptionArgs<Plain>,
    #[command(flatten)]
    pub chimera: ChimeraArgs,
    #[command(flatten)]
    pub chimera2: Chimera2Args,
}

fn arrival(s: &str) -> Result<Arrival, String> {
    s.parse().map_err(|e: chimera_core::traffic::arrivals::ArrivalError| e.to_string())
}

fn parse_scenario(s: &str) -> Result<Scenario, String> {
    s.parse::<Scenario>().map_err(|e| e.to_string())
}

fn choice_of(kind: Option<BackendKind>, default: BackendChoice) -> BackendChoice {
    match kind {
        None => default,
        Some(BackendKind::Ollama) => BackendChoice::Ollama,
        Some(BackendKind::Openai) => BackendChoice::Openai,
        Some(BackendKind::Embedded) => BackendChoice::Embedded,
    }
}

/// One agent as planned: the user's definition, its persona and its workflow, read.
#[derive(Debug, Clone)]
pub struct AgentPlan {
    pub def: AgentDef,
    pub persona: Persona,
    pub workflow: Workflow,
}

/// `chimera multi`, validated: who runs, on what, how often, where results go.
#[derive(Debug, Clone)]
pub struct Config {
    /// The scenario, or the agents file by its stem (folder names, manifest, summary).
    pub scenario: ScenarioName,
    pub agents: Vec<AgentPlan>,
    pub data: DataConfig,
    pub runs: u32,
    pub solo: bool,
    pub warmup: bool,
    pub contention_threshold: f64,
    /// Checked: creatable and writable, and empty unless `--force`.
    pub out: OutDir,
    pub json: Option<JsonOut>,
    pub quiet: bool,
    /// Settings for every agent's backend (an agent may name its own kind and URL).
    pub backend: BackendConfig,
    /// Open- or closed-loop sessions instead of solo → concurrent runs.
    pub load: Option<LoadConfig>,
}

/// A load run of `multi` (`--arrival` or `--concurrency`).
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub model: LoadModel,
    pub stop: Stop,
    pub warmup_sessions: u32,
    pub spread: Spread,
    /// No `--slo`: every session that ends without error passes.
    pub slo: Slo,
    pub quantile: f64,
}

impl Args {
    /// Check every flag, read the agents file and the personas, before any request.
    pub fn config(&self) -> anyhow::Result<Config> {
        if !(self.contention_threshold.is_finite() && self.contention_threshold > 0.0) {
            anyhow::bail!("--contention-threshold must be a positive number (e.g. 1.25)");
        }
        if self.agents_file_old.is_some() {
            deprecated("--agents FILE", "--agents-file FILE");
        }
        let (scenario, defs) = match self.agents_file.as_ref().or(self.agents_file_old.as_ref()) {
            Some(path) => {
                let name =
                    path.file_stem().map_or_else(|| "agents".into(), |s| s.to_string_lossy().into_owned());
                // The plain options apply to every agent underneath its own `[agents.options]`.
                let common = self.common.options();
                let mut defs = load_agents_file(path)?;
                for d in &mut defs {
                    d.options = common.merged(&d.options);
                }
                (ScenarioName::AgentsFile(name), defs)
            }
            None => {
                let (common, chimera, chimera2) =
                    (self.common.options(), self.chimera.options(), self.chimera2.options());
                let urls = [self.backend.url.clone(), self.url2.clone()];
                let defs = self.scenario.agents(&common, &chimera, &chimera2, urls);
                validate_agents(&defs)?;
                (ScenarioName::Builtin(self.scenario), defs)
            }
        };
        let default_workflow = workflow::resolve(&self.workflow.workflow).context("--workflow")?;
        let file_dir = self.agents_file.as_ref().or(self.agents_file_old.as_ref()).and_then(|p| p.parent());
        let agents = defs
            .into_iter()
            .map(|def| {
                let persona = match &def.persona_file {
                    Some(p) => Persona::from_file(p),
                    None => Persona::builtin(&def.persona),
                }
                .with_context(|| format!("agent '{}'", def.label))?;
                let workflow = match &def.workflow {
                    None => default_workflow.clone(),
                    Some(w) => {
                        agent_workflow(w, file_dir).with_context(|| format!("agent '{}'", def.label))?
                    }
                };
                Ok(AgentPlan { def, persona, workflow })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let sources: Vec<(&str, Vec<&str>)> =
            agents.iter().map(|a| (a.def.label.as_str(), a.workflow.handoff_sources())).collect();
        check_handoffs(&sources)?;
        let backend = self.backend.config()?;
        for a in &agents {
            let choice = choice_of(a.def.backend, backend.choice);
            select::check_sent(choice, &a.def.options, &format!("agent '{}': ", a.def.label))?;
            for step in &a.workflow.steps {
                let whose = format!("agent '{}', workflow step '{}': ", a.def.label, step.name);
                select::check_sent(choice, &a.def.options.merged(&step.options), &whose)?;
            }
        }
        let out = self.out.clone().unwrap_or_else(|| default_out(&scenario));
        let out = OutDir::new(out).with(if self.force { Reuse::Replace } else { Reuse::Refuse }, false);
        out.check()?;
        let json = match self.json.as_deref() {
            None => None,
            Some("") => {
                deprecated("--json (without a value)", "--json -");
                Some(JsonOut::Stdout)
            }
            Some(v) => Some(JsonOut::parse("--json", v)?),
        };
        let model = match (&self.arrival, self.concurrency) {
            (Some(a), _) => Some(LoadModel::Open { arrival: a.clone() }),
            (None, Some(n)) => Some(LoadModel::Closed { concurrency: n }),
            (None, None) => None,
        };
        let l = &self.load;
        if model.is_none() && (l.slo.is_some() || l.sessions.is_some() || l.duration.is_some()) {
            anyhow::bail!(
                "--slo, --sessions and --duration describe a load run: add --arrival SPEC (open loop) or --concurrency N (closed loop)"
            );
        }
        if model.is_some() {
            refuse_handoffs(&agents)?;
        }
        let load = match model {
            Some(model) => Some(LoadConfig {
                stop: l.stop(20)?,
                model,
                warmup_sessions: l.warmup_sessions,
                spread: l.spread.into(),
                slo: l.slo.clone().unwrap_or_default(),
                quantile: l.slo_quantile,
            }),
            None => None,
        };
        Ok(Config {
            load,
            out,
            scenario,
            agents,
            data: self.data.config()?,
            runs: self.runs,
            solo: !self.no_solo,
            warmup: !self.no_warmup,
            contention_threshold: self.contention_threshold,
            json,
            quiet: self.quiet,
            backend,
        })
    }
}

/// A load run's sessions are single agent runs started independently (on a schedule or by a
/// free worker), so a workflow step that reads another agent's hand-off has no producer in its
/// session: it would wait on, or read, a run that is not its own. Such agents files are refused.
fn refuse_handoffs(agents: &[AgentPlan]) -> anyhow::Result<()> {
    for a in agents {
        if let Some(from) = a.workflow.handoff_sources().first() {
            anyhow::bail!(
                "agent '{}' (workflow '{}') reads a hand-off from agent '{from}', but a load run (--arrival, \
                 --concurrency) runs each session as one agent alone, with no producer to read from; \
                 measure hand-off workflows with `chimera multi --runs N` (solo and concurrent phases), \
                 or give the load run agents whose workflows take no hand-off",
                a.def.label,
                a.workflow.name
            );
        }
    }
    Ok(())
}

/// An agent's `workflow`: a built-in name, else a file relative to the agents file's folder.
fn agent_workflow(w: &str, file_dir: Option<&Path>) -> anyhow::Result<Workflow> {
    if workflow::builtin(w).is_some() {
        return Ok(workflow::resolve(w)?);
    }
    let path = match file_dir {
        Some(d) if Path::new(w).is_relative() => d.join(w),
        _ => PathBuf::from(w),
    };
    Ok(workflow::resolve(&path.to_string_lossy())?)
}

/// A server: one backend instance (= one connection pool) shared by its agents.
struct Server {
    backend: Arc<dyn Backend>,
    note: String,
}

/// The servers by (backend kind, URL).
type Servers = BTreeMap<(String, String), Server>;

/// Build one backend per distinct (kind, URL), then the job's agents and the plan's slots.
async fn build_agents(cfg: &Config) -> anyhow::Result<(Vec<WorkflowAgent>, Vec<AgentSlot>, Servers)> {
    let mut servers: BTreeMap<(String, String), Server> = BTreeMap::new();
    let mut agents = Vec::new();
    let mut slots = Vec::new();
    for AgentPlan { def: d, persona, workflow } in &cfg.agents {
        let choice = choice_of(d.backend, cfg.backend.choice);
        let url = d.url.clone().or_else(|| cfg.backend.url.clone());
        let key = (format!("{choice:?}"), url.clone().unwrap_or_default());
        if !servers.contains_key(&key) {
            let sel = select::build_for(choice, url.as_deref(), &cfg.backend)
                .await
                .with_context(|| format!("agent '{}': cannot set up its backend", d.label))?;
            servers.insert(key.clone(), Server { backend: sel.backend, note: sel.note });
        }
        let srv = &servers[&key];
        let model = d.model.clone().unwrap_or_else(|| cfg.backend.model.clone());
        let mut spec = AgentSpec::new(d.label.clone(), persona.clone(), model, d.options.clone());
        spec.workflow = workflow.clone();
        let endpoint = srv.backend.endpoint();
        slots.push(AgentSlot {
            label: d.label.clone(),
            warmup_key: format!("{endpoint} {} {:?}", spec.model, spec.options.load_key()),
            server: endpoint,
        });
        agents.push(WorkflowAgent { spec, backend: Arc::clone(&srv.backend) });
    }
    Ok((agents, slots, servers))
}

async fn manifest(
    scenario: &ScenarioName,
    agents: &[WorkflowAgent],
    servers: &BTreeMap<(String, String), Server>,
) -> MultiManifest {
    let servers: Vec<(&Arc<dyn Backend>, &str)> =
        servers.values().map(|s| (&s.backend, s.note.as_str())).collect();
    manifest_of(Some(scenario.clone()), agents, &servers).await
}

/// The manifest of a multi-agent, load or capacity run: the command, the host, each server
/// (how it was chosen and what it says about itself — version, model digest and size — for
/// its agents' model) and each agent's model, persona, options and workflow.
pub(crate) async fn manifest_of(
    scenario: Option<ScenarioName>,
    agents: &[WorkflowAgent],
    servers: &[(&Arc<dyn Backend>, &str)],
) -> MultiManifest {
    let mut srv = Vec::new();
    for (backend, note) in servers {
        let model = agents.iter().find(|a| Arc::ptr_eq(&a.backend, backend)).map(|a| a.spec.model.clone());
        let info = backend.info(model.as_deref()).await;
        srv.push(ManifestServer {
            endpoint: backend.endpoint(),
            note: note.to_string(),
            info_error: info.as_ref().err().map(|e| e.to_string()),
            info: info.ok(),
        });
    }
    MultiManifest {
        tool: "chimera".into(),
        tool_version: chimera_core::TOOL_VERSION.into(),
        created_at: Some(chrono::Utc::now()),
        command: Some(std::env::args().collect()),
        scenario,
        host: Some(HostInfo::detect()),
        servers: Some(srv),
        agents: agents
            .iter()
            .map(|a| ManifestAgent {
                model: Some(a.spec.model.clone()),
                workflow: (a.spec.workflow.name != workflow::DEFAULT_WORKFLOW)
                    .then(|| a.spec.workflow.name.clone()),
                ..ManifestAgent::new(
                    &a.spec.label,
                    &a.spec.persona.key,
                    &a.backend.endpoint(),
                    &a.spec.options,
                )
            })
            .collect(),
        ..Default::default()
    }
}

fn default_out(scenario: &ScenarioName) -> PathBuf {
    PathBuf::from(format!("multi_{scenario}_{}", chrono::Utc::now().format("%Y%m%d-%H%M%S")))
}

/// One human line about the result.
fn headline(s: &MultiSummary) -> String {
    let a = &s.aggregates;
    let sp = a.speedup.as_ref().map_or_else(
        || "true speedup: – (no solo phase or a failure)".to_string(),
        |x| {
            format!(
                "true speedup {}× (efficiency {})",
                chimera_core::stats::fmt_mean_sd(x, 3),
                a.efficiency.as_ref().map_or("–".into(), |e| format!("{:.1} %", e.mean * 100.0))
            )
        },
    );
    let orig = a
        .original_speedup
        .as_ref()
        .map_or_else(|| "–".to_string(), |x| format!("{}×", chimera_core::stats::fmt_mean_sd(x, 3)));
    format!(
        "{}: {} of {} runs, {sp}; original's formula (not a speedup) {orig}{}{}",
        s.scenario,
        s.runs_completed,
        s.runs_planned,
        if s.failed { "; SOME AGENT FAILED" } else { "" },
        if s.interrupted { "; INTERRUPTED" } else { "" }
    )
}

/// Run `chimera multi`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let cfg = args.config()?;
    if let Some(load) = &cfg.load {
        return run_load_mode(&cfg, load).await;
    }
    let summary = Session::run(cfg.quiet, async |s| execute(&cfg, s).await).await?;
    let out_dir = &cfg.out.path;
    let html =
        chimera_core::html::write_report(out_dir, &format!("chimera multi: {}", summary_title(out_dir)));
    if let Some(j) = &cfg.json {
        j.write(&summary)?;
    }
    if !cfg.json.as_ref().is_some_and(JsonOut::is_stdout) {
        println!("{}", headline(&summary));
        println!("summary: {}", out_dir.join("summary.md").display());
        if let Ok(p) = &html {
            println!("html:    {}", p.display());
        }
    }
    match html {
        Ok(_) => {}
        Err(e @ chimera_core::html::HtmlError::PlotsFailed { .. }) => eprintln!("warning: {e}"),
        Err(e) => eprintln!("warning: the HTML report was not written: {e}"),
    }
    Ok(summary.status().into())
}

/// One backend per server, each checked to answer and to have its agents' models; then the
/// output folder is prepared and each server's note shown.
async fn prepare(
    cfg: &Config,
    session: &Session,
) -> anyhow::Result<(Vec<WorkflowAgent>, Vec<AgentSlot>, Servers)> {
    let (agents, slots, servers) = build_agents(cfg).await?;
    let mut checked = std::collections::BTreeSet::new();
    for a in &agents {
        if checked.insert((a.backend.endpoint(), a.spec.model.clone())) {
            select::preflight(a.backend.as_ref(), &a.spec.model)
                .await
                .with_context(|| format!("agent '{}'", a.spec.label))?;
        }
    }
    cfg.out.prepare()?;
    for s in servers.values() {
        session.note(s.note.clone());
    }
    Ok((agents, slots, servers))
}

/// Run the benchmark `cfg` describes inside `session` (shared with `chimera demo`): set up one
/// backend per server (each must answer and have its agents' models), then the core
/// scheduler; every run's files are on disk as it ends.
pub async fn execute(cfg: &Config, session: &Session) -> anyhow::Result<MultiSummary> {
    let (agents, slots, servers) = prepare(cfg, session).await?;
    let plan = MultiPlan {
        scenario: cfg.scenario.clone(),
        agents: slots,
        runs: cfg.runs,
        solo: cfg.solo,
        warmup: cfg.warmup,
        contention_threshold: cfg.contention_threshold,
        out_dir: cfg.out.path.clone(),
        manifest: Some(manifest(&cfg.scenario, &agents, &servers).await),
    };
    let job = Arc::new(WorkflowJob::new(
        agents,
        cfg.data.dirs.clone(),
        cfg.data.collect.clone(),
        session.events.clone(),
    ));
    Ok(run_multi(&plan, job, session.cancel.clone(), &session.events).await?)
}

/// `multi --arrival` / `--concurrency`: sessions instead of solo → concurrent runs.
async fn run_load_mode(cfg: &Config, load: &LoadConfig) -> anyhow::Result<Exit> {
    let rec = Session::run(cfg.quiet, async |s| execute_load(cfg, load, s).await).await?;
    let l = &rec.summary;
    if let Some(j) = &cfg.json {
        j.write(&rec)?;
    }
    if !cfg.json.as_ref().is_some_and(JsonOut::is_stdout) {
        println!(
            "{}: {} of {} sessions passed{} — goodput {} sessions/min, throughput {} sessions/min{}{}",
            rec.load,
            l.passing,
            l.sessions,
            if rec.slo.objectives.is_empty() {
                " (no --slo: passing = no error)".to_string()
            } else {
                format!(" {}", rec.slo)
            },
            l.goodput_per_min.map_or("–".into(), |g| format!("{g:.1}")),
            l.throughput_per_min.map_or("–".into(), |g| format!("{g:.1}")),
            if l.client_behind { "; UNRELIABLE: the client fell behind its schedule" } else { "" },
            if rec.interrupted { "; INTERRUPTED" } else { "" },
        );
        println!("report: {}", cfg.out.path.join("load.md").display());
    }
    Ok(if rec.interrupted {
        Exit::Interrupted
    } else if l.failed > 0 || !l.meets_slo {
        Exit::Failed
    } else {
        Exit::Ok
    })
}

/// Set up the agents' servers as `execute` does, then run the sessions.
async fn execute_load(cfg: &Config, load: &LoadConfig, session: &Session) -> anyhow::Result<LoadRecord> {
    let (agents, slots, servers) = prepare(cfg, session).await?;
    let manifest = manifest(&cfg.scenario, &agents, &servers).await;
    let plan = LevelPlan {
        load: load.model.clone(),
        stop: load.stop,
        warmup_sessions: load.warmup_sessions,
        agents: slots,
        spread: load.spread,
        slo: load.slo.clone(),
        out_dir: cfg.out.path.clone(),
    };
    // Sessions are independent agent runs: no hand-off board (hand-off workflows are refused).
    let job = Arc::new(
        WorkflowJob::new(agents, cfg.data.dirs.clone(), cfg.data.collect.clone(), session.events.clone())
            .without_handoffs(),
    );
    Ok(run_load(&plan, load.quantile, Some(manifest), job, &session.cancel, &session.events).await?)
}

/// The output folder's name, for the HTML page title.
fn summary_title(out_dir: &std::path::Path) -> String {
    out_dir.file_name().map_or_else(|| out_dir.display().to_string(), |n| n.to_string_lossy().into_owned())
}
