//! The regression gate's report (`chimera compare`, `templates/compare.md`): the gate, the
//! verdict, each paired figure with Δ% and its noise band, and what only one side had.

use serde::Serialize;

use super::{Markdown, render};
use crate::compare::{Comparison, Figure, Verdict};
use crate::export::table::Table;
use crate::export::{ExportError, Exporter};

#[derive(Serialize)]
struct View<'a> {
    kind: &'static str,
    old: String,
    new: String,
    max_drop: String,
    max_rise: String,
    result: String,
    rows: String,
    only_old: &'a [String],
    only_new: &'a [String],
}

fn fig(f: &Figure) -> String {
    match f.sd {
        Some(sd) => format!("{:.2} ± {:.2} (n={})", f.mean, sd, f.n),
        None => format!("{:.2} (n={})", f.mean, f.n),
    }
}

impl Exporter<Comparison> for Markdown {
    fn serialize(&self, c: &Comparison) -> Result<Vec<u8>, ExportError> {
        let mut t = Table::left(&["Figure", "OLD", "NEW", "Δ%", "Noise band (Δ ± 2σ)", "Verdict"]);
        for r in &c.rows {
            let band = match (r.noise_band_pct, r.within_noise) {
                (Some((lo, hi)), Some(w)) => {
                    format!("{lo:+.1}% … {hi:+.1}%{}", if w { " (within noise)" } else { "" })
                }
                _ => "no sd (n < 2)".into(),
            };
            let verdict = match r.verdict {
                Verdict::Pass => "pass",
                Verdict::Fail => "**FAIL**",
                Verdict::Skipped => "skipped",
            };
            t.row([
                r.name.clone(),
                fig(&r.old),
                fig(&r.new),
                r.delta_pct.map_or("–".into(), |d| format!("{:+.1}%", d.value)),
                band,
                verdict.to_string(),
            ]);
        }
        let fails = c.rows.iter().filter(|r| r.verdict == Verdict::Fail).count();
        let view = View {
            kind: c.compared.workload(),
            old: c.old.display().to_string(),
            new: c.new.display().to_string(),
            max_drop: c.thresholds.max_throughput_drop_pct.to_string(),
            max_rise: c.thresholds.max_ttft_rise_pct.to_string(),
            result: if c.failed {
                format!("FAIL — {fails} figure(s) crossed a threshold")
            } else {
                "PASS".into()
            },
            rows: t.block(),
            only_old: &c.only_in_old,
            only_new: &c.only_in_new,
        };
        render("compare.md", &view).map(String::into_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{MetricClass, Row, Thresholds};
    use crate::records::Kind;
    use crate::stats::Uncertain;

    fn figure(name: &str, mean: f64, sd: Option<f64>) -> Figure {
        Figure { name: name.into(), class: MetricClass::Throughput, mean, sd, n: 3 }
    }

    /// The layout `chimera compare` printed before the template (same lines, same cells).
    #[test]
    fn the_report_by_hand() {
        let c = Comparison {
            compared: Kind::Sweep,
            old: "old".into(),
            new: "new".into(),
            thresholds: Thresholds::default(),
            rows: vec![
                Row {
                    name: "a | b".into(),
                    class: MetricClass::Throughput,
                    old: figure("a | b", 100.0, Some(1.0)),
                    new: figure("a | b", 90.0, None),
                    delta_pct: Some(Uncertain { value: -10.0, sd: 0.9 }),
                    noise_band_pct: Some((-11.8, -8.2)),
                    within_noise: Some(false),
                    verdict: Verdict::Fail,
                },
                Row {
                    name: "c".into(),
                    class: MetricClass::Ttft,
                    old: figure("c", 0.0, None),
                    new: figure("c", 1.0, None),
                    delta_pct: None,
                    noise_band_pct: None,
                    within_noise: None,
                    verdict: Verdict::Skipped,
                },
            ],
            only_in_old: vec!["x".into()],
            only_in_new: vec![],
            failed: true,
        };
        let md = String::from_utf8(Markdown::default().serialize(&c).unwrap()).unwrap();
        assert_eq!(
            md,
            "# Comparison (sweep outputs)\n\n- **OLD:** old\n- **NEW:** new\n\
             - **Gate:** throughput may drop at most 5%, TTFT may rise at most 10% (Δ of the means)\n\
             - **Result:** FAIL — 1 figure(s) crossed a threshold\n\n\
             | Figure | OLD | NEW | Δ% | Noise band (Δ ± 2σ) | Verdict |\n|---|---|---|---|---|---|\n\
             | a \\| b | 100.00 ± 1.00 (n=3) | 90.00 (n=3) | -10.0% | -11.8% … -8.2% | **FAIL** |\n\
             | c | 0.00 (n=3) | 1.00 (n=3) | – | no sd (n < 2) | skipped |\n\
             \nNot compared (present on one side only):\n- OLD only: x\n\
             \nΔ% = (NEW / OLD − 1) · 100; σ propagated from both sample sds: σ = 100·|r|·√((σ_old/old)² + (σ_new/new)²).\n"
        );
        let pass = Comparison { failed: false, only_in_old: vec![], rows: c.rows[1..].to_vec(), ..c };
        let md = String::from_utf8(Markdown::default().serialize(&pass).unwrap()).unwrap();
        assert!(md.contains("- **Result:** PASS\n\n| Figure") && md.contains("| skipped |\n\nΔ% = "), "{md}");
    }
}
