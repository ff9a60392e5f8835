//! The agent report in the seed report's layout (`# {label}`, the technical report with its
//! header, `## Workflow Summary`, `## Metrics`, `## Key Findings`, `## Recommendations`,
//! `## Persona Prompt`), followed by our additions: fact tables, grounding, per-call table,
//! prompt budget, metric formulas and the run manifest.

use std::fmt::Write as _;

use crate::backend::CallRecord;
use crate::events::Stage;
use crate::grounding::Grounding;
use crate::inventory::Inventory;
use crate::manifest::Manifest;
use crate::metrics::{FORMULAS_MD, ns_to_ms};
use crate::prompt::fence;
use crate::records::agent::{AGGREGATION_NOTE, AgentOutcome};

/// Fact-table rows per metric in the report.
const REPORT_FACT_ROWS: usize = 10;
/// Unsupported numbers listed in the grounding section.
const UNSUPPORTED_ROWS: usize = 40;

/// `12.35` with two decimals, or `n/a`.
pub fn f2(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".into(), |v| format!("{v:.2}"))
}

/// What the agent report shows: the outcome, plus what only the run knows (the agent type,
/// the persona's text, the inventory).
#[derive(Debug, Clone, Copy)]
pub struct AgentReport<'a> {
    pub outcome: &'a AgentOutcome,
    pub agent_type: &'a str,
    pub persona_text: &'a str,
    /// None when ingest did not complete.
    pub inventory: Option<&'a Inventory>,
    pub manifest: &'a Manifest,
}

