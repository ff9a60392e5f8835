//! The agent report (`report.md`) in the seed report's layout — `# {label}`, the technical
//! report with its header, Workflow Summary, Metrics, Key Findings, Recommendations, Persona
//! Prompt — followed by our additions: fact tables, grounding, per-call table, prompt budget,
//! metric formulas and the run manifest (`templates/agent.md`).

use serde::Serialize;

use super::findings::{computed_findings, computed_recommendations, mark_unsupported, model_item};
use super::{ManifestView, Markdown, f2, render};
use crate::backend::CallRecord;
use crate::events::Stage;
use crate::export::table::{Align, Table};
use crate::export::{ExportError, Exporter};
use crate::grounding::{Grounding, Verdict};
use crate::inventory::Inventory;
use crate::latency::CallSamples;
use crate::manifest::Manifest;
use crate::metrics::{FORMULAS_MD, ns_to_ms};
use crate::prompt::fence;
use crate::records::agent::{AGGREGATION_NOTE, AgentOutcome};
use crate::records::session::SessionStats;

/// Fact-table rows per metric in the report.
const REPORT_FACT_ROWS: usize = 10;
/// Unsupported numbers listed in the grounding section.
const UNSUPPORTED_ROWS: usize = 40;

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

#[derive(Serialize)]
struct MetricsView {
    throughput: String,
    ttft: String,
    total: String,
    tokens: u64,
    prompt_eval: String,
    eval: String,
    load: String,
    calls: usize,
}

#[derive(Serialize)]
struct GroundingView {
    score: String,
    supported: usize,
    checked: usize,
    skipped: usize,
    exact: usize,
    rounded: usize,
    unit_changed: usize,
    unsupported: usize,
    /// The first unsupported numbers (empty when there are none).
    table: String,
    /// Unsupported numbers beyond the table.
    more: usize,
}

/// Inserted blocks carry no final newline, except `facts` (its blank lines are the report's).
#[derive(Serialize)]
struct View<'a> {
    label: &'a str,
    date: String,
    agent_type: &'a str,
    model: &'a str,
    configuration: String,
    status: Option<String>,
    model_text: String,
    report_failed: bool,
    files_analyzed: usize,
    execution: String,
    data_summary: String,
    metrics: MetricsView,
    aggregation_note: &'static str,
    findings: Vec<String>,
    recommendations: Vec<String>,
    computed_findings: Vec<String>,
    computed_recommendations: Vec<String>,
    /// Ingest completed (computed findings exist).
    ingested: bool,
    persona: String,
    facts: String,
    grounding: Option<GroundingView>,
    calls: String,
    latency_calls: String,
    latency_all: String,
    workflow: String,
    steps: String,
    session: String,
    prompts: Vec<String>,
    formulas: &'static str,
    manifest: ManifestView<'a>,
    notes: &'a [String],
}

fn trimmed(fenced: String) -> String {
    fenced.trim_end_matches('\n').to_string()
}

fn facts(inv: Option<&Inventory>) -> String {
    match inv {
        Some(inv) if !inv.facts.groups.is_empty() => format!(
            "{} facts extracted deterministically (no LLM) in {} groups; up to {REPORT_FACT_ROWS} groups per metric, largest first.\n\n{}",
            inv.facts.facts_total,
            inv.facts.groups.len(),
            inv.facts
                .to_markdown_tables(REPORT_FACT_ROWS)
                .replace("\n### ", "\n#### ")
                .replacen("### ", "#### ", 1)
        ),
        Some(_) => "No numeric measurements were found in the data.\n".into(),
        None => "Not available: ingest did not complete.\n".into(),
    }
}

fn grounding(g: &Grounding) -> GroundingView {
    let count = |v| g.checks.iter().filter(|c| c.verdict == v).count();
    let unsupported: Vec<_> = g.unsupported().collect();
    let mut t = Table::left(&["number", "context"]);
    for c in unsupported.iter().take(UNSUPPORTED_ROWS) {
        t.row([c.text.as_str(), c.context.as_str()]);
    }
    GroundingView {
        score: g.score.map_or_else(|| "n/a (no numbers to check)".to_string(), |s| format!("{s:.2}")),
        supported: g.supported,
        checked: g.checked,
        skipped: g.skipped,
        exact: count(Verdict::Exact),
        rounded: count(Verdict::Rounded),
        unit_changed: count(Verdict::UnitChanged),
        unsupported: count(Verdict::Unsupported),
        table: if unsupported.is_empty() { String::new() } else { t.block() },
        more: unsupported.len().saturating_sub(UNSUPPORTED_ROWS),
    }
}

