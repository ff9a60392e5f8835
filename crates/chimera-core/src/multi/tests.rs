//! Scheduler tests on tokio's paused clock: jobs "take" exact virtual seconds, so speedup,
//! slowdown and the original's figure are checked against hand-computed values.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::events::Events;
use crate::outcome::Status;

/// Agents that sleep for fixed virtual durations; `serial` makes them share one slot.
struct SleepJob {
    secs: Vec<f64>,
    serial: Option<tokio::sync::Mutex<()>>,
    fail: Option<usize>,
    panic: Option<usize>,
}

impl SleepJob {
    fn new(secs: &[f64], serial: bool) -> Self {
        SleepJob {
            secs: secs.to_vec(),
            serial: serial.then(|| tokio::sync::Mutex::new(())),
            fail: None,
            panic: None,
        }
    }
}

#[async_trait]
impl AgentJob for SleepJob {
    async fn warmup(&self, _agent: usize) -> Result<(), String> {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok(())
    }
    async fn run(&self, agent: usize, phase: Phase, out_dir: PathBuf) -> JobOutcome {
        assert!(self.panic != Some(agent) || phase == Phase::Solo, "scripted panic");
        let _slot = match &self.serial {
            Some(m) => Some(m.lock().await),
            None => None,
        };
        tokio::time::sleep(Duration::from_secs_f64(self.secs[agent])).await;
        let report = out_dir.join("report.md");
        crate::fsutil::write_atomic(&report, format!("# agent {agent}\n").as_bytes()).unwrap();
        if self.fail == Some(agent) && phase == Phase::Concurrent {
            return JobOutcome {
                ok: false,
                error: Some("server went away".into()),
                failed_stage: Some(crate::records::multi::FailedAt::Stage(crate::events::Stage::Report)),
                report_path: Some(report),
                ..Default::default()
            };
        }
        JobOutcome { ok: true, tokens: 100, report_path: Some(report), ..Default::default() }
    }
}

fn plan(out: &std::path::Path, n: usize, runs: u32, solo: bool) -> MultiPlan {
    MultiPlan {
        scenario: ScenarioName::AgentsFile("test".into()),
        agents: (0..n)
            .map(|i| AgentSlot {
                label: format!("Agent {i}"),
                server: format!("srv{i}"),
                warmup_key: format!("srv{i}"),
            })
            .collect(),
        runs,
        solo,
        warmup: true,
        contention_threshold: 1.25,
        out_dir: out.to_path_buf(),
        manifest: None,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[tokio::test(start_paused = true)]
async fn independent_agents_give_full_speedup() {
    let d = tempfile::tempdir().unwrap();
    let job = Arc::new(SleepJob::new(&[10.0, 12.0], false));
    let s =
        run_multi(&plan(d.path(), 2, 1, true), job, CancellationToken::new(), &Events::none()).await.unwrap();
    let r: RunRecord =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("run_1/metrics.json")).unwrap()).unwrap();
    // solo 10 + 12 = 22; together the wall is max(10, 12) = 12.
    assert!(close(r.solo_sum_secs.unwrap(), 22.0));
    assert!(close(r.concurrent_wall_secs.unwrap(), 12.0));
    assert!(close(r.speedup.unwrap(), 22.0 / 12.0));
    assert!(close(r.efficiency.unwrap(), 22.0 / 24.0));
    assert!(close(r.aggregate_tok_s.unwrap(), 200.0 / 12.0));
    assert!(r.agents.iter().all(|a| close(a.slowdown.unwrap(), 1.0) && !a.contended));
    assert_eq!(r.status, RunStatus::Ok);
    assert_eq!(r.warmups.len(), 2);
    assert_eq!(r.agents[0].concurrent.as_ref().unwrap().report.as_deref(), Some("run_1/agent-0/report.md"));
    assert!(d.path().join("run_1/solo/agent-1/report.md").is_file());
    assert_eq!(s.status(), Status::Ok);
}

#[tokio::test(start_paused = true)]
async fn one_slot_server_gives_no_speedup_while_the_original_formula_claims_one() {
    let d = tempfile::tempdir().unwrap();
    let job = Arc::new(SleepJob::new(&[10.0, 10.0], true));
    run_multi(&plan(d.path(), 2, 1, true), job, CancellationToken::new(), &Events::none()).await.unwrap();
    let r: RunRecord =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("run_1/metrics.json")).unwrap()).unwrap();
    // A: 0→10, B waits: 0→20. True speedup (10 + 10) / 20 = 1.0; original (10 + 20) / 20 = 1.5.
    assert!(close(r.speedup.unwrap(), 1.0));
    assert!(close(r.original.as_ref().unwrap().speedup, 1.5));
    assert!(close(r.agents[1].slowdown.unwrap(), 2.0));
    assert!(r.agents[1].contended && r.contention);
    let md = std::fs::read_to_string(d.path().join("run_1/combined_report.md")).unwrap();
    assert!(md.contains("**Speedup (true): 1.00×**"), "{md}");
    assert!(md.contains("Original's formula (labelled, NOT a speedup)") && md.contains("= 1.50×"), "{md}");
    assert!(md.contains("YES — Agent 1"), "{md}");
}

