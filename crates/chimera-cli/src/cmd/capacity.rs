//! `chimera capacity`: how many agent sessions a server (or several) carries within an SLO —
//! flags → a validated [`Config`] → the core search ([`run_capacity`]) → an [`Exit`]. Also the
//! load flags `multi` shares ([`LoadArgs`]: SLO, quantile, spreading, sessions, warm-ups).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use chimera_core::agent::AgentSpec;
use chimera_core::backend::Backend;
use chimera_core::capacity::run::{CapacityPlan, MIN_REPEATS, Shape, run_capacity};
use chimera_core::capacity::search::SearchPlan;
use chimera_core::multi::AgentSlot;
use chimera_core::multi::jobs::{WorkflowAgent, WorkflowJob};
use chimera_core::outdir::{OutDir, Reuse};
use chimera_core::persona::Persona;
use chimera_core::records::traffic::{Axis, CapacityRecord, Spread};
use chimera_core::traffic::arrivals::Stop;
use chimera_core::traffic::slo::{Slo, parse_quantile};

use super::agent::{DataArgs, DataConfig, PersonaArgs};
use crate::args::{BackendArgs, BackendConfig, OptionArgs, Plain};
use crate::exit::Exit;
use crate::select;
use crate::session::Session;

/// How sessions are spread over servers.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpreadChoice {
    /// Session i goes to server i mod n.
    RoundRobin,
    /// Each session goes to the server with the fewest sessions in flight.
    LeastLoaded,
}

impl From<SpreadChoice> for Spread {
    fn from(s: SpreadChoice) -> Spread {
        match s {
            SpreadChoice::RoundRobin => Spread::RoundRobin,
            SpreadChoice::LeastLoaded => Spread::LeastLoaded,
        }
    }
}

pub(crate) fn slo(s: &str) -> Result<Slo, String> {
    s.parse().map_err(|e: chimera_core::traffic::slo::SloError| e.to_string())
}

pub(crate) fn quantile(s: &str) -> Result<f64, String> {
    parse_quantile(s).map_err(|e| e.to_string())
}

/// Load flags shared by `multi` (open/closed loop) and `capacity`.
#[derive(clap::Args, Debug, Clone)]
pub struct LoadArgs {
    /// Objectives every session must meet, e.g. ttft_ms<=800,itl_p99_ms<=150,session_s<=60
    /// (TTFT of every call, the session's ITL p99, its wall time from its planned start).
    #[arg(long, value_name = "OBJECTIVES", value_parser = slo)]
    pub slo: Option<Slo>,
    /// Share of sessions (percent) that must pass for a load level to meet the SLO.
    #[arg(long, value_name = "PERCENT", default_value = "95", value_parser = quantile)]
    pub slo_quantile: f64,
    /// How sessions are spread over the servers (agents).
    #[arg(long, value_enum, default_value_t = SpreadChoice::RoundRobin)]
    pub spread: SpreadChoice,
    /// Measured sessions per run (per repeat in `capacity`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "duration")]
    pub sessions: Option<u32>,
    /// Or run for this many seconds (sessions planned to start before it).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Sessions run first and left out of every figure.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub warmup_sessions: u32,
}

impl LoadArgs {
    /// The stop rule (`default_sessions` when neither flag is given).
    pub fn stop(&self, default_sessions: u32) -> anyhow::Result<Stop> {
        stop_rule(self.sessions, self.duration, default_sessions)
    }
}

/// The stop rule of `--sessions N` / `--duration SECS` (`default_sessions` when neither is
/// given), shared by `multi`, `capacity` and the sweep's load axis.
pub fn stop_rule(
    sessions: Option<u32>,
    duration: Option<f64>,
    default_sessions: u32,
) -> anyhow::Result<Stop> {
    match (sessions, duration) {
        (_, Some(d)) if !(d.is_finite() && d > 0.0) => {
            anyhow::bail!("--duration must be a positive number of seconds")
        }
        (_, Some(d)) => Ok(Stop::DurationSecs(d)),
        (Some(n), None) => Ok(Stop::Sessions(n)),
        (None, None) => Ok(Stop::Sessions(default_sessions)),
    }
}

/// What the search raises.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AxisChoice {
    /// Arrival rate (open loop), sessions/s.
    Rate,
    /// Concurrent sessions (closed loop).
    Concurrency,
}

