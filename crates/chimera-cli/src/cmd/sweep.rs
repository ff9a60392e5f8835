//! `chimera sweep`: parse the grid flags (or `--grid FILE`) into a typed sweep plan, run it
//! (core's `run_plan`: warm-ups on load-time changes, every point appended as it finishes,
//! `--resume` continues), then print the best configuration. With `--scenario` each run is a
//! multi-agent scenario ([`scenario`]).

mod load;
mod scenario;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use chimera_core::inventory::CollectOptions;
use chimera_core::outdir::{OutDir, Reuse};
use chimera_core::persona::Persona;
use chimera_core::sweep::grid::Grid;
use chimera_core::sweep::run::{AgentWorkload, DEFAULT_PROMPT, SweepConfig, Warmup};
use chimera_core::sweep::{SweepFinished, SweepPlan, run_plan};

pub use load::SweepLoadArgs;
pub use scenario::ScenarioArgs;

use super::agent::check_has_artifacts;
use crate::args::{BackendArgs, BackendConfig, GridArgs, JsonOut};
use crate::exit::Exit;
use crate::select;
use crate::session::Session;

/// Default output budget when the grid does not set num_predict (an unset num_predict lets
/// Ollama generate until the context fills, which makes points incomparable and slow).
pub const DEFAULT_NUM_PREDICT: i64 = 128;

/// When to warm up.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WarmupArg {
    /// Before the first point and whenever num_ctx/num_gpu/num_batch/num_thread change.
    OnLoadChange,
    /// Before every point.
    Always,
    /// Never.
    Never,
}

/// Arguments of `chimera sweep`. Every option flag takes a comma-separated list: one value is
/// fixed for every point (the baseline too), several values span the grid.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub axes: GridArgs,
    /// TOML grid file: a [grid] table of lists and an optional [fixed] table.
    #[arg(long, value_name = "FILE")]
    pub grid: Option<PathBuf>,
    /// Measured runs per point.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// When to make an unmeasured warm-up call.
    #[arg(long, value_enum, default_value_t = WarmupArg::OnLoadChange)]
    pub warmup: WarmupArg,
    /// Run the points in a shuffled order (seeded; see --shuffle-seed).
    #[arg(long)]
    pub shuffle: bool,
    /// Seed of the shuffled order (implies --shuffle; default 0).
    #[arg(long)]
    pub shuffle_seed: Option<u64>,
    /// Leave out the baseline (server defaults) point.
    #[arg(long)]
    pub no_baseline: bool,
    /// The prompt of each run.
    #[arg(long)]
    pub prompt: Option<String>,
    /// Read the prompt from a file.
    #[arg(long, value_name = "FILE", conflicts_with = "prompt")]
    pub prompt_file: Option<PathBuf>,
    /// System prompt.
    #[arg(long)]
    pub system: Option<String>,
    /// Measure one agent workflow per run (analysing this artifact folder: ingest, analysis
    /// and report calls, grounding) instead of one generation call with a fixed prompt.
    #[arg(long, value_name = "DIR")]
    pub agent_data: Option<PathBuf>,
    /// Persona of the --agent-data workflow: collector (default) or insight. With --scenario:
    /// one name for every agent or a comma list, one per agent (default: the scenario's).
    #[arg(long, value_name = "NAME", requires = "agent_data", conflicts_with = "agent_persona_file")]
    pub agent_persona: Option<String>,
    /// Persona file of the --agent-data workflow (with --scenario: of every agent).
    #[arg(long, value_name = "FILE", requires = "agent_data")]
    pub agent_persona_file: Option<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "chimera-sweep")]
    pub out: PathBuf,
    /// Continue the sweep in --out, skipping finished points (same grid kind and --runs).
    #[arg(long, conflicts_with = "force")]
    pub resume: bool,
    /// Replace the --out folder when it holds the results of an earlier run (only a folder of
    /// Chimera results is replaced; without it or --resume such a folder is refused).
    #[arg(long)]
    pub force: bool,
    /// Also write the summary JSON to FILE (`-` = stdout).
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<String>,
    /// Print warnings only.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub multi: ScenarioArgs,
    #[command(flatten)]
    pub load: SweepLoadArgs,
    /// The agents' workflow with --agent-data (each run executes it).
    #[command(flatten)]
    pub workflow: super::agent::WorkflowChoice,
}

