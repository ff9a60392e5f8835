//! `chimera multi`: N agents at once (a built-in scenario or a TOML agents file), one backend
//! and connection pool per server, solo then concurrent phases per run, true speedup, live
//! progress, Ctrl-C that keeps finished runs, and an exit code that says whether all went well.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use chimera_core::agent::AgentSpec;
use chimera_core::backend::{Backend, BackendKind};
use chimera_core::inventory::CollectOptions;
use chimera_core::manifest::HostInfo;
use chimera_core::multi::jobs::{WorkflowAgent, WorkflowJob};
use chimera_core::multi::spec::{AgentDef, Scenario, load_agents_file, validate_agents};
use chimera_core::multi::{AgentSlot, MultiPlan, MultiSummary, run_multi};
use chimera_core::persona::Persona;

use crate::args::{BackendArgs, BackendChoice, BackendConfig, Chimera2Args, ChimeraArgs, OptionArgs, Plain};
use crate::exit::Exit;
use crate::select;
use crate::session::Session;

/// Arguments of `chimera multi`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Folders holding the benchmark artifacts the agents analyse (default: the current folder).
    pub dirs: Vec<PathBuf>,
    /// Built-in scenario: baseline_vs_chimera, chimera_hetero or chimera_homo (`-` or `_`).
    #[arg(long, default_value = "chimera_hetero", value_parser = parse_scenario)]
    pub scenario: Scenario,
    /// TOML file of agents (any number): [[agents]] label, persona, persona_file, backend, url,
    /// model, [agents.options]. Replaces --scenario.
    #[arg(long, value_name = "FILE")]
    pub agents: Option<PathBuf>,
    /// Server of the second agent of a built-in scenario (e.g. http://127.0.0.1:11435);
    /// default: the same as --url.
    #[arg(long, value_name = "URL")]
    pub url2: Option<String>,
    /// Measured runs (each: warm-up, solo phase, concurrent phase).
    #[arg(long, default_value_t = 1)]
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
    /// Artifact root folder to read (repeatable; default: reports/, csv_data/, artifacts/ under each DIR).
    #[arg(long = "root")]
    pub roots: Vec<PathBuf>,
    /// Output folder (default: multi_<scenario>_<UTC timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print summary.json on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress display (warnings only).
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Options for every agent (under the --chimera-* / --chimera2-* ones), e.g. --num-predict.
    #[command(flatten)]
    pub common: OptionArgs<Plain>,
    #[command(flatten)]
    pub chimera: ChimeraArgs,
    #[command(flatten)]
    pub chimera2: Chimera2Args,
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

/// The agents as the user described them: the agents file, else the scenario.
fn agent_defs(args: &Args) -> anyhow::Result<(String, Vec<AgentDef>)> {
    if let Some(path) = &args.agents {
        let defs = load_agents_file(path)?;
        let name =
            path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "agents".into());
        return Ok((name, defs));
    }
    let common = args.common.options();
    let chimera = args.chimera.options();
    let chimera2 = args.chimera2.options();
    let defs =
        args.scenario.agents(&common, &chimera, &chimera2, [args.backend.url.clone(), args.url2.clone()]);
    validate_agents(&defs)?;
    Ok((args.scenario.name().to_string(), defs))
}

/// A server: one backend instance (= one connection pool) shared by its agents.
struct Server {
    backend: Arc<dyn Backend>,
    note: String,
}

