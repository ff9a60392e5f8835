//! `chimera agent`: run one agent workflow (ingest → facts → analysis → report → grounding)
//! once and write `report.md`, `metrics.json` and `manifest.json`.
//!
//! Exit code: 0 when every stage succeeded, 1 when a stage failed (the report is still written
//! and says which stage), 2 when nothing could run (bad flags, a data folder without artifacts,
//! an `--out` folder that holds results or cannot be written, a server that does not answer or
//! lacks the model), 130 on Ctrl-C (the report is written with what finished).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chimera_core::agent::{AgentRun, AgentSpec, run_agent};
use chimera_core::inventory::{CollectOptions, collect};
use chimera_core::options::GenOptions;
use chimera_core::outdir::{OutDir, Reuse};
use chimera_core::persona::Persona;
use chimera_core::prompt::{ANALYSIS_NUM_PREDICT, REPORT_NUM_PREDICT, effective_num_predict};
use chimera_core::workflow::{self, Workflow};

use crate::args::{BackendArgs, BackendConfig, OptionArgs, Plain};
use crate::exit::Exit;
use crate::select;
use crate::session::Session;

/// Built-in personas.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersonaChoice {
    /// DataCollector-9000: a concise data inventory (the seed report's persona).
    Collector,
    /// InsightAgent: executive summary, three recommendations, risk/mitigation table.
    Insight,
}

/// Persona flags shared by `agent` and `bench`.
#[derive(clap::Args, Clone, Debug)]
pub struct PersonaArgs {
    /// Built-in persona.
    #[arg(long, value_enum, default_value_t = PersonaChoice::Collector)]
    pub persona: PersonaChoice,
    /// Read the persona (system prompt) from FILE instead of a built-in.
    #[arg(long, value_name = "FILE")]
    pub persona_file: Option<PathBuf>,
}

impl PersonaArgs {
    /// The chosen persona (the file wins over `--persona`).
    pub fn persona(&self) -> anyhow::Result<Persona> {
        Ok(match &self.persona_file {
            Some(p) => Persona::from_file(p)?,
            None => match self.persona {
                PersonaChoice::Collector => Persona::collector(),
                PersonaChoice::Insight => Persona::insight(),
            },
        })
    }
}

/// Data folder flags shared by `agent` and `bench`.
#[derive(clap::Args, Clone, Debug)]
pub struct DataArgs {
    /// Folder holding `reports/`, `csv_data/`, `artifacts/` (default: the current folder).
    #[arg(value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Scan exactly this folder (repeatable) instead of the default roots.
    #[arg(long = "root", value_name = "PATH")]
    pub roots: Vec<PathBuf>,
}

/// The artifact folders to analyse, checked.
#[derive(Debug, Clone)]
pub struct DataConfig {
    pub dirs: Vec<PathBuf>,
    pub collect: CollectOptions,
}

impl DataArgs {
    /// Validated folders and collect options: a missing folder, or one without a single artifact
    /// to analyse, fails before any request.
    pub fn config(&self) -> anyhow::Result<DataConfig> {
        let dirs = if self.dirs.is_empty() && self.roots.is_empty() {
            vec![PathBuf::from(".")]
        } else {
            self.dirs.clone()
        };
        for d in dirs.iter().chain(&self.roots) {
            if !d.is_dir() {
                anyhow::bail!(
                    "data folder `{}` does not exist or is not a folder; pass the folder that holds reports/ or csv_data/",
                    d.display()
                );
            }
        }
        let data = DataConfig {
            dirs,
            collect: CollectOptions { roots: self.roots.clone(), ..CollectOptions::default() },
        };
        check_has_artifacts(&data.dirs, &data.collect)?;
        Ok(data)
    }
}

/// Refuse data folders that hold no CSV, JSON or Markdown file: the agent would send the model
/// an empty inventory and two calls' worth of guesses.
pub fn check_has_artifacts(dirs: &[PathBuf], opts: &CollectOptions) -> anyhow::Result<()> {
    let inv = collect(dirs, opts)?;
    if inv.analysed_files() > 0 {
        return Ok(());
    }
    let shown: Vec<String> = dirs.iter().chain(&opts.roots).map(|d| format!("`{}`", d.display())).collect();
    anyhow::bail!(
        "no artifacts to analyse: {} holds no CSV, JSON or Markdown file (looked in reports/, csv_data/ and \
         artifacts/, or the whole folder when it has none of them; --root folders as they are); \
         nothing was sent to the model. Pass the folder that holds your benchmark results",
        shown.join(", ")
    )
}

/// `--workflow NAME|FILE`, shared by `agent`, `bench`, `multi` and `sweep`.
#[derive(clap::Args, Clone, Debug)]
pub struct WorkflowChoice {
    /// The steps each agent runs: a built-in (analyst — the seed's two calls, the default;
    /// analyst-chat; tool-loop; handoff) or a TOML workflow file (docs/WORKFLOWS.md).
    #[arg(long, value_name = "NAME|FILE", default_value = workflow::DEFAULT_WORKFLOW)]
    pub workflow: String,
}