impl Args {
    /// The grid from `--grid` and the option flags.
    pub fn grid(&self) -> anyhow::Result<Grid> {
        let mut g = match &self.grid {
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).with_context(|| format!("reading --grid {}", p.display()))?;
                Grid::from_toml(&text)?
            }
            None => Grid::default(),
        };
        for a in &self.axes.axes {
            g.add(a.name, a.values.clone()).map_err(|e| anyhow::anyhow!("{}: {e}", a.flag))?;
        }
        let has_predict = g.fixed.num_predict.is_some() || g.axes.iter().any(|a| a.name == "num_predict");
        if !has_predict {
            g.fixed.num_predict = Some(DEFAULT_NUM_PREDICT);
        }
        Ok(g)
    }

    fn sweep_config(&self, model: &str) -> anyhow::Result<SweepConfig> {
        if self.agent_data.is_none() && self.workflow.workflow != chimera_core::workflow::DEFAULT_WORKFLOW {
            anyhow::bail!(
                "--workflow {} needs --agent-data DIR: without it each point is one generation call, not an agent",
                self.workflow.workflow
            );
        }
        let prompt = match (&self.prompt, &self.prompt_file) {
            (Some(p), _) => p.clone(),
            (None, Some(f)) => std::fs::read_to_string(f)
                .with_context(|| format!("reading --prompt-file {}", f.display()))?,
            (None, None) => DEFAULT_PROMPT.to_string(),
        };
        let agent = match &self.agent_data {
            None => None,
            Some(_) if self.multi.scenario.is_some() => None,
            Some(dir) => {
                if !dir.is_dir() {
                    anyhow::bail!("--agent-data {}: no such folder", dir.display());
                }
                check_has_artifacts(std::slice::from_ref(dir), &CollectOptions::default())?;
                let persona = match (&self.agent_persona_file, &self.agent_persona) {
                    (Some(f), _) => Persona::from_file(f)?,
                    (None, Some(k)) => Persona::builtin(k).context("--agent-persona")?,
                    (None, None) => Persona::collector(),
                };
                let workflow = self.workflow.single_agent()?;
                Some(AgentWorkload {
                    persona,
                    workflow,
                    data_dirs: vec![dir.clone()],
                    out_dir: self.out.clone(),
                })
            }
        };
        Ok(SweepConfig {
            agent,
            model: model.to_string(),
            system: self.system.clone(),
            prompt,
            runs: self.runs as usize,
            warmup: match self.warmup {
                WarmupArg::OnLoadChange => Warmup::OnLoadChange,
                WarmupArg::Always => Warmup::Always,
                WarmupArg::Never => Warmup::Never,
            },
            shuffle_seed: if self.shuffle || self.shuffle_seed.is_some() {
                Some(self.shuffle_seed.unwrap_or(0))
            } else {
                None
            },
        })
    }

    /// Check every flag and read every file (grid, prompt, personas) before any request.
    pub fn config(&self) -> anyhow::Result<Config> {
        let backend = self.backend.config()?;
        let grid = self.grid()?;
        let config = self.sweep_config(&backend.model)?;
        let mut scenario = self.multi.workload(
            self.agent_data.as_deref(),
            self.agent_persona.as_deref(),
            self.agent_persona_file.as_deref(),
            &grid.fixed,
            &self.out,
        )?;
        if let Some(s) = &mut scenario {
            s.workflow = self.workflow.single_agent()?;
        }
        let load = self.load.workload(self.agent_data.is_some(), scenario.is_some())?;
        let json = self.json.as_deref().map(|j| JsonOut::parse("--json", j)).transpose()?;
        let reuse = match (self.resume, self.force) {
            (true, _) => Reuse::Resume,
            (false, true) => Reuse::Replace,
            (false, false) => Reuse::Refuse,
        };
        let out = OutDir::new(&self.out).with(reuse, true);
        out.check()?;
        let plan = SweepPlan {
            config,
            grid,
            scenario,
            load,
            baseline: !self.no_baseline,
            out_dir: self.out.clone(),
            resume: self.resume,
        };
        plan.check()?;
        check_grid_sent(&plan, backend.choice)?;
        Ok(Config { plan, out, url2: self.multi.url2.clone(), json, quiet: self.quiet, backend })
    }
}

/// Every point's options (every agent's, in a scenario sweep) must reach the server: a point
/// labelled `num_ctx=512` that the server never received would rank a difference made by nothing.
fn check_grid_sent(plan: &SweepPlan, choice: crate::args::BackendChoice) -> anyhow::Result<()> {
    for p in plan.grid.points(plan.baseline)? {
        match &plan.scenario {
            Some(w) => {
                for a in w.agents(&p.options) {
                    select::check_sent(
                        choice,
                        &a.options,
                        &format!("point {}, agent '{}': ", p.label, a.label),
                    )?;
                }
            }
            None => select::check_sent(choice, &p.options, &format!("point {}: ", p.label))?,
        }
    }
    Ok(())
}

