//! The plots of a sweep: throughput and TTFT per configuration (±1 sd), a heatmap over two
//! grid options (num_gpu × num_ctx when both vary), the TTFT-vs-throughput Pareto scatter, and
//! for a multi-agent sweep the measured concurrency efficiency per configuration.

use serde_json::Value;

use crate::sweep::summary::SweepSummary;

use super::{Bar, Drawn, ScatterPoint, bars, heatmap, pareto_scatter};

fn axis_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        o => o.to_string(),
    }
}

/// The two options the heatmap spans: num_ctx (x) × num_gpu (y) when both vary, else the
/// first two axes of the grid; None with fewer than two axes.
pub fn heatmap_axes(s: &SweepSummary) -> Option<(String, String)> {
    let names: Vec<&str> = s.grid.axes.iter().map(|a| a.name.as_str()).collect();
    if names.contains(&"num_ctx") && names.contains(&"num_gpu") {
        return Some(("num_ctx".into(), "num_gpu".into()));
    }
    (names.len() >= 2).then(|| (names[0].to_string(), names[1].to_string()))
}

/// Every sweep plot as `(file stem, svg or error)`: one plot failing leaves the others.
pub fn sweep_plots(s: &SweepSummary) -> Vec<Drawn> {
    let p = &s.points;
    let r = &s.ranking;
    let best = r.best.as_ref().map(|b| b.index);
    let mut out = Vec::new();
    let tput: Vec<Bar> = r
        .by_throughput
        .iter()
        .filter_map(|&i| {
            let t = p[i].throughput_tok_s.as_ref()?;
            Some(Bar { label: p[i].label.clone(), mean: t.mean, sd: t.sd, highlight: Some(i) == best })
        })
        .collect();
    let base_t = p.iter().find(|x| x.baseline).and_then(|x| x.throughput_tok_s.as_ref()).map(|t| t.mean);
    // A multi-agent sweep ranks the aggregate throughput of all agents at once.
    let (t_title, t_unit) = if s.scenario.is_some() {
        (
            "Aggregate throughput per configuration (all agents at once)",
            "tok/s: Σ tokens / concurrent wall (mean ± 1 sd)",
        )
    } else {
        ("Decode throughput per configuration", "tok/s (mean ± 1 sd)")
    };
    out.push(("throughput".to_string(), bars(t_title, t_unit, &tput, base_t.map(|v| (v, "baseline")))));
    let ttft: Vec<Bar> = r
        .by_ttft
        .iter()
        .filter_map(|&i| {
            let t = p[i].ttft_ms.as_ref()?;
            Some(Bar { label: p[i].label.clone(), mean: t.mean, sd: t.sd, highlight: Some(i) == best })
        })
        .collect();
    let base_f = p.iter().find(|x| x.baseline).and_then(|x| x.ttft_ms.as_ref()).map(|t| t.mean);
    out.push((
        "ttft".to_string(),
        bars(
            "Time to first token per configuration",
            "ms (mean ± 1 sd)",
            &ttft,
            base_f.map(|v| (v, "baseline")),
        ),
    ));
    if let Some((xn, yn)) = heatmap_axes(s) {
        let vals =
            |n: &str| s.grid.axes.iter().find(|a| a.name == n).map(|a| a.values.clone()).unwrap_or_default();
        let (xv, yv) = (vals(&xn), vals(&yn));
        let grid: Vec<Vec<Option<f64>>> = yv
            .iter()
            .map(|y| {
                xv.iter()
                    .map(|x| {
                        let cell: Vec<f64> = p
                            .iter()
                            .filter(|q| q.coords.get(&xn) == Some(x) && q.coords.get(&yn) == Some(y))
                            .filter_map(|q| q.throughput_tok_s.as_ref().map(|t| t.mean))
                            .collect();
                        crate::stats::mean(&cell)
                    })
                    .collect()
            })
            .collect();
        let xs: Vec<String> = xv.iter().map(axis_value).collect();
        let ys: Vec<String> = yv.iter().map(axis_value).collect();
        let title = format!("Throughput, {yn} × {xn}");
        out.push(("heatmap".to_string(), heatmap(&title, &xn, &xs, &yn, &ys, &grid, "tok/s")));
    }
    let pts: Vec<ScatterPoint> = r
        .by_composite
        .iter()
        .filter_map(|&(i, _)| {
            Some(ScatterPoint {
                label: p[i].label.clone(),
                ttft_ms: p[i].ttft_ms.as_ref()?.mean,
                tok_s: p[i].throughput_tok_s.as_ref()?.mean,
                on_front: r.pareto.contains(&i),
                best: Some(i) == best,
            })
        })
        .collect();
    out.push(("pareto".to_string(), pareto_scatter("TTFT vs throughput (Pareto front)", &pts)));
    // A multi-agent sweep: measured concurrency efficiency per point (solo phases ran).
    let eff: Vec<Bar> = p
        .iter()
        .enumerate()
        .filter_map(|(i, q)| {
            let e = q.multi.as_ref()?.efficiency.as_ref()?;
            Some(Bar { label: q.label.clone(), mean: e.mean, sd: e.sd, highlight: Some(i) == best })
        })
        .collect();
    if !eff.is_empty() {
        out.push((
            "sweep_efficiency".to_string(),
            bars(
                "Concurrency efficiency per configuration",
                "(Σ solo time / concurrent wall) / N, mean ± 1 sd",
                &eff,
                Some((1.0, "perfect scaling")),
            ),
        ));
    }
    out
}
