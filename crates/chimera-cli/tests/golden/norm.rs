//! What may differ between two runs of a golden case, and how it is normalised. Every rule is
//! listed here; anything not listed must match the golden: Markdown and CSV byte for byte, JSON
//! value for value (both sides are parsed and re-serialised, so key order is not compared).
//!
//! Normalised, because they change from run to run by nature:
//! - literal substitutions: the scripted server's URL (`http://golden-server`) and the binary's
//!   path (`chimera`); the commands run in a temporary folder with relative paths (`data`, `out`);
//! - wall-clock timestamps: JSON keys [`TIME_KEYS`] (→ `2000-01-01T00:00:00Z`), Markdown dates
//!   and start times, the `finished_at` CSV column;
//! - host facts: the JSON `host` object (strings → `host`, numbers → 0, `stamp_thread` without
//!   its reason), the Markdown `Host:` line;
//! - client-measured durations and every figure derived from them (TTFT, E2E, chunk arrival
//!   times, stage and wall times, solo / concurrent times, speedup, efficiency, slowdown,
//!   contention flags, aggregate throughput, the original's formula, composite scores, TTFT
//!   margins and the noise verdicts on them): JSON keys [`CLIENT_KEYS`] (numbers → 0, booleans
//!   → false, nulls kept), the bench comparison rows [`BENCH_CLIENT_ROWS`], the aggregate
//!   throughput of multi-agent sweep points (`throughput_tok_s`, its runs' `decode_tok_s`),
//!   Markdown table columns [`MD_COLUMNS`] and rows [`MD_ROWS`], Markdown lines [`md_lines`],
//!   CSV columns [`CSV_COLUMNS`]. Numbers become `#` (with their decimals kept: `12.35` →
//!   `#.##`), or a whole span becomes `…`.
//!
//! Accepted as changed by the redesign of issue 13 ([`accept_added`]): the `kind` and
//! `schema_version` fields at the top of a JSON document (or JSON line) whose golden has none;
//! a multi-agent sweep point's `agent_options`, typed options since sweep schema 2, are compared
//! as the configuration lines schema 1 wrote ([`GenOptions::describe`]).

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use chimera_core::options::GenOptions;

use super::cases::Case;

/// Wall-clock timestamps.
pub const TIME_KEYS: &[&str] = &["created_at", "started_at", "finished_at"];

/// Client-measured durations and what is derived from them.
pub const CLIENT_KEYS: &[&str] = &[
    "chunk_arrivals_ms",
    "first_token_ms",
    "first_content_ms",
    "ttfvt_ms",
    "itl_ms",
    "tpot_ms",
    "last_token_ms",
    "end_ms",
    "ttft_ms",
    "mean_ttft_ms",
    "e2e_ms",
    "wall_secs",
    "wall_ms",
    "stage_secs",
    "secs",
    "solo_secs",
    "concurrent_secs",
    "solo_sum_secs",
    "concurrent_wall_secs",
    "warmup_ms",
    "speedup",
    "efficiency",
    "aggregate_tok_s",
    "slowdown",
    "contended",
    "contention",
    "contended_runs",
    "original",
    "original_speedup",
    "original_efficiency",
    "composite",
    "ttft_vs_baseline",
];

/// Bench comparison rows (`metric`) measured on the client clock.
pub const BENCH_CLIENT_ROWS: &[&str] = &["TTFT", "Workflow wall time"];

