//! `chimera sweep`: parse the grid flags (or `--grid FILE`), run every point with warm-ups on
//! load-time changes, append results as they finish (`--resume` continues), then write the
//! ranking, Pareto front, best configuration, plots and HTML report. With `--scenario` each
//! run is a multi-agent scenario ([`scenario`]).

mod scenario;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use chimera_core::manifest::Manifest;
use chimera_core::outcome::Status;
use chimera_core::persona::Persona;
use chimera_core::sweep::grid::{Grid, order};
use chimera_core::sweep::output::write_outputs;
use chimera_core::sweep::run::{AgentWorkload, DEFAULT_PROMPT, SweepConfig, Warmup, run_sweep_agents};
use chimera_core::sweep::summary::SweepSummary;
use chimera_core::sweep::{ScenarioWorkload, Store, SweepError, run_sweep_scenario_on};

pub use scenario::ScenarioArgs;

use crate::args::{BackendArgs, GridArgs};
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
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
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
    #[command(flatten)]
    pub multi: ScenarioArgs,
    /// Output folder.
    #[arg(long, default_value = "chimera-sweep")]
    pub out: PathBuf,
    /// Continue the sweep in --out, skipping finished points.
    #[arg(long)]
    pub resume: bool,
    /// Also write the summary JSON to FILE (`-` = stdout).
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<String>,
    /// Print warnings only.
    #[arg(long, short)]
    pub quiet: bool,
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

    fn config(&self) -> anyhow::Result<SweepConfig> {
        if self.runs == 0 {
            anyhow::bail!("--runs must be at least 1");
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
                let persona = match (&self.agent_persona_file, &self.agent_persona) {
                    (Some(f), _) => Persona::from_file(f)?,
                    (None, Some(k)) => Persona::builtin(k).context("--agent-persona")?,
                    (None, None) => Persona::collector(),
                };
                Some(AgentWorkload { persona, data_dirs: vec![dir.clone()], out_dir: self.out.clone() })
            }
        };
        Ok(SweepConfig {
            agent,
            model: self.backend.model.clone(),
            system: self.system.clone(),
            prompt,
            runs: self.runs,
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
}

/// What a finished sweep left behind.
pub struct SweepDone {
    pub summary: SweepSummary,
    pub status: Status,
}

/// Run the sweep described by `args` (shared with `chimera demo`) inside `session`; prints to
/// stderr only.
pub async fn execute(args: &Args, sel: &select::Selected, session: &Session) -> anyhow::Result<SweepDone> {
    let grid = args.grid()?;
    let cfg = args.config()?;
    let work = args.multi.workload(
        args.agent_data.as_deref(),
        args.agent_persona.as_deref(),
        args.agent_persona_file.as_deref(),
        &grid.fixed,
        &args.out,
    )?;
    let points = grid.points(!args.no_baseline)?;
    if points.is_empty() {
        anyhow::bail!(
            "the grid is empty: give at least one option with several values (e.g. --num-ctx 256,512)"
        );
    }
    let run_order = order(&points, cfg.shuffle_seed);
    let mut store = if args.resume { Store::resume(&args.out)? } else { Store::create(&args.out)? };
    if store.skipped_lines > 0 {
        eprintln!(
            "note: dropped {} unfinished line(s) of points.jsonl (a point cut off by the interruption)",
            store.skipped_lines
        );
    }
    check_same_workload(&store, work.as_ref())?;
    let second = match (&work, &args.multi.url2) {
        (Some(_), Some(url)) => {
            let s = select::build_for(args.backend.backend, Some(url), &args.backend.config()?)
                .await
                .with_context(|| format!("--url2 {url}: cannot set up the second server"))?;
            if !args.quiet {
                eprintln!("second server: {}", s.note);
            }
            Some(s)
        }
        _ => None,
    };
    let info = sel.backend.info(Some(&cfg.model)).await.unwrap_or_default();
    let manifest = Manifest::new(info, grid.fixed.clone());
    chimera_core::fsutil::write_json_atomic(&args.out.join("manifest.json"), &manifest)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let (events, cancel) = (&session.events, &session.cancel);
    let backend = Arc::clone(&sel.backend);
    let res = match &work {
        Some(w) => {
            let mut backends = vec![backend];
            backends.extend(second.iter().map(|s| Arc::clone(&s.backend)));
            run_sweep_scenario_on(backends, &cfg, w, &run_order, &mut store, events, cancel.clone()).await
        }
        None => run_sweep_agents(backend, &cfg, &run_order, &mut store, events, cancel).await,
    };
    // Summarise the points of this grid (a resumed folder may hold points of an older grid).
    let keys: std::collections::HashSet<&str> = points.iter().map(|p| p.key.as_str()).collect();
    let done: Vec<_> = store.results().iter().filter(|p| keys.contains(p.key.as_str())).cloned().collect();
    let mut summary = SweepSummary::new(cfg, grid, done);
    if let Some(w) = work {
        summary = summary.with_scenario(w);
    }
    for w in write_outputs(&args.out, &summary, Some(&manifest))?.warnings {
        eprintln!("warning: {w}");
    }
    let status = match res {
        Ok(o) if o.failed_calls > 0 && summary.scenario.is_some() => {
            eprintln!(
                "warning: {} run(s) had a failed agent (kept, left out of the ranking); see summary.md and agents/<point>/run_N/",
                o.failed_calls
            );
            Status::Failed
        }
        Ok(o) if o.failed_calls > 0 => {
            eprintln!("warning: {} measured call(s) failed; see points.csv", o.failed_calls);
            Status::Failed
        }
        Ok(_) => Status::Ok,
        Err(SweepError::Interrupted { done, total }) => {
            eprintln!(
                "interrupted after {done} of {total} points; continue with the same command plus --resume"
            );
            Status::Interrupted
        }
        Err(e) => return Err(e.into()),
    };
    Ok(SweepDone { summary, status })
}

/// `--resume` must continue the same kind of sweep: finished points of another scenario (or
/// agent count), or of a single-call / single-agent sweep, would be skipped as if done.
fn check_same_workload(store: &Store, work: Option<&ScenarioWorkload>) -> anyhow::Result<()> {
    let want = work.map(|w| (w.scenario.name().to_string(), w.n_agents));
    let describe = |x: &Option<(String, usize)>| {
        x.as_ref().map_or("a single-call or single-agent sweep".to_string(), |(s, n)| {
            format!("{s} with {n} agents")
        })
    };
    for p in store.results() {
        let have = p.multi.as_ref().map(|m| (m.scenario.clone(), m.agents.len()));
        if have != want {
            anyhow::bail!(
                "--resume: the output folder holds {} but this command runs {}; pass the same --scenario/--agents or another --out",
                describe(&have),
                describe(&want)
            );
        }
    }
    Ok(())
}

/// Run `chimera sweep`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let sel = select::build(&args.backend.config()?).await?;
    if !args.quiet {
        eprintln!("{}", sel.note);
    }
    let session = Session::start(args.quiet);
    let done = execute(&args, &sel, &session).await;
    session.finish().await;
    let done = done?;
    let s = &done.summary;
    if let Some(j) = &args.json {
        let text = serde_json::to_string_pretty(s)?;
        if j == "-" {
            println!("{text}");
        } else {
            chimera_core::fsutil::write_atomic(std::path::Path::new(j), text.as_bytes())
                .with_context(|| format!("writing --json {j}"))?;
        }
    }
    let out = &args.out;
    if args.json.as_deref() != Some("-") {
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
