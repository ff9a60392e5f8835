//! Output folders for tests, written as the commands write them (typed records, JSON exporter):
//! a num_gpu × num_ctx sweep with a baseline, and a multi-agent benchmark with two runs whose
//! first run has an agent record with any number of calls.

use std::path::Path;

use crate::events::Stage;
use crate::export::{self, Json, Markdown};
use crate::load;
use crate::multi::plan::{AgentSlot, MultiPlan};
use crate::multi::summary::summarize_runs;
use crate::records::agent::AgentRecord;
use crate::records::multi::{AgentRunRecord, PhaseResult, RUN_SCHEMA, RunRecord, RunStatus, ScenarioName};
use crate::records::sweep::{PointResult, SweepSummary};
use crate::sweep::grid::{Grid, parse_values};

/// A num_gpu × num_ctx sweep (plus baseline), throughput by num_gpu, TTFT by position.
/// Config and samples go through serde so fields other engineers add with defaults do not
/// break this.
pub(crate) fn sweep_folder(dir: &Path) -> SweepSummary {
    let grid = Grid::from_lists(&[
        ("num_gpu".into(), parse_values("60,80")),
        ("num_ctx".into(), parse_values("256,512")),
    ])
    .unwrap();
    let points: Vec<PointResult> = grid
        .points(true)
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let g = p.options.num_gpu.unwrap_or(40) as f64;
            let runs = (0..2)
                .map(|r| {
                    serde_json::from_value(serde_json::json!({
                        "run": r, "ok": true, "error": null, "ttft_ms": 100.0 + 10.0 * i as f64,
                        "decode_tok_s": g + r as f64, "e2e_ms": 900.0, "output_tokens": 32,
                        "prompt_tokens": 20, "load_ms": 0.0, "prompt_eval_ms": 10.0, "eval_ms": 400.0,
                    }))
                    .unwrap()
                })
                .collect();
            PointResult::new(p, i, None, runs)
        })
        .collect();
    let cfg = serde_json::from_value(serde_json::json!({
        "model": "gemma3:270m", "system": null, "prompt": "p", "runs": 2,
        "warmup": "on_load_change", "shuffle_seed": null,
    }))
    .unwrap();
    let s = SweepSummary::new(cfg, grid, points);
    export::write(&Json, &s, &dir.join("summary.json")).unwrap();
    export::write(&Markdown::default(), &s, &dir.join("summary.md")).unwrap();
    s
}

/// The golden agent record (written by `chimera agent` on a scripted server), relabelled, with
/// `calls` calls that all start at 2026-01-01T00:00:00Z and stream two chunks (300 and 320 ms).
fn agent_record(label: &str, calls: usize) -> AgentRecord {
    let golden = include_str!("../../../testdata/golden/agent/metrics.json");
    let mut a: AgentRecord = load::parse(golden, Path::new("golden/agent/metrics.json")).unwrap();
    let mut call = a.outcome.calls[0].clone();
    call.started_at = "2026-01-01T00:00:00Z".parse().unwrap();
    call.chunk_arrivals_ms = vec![300.0, 320.0];
    call.end_ms = Some(400.0);
    a.outcome.label = label.to_string();
    a.outcome.calls = vec![call; calls];
    a.outcome.call_stages =
        (0..calls).map(|k| if k % 2 == 0 { Stage::Analysis } else { Stage::Report }).collect();
    a
}

fn run_record(run: u32, efficiency: f64) -> RunRecord {
    let phase = PhaseResult {
        ok: true,
        secs: 1.0,
        tokens: 32,
        decode_tok_s: Some(80.0),
        ttft_ms: Some(300.0),
        error: None,
        failed_stage: None,
        report: Some(format!("run_{run}/agent-a/report.md")),
        latency: None,
        session: None,
    };
    RunRecord {
        schema: RUN_SCHEMA.into(),
        run,
        scenario: ScenarioName::AgentsFile("test".into()),
        status: RunStatus::Ok,
        started_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        warmups: vec![],
        agents: vec![AgentRunRecord {
            label: "agent-a".into(),
            server: "srv".into(),
            solo: Some(PhaseResult { secs: 0.6, ..phase.clone() }),
            concurrent: Some(phase),
            slowdown: Some(1.0 / 0.6),
            contended: true,
        }],
        solo_sum_secs: Some(0.6),
        concurrent_wall_secs: Some(1.0),
        speedup: Some(efficiency),
        efficiency: Some(efficiency),
        aggregate_tok_s: Some(32.0),
        contention_threshold: 1.25,
        contention: true,
        original: None,
        notes: vec![],
    }
}

/// A multi-agent folder: runs 1 and 2 (efficiency 0.62 and 0.58); run 1's agent made `calls`
/// calls (run 2 kept no agent record, so it has no timeline).
pub(crate) fn multi_folder(dir: &Path, calls: usize) {
    let records = [run_record(1, 0.62), run_record(2, 0.58)];
    let plan = MultiPlan {
        scenario: ScenarioName::AgentsFile("test".into()),
        agents: vec![AgentSlot { label: "agent-a".into(), server: "srv".into(), warmup_key: "srv".into() }],
        runs: 2,
        solo: true,
        warmup: false,
        contention_threshold: 1.25,
        out_dir: dir.to_path_buf(),
        manifest: None,
    };
    for r in &records {
        export::write(&Json, r, &dir.join(format!("run_{}/metrics.json", r.run))).unwrap();
    }
    export::write(&Json, &agent_record("agent-a", calls), &dir.join("run_1/agent-a/metrics.json")).unwrap();
    let summary = summarize_runs(&plan, &records);
    export::write(&Json, &summary, &dir.join("summary.json")).unwrap();
    export::write(&Markdown::default(), &summary, &dir.join("summary.md")).unwrap();
}