/// Markdown table columns (by header) whose cells are client-measured or derived from it.
pub const MD_COLUMNS: &[(&str, Mask)] = &[
    ("TTFT ms", Mask::Nums),
    ("first visible ms", Mask::Nums),
    ("ITL p50 ms", Mask::Nums),
    ("ITL p90 ms", Mask::Nums),
    ("ITL p99 ms", Mask::Nums),
    ("TPOT ms", Mask::Nums),
    ("TTFT p50 / p90 / p99 ms", Mask::Nums),
    ("first visible p50 / p90 / p99 ms", Mask::Nums),
    ("ITL p50 / p90 / p99 ms", Mask::Nums),
    ("TPOT p50 / p90 / p99 ms", Mask::Nums),
    ("e2e p50 / p90 / p99 ms", Mask::Nums),
    ("client chunks/s", Mask::Nums),
    ("e2e ms", Mask::Nums),
    ("step wall ms", Mask::Nums),
    ("session wall ms", Mask::Nums),
    ("wall s", Mask::Nums),
    ("Wall s", Mask::Nums),
    ("Solo s", Mask::Nums),
    ("Concurrent s", Mask::Nums),
    ("Slowdown", Mask::Nums),
    ("Contended", Mask::All),
    ("Contended runs", Mask::Nums),
    ("Concurrent s Δ%", Mask::Nums),
    ("Solo s Δ%", Mask::Nums),
    ("mean ± sd", Mask::Nums),
    ("min … max", Mask::Nums),
    ("Solo sum s", Mask::Nums),
    ("Speedup ×", Mask::Nums),
    ("Efficiency", Mask::Nums),
    ("Agg tok/s", Mask::Nums),
    ("Original ×", Mask::Nums),
    ("Contention", Mask::All),
    ("Composite", Mask::Nums),
    ("TTFT (ms)", Mask::Nums),
    ("p95 (ms)", Mask::Nums),
    ("E2E (ms)", Mask::Nums),
    ("Warm-up (ms)", Mask::Nums),
    ("Aggregate throughput (tok/s)", Mask::Nums),
    ("Mean TTFT across agents (ms)", Mask::Nums),
    ("Concurrent wall (ms)", Mask::Nums),
    ("Speedup (true) ×", Mask::Nums),
    ("Aggregate (tok/s)", Mask::Nums),
    ("Mean TTFT (ms)", Mask::Nums),
    ("Solo Σ (s)", Mask::Nums),
    ("Concurrent wall (s)", Mask::Nums),
    ("Original's formula × (not a speedup)", Mask::Nums),
];

/// Markdown table rows (by first cell) whose other cells are client-measured.
pub const MD_ROWS: &[&str] = &["TTFT (ms)", "Workflow wall time (s)"];

/// CSV columns (`points.csv`) that are client-measured or wall-clock.
pub const CSV_COLUMNS: &[&str] = &[
    "ttft_mean_ms",
    "ttft_sd_ms",
    "ttft_p95_ms",
    "e2e_mean_ms",
    "warmup_ms",
    "finished_at",
    "speedup_mean",
    "efficiency_mean",
    "efficiency_sd",
];

/// How a masked span is rewritten.
#[derive(Clone, Copy)]
pub enum Mask {
    /// Every number → `#` (decimals kept).
    Nums,
    /// The whole span → `…`.
    All,
}

/// Markdown lines with a variable part (capture group 1).
fn md_lines() -> &'static [(Regex, Mask)] {
    static L: LazyLock<Vec<(Regex, Mask)>> = LazyLock::new(|| {
        [
            (r"^\*\*Date:\*\* (.+)$", Mask::All),
            (r"^- Host: (.+)$", Mask::All),
            (r"^- Started: (.+)$", Mask::All),
            (r"^- Execution time: (.+)$", Mask::Nums),
            (r"^- TTFT: (.+) ms$", Mask::Nums),
            (r"; wall time (\S+) s$", Mask::Nums),
            (r"^- Concurrent wall: (.+) s$", Mask::Nums),
            (r"^- Solo sum \(each agent alone\): (.+) s$", Mask::Nums),
            (r"^- \*\*Speedup \(true\): (.+)$", Mask::Nums),
            (r"^- Aggregate throughput: (.+) tok/s", Mask::Nums),
            (r"^- Contention \(slowdown > [0-9.]+\): (.+)$", Mask::All),
            (r"^- Original's formula \(labelled, NOT a speedup\): (.+)$", Mask::Nums),
            (r"^- Warm-up .* in (\S+) s", Mask::Nums),
            (r"^- (?:Solo|Concurrent): ok in (\S+) s,", Mask::Nums),
            (r"^- TTFT vs baseline: (.+)$", Mask::All),
            (r"^- Multi-agent efficiency at this point: (.+)$", Mask::All),
            // a Pareto point (in a multi-agent sweep its throughput is client-measured too)
            (r"^- \S+ — (.* tok/s, .+ ms)$", Mask::Nums),
            (r"^\*\*[^*]+\*\* \(composite ([0-9.]+);", Mask::Nums),
        ]
        .into_iter()
        .map(|(re, m)| (Regex::new(re).unwrap(), m))
        .collect()
    });
    &L
}

