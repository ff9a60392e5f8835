//! Sweep on a fake Ollama (real TCP on 127.0.0.1) whose speed depends on num_gpu and num_ctx,
//! so the right ranking, Pareto front and best configuration are known in advance.

use std::time::Duration;

use chimera_core::backend::Timeouts;
use chimera_core::backend::ollama::OllamaClient;
use chimera_core::events::{CancellationToken, Events};
use chimera_core::sweep::grid::{Grid, parse_values};
use chimera_core::sweep::run::{SweepConfig, Warmup, run_sweep};
use chimera_core::sweep::summary::SweepSummary;
use chimera_core::sweep::{Store, output};
use chimera_testkit::{FakeOllama, LatencyProfile, Request, ScriptedServer};

const MODEL: &str = "gemma3:270m";

/// (first token ms, inter-token ms) by (num_gpu, num_ctx); unset options = the baseline.
/// decode tok/s = 1000 / itl: 80/256 → 500, 80/512 → 333, 60/256 → 250, 60/512 → 200, base → 200.
/// TTFT gaps are tens of ms so client-side jitter on a busy machine cannot reorder them.
/// Pareto front: 80/256 (fastest decode) and 60/256 (fastest first token); composite winner
/// 60/256: √(250/500 · 15/15) = 0.707 beats 80/256: √(1 · 15/60) = 0.5.
fn speed(gpu: Option<i64>, ctx: Option<i64>) -> (u64, u64) {
    match (gpu, ctx) {
        (Some(60), Some(256)) => (15, 4),
        (Some(80), Some(256)) => (60, 2),
        (Some(60), Some(512)) => (80, 5),
        (Some(80), Some(512)) => (100, 3),
        _ => (150, 5),
    }
}

async fn server() -> ScriptedServer {
    FakeOllama::with_profile(|req: &Request| {
        let (ft, itl) = speed(req.option_i64("num_gpu"), req.option_i64("num_ctx"));
        let ms = Duration::from_millis;
        LatencyProfile::new(ms(ft + 30), ms(itl), 12).with_load(ms(30))
    })
    .models(&[MODEL])
    .start()
    .await
}

fn grid() -> Grid {
    Grid::from_lists(&[
        ("num_gpu".into(), parse_values("60,80")),
        ("num_ctx".into(), parse_values("256,512")),
        ("temperature".into(), parse_values("0.6,0.8")),
        ("num_predict".into(), parse_values("12")),
    ])
    .unwrap()
}

fn cfg(runs: usize) -> SweepConfig {
    SweepConfig {
        model: MODEL.into(),
        system: None,
        prompt: "hello".into(),
        runs,
        warmup: Warmup::OnLoadChange,
        shuffle_seed: None,
        agent: None,
    }
}

