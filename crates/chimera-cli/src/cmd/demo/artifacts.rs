//! Turns a finished sweep into a benchmark folder like a user's: `reports/` with a per-run
//! CSV, a summary JSON and a Markdown report under a timestamped run folder, and `csv_data/`
//! with a parameter-tuning CSV and a metrics JSON named by unix time — the layout the agents'
//! collector expects.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chimera_core::fsutil::{write_atomic, write_json_atomic};
use chimera_core::sweep::summary::SweepSummary;

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn csv_bytes(rows: &[Vec<String>]) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.write_record(r)?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// Write the artifact tree under `root`; returns the files written.
pub fn write(root: &Path, s: &SweepSummary) -> anyhow::Result<Vec<PathBuf>> {
    let now = chrono::Utc::now();
    let stamp = now.format("%Y%m%d-%H%M%S").to_string();
    let unix = now.timestamp();
    let run_dir = root.join("reports").join("chimera_sweep").join(&stamp);
    let mut written = Vec::new();

    // reports/chimera_sweep/<stamp>/sweep_runs.csv: one row per measured call
    let mut rows = vec![
        [
            "timestamp",
            "model",
            "config",
            "num_gpu",
            "num_ctx",
            "num_thread",
            "temperature",
            "ttft_s",
            "tokens_s",
            "load_s",
            "prompt_eval_s",
            "eval_s",
            "prompt_eval_count",
            "eval_count",
            "error",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>(),
    ];
    for p in &s.points {
        for r in &p.runs {
            rows.push(vec![
                p.finished_at.format("%Y-%m-%dT%H:%M:%S").to_string(),
                s.config.model.clone(),
                p.label.clone(),
                opt(p.options.num_gpu),
                opt(p.options.num_ctx),
                opt(p.options.num_thread),
                opt(p.options.temperature),
                opt(r.ttft_ms.map(|v| format!("{:.4}", v / 1000.0))),
                opt(r.decode_tok_s.map(|v| format!("{v:.2}"))),
                opt(r.load_ms.map(|v| format!("{:.4}", v / 1000.0))),
                opt(r.prompt_eval_ms.map(|v| format!("{:.4}", v / 1000.0))),
                opt(r.eval_ms.map(|v| format!("{:.4}", v / 1000.0))),
                opt(r.prompt_tokens),
                r.output_tokens.to_string(),
                r.error.clone().unwrap_or_default(),
            ]);
        }
    }
    let p = run_dir.join("sweep_runs.csv");
    write_atomic(&p, &csv_bytes(&rows)?).with_context(|| format!("writing {}", p.display()))?;
    written.push(p);

    // reports/chimera_sweep/<stamp>/sweep_summary.json: per-point statistics
    let points: Vec<serde_json::Value> = s
        .points
        .iter()
        .map(|p| {
            serde_json::json!({
                "config": p.label,
                "options": p.options,
                "baseline": p.baseline,
                "runs": p.runs.len(),
                "tokens_per_second": p.throughput_tok_s,
                "ttft_ms": p.ttft_ms,
                "e2e_latency_ms": p.e2e_ms,
            })
        })
        .collect();
    let p = run_dir.join("sweep_summary.json");
    write_json_atomic(
        &p,
        &serde_json::json!({ "model": s.config.model, "timestamp": now, "points": points }),
    )
    .with_context(|| format!("writing {}", p.display()))?;
    written.push(p);

    // reports/chimera_sweep_summary_<stamp>.md: the sweep's Markdown summary
    let p = root.join("reports").join(format!("chimera_sweep_summary_{stamp}.md"));
    write_atomic(&p, s.to_markdown()?.as_bytes()).with_context(|| format!("writing {}", p.display()))?;
    written.push(p);

    // csv_data/chimera_param_tuning.csv: one row per configuration
    let mut rows = vec![
        [
            "model",
            "config",
            "num_gpu",
            "num_ctx",
            "num_thread",
            "temperature",
            "runs",
            "tokens_s_mean",
            "tokens_s_sd",
            "ttft_ms_mean",
            "ttft_ms_sd",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>(),
    ];
    for p in &s.points {
        rows.push(vec![
            s.config.model.clone(),
            p.label.clone(),
            opt(p.options.num_gpu),
            opt(p.options.num_ctx),
            opt(p.options.num_thread),
            opt(p.options.temperature),
            p.runs.len().to_string(),
            opt(p.throughput_tok_s.as_ref().map(|t| format!("{:.2}", t.mean))),
            opt(p.throughput_tok_s.as_ref().and_then(|t| t.sd).map(|v| format!("{v:.2}"))),
            opt(p.ttft_ms.as_ref().map(|t| format!("{:.1}", t.mean))),
            opt(p.ttft_ms.as_ref().and_then(|t| t.sd).map(|v| format!("{v:.1}"))),
        ]);
    }
    let p = root.join("csv_data").join("chimera_param_tuning.csv");
    write_atomic(&p, &csv_bytes(&rows)?).with_context(|| format!("writing {}", p.display()))?;
    written.push(p);

    // csv_data/chimera_sweep_best_<unix>.json: the answer
    let best = s.ranking.best.as_ref().map(|b| {
        serde_json::json!({
            "config": b.label,
            "options": s.points[b.index].options,
            "composite_score": b.composite,
            "throughput_delta_pct_vs_baseline": b.throughput_vs_baseline.as_ref().map(|m| m.delta_pct.value),
            "ttft_delta_pct_vs_baseline": b.ttft_vs_baseline.as_ref().map(|m| m.delta_pct.value),
            "tokens_per_second": s.points[b.index].throughput_tok_s.as_ref().map(|t| t.mean),
            "ttft_ms": s.points[b.index].ttft_ms.as_ref().map(|t| t.mean),
        })
    });
    let p = root.join("csv_data").join(format!("chimera_sweep_best_{unix}.json"));
    write_json_atomic(&p, &serde_json::json!({ "model": s.config.model, "best": best }))
        .with_context(|| format!("writing {}", p.display()))?;
    written.push(p);
    Ok(written)
}