impl WorkflowChoice {
    /// The workflow, read and validated; a single agent cannot take hand-offs.
    pub fn single_agent(&self) -> anyhow::Result<Workflow> {
        let w = workflow::resolve(&self.workflow).context("--workflow")?;
        if let Some(from) = w.handoff_sources().first() {
            anyhow::bail!(
                "--workflow {}: a step takes a hand-off from the agent '{from}'; hand-offs run between the agents of                  `chimera multi` (give the workflow to an agent of an --agents-file with an agent labelled '{from}')",
                self.workflow
            );
        }
        Ok(w)
    }
}

/// Options a workflow's steps would send that the backend cannot (checked like the flags).
pub fn check_steps_sent(
    choice: crate::args::BackendChoice,
    spec: &AgentSpec,
    prefix: &str,
) -> anyhow::Result<()> {
    for step in &spec.workflow.steps {
        let options = spec.options.merged(&step.options);
        select::check_sent(choice, &options, &format!("{prefix}workflow step '{}': ", step.name))?;
    }
    Ok(())
}

/// The flags `agent` and `bench` share: data, persona, output budgets, quiet, backend, options.
#[derive(clap::Args, Debug)]
pub struct WorkflowArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub persona: PersonaArgs,
    #[command(flatten)]
    pub workflow: WorkflowChoice,
    #[command(flatten)]
    pub budget: BudgetArgs,
    /// Replace the --out folder when it holds the results of an earlier run (only a folder of
    /// Chimera results is replaced; without it such a folder is refused).
    #[arg(long)]
    pub force: bool,
    /// Print warnings only.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub options: OptionArgs<Plain>,
}

/// `chimera agent` (one [`AgentSpec`]) or `chimera bench` (a `BenchSpec`), validated: who runs,
/// what it reads, where it writes.
#[derive(Debug, Clone)]
pub struct WorkflowConfig<S> {
    pub spec: S,
    pub data: DataConfig,
    /// Checked: creatable and writable, and empty unless `--force`.
    pub out: OutDir,
    pub quiet: bool,
    pub backend: BackendConfig,
}

impl WorkflowArgs {
    /// Check the shared flags (and read the persona file) before any request; `specs` builds
    /// the command's spec(s) from `agent(label, options)`, which carries persona, model and budgets
    /// (options the backend would not send are refused; a budget that will be cut is warned of).
    pub fn config<S>(
        &self,
        out: &Path,
        specs: impl FnOnce(&dyn Fn(&str, GenOptions) -> anyhow::Result<AgentSpec>) -> anyhow::Result<S>,
    ) -> anyhow::Result<WorkflowConfig<S>> {
        let persona = self.persona.persona()?;
        let workflow = self.workflow.single_agent()?;
        self.budget.validate()?;
        let backend = self.backend.config()?;
        let out = OutDir::new(out).with(if self.force { Reuse::Replace } else { Reuse::Refuse }, false);
        out.check()?;
        let data = self.data.config()?;
        let agent = |label: &str, options: GenOptions| {
            let mut spec = AgentSpec::new(label, persona.clone(), &backend.model, options);
            spec.workflow = workflow.clone();
            self.budget.apply(&mut spec);
            select::check_sent(backend.choice, &spec.options, &format!("{label}: "))?;
            check_steps_sent(backend.choice, &spec, &format!("{label}: "))?;
            for w in self.budget.warnings(&spec) {
                eprintln!("warning: {w}");
            }
            Ok(spec)
        };
        let spec = specs(&agent)?;
        Ok(WorkflowConfig { spec, data, out, quiet: self.quiet, backend })
    }
}

/// Arguments of `chimera agent`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Report title (`# {label}`) and agent name.
    #[arg(long, default_value = "Chimera Agent")]
    pub label: String,
    /// Output folder for report.md, metrics.json and manifest.json.
    #[arg(long, value_name = "DIR", default_value = "chimera-out/agent")]
    pub out: PathBuf,
    #[command(flatten)]
    pub workflow: WorkflowArgs,
}

/// Check an output budget flag.
fn check_budget(name: &str, v: i64) -> anyhow::Result<()> {
    if v < 1 {
        anyhow::bail!("--{name} must be at least 1, got {v}");
    }
    Ok(())
}

/// Output budgets of an agent's two calls (shared by `agent` and `bench`).
#[derive(clap::Args, Debug, Clone)]
pub struct BudgetArgs {
    /// Output tokens of the analysis call when --num-predict is not given (default 256; at most
    /// a quarter of the context, num_ctx, so the data keeps room: a larger value is cut, with a
    /// warning).
    #[arg(long, value_name = "N")]
    pub analysis_num_predict: Option<i64>,
    /// Output tokens of the report call when --num-predict is not given (default 384; at most a
    /// quarter of the context, num_ctx, with a warning when cut).
    #[arg(long, value_name = "N")]
    pub report_num_predict: Option<i64>,
    /// The server's context window in tokens, which the prompts are budgeted for when num_ctx
    /// is not set (default 2048). Not sent: for a server whose context is fixed when it
    /// starts, e.g. `llama-server -c 4096` behind --backend openai.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(64..))]
    pub server_ctx: Option<u32>,
}