fn generate_requests(srv: &ScriptedServer) -> Vec<Request> {
    srv.requests().into_iter().filter(|r| r.path.starts_with("/api/generate")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranking_pareto_and_best_are_right() {
    let srv = server().await;
    let client = OllamaClient::new(&srv.url(), Timeouts::default());
    let dir = tempfile::tempdir().unwrap();
    let points = grid().points(true).unwrap();
    assert_eq!(points.len(), 9);
    let mut store = Store::create(dir.path()).unwrap();
    let out = run_sweep(&client, &cfg(2), &points, &mut store, &Events::none(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((out.ran, out.skipped, out.failed_calls), (9, 0, 0));
    // baseline + 4 load keys (temperature does not reload; it is the fastest-varying axis)
    assert_eq!(out.warmups, 5);
    let reqs = generate_requests(&srv);
    assert_eq!(reqs.len(), 9 * 2 + 5);
    // fixed options reach every request, the baseline sends no grid option
    assert!(reqs.iter().all(|r| r.option_i64("num_predict") == Some(12)));
    assert!(reqs[0].option_i64("num_ctx").is_none() && reqs[0].option_i64("num_gpu").is_none());

    let s = SweepSummary::new(cfg(2), grid(), store.results().to_vec());
    let p = &s.points;
    let label = |i: usize| p[i].label.as_str();
    // server decode rates are exact: 1000 / itl
    let best_t = &p[s.ranking.by_throughput[0]];
    assert!(best_t.label.starts_with("num_ctx=256 num_gpu=80"), "{}", best_t.label);
    assert!((best_t.throughput_tok_s.as_ref().unwrap().mean - 500.0).abs() < 1e-6);
    assert!(label(s.ranking.by_ttft[0]).starts_with("num_ctx=256 num_gpu=60"));
    assert_eq!(label(*s.ranking.by_ttft.last().unwrap()), "baseline");
    // Pareto front: one of each pair of temperatures (same decode rate, TTFT differs by jitter)
    let front: Vec<&str> = s.ranking.pareto.iter().map(|&i| label(i)).collect();
    assert!(front.iter().all(|l| l.starts_with("num_ctx=256")), "{front:?}");
    assert!(front.iter().any(|l| l.starts_with("num_ctx=256 num_gpu=80")), "{front:?}");
    assert!(front.iter().any(|l| l.starts_with("num_ctx=256 num_gpu=60")), "{front:?}");
    let best = s.ranking.best.as_ref().unwrap();
    assert!(best.label.starts_with("num_ctx=256 num_gpu=60"), "{}", best.label);
    let m = best.throughput_vs_baseline.as_ref().unwrap();
    assert!((m.delta_pct.value - 25.0).abs() < 1e-6, "250 vs 200 tok/s is +25%: {m:?}");
    assert_eq!(
        m.exceeds_noise,
        Some(true),
        "exact server rates have sd 0 (n = 2): any margin exceeds the noise"
    );
    assert!(best.ttft_vs_baseline.as_ref().unwrap().delta_pct.value < -50.0);
    let md = s.to_markdown().unwrap();
    assert!(md.contains("## Best configuration") && md.contains("+25.0%"), "{md}");

    // outputs: summary, plots, html
    let w = output::write_outputs(dir.path(), &s, None).unwrap();
    let html = std::fs::read_to_string(&w.html).unwrap();
    for plot in ["throughput", "ttft", "heatmap", "pareto"] {
        assert!(html.contains(&format!("data-plot=\"{plot}\"")), "{plot} missing");
        assert!(dir.path().join(format!("plots/{plot}.svg")).is_file());
    }
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_reruns_nothing_finished() {
    let srv = server().await;
    let client = OllamaClient::new(&srv.url(), Timeouts::default());
    let dir = tempfile::tempdir().unwrap();
    let points = grid().points(true).unwrap();
    let mut store = Store::create(dir.path()).unwrap();
    // the first 4 points finish, then the process "dies"
    run_sweep(&client, &cfg(1), &points[..4], &mut store, &Events::none(), &CancellationToken::new())
        .await
        .unwrap();
    drop(store);
    let before = generate_requests(&srv).len();
    let mut store = Store::resume(dir.path()).unwrap();
    assert_eq!(store.results().len(), 4);
    let out = run_sweep(&client, &cfg(1), &points, &mut store, &Events::none(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((out.ran, out.skipped), (5, 4));
    let after: Vec<Request> = generate_requests(&srv).into_iter().skip(before).collect();
    // no finished point was requested again: none of the new requests is the baseline
    // or num_ctx=256 num_gpu=60 (points 0..4 are baseline and the 60/256 + 60/512 temps)
    let finished: Vec<_> = points[..4].iter().map(|p| p.options.clone()).collect();
    let measured: Vec<_> = after.iter().filter(|r| r.option_f64("temperature").is_some()).collect();
    for r in &measured {
        let seen = (r.option_i64("num_gpu"), r.option_i64("num_ctx"), r.option_f64("temperature"));
        assert!(
            !finished.iter().any(|o| (o.num_gpu, o.num_ctx.map(i64::from), o.temperature) == seen),
            "finished point requested again: {seen:?}"
        );
    }
    assert!(after.iter().all(|r| r.option_i64("num_gpu").is_some()), "baseline re-run");
    // 5 remaining points × 1 run + warm-ups (first resumed point, then each load change)
    assert_eq!(after.len(), 5 + out.warmups);
    assert_eq!(Store::load(dir.path()).unwrap().len(), 9);
    srv.shutdown().await;
}

/// A sweep whose unit is one agent workflow per run: the persona reaches the server as the
/// system prompt of both calls, the artifact's numbers reach the model, every run writes its
/// report, and the ranking follows the aggregated server decode rate (Σ eval_count /
/// Σ eval_duration is exact here: 1000 / itl).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_workload_sweep_ranks_agent_runs() {
    use std::sync::Arc;

    use chimera_core::backend::Backend;
    use chimera_core::persona::Persona;
    use chimera_core::sweep::run::{AgentWorkload, point_dir, run_sweep_agents};

    // decode 1000 / itl: num_gpu=80 → 500 tok/s, anything else → 200 tok/s
    let srv = FakeOllama::with_profile(|req: &Request| {
        let itl = if req.option_i64("num_gpu") == Some(80) { 2 } else { 5 };
        LatencyProfile::new(Duration::from_millis(20), Duration::from_millis(itl), 12)
    })
    .models(&[MODEL])
    .start()
    .await;
    let client: Arc<dyn Backend> = Arc::new(OllamaClient::new(&srv.url(), Timeouts::default()));
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("reports")).unwrap();
    std::fs::write(
        data.path().join("reports/bench.csv"),
        "model,tokens_s,ttft_ms\ngemma3:270m,101.5,220\ngemma3:270m,99.5,240\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let grid = Grid::from_lists(&[
        ("num_gpu".into(), parse_values("60,80")),
        ("num_ctx".into(), parse_values("2048")),
        ("num_predict".into(), parse_values("12")),
    ])
    .unwrap();
    let points = grid.points(true).unwrap();
    assert_eq!(points.len(), 3);
    let cfg = SweepConfig {
        agent: Some(AgentWorkload {
            workflow: chimera_core::workflow::default_workflow(),
            persona: Persona::collector(),
            data_dirs: vec![data.path().to_path_buf()],
            out_dir: out.path().to_path_buf(),
        }),
        ..cfg(1)
    };
    let mut store = Store::create(out.path()).unwrap();
    let o = run_sweep_agents(
        Arc::clone(&client),
        &cfg,
        &points,
        &mut store,
        &Events::none(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!((o.ran, o.failed_calls, o.warmups), (3, 0, 3));
    // 3 warm-ups (baseline + two load keys) + 3 points × 1 run × (analysis + report)
    let reqs = generate_requests(&srv);
    assert_eq!(reqs.len(), 3 + 3 * 2);
    let agent_calls: Vec<&Request> = reqs
        .iter()
        .filter(|r| {
            r.json
                .as_ref()
                .and_then(|j| j["system"].as_str())
                .is_some_and(|s| s.contains("DataCollector-9000"))
        })
        .collect();
    assert_eq!(agent_calls.len(), 6, "the persona is the system prompt of every agent call");
    assert!(
        agent_calls.iter().any(|r| r.body.contains("101.5")),
        "the artifact's numbers reach the model: {}",
        agent_calls[0].body
    );
    for p in &points {
        assert!(
            out.path().join("agents").join(point_dir(&p.label)).join("run_1/report.md").is_file(),
            "{}",
            p.label
        );
    }
    let s = SweepSummary::new(cfg, grid, store.results().to_vec());
    let best_t = &s.points[s.ranking.by_throughput[0]];
    assert_eq!(best_t.label, "num_gpu=80");
    assert!((best_t.throughput_tok_s.as_ref().unwrap().mean - 500.0).abs() < 1e-6);
    assert!(s.points.iter().all(|p| p.runs.iter().all(|r| r.output_tokens == 24)), "12 tokens × 2 calls");
    assert!(s.to_markdown().unwrap().contains("`collector` agent workflow"));
    srv.shutdown().await;
}