/// Build one backend per distinct (kind, URL), then the job's agents and the plan's slots.
async fn build_agents(
    args: &Args,
    backend: &BackendConfig,
    defs: &[AgentDef],
) -> anyhow::Result<(Vec<WorkflowAgent>, Vec<AgentSlot>, BTreeMap<(String, String), Server>)> {
    let mut servers: BTreeMap<(String, String), Server> = BTreeMap::new();
    let mut agents = Vec::new();
    let mut slots = Vec::new();
    for d in defs {
        let choice = choice_of(d.backend, args.backend.backend);
        let url = d.url.clone().or_else(|| args.backend.url.clone());
        let key = (format!("{choice:?}"), url.clone().unwrap_or_default());
        if !servers.contains_key(&key) {
            let sel = select::build_for(choice, url.as_deref(), backend)
                .await
                .with_context(|| format!("agent '{}': cannot set up its backend", d.label))?;
            servers.insert(key.clone(), Server { backend: sel.backend, note: sel.note });
        }
        let srv = &servers[&key];
        let persona = match &d.persona_file {
            Some(p) => Persona::from_file(p),
            None => Persona::builtin(&d.persona),
        }
        .with_context(|| format!("agent '{}'", d.label))?;
        let model = d.model.clone().unwrap_or_else(|| args.backend.model.clone());
        let spec = AgentSpec::new(d.label.clone(), persona, model, d.options.clone());
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
    scenario: &str,
    agents: &[WorkflowAgent],
    servers: &BTreeMap<(String, String), Server>,
) -> serde_json::Value {
    let mut srv = Vec::new();
    for s in servers.values() {
        let model = agents.iter().find(|a| Arc::ptr_eq(&a.backend, &s.backend)).map(|a| a.spec.model.clone());
        let info = s.backend.info(model.as_deref()).await;
        srv.push(serde_json::json!({
            "endpoint": s.backend.endpoint(),
            "note": s.note,
            "info": info.as_ref().ok(),
            "info_error": info.as_ref().err().map(|e| e.to_string()),
        }));
    }
    serde_json::json!({
        "tool": "chimera",
        "tool_version": chimera_core::TOOL_VERSION,
        "created_at": chrono::Utc::now(),
        "command": std::env::args().collect::<Vec<_>>(),
        "scenario": scenario,
        "host": HostInfo::detect(),
        "servers": srv,
        "agents": agents.iter().map(|a| serde_json::json!({
            "label": a.spec.label,
            "persona": a.spec.persona.key,
            "model": a.spec.model,
            "server": a.backend.endpoint(),
            "options": a.spec.options,
            "configuration": a.spec.options.describe(),
        })).collect::<Vec<_>>(),
    })
}

fn default_out(scenario: &str) -> PathBuf {
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
    if args.runs == 0 {
        anyhow::bail!("--runs must be at least 1");
    }
    if !(args.contention_threshold.is_finite() && args.contention_threshold > 0.0) {
        anyhow::bail!("--contention-threshold must be a positive number (e.g. 1.25)");
    }
    let (scenario, defs) = agent_defs(&args)?;
    let dirs = if args.dirs.is_empty() { vec![PathBuf::from(".")] } else { args.dirs.clone() };
    for d in &dirs {
        if !d.is_dir() {
            anyhow::bail!("artifact folder {} does not exist; pass the folder to analyse", d.display());
        }
    }
    let out_dir = args.out.clone().unwrap_or_else(|| default_out(&scenario));

    let backend = args.backend.config()?;
    let session = Session::start(args.quiet);
    let built = build_agents(&args, &backend, &defs).await;
    let (agents, slots, servers) = match built {
        Ok(b) => b,
        Err(e) => {
            session.finish().await;
            return Err(e);
        }
    };
    for s in servers.values() {
        session.note(s.note.clone());
    }
    let plan = MultiPlan {
        scenario: scenario.clone(),
        agents: slots,
        runs: args.runs,
        solo: !args.no_solo,
        warmup: !args.no_warmup,
        contention_threshold: args.contention_threshold,
        out_dir: out_dir.clone(),
        manifest: manifest(&scenario, &agents, &servers).await,
    };
    let collect = CollectOptions { roots: args.roots.clone(), ..Default::default() };
    let job = Arc::new(WorkflowJob { agents, data_dirs: dirs, collect, events: session.events.clone() });
    let result = run_multi(&plan, job, session.cancel.clone(), &session.events).await;
    session.finish().await;
    let summary = result?;
    let html =
        chimera_core::html::write_report(&out_dir, &format!("chimera multi: {}", summary_title(&out_dir)));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{}", headline(&summary));
        println!("summary: {}", out_dir.join("summary.md").display());
    }
    match html {
        Ok(p) if !args.json => println!("html:    {}", p.display()),
        Ok(_) => {}
        Err(e @ chimera_core::html::HtmlError::PlotsFailed { .. }) => eprintln!("warning: {e}"),
        Err(e) => eprintln!("warning: the HTML report was not written: {e}"),
    }
    Ok(summary.status().into())
}

/// The output folder's name, for the HTML page title.
fn summary_title(out_dir: &std::path::Path) -> String {
    out_dir.file_name().map_or_else(|| out_dir.display().to_string(), |n| n.to_string_lossy().into_owned())
}