fn ms(ns: Option<u64>) -> String {
    f2(ns.map(ns_to_ms))
}

/// The per-call table (empty when no call was made).
fn calls(out: &AgentOutcome) -> String {
    if out.calls.is_empty() {
        return String::new();
    }
    use Align::{Left as L, Right as R};
    let mut t = Table::new(&[
        ("stage", L),
        ("status", L),
        ("TTFT ms", R),
        ("decode tok/s", R),
        ("client chunks/s", R),
        ("prompt tokens", R),
        ("output tokens", R),
        ("prompt eval ms", R),
        ("eval ms", R),
        ("load ms", R),
        ("total ms", R),
        ("e2e ms", R),
        ("done", L),
    ]);
    for (r, stage) in out.calls.iter().zip(&out.call_stages) {
        t.row(call_row(*stage, r));
    }
    t.block()
}

fn call_row(stage: Stage, r: &CallRecord) -> [String; 13] {
    let status = if r.completed {
        match r.prompt_truncated {
            Some(true) => match r.prompt_tokens_dropped.filter(|&n| n > 0) {
                Some(n) => format!("ok (prompt truncated: {n} tokens dropped)"),
                None => "ok (prompt truncated)".to_string(),
            },
            Some(false) => "ok".to_string(),
            None => "ok (truncation unknown)".to_string(),
        }
    } else {
        format!(
            "FAILED: {}",
            r.error.as_ref().map_or_else(|| "incomplete".to_string(), |e| e.to_string()).replace('|', "/")
        )
    };
    [
        stage.to_string(),
        status,
        f2(r.ttft_ms()),
        f2(r.decode_tok_s()),
        f2(r.client_decode_rate()),
        prompt_tokens_cell(&r.server),
        r.output_tokens().to_string(),
        ms(r.server.prompt_eval_duration_ns),
        ms(r.server.eval_duration_ns),
        ms(r.server.load_duration_ns),
        ms(r.server.total_duration_ns),
        f2(r.e2e_ms()),
        r.done_reason.as_deref().unwrap_or("-").to_string(),
    ]
}

/// Evaluated prompt tokens, with the tokens the server reused from its prompt cache beside them.
fn prompt_tokens_cell(t: &crate::backend::ServerTimings) -> String {
    match (t.prompt_eval_count, t.prompt_cached_count) {
        (None, _) => "n/a".into(),
        (Some(n), None | Some(0)) => n.to_string(),
        (Some(n), Some(c)) => format!("{n} (+{c} cached)"),
    }
}

/// The calls, each named by the workflow step turn that made it (by its stage in records
/// without steps).
fn named_calls(out: &AgentOutcome) -> impl Iterator<Item = (String, &CallRecord)> {
    let stage = |i: usize| out.call_stages.get(i).map_or_else(|| "call".to_string(), ToString::to_string);
    super::session::call_names(&out.steps, out.calls.len(), stage).into_iter().zip(&out.calls)
}

/// The session's row (empty when no step started).
fn session(out: &AgentOutcome) -> String {
    let stats = out.session.as_ref().and_then(|s| SessionStats::of([s]));
    super::session::session_table(stats.iter().map(|s| ("this run".to_string(), s)), "session")
}

fn prompts(out: &AgentOutcome) -> Vec<String> {
    let list = |v: &[String]| if v.is_empty() { "nothing".to_string() } else { v.join(", ") };
    out.prompts
        .iter()
        .zip(&out.call_stages)
        .map(|(p, stage)| {
            let later = if p.reserved_later_tokens > 0 {
                format!(
                    ", ≈ {} tokens kept for the conversation's {} later turn(s)",
                    p.reserved_later_tokens, p.later_turns
                )
            } else {
                String::new()
            };
            format!(
                "{stage}: context {} tokens, output budget {} tokens{later}, prompt ≈ {} tokens (estimated). Included: {}. Left out: {}.",
                p.ctx_tokens,
                p.num_predict,
                p.est_prompt_tokens,
                list(&p.included),
                list(&p.omitted)
            )
        })
        .collect()
}

