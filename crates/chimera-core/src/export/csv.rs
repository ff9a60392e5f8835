//! The CSV exporter: `points.csv` of a sweep, one row per finished point (its summaries, its
//! options one column each, its multi-agent figures, its load figures), written whole ([`Csv`])
//! or appended one line at a time as each point finishes ([`Csv::line`]).

use super::{ExportError, Exporter};
use crate::options::{OPTIONS, OptionSpec};
use crate::records::sweep::{PointResult, RunSample};

/// Columns of `points.csv` before the options.
const CSV_LEAD: &[&str] = &[
    "order",
    "label",
    "baseline",
    "n_ok",
    "n_failed",
    "throughput_mean_tok_s",
    "throughput_sd_tok_s",
    "ttft_mean_ms",
    "ttft_sd_ms",
    "ttft_p95_ms",
    "e2e_mean_ms",
    "output_tokens_mean",
    "warmup_ms",
];

/// Columns of `points.csv` after the options.
const CSV_TAIL: &[&str] = &[
    "finished_at",
    "scenario",
    "speedup_mean",
    "efficiency_mean",
    "efficiency_sd",
    "sum_decode_mean_tok_s",
    "failed_runs",
    // Sweeps with a load axis (empty otherwise): the level and every run's sessions pooled.
    "load",
    "sessions",
    "sessions_per_min",
    "goodput_per_min",
    "pass_rate",
    "meets_slo",
    "schedule_error_p99_ms",
    "client_behind",
];

/// The options with a `points.csv` column: every one-value option, in the option table's order.
fn csv_options() -> impl Iterator<Item = &'static OptionSpec> {
    OPTIONS.iter().filter(|s| s.kind.is_scalar())
}

/// CSV header of `points.csv`.
pub fn csv_header() -> Vec<&'static str> {
    CSV_LEAD.iter().copied().chain(csv_options().map(|s| s.name)).chain(CSV_TAIL.iter().copied()).collect()
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// One CSV row for `p` (columns as [`csv_header`]).
pub fn row(p: &PointResult) -> Vec<String> {
    let m = p.multi.as_ref();
    let ok: Vec<&RunSample> = p.runs.iter().filter(|r| r.ok).collect();
    let tokens = if ok.is_empty() {
        None
    } else {
        Some(ok.iter().map(|r| r.output_tokens as f64).sum::<f64>() / ok.len() as f64)
    };
    let mut row = vec![
        p.order.to_string(),
        p.label.clone(),
        p.baseline.to_string(),
        ok.len().to_string(),
        p.failed().to_string(),
        opt(p.throughput_tok_s.as_ref().map(|s| format!("{:.3}", s.mean))),
        opt(p.throughput_tok_s.as_ref().and_then(|s| s.sd).map(|v| format!("{v:.3}"))),
        opt(p.ttft_ms.as_ref().map(|s| format!("{:.3}", s.mean))),
        opt(p.ttft_ms.as_ref().and_then(|s| s.sd).map(|v| format!("{v:.3}"))),
        opt(p.ttft_ms.as_ref().map(|s| format!("{:.3}", s.p95))),
        opt(p.e2e_ms.as_ref().map(|s| format!("{:.3}", s.mean))),
        opt(tokens.map(|v| format!("{v:.1}"))),
        opt(p.warmup_ms.map(|v| format!("{v:.3}"))),
    ];
    row.extend(csv_options().map(|s| s.show(&p.options).unwrap_or_default()));
    row.extend([
        p.finished_at.to_rfc3339(),
        opt(m.map(|m| m.scenario)),
        opt(m.and_then(|m| m.speedup.as_ref()).map(|s| format!("{:.4}", s.mean))),
        opt(m.and_then(|m| m.efficiency.as_ref()).map(|s| format!("{:.4}", s.mean))),
        opt(m.and_then(|m| m.efficiency.as_ref()).and_then(|s| s.sd).map(|v| format!("{v:.4}"))),
        opt(m.and_then(|m| m.sum_decode_tok_s.as_ref()).map(|s| format!("{:.3}", s.mean))),
        opt(m.map(|m| m.failed_runs)),
    ]);
    let l = p.load.as_ref();
    let pooled = l.map(|l| &l.pooled);
    row.extend([
        opt(l.map(|l| l.load.to_string())),
        opt(pooled.map(|s| s.sessions)),
        opt(pooled.and_then(|s| s.throughput_per_min).map(|v| format!("{v:.3}"))),
        opt(pooled.and_then(|s| s.goodput_per_min).map(|v| format!("{v:.3}"))),
        opt(pooled.and_then(|s| s.pass_rate).map(|v| format!("{v:.4}"))),
        opt(pooled.map(|s| s.meets_slo)),
        opt(pooled.and_then(|s| s.schedule_error_ms.as_ref()).map(|s| format!("{:.3}", s.p99))),
        opt(pooled.map(|s| s.client_behind)),
    ]);
    row
}

fn error(e: impl std::fmt::Display) -> ExportError {
    ExportError::Serialize { what: "points as CSV", detail: e.to_string() }
}

fn line<S: AsRef<[u8]>>(fields: impl IntoIterator<Item = S>) -> Result<Vec<u8>, ExportError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(fields).map_err(error)?;
    w.into_inner().map_err(error)
}

/// `points.csv`: the header, then one row per point.
#[derive(Debug, Clone, Copy, Default)]
pub struct Csv;

impl Csv {
    /// One point's row, with its line end (to append to a file that has the header).
    pub fn line(p: &PointResult) -> Result<Vec<u8>, ExportError> {
        line(row(p))
    }
}

impl Exporter<[PointResult]> for Csv {
    fn serialize(&self, points: &[PointResult]) -> Result<Vec<u8>, ExportError> {
        let mut out = line(csv_header())?;
        for p in points {
            out.extend(Csv::line(p)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::grid::{Grid, parse_values};

    #[test]
    fn csv_has_one_column_per_one_value_option_in_table_order() {
        let h = csv_header();
        let at = h.iter().position(|c| *c == "warmup_ms").unwrap() + 1;
        let opts: Vec<&str> = OPTIONS.iter().filter(|s| s.kind.is_scalar()).map(|s| s.name).collect();
        assert_eq!(h[at..at + opts.len()], opts[..]);
        assert_eq!(h[at + opts.len()], "finished_at");
        assert_eq!(h[at..at + 4], ["num_gpu", "num_ctx", "num_batch", "num_thread"]);
        assert!(!h.contains(&"stop"), "lists have no column");
        let g = Grid::from_lists(&[("temperature".into(), parse_values("1,0.5"))]).unwrap();
        let row = row(&PointResult::new(&g.points(false).unwrap()[0], 0, None, vec![]));
        let col = |name: &str| row[h.iter().position(|c| *c == name).unwrap()].clone();
        assert_eq!((col("temperature"), col("num_ctx")), ("1".to_string(), String::new()));
    }
}
