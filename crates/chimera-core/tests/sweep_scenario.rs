//! Multi-agent sweeps (`chimera sweep --scenario`) on a fake Ollama (real TCP on 127.0.0.1)
//! whose speed depends on num_ctx: the best point, aggregate throughput and the summed decode
//! rate against the fake's known speeds, true efficiency ≈ 1 on a concurrent server and ≈ 0.5
//! on a one-slot server, personas as system prompts, failure isolation, resume and Ctrl-C.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chimera_core::backend::ollama::OllamaClient;
use chimera_core::backend::{Backend, Timeouts};
use chimera_core::events::Events;
use chimera_core::multi::{CancellationToken, Scenario};
use chimera_core::options::GenOptions;
use chimera_core::sweep::grid::{Grid, Point, parse_values};
use chimera_core::sweep::run::{SweepConfig, SweepOutcome, Warmup, point_dir};
use chimera_core::sweep::summary::SweepSummary;
use chimera_core::sweep::{ScenarioWorkload, Store, SweepError, run_sweep_scenario};
use chimera_testkit::{FakeOllama, LatencyProfile, Reply, Request, ScriptedServer};

const MODEL: &str = "gemma3:270m";
/// Tokens per call (the fake sends exactly this many, whatever num_predict says).
const N: usize = 40;
const FIRST_TOKEN_MS: u64 = 20;

/// Inter-token gap by num_ctx: 256 → 2 ms (500 tok/s), 512 → 4 ms (250), unset → 8 ms (125).
fn itl_ms(ctx: Option<i64>) -> u64 {
    match ctx {
        Some(256) => 2,
        Some(512) => 4,
        _ => 8,
    }
}

fn fake() -> FakeOllama {
    FakeOllama::with_profile(|req: &Request| {
        let ms = Duration::from_millis;
        LatencyProfile::new(ms(FIRST_TOKEN_MS), ms(itl_ms(req.option_i64("num_ctx"))), N)
    })
    .models(&[MODEL])
}

fn data_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("reports")).unwrap();
    std::fs::write(
        d.path().join("reports/bench.csv"),
        "model,tokens_s,ttft_ms\ngemma3:270m,101.5,220\ngemma3:270m,99.5,240\n",
    )
    .unwrap();
    d
}

fn grid() -> Grid {
    Grid::from_lists(&[
        ("num_ctx".into(), parse_values("256,512")),
        ("num_predict".into(), parse_values("40")),
    ])
    .unwrap()
}

fn cfg() -> SweepConfig {
    SweepConfig {
        model: MODEL.into(),
        system: None,
        prompt: String::new(),
        runs: 1,
        warmup: Warmup::OnLoadChange,
        shuffle_seed: None,
        agent: None,
    }
}

fn work(data: &Path, out: &Path, fixed: &GenOptions) -> ScenarioWorkload {
    ScenarioWorkload {
        workflow: chimera_core::workflow::default_workflow(),
        scenario: Scenario::ChimeraHomo,
        n_agents: 2,
        personas: ScenarioWorkload::default_personas(Scenario::ChimeraHomo, 2),
        fixed: fixed.clone(),
        second: GenOptions::default(),
        data_dirs: vec![data.to_path_buf()],
        out_dir: out.to_path_buf(),
        solo: true,
        contention_threshold: 1.25,
    }
}

fn client(srv: &ScriptedServer) -> Arc<dyn Backend> {
    Arc::new(OllamaClient::new(&srv.url(), Timeouts::default()))
}

/// The scenario sweep of `points` against `srv` with the tests' configuration, not cancelled.
async fn sweep(
    srv: &ScriptedServer,
    w: &ScenarioWorkload,
    points: &[Point],
    store: &mut Store,
) -> Result<SweepOutcome, SweepError> {
    run_sweep_scenario(client(srv), &cfg(), w, points, store, &Events::none(), CancellationToken::new()).await
}

fn system_of(r: &Request) -> Option<String> {
    r.json.as_ref().and_then(|j| j["system"].as_str().map(str::to_string))
}