/// Render the agent report.
pub fn render_agent(r: &AgentReport<'_>) -> String {
    let (out, inv, manifest) = (r.outcome, r.inventory, r.manifest);
    let mut o = String::new();
    let label = &out.label;
    let _ = writeln!(o, "# {label}\n");
    let _ = writeln!(o, "# Technical Report: {label} Analysis\n");
    let _ = writeln!(o, "**Date:** {}", manifest.created_at.format("%Y-%m-%d"));
    let _ = writeln!(o, "**Agent Type:** {}", r.agent_type);
    let _ = writeln!(o, "**Model:** {}", out.model);
    let _ = writeln!(o, "**Configuration:** {}", out.options.describe());
    if let (Some(stage), Some(err)) = (out.failed_stage, &out.error) {
        let _ = writeln!(o, "**Status:** FAILED at stage `{}`: {}", stage.as_str(), err);
    }
    o.push_str("\n---\n\n");
    if out.model_text.trim().is_empty() {
        let _ =
            writeln!(o, "_No model text: the run stopped before a model call completed (see Status above)._");
    } else {
        o.push_str(out.model_text.trim());
        o.push('\n');
    }
    if out.failed_stage == Some(Stage::Report) {
        let _ = writeln!(o, "\n_The report call failed; the text above is the analysis call's output._");
    }
    o.push_str("\n---\n\n");

    // Workflow summary.
    let secs = |k: Stage| out.stage_secs(k);
    let _ = writeln!(o, "## Workflow Summary");
    let _ = writeln!(o, "- Files analyzed: {}", out.files_analyzed);
    let _ = writeln!(
        o,
        "- Execution time: {:.2}s (ingest {:.2}s | analysis {:.2}s | report {:.2}s)",
        out.wall_secs,
        secs(Stage::Ingest),
        secs(Stage::Analysis),
        secs(Stage::Report)
    );
    let _ = writeln!(o, "- Data summary:");
    match inv {
        Some(inv) => o.push_str(&fence(&inv.data_summary(), "")),
        None => o.push_str("```\n(no data: ingest did not complete)\n```\n"),
    }

    // Metrics.
    let m = &out.metrics;
    let _ = writeln!(o, "\n## Metrics");
    let _ = writeln!(o, "- Throughput: {} tok/s", f2(m.throughput_tok_s));
    let _ = writeln!(o, "- TTFT: {} ms", f2(m.ttft_ms));
    let _ = writeln!(o, "- Total Duration: {} ms", f2(m.total_duration_ms));
    let _ = writeln!(o, "- Tokens Generated: {}", m.tokens_generated);
    let _ = writeln!(o, "- Prompt Eval: {} ms", f2(m.prompt_eval_ms));
    let _ = writeln!(o, "- Eval Duration: {} ms", f2(m.eval_duration_ms));
    let _ = writeln!(o, "- Load Duration: {} ms", f2(m.load_duration_ms));
    let _ = writeln!(o, "\n_{} Calls aggregated: {}._", AGGREGATION_NOTE, m.calls);

    // Findings and recommendations from the parsed analysis.
    let (findings, recs) = match &out.analysis {
        Some(a) => (a.key_findings.clone(), a.recommendations.clone()),
        None => (Vec::new(), Vec::new()),
    };
    let _ = writeln!(o, "\n## Key Findings");
    list(&mut o, &findings, "No key findings were parsed from the analysis.");
    let _ = writeln!(o, "\n## Recommendations");
    list(&mut o, &recs, "No recommendations were parsed from the analysis.");
    let _ = writeln!(o, "\n## Persona Prompt");
    o.push_str(&fence(r.persona_text, ""));

    // Our additions.
    let _ = writeln!(o, "\n## Data Fact Tables\n");
    match inv {
        Some(inv) if !inv.facts.groups.is_empty() => {
            let _ = writeln!(
                o,
                "{} facts extracted deterministically (no LLM) in {} groups; up to {REPORT_FACT_ROWS} groups per metric, largest first.\n",
                inv.facts.facts_total,
                inv.facts.groups.len()
            );
            o.push_str(
                &inv.facts
                    .to_markdown_tables(REPORT_FACT_ROWS)
                    .replace("\n### ", "\n#### ")
                    .replacen("### ", "#### ", 1),
            );
        }
        Some(_) => {
            let _ = writeln!(o, "No numeric measurements were found in the data.");
        }
        None => {
            let _ = writeln!(o, "Not available: ingest did not complete.");
        }
    }
    grounding_section(&mut o, out.grounding.as_ref());
    calls_section(&mut o, out);
    prompt_section(&mut o, out);
    let _ = writeln!(o, "\n## Metric Formulas\n\n{FORMULAS_MD}");
    let _ = writeln!(o, "\n## Run Manifest\n");
    let b = &manifest.backend;
    let _ = writeln!(o, "- Tool: {} {}", manifest.tool, manifest.tool_version);
    let _ = writeln!(
        o,
        "- Backend: {} at {} (version {})",
        b.kind.map_or_else(|| "unknown".to_string(), |k| k.to_string()),
        b.endpoint,
        b.version.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(o, "- Model: {} (digest {})", out.model, b.model_digest.as_deref().unwrap_or("unknown"));
    let h = &manifest.host;
    let _ = writeln!(o, "- Host: {} · {} · {} · {} CPUs", h.hostname, h.os, h.arch, h.cpus);
    for n in &out.notes {
        let _ = writeln!(o, "- Note: {n}");
    }
    o
}

fn list(o: &mut String, items: &[String], empty: &str) {
    if items.is_empty() {
        let _ = writeln!(o, "- _{empty}_");
    }
    for i in items {
        let _ = writeln!(o, "- {i}");
    }
}

fn grounding_section(o: &mut String, g: Option<&Grounding>) {
    let _ = writeln!(o, "\n## Grounding\n");
    let Some(g) = g else {
        let _ = writeln!(o, "Not checked: the run stopped before the grounding stage.");
        return;
    };
    let score = g.score.map_or_else(|| "n/a (no numbers to check)".to_string(), |s| format!("{:.2}", s));
    let _ = writeln!(
        o,
        "Grounding score: **{score}** ({} of {} numbers in the model's text found in the facts or the inventory; {} not checked: list markers, dates, times, versions, file and model names).\n",
        g.supported, g.checked, g.skipped
    );
    let count = |v| g.checks.iter().filter(|c| c.verdict == v).count();
    use crate::grounding::Verdict as V;
    let _ = writeln!(
        o,
        "- Exact: {} · rounded: {} · unit changed: {} · unsupported: {}",
        count(V::Exact),
        count(V::Rounded),
        count(V::UnitChanged),
        count(V::Unsupported)
    );
    let unsupported: Vec<_> = g.unsupported().collect();
    if unsupported.is_empty() {
        let _ = writeln!(o, "- Unsupported numbers: none");
        return;
    }
    let _ = writeln!(o, "\nUnsupported numbers (not found in the data; treat them as invented):\n");
    let _ = writeln!(o, "| number | context |\n|---|---|");
    for c in unsupported.iter().take(UNSUPPORTED_ROWS) {
        let _ = writeln!(o, "| {} | {} |", c.text, c.context.replace('\n', " "));
    }
    if unsupported.len() > UNSUPPORTED_ROWS {
        let _ = writeln!(o, "\n… and {} more", unsupported.len() - UNSUPPORTED_ROWS);
    }
}

fn ms(ns: Option<u64>) -> String {
    f2(ns.map(ns_to_ms))
}

fn calls_section(o: &mut String, out: &AgentOutcome) {
    let _ = writeln!(o, "\n## Calls\n");
    if out.calls.is_empty() {
        let _ = writeln!(o, "No LLM call was made.");
        return;
    }
    let _ = writeln!(
        o,
        "| stage | status | TTFT ms | decode tok/s | client chunks/s | prompt tokens | output tokens | prompt eval ms | eval ms | load ms | total ms | e2e ms | done |"
    );
    let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (rec, stage) in out.calls.iter().zip(&out.call_stages) {
        let _ = writeln!(o, "{}", call_row(stage.as_str(), rec));
    }
}

fn call_row(stage: &str, r: &CallRecord) -> String {
    let status = if r.completed {
        if r.prompt_truncated { "ok (prompt truncated)".to_string() } else { "ok".to_string() }
    } else {
        format!(
            "FAILED: {}",
            r.error.as_ref().map_or_else(|| "incomplete".to_string(), |e| e.to_string()).replace('|', "/")
        )
    };
    format!(
        "| {stage} | {status} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        f2(r.ttft_ms()),
        f2(r.decode_tok_s()),
        f2(r.client_decode_rate()),
        r.server.prompt_eval_count.map_or_else(|| "n/a".into(), |v| v.to_string()),
        r.output_tokens(),
        ms(r.server.prompt_eval_duration_ns),
        ms(r.server.eval_duration_ns),
        ms(r.server.load_duration_ns),
        ms(r.server.total_duration_ns),
        f2(r.e2e_ms()),
        r.done_reason.as_deref().unwrap_or("-")
    )
}

fn prompt_section(o: &mut String, out: &AgentOutcome) {
    let _ = writeln!(o, "\n## Prompt Budget\n");
    if out.prompts.is_empty() {
        let _ = writeln!(o, "No prompt was built.");
        return;
    }
    let _ = writeln!(
        o,
        "The persona is sent as the system prompt; the inventory and fact tables go in the prompt as fenced data. Prompt tokens are estimated pessimistically (digits and punctuation one token each, words one per 5 letters, +15 %) to fit num_ctx; the server's count is in the Calls table.\n"
    );
    for (p, stage) in out.prompts.iter().zip(&out.call_stages) {
        let left = if p.omitted.is_empty() { "nothing".to_string() } else { p.omitted.join(", ") };
        let _ = writeln!(
            o,
            "- {}: context {} tokens, output budget {} tokens, prompt ≈ {} tokens (estimated). Included: {}. Left out: {}.",
            stage.as_str(),
            p.ctx_tokens,
            p.num_predict,
            p.est_prompt_tokens,
            if p.included.is_empty() { "nothing".to_string() } else { p.included.join(", ") },
            left
        );
    }
}
