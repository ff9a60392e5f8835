//! Load runs and the capacity search against scripted loopback Ollama servers (real TCP, real
//! streaming, the production Ollama client): a one-slot server that stalls 1 s makes every
//! session queued behind it count the stall (no coordinated omission); the capacity search
//! on one-slot servers of service time S stays at or under their capacity 1/S (k/S for k).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chimera_core::backend::{Backend, OllamaClient, Timeouts, http_client};
use chimera_core::capacity::run::{CapacityPlan, Shape, run_capacity};
use chimera_core::capacity::search::SearchPlan;
use chimera_core::events::Events;
use chimera_core::multi::AgentSlot;
use chimera_core::multi::jobs::{CallsAgent, CallsJob};
use chimera_core::options::GenOptions;
use chimera_core::records::traffic::{Axis, LoadModel, LoadRecord, Spread};
use chimera_core::traffic::arrivals::{Arrival, Stop};
use chimera_core::traffic::record::run_load;
use chimera_core::traffic::run::LevelPlan;
use chimera_testkit::{FakeOllama, LatencyProfile};
use tokio_util::sync::CancellationToken;

const MS: fn(u64) -> Duration = Duration::from_millis;

fn client(url: &str) -> Arc<dyn Backend> {
    let t = Timeouts::default();
    Arc::new(OllamaClient::with_http(http_client(&t), url, t))
}

/// One agent per server; each session is one call.
fn job(urls: &[String]) -> (CallsJob, Vec<AgentSlot>) {
    let agents = urls
        .iter()
        .enumerate()
        .map(|(i, u)| CallsAgent {
            label: format!("server {i}"),
            backend: client(u),
            model: "gemma3:270m".into(),
            options: GenOptions::default(),
            prompts: vec![(None, "hello".into())],
        })
        .collect();
    let slots = urls
        .iter()
        .enumerate()
        .map(|(i, u)| AgentSlot { label: format!("server {i}"), server: u.clone(), warmup_key: u.clone() })
        .collect();
    (CallsJob { agents, events: Events::none(), write_calls: false }, slots)
}

/// The first request stalls 1 s on a one-slot server while sessions keep arriving at 10/s:
/// every session planned during the stall waits behind it, so its latency — from its planned
/// start — is at least the rest of the stall, and its TTFT too. (Checked to fail when the
/// runner waits for each session before starting the next: the schedule errors then reach
/// ~1 s.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_server_is_counted_in_every_queued_session() {
    let first = Arc::new(AtomicBool::new(true));
    let srv = FakeOllama::with_profile(move |_| {
        let stall = if first.swap(false, Ordering::SeqCst) { MS(1000) } else { MS(10) };
        LatencyProfile::new(stall, MS(2), 3)
    })
    .models(&["gemma3:270m"])
    .start_serial()
    .await;
    let (job, slots) = job(&[srv.url()]);
    let dir = tempfile::tempdir().unwrap();
    let plan = LevelPlan {
        load: LoadModel::Open { arrival: Arrival::Constant { per_sec: 10.0 } },
        stop: Stop::Sessions(8),
        warmup_sessions: 0,
        agents: slots,
        spread: Spread::RoundRobin,
        slo: "session_s<=0.5".parse().unwrap(),
        out_dir: dir.path().to_path_buf(),
    };
    let rec =
        run_load(&plan, 0.95, None, Arc::new(job), &CancellationToken::new(), &Events::none()).await.unwrap();
    assert_eq!(rec.sessions.len(), 8);
    for s in &rec.sessions {
        let rest = 1.0 - s.planned_s;
        assert!(s.figures.ok, "{s:?}");
        assert!(
            s.figures.session_s >= rest,
            "session {} lasted {} s < {rest} s",
            s.index,
            s.figures.session_s
        );
        assert!(s.figures.ttft_max_ms.unwrap() >= rest * 1000.0, "{s:?}");
    }
    // Sessions planned at 0 … 0.4 s waited more than 0.5 s: at most 3 of 8 pass.
    assert!(rec.summary.passing <= 3 && !rec.summary.meets_slo, "{:?}", rec.summary);
    let back: LoadRecord = chimera_core::load::load(&dir.path().join("load.json")).unwrap();
    assert_eq!(back.sessions.len(), 8);
    assert!(std::fs::read_to_string(dir.path().join("load.md")).unwrap().contains("Fails the SLO"));
}

/// One-slot servers answering each call in S = 50 ms (first token at 44 ms, 4 tokens 2 ms
/// apart): one carries at most 20 sessions/s, two at most 40. The search (3 repeats of 12
/// sessions per server per level, SLO session_s ≤ 0.15 s) never reports more than the physical
/// capacity (+10 %); levels at half the capacity pass, at 1.5× fail; sessions are shared
/// evenly. How close it gets to the capacity is a measurement: BENCHMARKS.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_search_on_one_and_two_slot_servers() {
    for k in [1usize, 2] {
        let mut servers = Vec::new();
        for _ in 0..k {
            servers.push(
                FakeOllama::new(LatencyProfile::new(MS(44), MS(2), 4))
                    .models(&["gemma3:270m"])
                    .start_serial()
                    .await,
            );
        }
        let urls: Vec<String> = servers.iter().map(|s| s.url()).collect();
        let (job, slots) = job(&urls);
        let dir = tempfile::tempdir().unwrap();
        let plan = CapacityPlan {
            axis: Axis::Rate,
            shape: Shape::Constant,
            search: SearchPlan {
                start: 10.0 * k as f64,
                factor: 2.0,
                max: 160.0,
                min: 5.0 * k as f64,
                resolution: 0.25,
                integer: false,
            },
            repeats: 3,
            stop: Stop::Sessions(12 * k as u32),
            warmup_sessions: 1,
            agents: slots,
            spread: Spread::RoundRobin,
            slo: "session_s<=0.15".parse().unwrap(),
            quantile: 0.95,
            out_dir: dir.path().to_path_buf(),
            manifest: None,
        };
        let rec =
            run_capacity(&plan, Arc::new(job), &CancellationToken::new(), &Events::none()).await.unwrap();
        let cap = 20.0 * k as f64;
        // A level where the client fell behind its own schedule (a busy machine) counts as
        // failing and says nothing about the server; every other level is judged here.
        let fair = || rec.levels.iter().filter(|l| !l.pooled.client_behind);
        for l in fair() {
            if l.level <= cap / 2.0 {
                assert!(
                    l.pooled.meets_slo,
                    "k = {k}: {}/s is half the capacity and failed: {:?}",
                    l.level, l.pooled
                );
            }
            if l.level >= cap * 1.5 {
                assert!(
                    !l.pooled.meets_slo,
                    "k = {k}: {}/s is 1.5× the capacity and passed: {:?}",
                    l.level, l.pooled
                );
            }
        }
        if let Some(found) = rec.max_level {
            assert!(found <= cap * 1.1, "k = {k}: found {found}/s above the capacity {cap}/s");
        }
        if k == 2 {
            for l in &rec.levels {
                assert_eq!(l.pooled.servers.len(), 2);
                assert!(l.pooled.servers.iter().all(|s| s.share == 0.5), "{:?}", l.pooled.servers);
            }
        }
        assert!(dir.path().join("capacity.md").is_file());
    }
}
