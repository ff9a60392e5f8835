//! Markdown for a multi-agent benchmark: each run's `combined_report.md` and the root
//! `summary.md`. Pure text from the records; every figure states its formula.

use std::fmt::Write;

use crate::records::multi::{MultiSummary, PhaseResult, RunRecord, RunStatus};
use crate::stats::{Summary, fmt_mean_sd, fmt_opt_mean_sd};

/// The formulas printed in every multi-agent report.
pub const MULTI_FORMULAS_MD: &str = "\
- **Speedup (true)** = Σ solo time of each agent (measured alone, same run) ÷ concurrent wall time.
- **Efficiency** = speedup ÷ N agents (100 % = perfect scaling).
- **Aggregate throughput** = Σ output tokens of all agents in the concurrent phase ÷ concurrent wall time.
- **Slowdown** (per agent) = its time in the concurrent phase (common start → its end) ÷ its solo time; **contention** when slowdown > threshold.
- **Original's figure** (for comparison only) = Σ agent durations measured *during* the concurrent run ÷ concurrent wall. It measures how much the agents overlapped, not how much faster they finished: agents queued on one server still overlap and score near N.";

fn f2(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |x| format!("{x:.2}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |x| format!("{:.1} %", x * 100.0))
}

fn status(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Ok => "ok",
        RunStatus::Failed => "FAILED (some agent failed; the others finished)",
        RunStatus::Interrupted => "INTERRUPTED",
    }
}

fn phase_cell(p: &Option<PhaseResult>) -> String {
    match p {
        None => "–".into(),
        Some(p) if p.ok => format!("{:.2}", p.secs),
        Some(p) => format!("{:.2} (failed)", p.secs),
    }
}

