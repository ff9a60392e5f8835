//! Markdown of load results: `capacity.md` (the answer, then every level's pooled figures and
//! the servers' shares), `load.md` (one open- or closed-loop `multi` run) and the load table of
//! a sweep with a load axis ([`sweep_load_section`]). Numbers come from the records; the
//! formulas are printed under the tables.

use crate::export::table::{Align, Table};
use crate::records::sweep::PointResult;
use crate::records::traffic::{Axis, CapacityRecord, LevelSummary, LoadRecord, SweepLoad};
use crate::stats::Summary;

use super::level::{interval_text, level_name, meets};

fn opt(x: Option<f64>, decimals: usize) -> String {
    x.map_or_else(|| "–".into(), |v| format!("{v:.decimals$}"))
}

fn mean_sd(s: Option<&Summary>, decimals: usize) -> String {
    s.map_or_else(|| "–".into(), |s| crate::stats::fmt_mean_sd(s, decimals))
}

/// The formulas every load report prints.
pub const FORMULAS: &str = "Formulas: a session passes when it ended without error and meets every objective \
(TTFT = the worst call's time to first token, the first call's counted from the session's PLANNED start; ITL p99 = \
the 99th percentile of the session's gaps between tokens; session_s = end − planned start). Pass rate = passing / \
measured sessions (warm-ups excluded), with its 95 % Wilson interval; a level meets the SLO when pass rate ≥ the \
quantile. Goodput = passing sessions per minute of the window (first planned start → last end); throughput = \
completed sessions per minute; in flight = Σ session_s / window (Little's law). Schedule error = actual − planned \
start; a p99 over 10 ms means the client fell behind and the level is unreliable.";

fn level_row(t: &mut Table, label: String, l: &LevelSummary, ok: bool) {
    t.row([
        label,
        l.sessions.to_string(),
        format!("{} {}", opt(l.pass_rate.map(|p| p * 100.0), 1), interval_text(l)),
        if ok { "yes".into() } else { "no".into() },
        opt(l.goodput_per_min, 1),
        opt(l.throughput_per_min, 1),
        opt(l.mean_in_flight, 2),
        opt(l.session_s.as_ref().map(|s| s.median), 3),
        opt(l.session_s.as_ref().map(|s| s.p95), 3),
        opt(l.ttft_max_ms.as_ref().map(|s| s.p95), 1),
        opt(l.schedule_error_ms.as_ref().map(|s| s.p99), 2),
        if l.client_behind { "BEHIND".into() } else { "ok".into() },
    ]);
}

fn level_table(first: &str) -> Table {
    Table::new(&[
        (first, Align::Left),
        ("sessions", Align::Right),
        ("pass % [95 % CI]", Align::Right),
        ("meets SLO", Align::Left),
        ("goodput /min", Align::Right),
        ("throughput /min", Align::Right),
        ("in flight", Align::Right),
        ("session p50 s", Align::Right),
        ("session p95 s", Align::Right),
        ("TTFT p95 ms", Align::Right),
        ("sched. err p99 ms", Align::Right),
        ("client", Align::Left),
    ])
}

fn shares(out: &mut String, l: &LevelSummary) {
    if l.servers.len() < 2 {
        return;
    }
    let mut t = Table::new(&[
        ("server", Align::Left),
        ("sessions", Align::Right),
        ("share", Align::Right),
        ("passing", Align::Right),
    ]);
    for s in &l.servers {
        t.row([
            s.server.clone(),
            s.sessions.to_string(),
            format!("{:.1} %", s.share * 100.0),
            s.passing.to_string(),
        ]);
    }
    out.push_str(&t.render());
    out.push('\n');
}

/// `capacity.md`.
pub fn markdown(r: &CapacityRecord) -> String {
    let unit = match r.axis {
        Axis::Rate => "sessions/s (open loop)",
        Axis::Concurrency => "concurrent sessions (closed loop)",
    };
    let mut s = format!(
        "# Capacity\n\nSLO: `{}`, met when ≥ {:.1} % of a level's sessions pass; each level run {} times; levels in {unit}.\n\n## Answer\n\n",
        r.slo,
        r.slo_quantile * 100.0,
        r.repeats
    );
    match (r.max_level, r.first_failing) {
        (Some(m), f) => {
            s.push_str(&format!(
                "- **Highest level meeting the SLO: {}**{}\n- Sustainable goodput: **{} sessions/min** (mean ± sd over repeats)\n- Concurrent agents carried: **{}** (mean sessions in flight)\n",
                level_name(r.axis, m),
                f.map_or_else(|| " (no level failed: the capacity is at least this)".into(), |f| format!("; {} fails", level_name(r.axis, f))),
                mean_sd(r.sustainable_per_min.as_ref(), 1),
                mean_sd(r.concurrent_agents.as_ref(), 2),
            ));
            if f.is_some() {
                s.push_str(&format!(
                    "- Confidence: {}\n",
                    if r.told_apart {
                        "the two levels' pass-rate 95 % intervals do not overlap: they are told apart"
                    } else {
                        "the two levels CANNOT be told apart (their pass-rate intervals overlap)"
                    }
                ));
            }
        }
        (None, Some(f)) => s.push_str(&format!(
            "- **No level met the SLO**; the lowest tried, {}, failed.\n",
            level_name(r.axis, f)
        )),
        (None, None) => s.push_str("- No level was measured.\n"),
    }
    s.push_str(&format!(
        "- Saturation point: {}\n",
        r.saturation_level.map_or_else(
            || "not reached (throughput kept rising with the level)".into(),
            |x| format!("{} (beyond it throughput stops rising while latency rises)", level_name(r.axis, x))
        )
    ));
    if r.interrupted {
        s.push_str("- INTERRUPTED: the answer covers the levels finished before Ctrl-C.\n");
    }
    s.push_str("\n## Levels (repeats pooled)\n\n");
    let mut t = level_table("level");
    for l in &r.levels {
        level_row(&mut t, format!("{}", l.level), &l.pooled, meets(&l.pooled));
    }
    s.push_str(&t.render());
    s.push_str("\n![Latency–throughput curve](plots/latency_throughput.png)\n\n");
    if let Some(l) = r.max_level.and_then(|m| r.levels.iter().find(|l| l.level == m)) {
        if l.pooled.servers.len() > 1 {
            s.push_str(&format!("## Servers' share at {}\n\n", level_name(r.axis, l.level)));
            shares(&mut s, &l.pooled);
        }
    }
    if !r.notes.is_empty() {
        s.push_str("## Notes\n\n");
        for n in &r.notes {
            s.push_str(&format!("- {n}\n"));
        }
        s.push('\n');
    }
    s.push_str(FORMULAS);
    s.push('\n');
    s
}