/// `chimera sweep`, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub plan: SweepPlan,
    /// `plan.out_dir`, checked: creatable and writable, and empty unless `--force`/`--resume`.
    pub out: OutDir,
    /// A second server for the scenario's second agents (`--url2`).
    pub url2: Option<String>,
    pub json: Option<JsonOut>,
    pub quiet: bool,
    pub backend: BackendConfig,
}

/// Run the sweep `cfg` describes inside `session` (shared with `chimera demo`): select the
/// server(s) (each must answer and have the model), run the plan, and say on stderr what
/// failed or where to resume.
pub async fn execute(cfg: &Config, session: &Session) -> anyhow::Result<SweepFinished> {
    let sel = select::build(&cfg.backend).await?;
    select::preflight(sel.backend.as_ref(), &cfg.plan.config.model).await?;
    let mut backends = vec![Arc::clone(&sel.backend)];
    let mut notes = vec![sel.note.clone()];
    if let (Some(_), Some(url)) = (&cfg.plan.scenario, &cfg.url2) {
        let s = select::build_for(cfg.backend.choice, Some(url), &cfg.backend)
            .await
            .with_context(|| format!("--url2 {url}: cannot set up the second server"))?;
        select::preflight(s.backend.as_ref(), &cfg.plan.config.model).await.context("--url2")?;
        notes.push(format!("second server: {}", s.note));
        backends.push(s.backend);
    }
    cfg.out.prepare()?;
    for n in notes {
        session.note(n);
    }
    let done = run_plan(&cfg.plan, backends, &session.events, &session.cancel).await?;
    Ok(done)
}

/// The stderr lines about how the sweep ended (failed calls, where to resume).
fn say_how_it_ended(done: &SweepFinished) {
    if let Some((finished, total)) = done.interrupted {
        eprintln!(
            "interrupted after {finished} of {total} points; continue with the same command plus --resume"
        );
    } else if done.failed > 0 && done.summary.scenario.is_some() {
        eprintln!(
            "warning: {} run(s) had a failed agent (kept, left out of the ranking); see summary.md and agents/<point>/run_N/",
            done.failed
        );
    } else if done.failed > 0 {
        eprintln!("warning: {} measured call(s) failed; see points.csv", done.failed);
    }
}

/// Run `chimera sweep`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let cfg = args.config()?;
    let done = Session::run(cfg.quiet, async |s| execute(&cfg, s).await).await?;
    say_how_it_ended(&done);
    let s = &done.summary;
    if let Some(j) = &cfg.json {
        j.write(s)?;
    }
    let out = &cfg.plan.out_dir;
    if !cfg.json.as_ref().is_some_and(JsonOut::is_stdout) {
        match &s.ranking.best {
            Some(b) => {
                let margin = b
                    .throughput_vs_baseline
                    .as_ref()
                    .map(|m| {
                        let noise = match m.exceeds_noise {
                            Some(true) => "exceeds the noise",
                            Some(false) => "within the noise",
                            None => "noise unknown, n < 2",
                        };
                        let what = if s.scenario.is_some() { "aggregate throughput" } else { "throughput" };
                        format!(" ({:+.1}% {what} vs baseline, {noise})", m.delta_pct.value)
                    })
                    .unwrap_or_default();
                println!("best configuration: {}{margin}", b.label);
                if let Some(l) = &s.points[b.index].load {
                    let p = &l.pooled;
                    println!(
                        "  under {}: goodput {} sessions/min ({} of {} sessions passed{}), throughput {} sessions/min",
                        l.load.coordinate(),
                        p.goodput_per_min.map_or("–".into(), |g| format!("{g:.1}")),
                        p.passing,
                        p.sessions,
                        if l.slo.objectives.is_empty() { String::new() } else { format!(" {}", l.slo) },
                        p.throughput_per_min.map_or("–".into(), |g| format!("{g:.1}")),
                    );
                }
                if let Some(m) = &s.points[b.index].multi {
                    let eff =
                        m.efficiency.as_ref().map_or("– (no solo phase or a failed agent)".into(), |e| {
                            chimera_core::stats::fmt_mean_sd(e, 3)
                        });
                    println!("  {} with {} agents: efficiency {eff}", m.scenario, m.agents.len());
                }
            }
            None => println!("no point produced measurements"),
        }
        println!("summary: {}", out.join("summary.md").display());
        println!("report:  {}", out.join("report.html").display());
        println!("points:  {}", out.join("points.csv").display());
    }
    Ok(done.status.into())
}