/// `run_N/combined_report.md`.
pub fn combined_report_md(r: &RunRecord) -> String {
    let n = r.agents.len();
    let mut s = String::new();
    let _ = writeln!(s, "# Multi-agent run {} — {}\n", r.run, r.scenario);
    let _ = writeln!(s, "- Status: {}", status(r.status));
    let _ = writeln!(s, "- Started: {}", r.started_at.format("%Y-%m-%d %H:%M:%S UTC"));
    let _ = writeln!(s, "- Agents: {n}");
    let _ = writeln!(s, "- Concurrent wall: {} s", f2(r.concurrent_wall_secs));
    let _ = writeln!(s, "- Solo sum (each agent alone): {} s", f2(r.solo_sum_secs));
    let _ = writeln!(
        s,
        "- **Speedup (true): {}×** = Σ solo ÷ concurrent wall; efficiency {} (speedup ÷ {n})",
        f2(r.speedup),
        pct(r.efficiency)
    );
    let _ = writeln!(s, "- Aggregate throughput: {} tok/s (Σ tokens ÷ wall)", f2(r.aggregate_tok_s));
    let contended: Vec<&str> = r.agents.iter().filter(|a| a.contended).map(|a| a.label.as_str()).collect();
    let _ = writeln!(
        s,
        "- Contention (slowdown > {:.2}): {}",
        r.contention_threshold,
        if contended.is_empty() { "none".to_string() } else { format!("YES — {}", contended.join(", ")) }
    );
    match &r.original {
        Some(o) => {
            let _ = writeln!(
                s,
                "- Original's formula (labelled, NOT a speedup): sequential estimate {:.2} s ÷ wall = {:.2}× \
                 (\"efficiency\" {:.1} %) — measures overlap, not speedup",
                o.sequential_estimate_secs,
                o.speedup,
                o.efficiency * 100.0
            );
        }
        None => {
            let _ = writeln!(s, "- Original's formula: – (no complete concurrent phase)");
        }
    }
    for w in &r.warmups {
        let _ = writeln!(
            s,
            "- Warm-up {} (via {}): {} in {:.2} s{}",
            w.server,
            w.agent,
            if w.ok { "ok" } else { "FAILED" },
            w.secs,
            w.error.as_ref().map(|e| format!(" — {e}")).unwrap_or_default()
        );
    }
    for note in &r.notes {
        let _ = writeln!(s, "- Note: {note}");
    }

    let _ = writeln!(s, "\n## Agents\n");
    let _ = writeln!(
        s,
        "| Agent | Server | Solo s | Concurrent s | Slowdown | Contended | Tokens | Decode tok/s | TTFT ms |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---|---:|---:|---:|");
    for a in &r.agents {
        let c = a.concurrent.as_ref();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            a.label,
            a.server,
            phase_cell(&a.solo),
            phase_cell(&a.concurrent),
            f2(a.slowdown),
            if a.contended { "yes" } else { "no" },
            c.map_or_else(|| "–".into(), |c| c.tokens.to_string()),
            f2(c.and_then(|c| c.decode_tok_s)),
            f2(c.and_then(|c| c.ttft_ms)),
        );
    }

    for a in &r.agents {
        let _ = writeln!(s, "\n### {}\n", a.label);
        let _ = writeln!(s, "- Server: {}", a.server);
        for (name, p) in [("Solo", &a.solo), ("Concurrent", &a.concurrent)] {
            let Some(p) = p else {
                let _ = writeln!(s, "- {name}: not run");
                continue;
            };
            let _ = writeln!(
                s,
                "- {name}: {} in {:.2} s, {} tokens{}{}",
                if p.ok { "ok" } else { "FAILED" },
                p.secs,
                p.tokens,
                p.report.as_ref().map(|r| format!(", report `{r}`")).unwrap_or_default(),
                match (&p.failed_stage, &p.error) {
                    (Some(st), Some(e)) => format!(" — failed at {st}: {e}"),
                    (None, Some(e)) => format!(" — {e}"),
                    _ => String::new(),
                }
            );
        }
    }

    if n > 1 {
        let first = &r.agents[0];
        let _ = writeln!(s, "\n## Deltas (vs {})\n", first.label);
        let _ = writeln!(s, "| Agent | Concurrent s Δ% | Solo s Δ% | Tokens Δ% | Decode tok/s Δ% |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        let get = |p: &Option<PhaseResult>, f: fn(&PhaseResult) -> Option<f64>| {
            p.as_ref().filter(|p| p.ok).and_then(f)
        };
        let d = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if a != 0.0 => format!("{:+.1} %", (b / a - 1.0) * 100.0),
            _ => "–".into(),
        };
        for a in &r.agents[1..] {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                a.label,
                d(get(&first.concurrent, |p| Some(p.secs)), get(&a.concurrent, |p| Some(p.secs))),
                d(get(&first.solo, |p| Some(p.secs)), get(&a.solo, |p| Some(p.secs))),
                d(
                    get(&first.concurrent, |p| Some(p.tokens as f64)),
                    get(&a.concurrent, |p| Some(p.tokens as f64))
                ),
                d(get(&first.concurrent, |p| p.decode_tok_s), get(&a.concurrent, |p| p.decode_tok_s)),
            );
        }
    }
    let _ = writeln!(s, "\n## Formulas\n\n{MULTI_FORMULAS_MD}");
    s
}

fn agg_cells(x: &Option<Summary>, decimals: usize, scale: f64) -> String {
    match x {
        None => "– | – | 0".into(),
        Some(x) => {
            let m = Summary { mean: x.mean * scale, sd: x.sd.map(|v| v * scale), ..x.clone() };
            format!(
                "{} | {:.*} … {:.*} | {}",
                fmt_mean_sd(&m, decimals),
                decimals,
                x.min * scale,
                decimals,
                x.max * scale,
                x.n
            )
        }
    }
}