/// Arguments of `chimera capacity`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub persona: PersonaArgs,
    /// Raise the arrival rate (open loop) or the concurrency (closed loop).
    #[arg(long, value_enum, default_value_t = AxisChoice::Rate)]
    pub axis: AxisChoice,
    /// First level: sessions/s (rate) or sessions at once (concurrency).
    #[arg(long, value_name = "LEVEL", default_value_t = 1.0)]
    pub start: f64,
    /// Lowest level to try when the start already fails (default: 1 for concurrency, the
    /// start ÷ 64 for rate).
    #[arg(long, value_name = "LEVEL")]
    pub min: Option<f64>,
    /// Highest level to try.
    #[arg(long, value_name = "LEVEL", default_value_t = 256.0)]
    pub max: f64,
    /// Stop bisecting when the passing and failing levels are this close (percent of the
    /// passing level; concurrency bisects to a gap of 1).
    #[arg(long, value_name = "PERCENT", default_value_t = 5.0)]
    pub resolution: f64,
    /// Measurements per level (at least 3).
    #[arg(long, value_name = "N", default_value_t = MIN_REPEATS)]
    pub repeats: u32,
    /// Poisson arrivals from this seed (repeat r uses SEED + r) instead of constant spacing.
    #[arg(long, value_name = "SEED")]
    pub poisson_seed: Option<u64>,
    /// A server to spread sessions over (repeatable: several servers); default: the backend
    /// flags' server (--url / auto / embedded).
    #[arg(long = "server", value_name = "URL")]
    pub servers: Vec<String>,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Output folder (default: capacity_<UTC timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace the --out folder when it holds the results of an earlier run.
    #[arg(long)]
    pub force: bool,
    /// No progress display (warnings only).
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub options: OptionArgs<Plain>,
}

/// `chimera capacity`, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub data: DataConfig,
    pub persona: Persona,
    pub options: chimera_core::options::GenOptions,
    pub axis: Axis,
    pub shape: Shape,
    pub search: SearchPlan,
    pub repeats: u32,
    pub stop: Stop,
    pub warmup_sessions: u32,
    pub spread: Spread,
    pub slo: Slo,
    pub quantile: f64,
    /// Each server's URL (None: the backend flags' choice).
    pub servers: Vec<Option<String>>,
    pub backend: BackendConfig,
    pub out: OutDir,
    pub quiet: bool,
}

impl Args {
    /// Check every flag before any request; errors name the flag.
    pub fn config(&self) -> anyhow::Result<Config> {
        let Some(slo) = self.load.slo.clone() else {
            anyhow::bail!(
                "capacity needs an SLO to search against: pass --slo, e.g. --slo ttft_ms<=800,session_s<=60"
            );
        };
        if self.repeats < MIN_REPEATS {
            anyhow::bail!(
                "--repeats must be at least {MIN_REPEATS}: each level is measured at least three times"
            );
        }
        if !(self.start.is_finite() && self.start > 0.0 && self.max >= self.start) {
            anyhow::bail!("--start must be positive and --max at least --start");
        }
        if self.min.is_some_and(|m| !(m.is_finite() && m > 0.0 && m <= self.start)) {
            anyhow::bail!("--min must be positive and at most --start");
        }
        if !(self.resolution.is_finite() && self.resolution > 0.0) {
            anyhow::bail!("--resolution must be a positive percentage, e.g. 5");
        }
        let axis = match self.axis {
            AxisChoice::Rate => Axis::Rate,
            AxisChoice::Concurrency => Axis::Concurrency,
        };
        if axis == Axis::Concurrency && self.poisson_seed.is_some() {
            anyhow::bail!("--poisson-seed shapes arrivals, which only the rate axis has (--axis rate)");
        }
        let backend = self.backend.config()?;
        let options = self.options.options();
        select::check_sent(backend.choice, &options, "")?;
        // No --server: the backend flags' server (--url, else auto-detection / embedded).
        let servers = if self.servers.is_empty() {
            vec![backend.url.clone()]
        } else {
            self.servers.iter().cloned().map(Some).collect()
        };
        let out = self.out.clone().unwrap_or_else(|| {
            PathBuf::from(format!("capacity_{}", chrono::Utc::now().format("%Y%m%d-%H%M%S")))
        });
        let out = OutDir::new(out).with(if self.force { Reuse::Replace } else { Reuse::Refuse }, false);
        out.check()?;
        Ok(Config {
            data: self.data.config()?,
            persona: self.persona.persona()?,
            options,
            axis,
            shape: self.poisson_seed.map_or(Shape::Constant, |seed| Shape::Poisson { seed }),
            search: SearchPlan {
                start: self.start,
                factor: 2.0,
                max: self.max,
                min: self.min.unwrap_or(if axis == Axis::Concurrency { 1.0 } else { self.start / 64.0 }),
                resolution: self.resolution / 100.0,
                integer: axis == Axis::Concurrency,
            },
            repeats: self.repeats,
            stop: self.load.stop(20)?,
            warmup_sessions: self.load.warmup_sessions,
            spread: self.load.spread.into(),
            slo,
            quantile: self.load.slo_quantile,
            servers,
            backend,
            out,
            quiet: self.quiet,
        })
    }
}