fn mask(s: &str, how: Mask) -> String {
    static NUM: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[+\-−]?\d+(\.\d+)?").unwrap());
    match how {
        Mask::All if s.trim().is_empty() => s.to_string(),
        Mask::All => "…".into(),
        Mask::Nums => NUM
            .replace_all(s, |c: &regex::Captures| match c.get(1) {
                Some(d) => format!("#.{}", "#".repeat(d.as_str().len() - 1)),
                None => "#".into(),
            })
            .into_owned(),
    }
}

/// Normalise one output file of `case` (see the module doc).
pub fn normalise(case: Case, file: &str, text: &str, subst: &[(String, String)]) -> String {
    let mut t = text.to_string();
    for (from, to) in subst {
        t = t.replace(from.as_str(), to);
    }
    match file.rsplit('.').next() {
        Some("json") => json_doc(case, &t),
        Some("jsonl") => t.lines().map(|l| json_line(case, l) + "\n").collect(),
        Some("csv") => csv(case, &t),
        _ => markdown(&t),
    }
}

fn json_doc(case: Case, text: &str) -> String {
    let mut v: Value = serde_json::from_str(text).unwrap();
    json_value(case, &mut v);
    serde_json::to_string_pretty(&v).unwrap() + "\n"
}

fn json_line(case: Case, line: &str) -> String {
    let mut v: Value = serde_json::from_str(line).unwrap();
    json_value(case, &mut v);
    serde_json::to_string(&v).unwrap()
}

/// Numbers → 0, booleans → false; nulls, strings and shapes kept.
fn zero(v: &mut Value) {
    match v {
        Value::Number(_) => *v = Value::from(0),
        Value::Bool(_) => *v = Value::Bool(false),
        Value::Array(a) => a.iter_mut().for_each(zero),
        Value::Object(m) => m.values_mut().for_each(zero),
        Value::Null | Value::String(_) => {}
    }
}

/// The host object: strings → `host`, numbers → 0; in `stamp_thread` (real-time or not, per
/// machine) too, without the reason it is not real-time.
fn anonymise(v: &mut Value) {
    zero(v);
    if let Value::Object(m) = v {
        if let Some(Value::Object(st)) = m.get_mut("stamp_thread") {
            st.remove("reason");
            st.values_mut().filter(|x| x.is_string()).for_each(|x| *x = Value::from("host"));
        }
        m.values_mut().filter(|x| x.is_string()).for_each(|x| *x = Value::from("host"));
    }
}