#[tokio::test(start_paused = true)]
async fn runs_are_aggregated_with_stats() {
    let d = tempfile::tempdir().unwrap();
    let job = Arc::new(SleepJob::new(&[4.0, 4.0, 4.0], false));
    let s =
        run_multi(&plan(d.path(), 3, 2, true), job, CancellationToken::new(), &Events::none()).await.unwrap();
    assert_eq!((s.runs_completed, s.runs.len()), (2, 2));
    let sp = s.aggregates.speedup.as_ref().unwrap();
    assert_eq!(sp.n, 2);
    assert!(close(sp.mean, 3.0) && close(sp.sd.unwrap(), 0.0));
    assert!(close(s.aggregates.efficiency.as_ref().unwrap().mean, 1.0));
    assert_eq!(s.per_agent.len(), 3);
    assert!(close(s.per_agent[2].slowdown.as_ref().unwrap().mean, 1.0));
    let on_disk: MultiSummary =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(on_disk.runs.len(), 2);
    let md = std::fs::read_to_string(d.path().join("summary.md")).unwrap();
    assert!(md.contains("| Speedup (true) × | 3.000 ± 0.000 | 3.000 … 3.000 | 2 |"), "{md}");
    for run in ["run_1", "run_2"] {
        assert!(d.path().join(run).join("combined_report.md").is_file());
    }
}

#[tokio::test(start_paused = true)]
async fn one_failure_is_recorded_while_the_others_finish() {
    let d = tempfile::tempdir().unwrap();
    let mut job = SleepJob::new(&[3.0, 5.0], false);
    job.fail = Some(0);
    let s = run_multi(&plan(d.path(), 2, 1, true), Arc::new(job), CancellationToken::new(), &Events::none())
        .await
        .unwrap();
    assert!(s.failed);
    assert_eq!(s.status(), Status::Failed);
    assert_eq!(s.runs[0].status, RunStatus::Failed);
    assert_eq!(s.runs[0].speedup, None);
    assert!(
        s.runs[0].failures[0].contains("Agent 0 (concurrent): server went away"),
        "{:?}",
        s.runs[0].failures
    );
    // The other agent finished and wrote its report.
    assert!(d.path().join("run_1/agent-1/report.md").is_file());
    let md = std::fs::read_to_string(d.path().join("summary.md")).unwrap();
    assert!(md.contains("## Failures"), "{md}");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_agent_is_a_failure_not_a_crash() {
    let d = tempfile::tempdir().unwrap();
    let mut job = SleepJob::new(&[1.0, 1.0], false);
    job.panic = Some(1);
    let s = run_multi(&plan(d.path(), 2, 1, true), Arc::new(job), CancellationToken::new(), &Events::none())
        .await
        .unwrap();
    assert!(s.failed);
    assert!(s.runs[0].failures.iter().any(|f| f.contains("panicked")), "{:?}", s.runs[0].failures);
}

#[tokio::test(start_paused = true)]
async fn interruption_keeps_finished_runs() {
    let d = tempfile::tempdir().unwrap();
    let job = Arc::new(SleepJob::new(&[10.0, 10.0], false));
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    // Run 1 takes 2 (warm-up) + 20 (solo) + 10 (concurrent) = 32 s; cancel inside run 2's solo phase.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(40)).await;
        c.cancel();
    });
    let s = run_multi(&plan(d.path(), 2, 3, true), job, cancel, &Events::none()).await.unwrap();
    assert!(s.interrupted);
    assert_eq!(s.status(), Status::Interrupted);
    assert_eq!(s.runs_completed, 1);
    assert_eq!(s.runs.len(), 2);
    assert_eq!(s.runs[1].status, RunStatus::Interrupted);
    assert!(d.path().join("run_1/combined_report.md").is_file());
    let r2: RunRecord =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("run_2/metrics.json")).unwrap()).unwrap();
    assert_eq!(r2.status, RunStatus::Interrupted);
    assert!(r2.notes.iter().any(|n| n.contains("solo phase")), "{:?}", r2.notes);
    assert!(!d.path().join("run_3").exists());
    assert_eq!(s.aggregates.speedup.as_ref().unwrap().n, 1);
}

#[tokio::test(start_paused = true)]
async fn no_solo_reports_only_the_original_figure() {
    let d = tempfile::tempdir().unwrap();
    let job = Arc::new(SleepJob::new(&[2.0, 4.0], false));
    let s = run_multi(&plan(d.path(), 2, 1, false), job, CancellationToken::new(), &Events::none())
        .await
        .unwrap();
    assert_eq!(s.runs[0].speedup, None);
    // (2 + 4) / 4 = 1.5
    assert!(close(s.runs[0].original_speedup.unwrap(), 1.5));
    assert!(!d.path().join("run_1/solo").exists());
    assert_eq!(s.status(), Status::Ok);
}

#[tokio::test]
async fn invalid_plans_are_rejected_before_anything_runs() {
    let d = tempfile::tempdir().unwrap();
    let job: Arc<dyn AgentJob> = Arc::new(SleepJob::new(&[1.0], false));
    let mut p = plan(d.path(), 1, 0, true);
    let e = run_multi(&p, job.clone(), CancellationToken::new(), &Events::none()).await.unwrap_err();
    assert!(e.to_string().contains("--runs"), "{e}");
    p.runs = 1;
    p.contention_threshold = 0.0;
    assert!(run_multi(&p, job, CancellationToken::new(), &Events::none()).await.is_err());
    assert!(!d.path().join("summary.json").exists());
}