/// One human line about the answer.
pub fn headline(r: &CapacityRecord) -> String {
    use chimera_core::capacity::level::level_name;
    match (r.max_level, r.first_failing) {
        (Some(m), f) => format!(
            "capacity: {} meets the SLO{} — {} sessions/min sustained, {} agents in flight{}{}",
            level_name(r.axis, m),
            f.map_or_else(|| " (no level failed)".into(), |f| format!(", {} fails", level_name(r.axis, f))),
            r.sustainable_per_min.as_ref().map_or("–".into(), |s| chimera_core::stats::fmt_mean_sd(s, 1)),
            r.concurrent_agents.as_ref().map_or("–".into(), |s| chimera_core::stats::fmt_mean_sd(s, 2)),
            if f.is_some() && !r.told_apart { " (the two levels cannot be told apart)" } else { "" },
            if r.interrupted { "; INTERRUPTED" } else { "" },
        ),
        (None, Some(f)) => format!("capacity: no level met the SLO ({} failed)", level_name(r.axis, f)),
        (None, None) => "capacity: no level was measured".into(),
    }
}

/// Run `chimera capacity`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let cfg = args.config()?;
    let rec = Session::run(cfg.quiet, async |s| execute(&cfg, s).await).await?;
    println!("{}", headline(&rec));
    println!("report: {}", cfg.out.path.join("capacity.md").display());
    Ok(if rec.interrupted {
        Exit::Interrupted
    } else if rec.max_level.is_none() {
        Exit::Failed
    } else {
        Exit::Ok
    })
}

/// Set up one backend per server, check each answers with the model, then search.
pub async fn execute(cfg: &Config, session: &Session) -> anyhow::Result<CapacityRecord> {
    let mut agents = Vec::new();
    let mut slots = Vec::new();
    let mut notes = Vec::new();
    for (i, url) in cfg.servers.iter().enumerate() {
        let sel = select::build_for(cfg.backend.choice, url.as_deref(), &cfg.backend)
            .await
            .with_context(|| format!("server {}: cannot set up its backend", i + 1))?;
        select::preflight(sel.backend.as_ref(), &cfg.backend.model).await?;
        session.note(sel.note.clone());
        notes.push(sel.note);
        let label = format!("server {}", i + 1);
        let spec = AgentSpec::new(
            label.clone(),
            cfg.persona.clone(),
            cfg.backend.model.clone(),
            cfg.options.clone(),
        );
        let endpoint = sel.backend.endpoint();
        slots.push(AgentSlot { label, server: endpoint.clone(), warmup_key: endpoint });
        agents.push(WorkflowAgent { spec, backend: sel.backend });
    }
    cfg.out.prepare()?;
    // The same manifest a load run carries (servers, their model digests, options, command).
    let servers: Vec<(&Arc<dyn Backend>, &str)> =
        agents.iter().zip(&notes).map(|(a, n): (&WorkflowAgent, &String)| (&a.backend, n.as_str())).collect();
    let manifest = super::multi::manifest_of(None, &agents, &servers).await;
    let plan = CapacityPlan {
        axis: cfg.axis,
        shape: cfg.shape,
        search: cfg.search,
        repeats: cfg.repeats,
        stop: cfg.stop,
        warmup_sessions: cfg.warmup_sessions,
        agents: slots,
        spread: cfg.spread,
        slo: cfg.slo.clone(),
        quantile: cfg.quantile,
        out_dir: cfg.out.path.clone(),
        manifest: Some(manifest),
    };
    let job = Arc::new(
        WorkflowJob::new(agents, cfg.data.dirs.clone(), cfg.data.collect.clone(), session.events.clone())
            .without_handoffs(),
    );
    let rec = run_capacity(&plan, job, &session.cancel, &session.events).await?;
    if let Err(e) = chimera_core::capacity::plot::write_plots(&rec, &cfg.out.path) {
        session.note(format!("warning: the latency–throughput plot was not written: {e}"));
    }
    Ok(rec)
}