fn json_value(case: Case, v: &mut Value) {
    match v {
        Value::Object(m) => {
            let bench_client_row =
                m.get("metric").and_then(Value::as_str).is_some_and(|r| BENCH_CLIENT_ROWS.contains(&r));
            // A multi-agent sweep point: its throughput is the aggregate (Σ tokens ÷ wall).
            let scenario_point = case == Case::SweepScenario && m.contains_key("multi");
            for (k, x) in m.iter_mut() {
                if TIME_KEYS.contains(&k.as_str()) && x.is_string() {
                    *x = Value::from("2000-01-01T00:00:00Z");
                } else if k == "host" {
                    anonymise(x);
                } else if CLIENT_KEYS.contains(&k.as_str())
                    || (bench_client_row && ["baseline", "chimera", "delta_pct"].contains(&k.as_str()))
                    || (scenario_point && k == "throughput_tok_s")
                {
                    zero(x);
                } else if scenario_point && k == "runs" {
                    // its runs' samples rank the aggregate throughput too
                    for sample in x.as_array_mut().into_iter().flatten() {
                        if let Some(d) = sample.get_mut("decode_tok_s") {
                            zero(d);
                        }
                        json_value(case, sample);
                    }
                } else if k == "by_composite" {
                    // [(point index, composite score)]: the order is checked, the scores not
                    for pair in x.as_array_mut().into_iter().flatten() {
                        if let Some(score) = pair.get_mut(1) {
                            zero(score);
                        }
                    }
                } else {
                    json_value(case, x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| json_value(case, x)),
        _ => {}
    }
}

fn csv(case: Case, text: &str) -> String {
    let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
    let rows: Vec<Vec<String>> =
        r.records().map(|x| x.unwrap().iter().map(str::to_string).collect()).collect();
    let header = rows.first().cloned().unwrap_or_default();
    let masked = |c: usize| {
        let h = header[c].as_str();
        CSV_COLUMNS.contains(&h) || (case == Case::SweepScenario && h.starts_with("throughput_"))
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    for (i, row) in rows.iter().enumerate() {
        let row: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| match header[c].as_str() {
                "finished_at" if i > 0 => mask(cell, Mask::All),
                _ if i > 0 && masked(c) => mask(cell, Mask::Nums),
                _ => cell.clone(),
            })
            .collect();
        w.write_record(&row).unwrap();
    }
    String::from_utf8(w.into_inner().unwrap()).unwrap()
}

/// Cells of a Markdown table row (`| a | b |` → `[a, b]`).
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split(" | ").map(|c| c.trim().to_string()).collect()
}

fn markdown(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = Vec::with_capacity(lines.len());
    let mut header: Option<Vec<String>> = None;
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with('|') {
            header = None;
            out.push(mask_line(line));
            continue;
        }
        let next_is_sep = lines.get(i + 1).is_some_and(|n| n.starts_with("|---") || n.starts_with("|:--"));
        if header.is_none() && next_is_sep {
            header = Some(cells(line));
            out.push(line.to_string());
            continue;
        }
        let Some(h) = &header else {
            out.push(line.to_string());
            continue;
        };
        if line.starts_with("|---") || line.starts_with("|:--") {
            out.push(line.to_string());
            continue;
        }
        let row = cells(line);
        let whole_row = row.first().is_some_and(|c| MD_ROWS.iter().any(|r| c == r));
        let masked: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                let col = h.get(c).map(String::as_str).unwrap_or_default();
                match MD_COLUMNS.iter().find(|(name, _)| *name == col) {
                    _ if whole_row && c > 0 => mask(cell, Mask::All),
                    Some((_, how)) => mask(cell, *how),
                    None => cell.clone(),
                }
            })
            .collect();
        out.push(format!("| {} |", masked.join(" | ")));
    }
    out.join("\n")
}

fn mask_line(line: &str) -> String {
    for (re, how) in md_lines() {
        if let Some(c) = re.captures(line) {
            let g = c.get(1).unwrap();
            return format!("{}{}{}", &line[..g.start()], mask(g.as_str(), *how), &line[g.end()..]);
        }
    }
    line.to_string()
}

/// `agent_options` (anywhere in `v`) as configuration lines.
fn described_options(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "agent_options" {
                    for o in x.as_array_mut().into_iter().flatten().filter(|o| o.is_object()) {
                        let typed: GenOptions = serde_json::from_value(o.clone()).unwrap();
                        *o = Value::from(typed.describe());
                    }
                } else {
                    described_options(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(described_options),
        _ => {}
    }
}

/// `got` without the top-level `kind` / `schema_version` fields the golden `want` lacks (added
/// to every result JSON by issue 13), with typed `agent_options` as configuration lines; other
/// files unchanged.
pub fn accept_added(file: &str, want: &str, got: &str) -> String {
    let strip = |w: &str, g: &str| -> Option<Value> {
        let w: Value = serde_json::from_str(w).ok()?;
        let mut g: Value = serde_json::from_str(g).ok()?;
        described_options(&mut g);
        let (Value::Object(wm), Value::Object(gm)) = (&w, &mut g) else { return None };
        for k in ["kind", "schema_version"] {
            if !wm.contains_key(k) {
                gm.remove(k);
            }
        }
        Some(g)
    };
    if file.ends_with(".json") {
        strip(want, got).map_or_else(|| got.to_string(), |g| serde_json::to_string_pretty(&g).unwrap() + "\n")
    } else if file.ends_with(".jsonl") {
        want.lines()
            .zip(got.lines())
            .map(|(w, g)| {
                strip(w, g).map_or_else(|| g.to_string(), |g| serde_json::to_string(&g).unwrap()) + "\n"
            })
            .collect()
    } else {
        got.to_string()
    }
}