/// `load.md` of an open- or closed-loop `multi` run.
pub fn load_markdown(r: &LoadRecord) -> String {
    let l = &r.summary;
    let mut s = format!(
        "# Load run: {}\n\nSLO: `{}`, met when ≥ {:.1} % of sessions pass; {} warm-up session(s) excluded; spread: {:?}.{}\n\n",
        r.load,
        r.slo,
        r.slo_quantile * 100.0,
        r.warmup_sessions,
        r.spread,
        if r.interrupted { " INTERRUPTED: the figures cover the sessions that finished." } else { "" }
    );
    s.push_str(&format!(
        "**{}**: {} of {} sessions passed ({} {}); goodput {} sessions/min beside throughput {} sessions/min and {} tok/s.{}\n\n",
        if l.meets_slo { "Meets the SLO" } else { "Fails the SLO" },
        l.passing,
        l.sessions,
        opt(l.pass_rate.map(|p| p * 100.0), 1) + " %",
        interval_text(l),
        opt(l.goodput_per_min, 1),
        opt(l.throughput_per_min, 1),
        opt(l.tokens_per_s, 1),
        if l.client_behind {
            " UNRELIABLE: the client fell behind its schedule (schedule error p99 over 10 ms)."
        } else {
            ""
        }
    ));
    let mut t = level_table("run");
    level_row(&mut t, "all".into(), l, l.meets_slo);
    s.push_str(&t.render());
    s.push('\n');
    shares(&mut s, l);
    for n in &r.notes {
        s.push_str(&format!("- {n}\n"));
    }
    s.push_str(FORMULAS);
    s.push('\n');
    s
}

/// The `## Load per point` section of a sweep with a load axis: what each run is, the SLO, the
/// ranking by goodput (under an SLO), then every point's pooled figures (in run order).
pub fn sweep_load_section(load: &SweepLoad, points: &[PointResult], by_goodput: &[usize]) -> String {
    let stop = match load.stop {
        crate::traffic::arrivals::Stop::Sessions(n) => format!("{n} measured session(s)"),
        crate::traffic::arrivals::Stop::DurationSecs(d) => format!("sessions planned in {d} s"),
    };
    let mut s = format!(
        "Each measured run of a point is one load run of its agent's sessions ({stop} after {} warm-up session(s)) at the point's options; its files (`load.json`, `load.md`, every session's report) are under `agents/<configuration>/run_N/`. SLO: `{}`, met when ≥ {:.1} % of sessions pass{}. Throughput and TTFT in the rankings above are each run's output tokens/s and session TTFT p95; the figures below pool every run's sessions.\n\n",
        load.warmup_sessions,
        if load.slo.objectives.is_empty() {
            "(none: a session passes when it ends without error)".to_string()
        } else {
            load.slo.to_string()
        },
        load.quantile * 100.0,
        if load.ranks_by_goodput() {
            "; points are ranked by goodput (passing sessions/min), the best first"
        } else {
            "; no --slo, so points are not ranked by goodput"
        },
    );
    if !by_goodput.is_empty() {
        let mut t = Table::new(&[
            ("#", Align::Right),
            ("configuration", Align::Left),
            ("goodput /min", Align::Right),
            ("pass % [95 % CI]", Align::Right),
        ]);
        for (k, &i) in by_goodput.iter().enumerate() {
            let Some(l) = points.get(i).and_then(|p| p.load.as_ref()) else { continue };
            let l = &l.pooled;
            t.row([
                (k + 1).to_string(),
                points[i].label.clone(),
                opt(l.goodput_per_min, 1),
                format!("{} {}", opt(l.pass_rate.map(|p| p * 100.0), 1), interval_text(l)),
            ]);
        }
        s.push_str("### Ranking by goodput\n\n");
        s.push_str(&t.render());
        s.push('\n');
    }
    let mut order: Vec<&PointResult> = points.iter().filter(|p| p.load.is_some()).collect();
    order.sort_by_key(|p| p.order);
    let mut t = level_table("configuration");
    for p in order {
        if let Some(l) = &p.load {
            level_row(&mut t, p.label.clone(), &l.pooled, meets(&l.pooled));
        }
    }
    s.push_str("### Every point under load (runs pooled)\n\n");
    s.push_str(&t.render());
    s.push('\n');
    s.push_str(FORMULAS);
    s
}