impl BudgetArgs {
    /// Both budgets must be at least 1 (checked before any request).
    pub fn validate(&self) -> anyhow::Result<()> {
        check_budget("analysis-num-predict", self.analysis())?;
        check_budget("report-num-predict", self.report())
    }

    fn analysis(&self) -> i64 {
        self.analysis_num_predict.unwrap_or(ANALYSIS_NUM_PREDICT)
    }

    fn report(&self) -> i64 {
        self.report_num_predict.unwrap_or(REPORT_NUM_PREDICT)
    }

    /// Set the budgets on `spec`.
    pub fn apply(&self, spec: &mut AgentSpec) {
        spec.analysis_num_predict = self.analysis();
        spec.report_num_predict = self.report();
        if let Some(n) = self.server_ctx {
            spec.default_ctx_tokens = n;
        }
    }

    /// What happens to a budget the user gave that `spec` will not use as given: ignored for
    /// `--num-predict`, or cut to a quarter of the context.
    pub fn warnings(&self, spec: &AgentSpec) -> Vec<String> {
        let ctx = spec.ctx_tokens();
        let (ctx_from, raise) = match (spec.options.num_ctx, self.server_ctx) {
            (Some(_), _) => ("num_ctx", "--num-ctx"),
            (None, Some(_)) => ("--server-ctx", "--server-ctx"),
            (None, None) => ("the default num_ctx", "--num-ctx"),
        };
        let given = [
            ("analysis-num-predict", self.analysis_num_predict),
            ("report-num-predict", self.report_num_predict),
        ];
        given
            .into_iter()
            .filter_map(|(flag, v)| Some((flag, v?)))
            .filter_map(|(flag, v)| match spec.options.num_predict {
                Some(all) => Some(format!(
                    "--{flag} {v} is not used: --num-predict {all} applies to every call of {}",
                    spec.label
                )),
                None => {
                    let used = effective_num_predict(None, v, ctx);
                    (used < v).then(|| {
                        format!(
                            "--{flag} {v} is cut to {used} tokens for {}: an answer may take at most a quarter of \
                             the {ctx}-token context ({ctx_from}), so the data keeps room; raise {raise} to allow more",
                            spec.label
                        )
                    })
                }
            })
            .collect()
    }
}

/// `chimera agent`, validated.
pub type Config = WorkflowConfig<AgentSpec>;

impl Args {
    /// Check every flag (and read the persona file) before any request; errors name the flag.
    pub fn config(&self) -> anyhow::Result<Config> {
        let options = self.workflow.options.options();
        self.workflow.config(&self.out, |agent| agent(&self.label, options))
    }
}

/// Run `chimera agent`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    execute(args.config()?).await
}

/// Run one agent as `cfg` says, print where its files are, and say how it ended.
pub async fn execute(cfg: Config) -> anyhow::Result<Exit> {
    let selected = select::build(&cfg.backend).await?;
    select::preflight(selected.backend.as_ref(), &cfg.spec.model).await?;
    cfg.out.prepare()?;
    let (spec, backend, out_dir) = (&cfg.spec, selected.backend, cfg.out.path);
    let DataConfig { dirs: data_dirs, collect } = cfg.data;
    let (outcome, interrupted) = Session::run(cfg.quiet, async |s| {
        s.note(selected.note);
        let (events, cancel) = (s.events.clone(), s.cancel.clone());
        let outcome =
            run_agent(AgentRun { spec, backend, data_dirs, collect, out_dir, events, cancel, handoff: None })
                .await;
        (outcome, s.cancel.is_cancelled())
    })
    .await;

    print_summary(&outcome);
    Ok(match (outcome.ok, interrupted) {
        (true, _) => Exit::Ok,
        (false, true) => Exit::Interrupted,
        (false, false) => Exit::Failed,
    })
}

/// One line per output file and the status, on stdout.
pub fn print_summary(o: &chimera_core::agent::AgentOutcome) {
    let score = o
        .grounding
        .as_ref()
        .and_then(|g| g.score.map(|s| format!("{:.2} ({}/{})", s, g.supported, g.checked)))
        .unwrap_or_else(|| "n/a".into());
    if o.ok {
        println!(
            "{}: ok in {:.2} s · {} files · grounding {}",
            o.label, o.wall_secs, o.files_analyzed, score
        );
    } else {
        println!(
            "{}: FAILED at {} after {:.2} s: {}",
            o.label,
            o.failed_stage.map_or_else(|| "?".to_string(), |s| format!("{s:?}").to_lowercase()),
            o.wall_secs,
            o.error.as_deref().unwrap_or("unknown error")
        );
    }
    println!("report:   {}", o.report_path.display());
    println!("metrics:  {}", o.metrics_path.display());
    println!("manifest: {}", o.manifest_path.display());
}
