//! `chimera bench`: baseline (server defaults) vs chimera (option overrides) over N interleaved
//! runs of the full agent workflow, warm-ups excluded; writes `comparison_report.md`,
//! `metrics.json`, `manifest.json` and every run's agent reports.
//!
//! The option flags (`--num-gpu`, `--num-ctx`, `--temperature`, …) are the chimera overrides;
//! `--seed`, `--num-predict` and `--stop` apply to both sides (fixed work). Without any override
//! the seed report's configuration is used: `--num-gpu 80 --num-ctx 512 --temperature 1` (with
//! `--backend openai`, which cannot send num_gpu and num_ctx, only `--temperature 1`, and a note
//! says so).
//! Exit code: 0 all runs ok, 1 some run failed (results kept), 2 nothing could run, 130 Ctrl-C
//! (the runs that finished are kept and reported).

use std::path::PathBuf;

use chimera_core::bench::{BenchMetric, BenchRun, BenchSpec, Side, run_bench};
use chimera_core::options::{Api, GenOptions};

use super::agent::{DataConfig, WorkflowArgs, WorkflowConfig};
use crate::args::BackendChoice;
use crate::exit::Exit;
use crate::select;
use crate::session::Session;

/// Arguments of `chimera bench`. The option flags are the chimera overrides (seed,
/// num-predict and stop apply to both sides).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Measured runs per configuration (warm-ups not counted).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "chimera-out/bench")]
    pub out: PathBuf,
    #[command(flatten)]
    pub workflow: WorkflowArgs,
}

/// The seed report's chimera configuration, used when no override is given.
pub fn seed_chimera_options() -> GenOptions {
    GenOptions { num_gpu: Some(80), num_ctx: Some(512), temperature: Some(1.0), ..Default::default() }
}

/// Split the option flags into (baseline, chimera). Without overrides the chimera side takes
/// the seed report's configuration, less what `choice` cannot send (then the note says what
/// was left out).
pub fn split_options(all: &GenOptions, choice: BackendChoice) -> (GenOptions, GenOptions, Option<String>) {
    let shared = GenOptions {
        seed: all.seed,
        num_predict: all.num_predict,
        stop: all.stop.clone(),
        ..Default::default()
    };
    let overrides = GenOptions { seed: None, num_predict: None, stop: Vec::new(), ..all.clone() };
    let mut note = None;
    let overrides = if overrides.is_default() {
        let seed = seed_chimera_options();
        if choice == BackendChoice::Openai {
            note = Some(format!(
                "--backend openai cannot send {} of the default chimera configuration; the chimera side sets {}",
                seed.not_sent(Api::Openai).join(", "),
                seed.sent_only(Api::Openai).set_list().join(", ")
            ));
            seed.sent_only(Api::Openai)
        } else {
            seed
        }
    } else {
        overrides
    };
    (shared.clone(), shared.merged(&overrides), note)
}

/// `chimera bench`, validated.
pub type Config = WorkflowConfig<BenchSpec>;

impl Args {
    /// Check every flag (and read the persona file) before any request; errors name the flag.
    pub fn config(&self) -> anyhow::Result<Config> {
        let (baseline, chimera, note) =
            split_options(&self.workflow.options.options(), self.workflow.backend.backend);
        if let Some(n) = note {
            eprintln!("note: {n}");
        }
        self.workflow.config(&self.out, |agent| {
            Ok(BenchSpec {
                runs: self.runs as usize,
                baseline: agent("Baseline Agent", baseline)?,
                chimera: agent("Chimera Agent", chimera)?,
            })
        })
    }
}

/// Run `chimera bench`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    execute(args.config()?).await
}