impl Exporter<AgentReport<'_>> for Markdown {
    fn serialize(&self, r: &AgentReport<'_>) -> Result<Vec<u8>, ExportError> {
        let (out, manifest) = (r.outcome, r.manifest);
        let m = &out.metrics;
        let (findings, recommendations) = match &out.analysis {
            Some(a) => (a.key_findings.as_slice(), a.recommendations.as_slice()),
            None => (&[][..], &[][..]),
        };
        let computed = r.inventory.map(crate::findings::compute);
        let view = View {
            label: &out.label,
            date: manifest.created_at.format("%Y-%m-%d").to_string(),
            agent_type: r.agent_type,
            model: &out.model,
            configuration: out.options.describe(),
            status: match (out.failed_stage, &out.error) {
                (Some(stage), Some(err)) => Some(format!("FAILED at stage `{stage}`: {err}")),
                _ => None,
            },
            model_text: mark_unsupported(out.model_text.trim(), out.grounding.as_ref()),
            report_failed: out.failed_stage == Some(Stage::Report),
            files_analyzed: out.files_analyzed,
            execution: format!(
                "{:.2}s (ingest {:.2}s | analysis {:.2}s | report {:.2}s)",
                out.wall_secs,
                out.stage_secs(Stage::Ingest),
                out.stage_secs(Stage::Analysis),
                out.stage_secs(Stage::Report)
            ),
            data_summary: match r.inventory {
                Some(inv) => trimmed(fence(&inv.data_summary(), "")),
                None => "```\n(no data: ingest did not complete)\n```".into(),
            },
            metrics: MetricsView {
                throughput: f2(m.throughput_tok_s),
                ttft: f2(m.ttft_ms),
                total: f2(m.total_duration_ms),
                tokens: m.tokens_generated,
                prompt_eval: f2(m.prompt_eval_ms),
                eval: f2(m.eval_duration_ms),
                load: f2(m.load_duration_ms),
                calls: m.calls,
            },
            aggregation_note: AGGREGATION_NOTE,
            findings: findings.iter().map(|f| model_item(f, out.grounding.as_ref())).collect(),
            recommendations: recommendations.iter().map(|r| model_item(r, out.grounding.as_ref())).collect(),
            computed_findings: computed.as_ref().map(computed_findings).unwrap_or_default(),
            computed_recommendations: computed.as_ref().map(computed_recommendations).unwrap_or_default(),
            ingested: computed.is_some(),
            persona: trimmed(fence(r.persona_text, "")),
            facts: facts(r.inventory),
            grounding: out.grounding.as_ref().map(grounding),
            calls: calls(out),
            latency_calls: super::latency::per_call_table(named_calls(out)),
            latency_all: super::latency::distribution_table(
                [("all calls".to_string(), &CallSamples::of_calls(&out.calls).stats())],
                "calls of",
            ),
            workflow: super::findings::code(&out.workflow),
            steps: super::session::steps_table(&out.steps, &out.calls),
            session: session(out),
            prompts: prompts(out),
            formulas: FORMULAS_MD,
            manifest: ManifestView::of(manifest),
            notes: &out.notes,
        };
        render("agent.md", &view).map(String::into_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ServerTimings;

    #[test]
    fn prompt_tokens_show_the_cached_ones_beside() {
        let t = |n, c| ServerTimings { prompt_eval_count: n, prompt_cached_count: c, ..Default::default() };
        assert_eq!(prompt_tokens_cell(&t(None, Some(3))), "n/a");
        assert_eq!(prompt_tokens_cell(&t(Some(12), None)), "12");
        assert_eq!(prompt_tokens_cell(&t(Some(12), Some(0))), "12");
        assert_eq!(prompt_tokens_cell(&t(Some(2), Some(998))), "2 (+998 cached)");
    }
}