/// Root `summary.md`.
pub fn summary_md(sm: &MultiSummary) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Multi-agent summary — {}\n", sm.scenario);
    let _ = writeln!(
        s,
        "- Runs: {} of {} completed{}",
        sm.runs_completed,
        sm.runs_planned,
        if sm.interrupted { " (INTERRUPTED: finished runs kept)" } else { "" }
    );
    let _ = writeln!(
        s,
        "- Agents: {}",
        sm.agents.iter().map(|a| format!("{} @ {}", a.label, a.server)).collect::<Vec<_>>().join("; ")
    );
    let _ = writeln!(
        s,
        "- Solo phase: {}",
        if sm.solo_phase { "yes" } else { "skipped (--no-solo): no true speedup" }
    );
    let _ = writeln!(s, "- Contention threshold: slowdown > {:.2}", sm.contention_threshold);
    let _ = writeln!(s, "- Any agent failed: {}", if sm.failed { "YES" } else { "no" });

    let a = &sm.aggregates;
    let _ = writeln!(s, "\n## Aggregates over completed runs\n");
    let _ = writeln!(s, "| Figure | mean ± sd | min … max | n |");
    let _ = writeln!(s, "|---|---:|---:|---:|");
    let rows: [(&str, &Option<Summary>, usize, f64); 7] = [
        ("Speedup (true) ×", &a.speedup, 3, 1.0),
        ("Efficiency %", &a.efficiency, 1, 100.0),
        ("Concurrent wall s", &a.concurrent_wall_secs, 2, 1.0),
        ("Solo sum s", &a.solo_sum_secs, 2, 1.0),
        ("Aggregate tok/s", &a.aggregate_tok_s, 2, 1.0),
        ("Original's formula × (not a speedup)", &a.original_speedup, 3, 1.0),
        ("Original's \"efficiency\" %", &a.original_efficiency, 1, 100.0),
    ];
    for (name, x, d, scale) in rows {
        let _ = writeln!(s, "| {name} | {} |", agg_cells(x, d, scale));
    }

    let _ = writeln!(s, "\n## Per agent\n");
    let _ =
        writeln!(s, "| Agent | Solo s | Concurrent s | Slowdown | Tokens | Contended runs | Failed runs |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
    let m = |x: &Option<Summary>, d: usize| fmt_opt_mean_sd(x.as_ref(), d);
    for p in &sm.per_agent {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            p.label,
            m(&p.solo_secs, 2),
            m(&p.concurrent_secs, 2),
            m(&p.slowdown, 3),
            m(&p.tokens, 0),
            p.contended_runs,
            p.failed_runs
        );
    }

    let _ = writeln!(s, "\n## Runs\n");
    let _ = writeln!(
        s,
        "| Run | Status | Wall s | Solo sum s | Speedup × | Efficiency | Agg tok/s | Original × | Contention |"
    );
    let _ = writeln!(s, "|---:|---|---:|---:|---:|---:|---:|---:|---|");
    for r in &sm.runs {
        let _ = writeln!(
            s,
            "| [{}](run_{}/combined_report.md) | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.run,
            r.run,
            match r.status {
                RunStatus::Ok => "ok",
                RunStatus::Failed => "failed",
                RunStatus::Interrupted => "interrupted",
            },
            f2(r.concurrent_wall_secs),
            f2(r.solo_sum_secs),
            f2(r.speedup),
            pct(r.efficiency),
            f2(r.aggregate_tok_s),
            f2(r.original_speedup),
            if r.contention { "yes" } else { "no" }
        );
    }
    let failures: Vec<String> =
        sm.runs.iter().flat_map(|r| r.failures.iter().map(move |f| format!("run {}: {f}", r.run))).collect();
    if !failures.is_empty() {
        let _ = writeln!(s, "\n## Failures\n");
        for f in failures {
            let _ = writeln!(s, "- {f}");
        }
    }
    let _ =
        writeln!(s, "\nStatistics: mean ± sample sd (sd only when n > 1), min … max, over completed runs.\n");
    let _ = writeln!(s, "## Formulas\n\n{MULTI_FORMULAS_MD}");
    s
}