/// Run the bench as `cfg` says, print the headline figures and where the files are.
pub async fn execute(cfg: Config) -> anyhow::Result<Exit> {
    let selected = select::build(&cfg.backend).await?;
    select::preflight(selected.backend.as_ref(), &cfg.spec.chimera.model).await?;
    cfg.out.prepare()?;
    let (spec, backend, out_dir) = (&cfg.spec, selected.backend, cfg.out.path.clone());
    let DataConfig { dirs: data_dirs, collect } = cfg.data;
    let out = Session::run(cfg.quiet, async |s| {
        s.note(selected.note);
        let (events, cancel) = (s.events.clone(), s.cancel.clone());
        run_bench(BenchRun { spec, backend, data_dirs, collect, out_dir, events, cancel }).await
    })
    .await;

    for c in
        out.comparisons.iter().filter(|c| matches!(c.metric, BenchMetric::Throughput | BenchMetric::Ttft))
    {
        let d = c.delta_pct.map_or_else(|| "n/a".to_string(), |d| format!("{:+.1}% ± {:.1}%", d.value, d.sd));
        println!(
            "{} ({}): baseline {} · chimera {} · Δ {}",
            c.metric,
            c.unit,
            c.baseline.as_ref().map_or_else(|| "n/a".into(), |s| format!("{:.2}", s.mean)),
            c.chimera.as_ref().map_or_else(|| "n/a".into(), |s| format!("{:.2}", s.mean)),
            d
        );
    }
    println!("runs: {} per side, {} failed", out.runs, out.failed_runs);
    if let Some(e) = &out.write_error {
        eprintln!(
            "error: {e}; the bench stopped after {} of {} agent runs",
            out.entries.len(),
            out.order.len()
        );
    }
    if out.interrupted {
        println!(
            "INTERRUPTED after {} of {} agent runs (the report covers those)",
            out.entries.len(),
            out.order.len()
        );
    }
    println!("report:  {}", out.report_path.display());
    println!("metrics: {}", out.metrics_path.display());
    let out_dir = &cfg.out.path;
    for side in [Side::Baseline, Side::Chimera] {
        println!("{} report: {}", side.name(), out_dir.join(format!("{}_report.md", side.name())).display());
    }
    match chimera_core::html::write_report(out_dir, "chimera bench: baseline vs chimera") {
        Ok(p) => println!("html:    {}", p.display()),
        Err(e @ chimera_core::html::HtmlError::PlotsFailed { .. }) => eprintln!("warning: {e}"),
        Err(e) => eprintln!("warning: the HTML report was not written: {e}"),
    }
    Ok(if out.interrupted {
        Exit::Interrupted
    } else if out.ok() {
        Exit::Ok
    } else {
        Exit::Failed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_and_num_predict_are_shared_and_overrides_default_to_the_seed_config() {
        let all = GenOptions { seed: Some(7), num_predict: Some(16), ..Default::default() };
        let (b, c, note) = split_options(&all, BackendChoice::Auto);
        assert_eq!(note, None);
        assert_eq!(b, GenOptions { seed: Some(7), num_predict: Some(16), ..Default::default() });
        assert_eq!(
            c.describe(),
            "num_gpu=80, num_ctx=512, temp=1, top_p=default, top_k=default, repeat_penalty=default, seed=7, num_predict=16"
        );
        let all = GenOptions { num_ctx: Some(1024), ..Default::default() };
        let (b, c, _) = split_options(&all, BackendChoice::Auto);
        assert!(b.is_default());
        assert_eq!(c, GenOptions { num_ctx: Some(1024), ..Default::default() });
    }

    #[test]
    fn openai_defaults_keep_only_what_it_sends_and_say_so() {
        let (b, c, note) = split_options(&GenOptions::default(), BackendChoice::Openai);
        assert!(b.is_default());
        assert_eq!(c, GenOptions { temperature: Some(1.0), ..Default::default() });
        let note = note.unwrap();
        assert!(
            note.contains("cannot send num_gpu=80, num_ctx=512") && note.ends_with("sets temperature=1"),
            "{note}"
        );
        // The user's own overrides are not filtered here: they are refused later, naming them.
        let all = GenOptions { num_ctx: Some(1024), ..Default::default() };
        assert_eq!(split_options(&all, BackendChoice::Openai).1.num_ctx, Some(1024));
    }
}