fn agent_calls(srv: &ScriptedServer) -> Vec<Request> {
    srv.requests().into_iter().filter(|r| r.path.starts_with("/api/") && system_of(r).is_some()).collect()
}

/// Aggregate throughput of a point if nothing but the scripted streaming took time: each agent
/// makes 2 calls of (first token + (N - 1) gaps), concurrently; 2 agents × 2 calls × N tokens.
fn ideal_aggregate(itl: u64) -> f64 {
    let call_s = (FIRST_TOKEN_MS + itl * (N as u64 - 1)) as f64 / 1000.0;
    (2 * 2 * N) as f64 / (2.0 * call_s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn homo_sweep_on_a_concurrent_server_finds_the_best_point_and_full_efficiency() {
    let srv = fake().start().await;
    let (data, out) = (data_dir(), tempfile::tempdir().unwrap());
    let g = grid();
    let points = g.points(true).unwrap();
    assert_eq!(points.len(), 3);
    let w = work(data.path(), out.path(), &g.fixed);
    let mut store = Store::create(out.path()).unwrap();
    let o = sweep(&srv, &w, &points, &mut store).await.unwrap();
    assert_eq!((o.ran, o.failed_calls, o.warmups), (3, 0, 3));

    // Personas: 3 points × (solo + concurrent) × 2 calls per agent, each with its persona.
    let calls = agent_calls(&srv);
    let with = |name: &str| calls.iter().filter(|r| system_of(r).unwrap().contains(name)).count();
    assert_eq!(with("DataCollector-9000"), 12, "agent A (collector) calls");
    assert_eq!(with("InsightAgent"), 12, "agent B (insight) calls");
    assert_eq!(calls.len(), 24);
    assert!(calls.iter().any(|r| r.body.contains("101.5")), "the artifact's numbers reach the agents");
    // Both agents at a point send the point's options.
    assert!(calls.iter().all(|r| r.option_i64("num_predict") == Some(40)));

    let s = SweepSummary::new(cfg(), g, store.results().to_vec()).with_scenario(w);
    for p in &s.points {
        let m = p.multi.as_ref().unwrap();
        assert_eq!((m.agents.len(), m.failed_runs, m.runs.len()), (2, 0, 1), "{}", p.label);
        let itl = itl_ms(p.options.num_ctx.map(i64::from));
        // Σ of the agents' server decode rates is exact: 2 × 1000 / itl.
        let sum = m.sum_decode_tok_s.as_ref().unwrap().mean;
        assert!((sum - 2000.0 / itl as f64).abs() < 1e-6, "{}: Σ decode {sum}", p.label);
        // Aggregate = Σ tokens / wall: never above the scripted ideal, close to it.
        let agg = p.throughput_tok_s.as_ref().unwrap().mean;
        let ideal = ideal_aggregate(itl);
        assert!(agg <= ideal * 1.01 && agg > ideal * 0.6, "{}: aggregate {agg} vs ideal {ideal}", p.label);
        assert_eq!(p.runs[0].output_tokens, (2 * 2 * N) as u64);
        // A concurrent server overlaps the agents: efficiency ≈ 1.
        let eff = m.efficiency.as_ref().unwrap().mean;
        assert!(eff > 0.8 && eff < 1.1, "{}: efficiency {eff}", p.label);
        // Reports of both agents, solo and concurrent, plus the point's multi summary.
        let dir = out.path().join("agents").join(point_dir(&p.label));
        for f in [
            "run_1/chimera-agent-a/report.md",
            "run_1/chimera-agent-b/report.md",
            "run_1/solo/chimera-agent-a/report.md",
            "run_1/metrics.json",
            "run_1/combined_report.md",
            "summary.json",
        ] {
            assert!(dir.join(f).is_file(), "{}: {f} missing", p.label);
        }
    }
    let best = s.ranking.best.as_ref().unwrap();
    assert_eq!(best.label, "num_ctx=256");
    assert_eq!(s.points[s.ranking.by_throughput[0]].label, "num_ctx=256");
    assert_eq!(s.points[*s.ranking.by_throughput.last().unwrap()].label, "baseline");
    assert!(best.throughput_vs_baseline.as_ref().unwrap().delta_pct.value > 100.0);
    let md = s.to_markdown().unwrap();
    assert!(md.contains("multi-agent sweep of `chimera_homo`"), "{md}");
    assert!(md.contains("## Multi-agent scaling per point (`chimera_homo`, 2 agents)"), "{md}");
    assert!(md.contains("Aggregate throughput (tok/s)"), "{md}");
    let csv = std::fs::read_to_string(Store::csv_path(out.path())).unwrap();
    assert_eq!(csv.lines().filter(|l| l.contains(",chimera_homo,")).count(), 3, "{csv}");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_slot_server_halves_efficiency_and_resume_reruns_nothing_finished() {
    let srv = fake().start_serial().await;
    let (data, out) = (data_dir(), tempfile::tempdir().unwrap());
    let g = grid();
    let points = g.points(true).unwrap();
    let w = work(data.path(), out.path(), &g.fixed);
    // The first two points finish, then the process "dies".
    let mut store = Store::create(out.path()).unwrap();
    sweep(&srv, &w, &points[..2], &mut store).await.unwrap();
    drop(store);
    let before = srv.requests().len();
    let mut store = Store::resume(out.path()).unwrap();
    assert_eq!(store.results().len(), 2);
    let o = sweep(&srv, &w, &points, &mut store).await.unwrap();
    assert_eq!((o.ran, o.skipped), (1, 2));
    let after: Vec<Request> =
        srv.requests().into_iter().skip(before).filter(|r| r.path.starts_with("/api/generate")).collect();
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|r| r.option_i64("num_ctx") == Some(512)),
        "only the unfinished point num_ctx=512 may run after the resume"
    );
    let all = Store::load(out.path()).unwrap();
    assert_eq!(all.len(), 3);
    for p in &all {
        // One slot: the agents queue, the concurrent wall ≈ Σ solo → speedup ≈ 1, efficiency ≈ 0.5.
        let eff = p.multi.as_ref().unwrap().efficiency.as_ref().unwrap().mean;
        assert!(eff > 0.4 && eff < 0.62, "{}: efficiency {eff}", p.label);
        let r = &p.multi.as_ref().unwrap().runs[0];
        assert!(
            r.brief.original_speedup.unwrap() > r.brief.speedup.unwrap(),
            "the original's formula overstates"
        );
    }
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_agent_marks_its_run_and_the_sweep_goes_on() {
    // Agent B (insight) gets a 500 on every call at num_ctx=512; everything else is served.
    let h = fake().handler();
    let srv = ScriptedServer::start(move |req: &Request| {
        let insight = system_of(req).is_some_and(|s| s.contains("InsightAgent"));
        if insight && req.option_i64("num_ctx") == Some(512) {
            Reply::Status(500, "scripted failure".into())
        } else {
            h(req)
        }
    })
    .await;
    let (data, out) = (data_dir(), tempfile::tempdir().unwrap());
    let g = grid();
    let points = g.points(false).unwrap();
    let w = work(data.path(), out.path(), &g.fixed);
    let mut store = Store::create(out.path()).unwrap();
    let o = sweep(&srv, &w, &points, &mut store).await.unwrap();
    assert_eq!((o.ran, o.failed_calls), (2, 1));
    let s = SweepSummary::new(cfg(), g, store.results().to_vec()).with_scenario(w);
    let bad = s.points.iter().find(|p| p.label == "num_ctx=512").unwrap();
    let m = bad.multi.as_ref().unwrap();
    assert_eq!(m.failed_runs, 1);
    assert!(!bad.runs[0].ok);
    assert!(bad.runs[0].error.as_deref().unwrap().contains("Chimera Agent B"), "{:?}", bad.runs[0].error);
    assert!(m.runs[0].agents[0].ok && !m.runs[0].agents[1].ok, "agent A finished, agent B failed");
    let dir = out.path().join("agents").join(point_dir(&bad.label));
    assert!(dir.join("run_1/chimera-agent-a/report.md").is_file(), "the other agent's report is kept");
    assert_eq!(s.ranking.best.as_ref().unwrap().label, "num_ctx=256");
    assert!(s.to_markdown().unwrap().contains("| num_ctx=512 | 1 | Failed |"));
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_keeps_finished_points() {
    let srv = fake().start().await;
    let (data, out) = (data_dir(), tempfile::tempdir().unwrap());
    let g = grid();
    let points = g.points(true).unwrap();
    let w = work(data.path(), out.path(), &g.fixed);
    let cancel = CancellationToken::new();
    let (c, jsonl) = (cancel.clone(), Store::jsonl_path(out.path()));
    // "Ctrl-C" as soon as the first point is on disk (bounded wait).
    let watcher = tokio::spawn(async move {
        for _ in 0..3000 {
            let done = std::fs::read_to_string(&jsonl).map(|t| t.lines().count()).unwrap_or(0);
            if done >= 1 {
                c.cancel();
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let mut store = Store::create(out.path()).unwrap();
    let r = run_sweep_scenario(client(&srv), &cfg(), &w, &points, &mut store, &Events::none(), cancel).await;
    watcher.await.unwrap();
    assert!(matches!(r, Err(SweepError::Interrupted { .. })), "{r:?}");
    let kept = Store::load(out.path()).unwrap();
    assert!(!kept.is_empty() && kept.len() < 3, "{}", kept.len());
    assert_eq!(kept[0].label, "baseline");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_one_slot_servers_overlap_fully_and_no_solo_skips_the_speedup() {
    use chimera_core::sweep::run_sweep_scenario_on;
    // Each server serves one request at a time, but each agent has its own server.
    let (a, b) = (fake().start_serial().await, fake().start_serial().await);
    let (data, out) = (data_dir(), tempfile::tempdir().unwrap());
    let g = grid();
    let points = g.points(false).unwrap();
    let w = work(data.path(), out.path(), &g.fixed);
    let mut store = Store::create(out.path()).unwrap();
    let backends = vec![client(&a), client(&b)];
    run_sweep_scenario_on(
        backends.clone(),
        &cfg(),
        &w,
        &points[..1],
        &mut store,
        &Events::none(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let sys = |s: &ScriptedServer| -> Vec<String> { agent_calls(s).iter().filter_map(system_of).collect() };
    assert!(
        sys(&a).iter().all(|s| s.contains("DataCollector-9000")) && sys(&a).len() == 4,
        "agent A on server 1"
    );
    assert!(sys(&b).iter().all(|s| s.contains("InsightAgent")) && sys(&b).len() == 4, "agent B on server 2");
    let p = &store.results()[0];
    let eff = p.multi.as_ref().unwrap().efficiency.as_ref().unwrap().mean;
    assert!(eff > 0.8 && eff < 1.1, "separate servers overlap: efficiency {eff}");

    // --no-solo: only the concurrent phase; no speedup, aggregate throughput still measured.
    let no_solo = ScenarioWorkload { solo: false, ..w };
    let before = agent_calls(&a).len() + agent_calls(&b).len();
    run_sweep_scenario_on(
        backends,
        &cfg(),
        &no_solo,
        &points,
        &mut store,
        &Events::none(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        agent_calls(&a).len() + agent_calls(&b).len() - before,
        4,
        "one concurrent phase, 2 calls each"
    );
    let p = store.results().iter().find(|p| p.label == "num_ctx=512").unwrap();
    let m = p.multi.as_ref().unwrap();
    assert!(!m.solo && m.efficiency.is_none() && m.speedup.is_none());
    assert!(p.throughput_tok_s.is_some() && m.runs[0].brief.original_speedup.is_some());
    assert!(!out.path().join("agents/num_ctx=512/run_1/solo").exists());
    a.shutdown().await;
    b.shutdown().await;
}
