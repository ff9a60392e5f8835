//! The level runner on tokio's paused clock against simulated servers of known speed: exact
//! schedules, no coordinated omission, warm-ups excluded, closed loop, spreading, Ctrl-C.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::arrivals::{Arrival, Stop};
use super::level::summarize_level;
use super::run::{LevelPlan, run_level};
use super::sim::SimServers;
use crate::events::Events;
use crate::records::traffic::{LoadModel, Spread};

const MS: fn(u64) -> Duration = Duration::from_millis;

fn plan(sim: &SimServers, load: LoadModel, stop: Stop, warmups: u32, slo: &str) -> LevelPlan {
    LevelPlan {
        load,
        stop,
        warmup_sessions: warmups,
        agents: sim.agents(),
        spread: Spread::RoundRobin,
        slo: slo.parse().unwrap(),
        out_dir: std::env::temp_dir().join("chimera-traffic-test-unused"),
    }
}

fn constant(per_sec: f64) -> LoadModel {
    LoadModel::Open { arrival: Arrival::Constant { per_sec } }
}

#[tokio::test(start_paused = true)]
async fn open_loop_starts_on_schedule_and_excludes_warmups() {
    // 10/s, 2 warm-ups + 20 measured sessions, one slot of 50 ms: nobody queues.
    let sim = Arc::new(SimServers::new(1, 1, MS(50)));
    let p = plan(&sim, constant(10.0), Stop::Sessions(20), 2, "session_s<=0.06");
    let run = run_level(&p, sim.clone(), &CancellationToken::new(), &Events::none()).await.unwrap();
    assert!(!run.interrupted);
    assert_eq!(run.sessions.len(), 22);
    for (i, s) in run.sessions.iter().enumerate() {
        assert!((s.planned_s - i as f64 * 0.1).abs() < 1e-9, "{s:?}");
        assert!(s.schedule_error_ms.abs() < 1e-6, "{s:?}");
        assert!((s.figures.session_s - 0.05).abs() < 1e-6 && s.pass, "{s:?}");
        assert_eq!(s.warmup, i < 2);
    }
    let l = summarize_level(&run.sessions, 0.95, true);
    // Measured: planned 0.2 … 2.1 s, the last ends at 2.15 s → window 1.95 s.
    assert_eq!((l.sessions, l.passing), (20, 20));
    assert!((l.window_secs - 1.95).abs() < 1e-6);
    assert!((l.goodput_per_min.unwrap() - 20.0 * 60.0 / 1.95).abs() < 1e-6);
    assert!(l.meets_slo && !l.client_behind);
}

/// Coordinated omission: the server's first request stalls 1 s while sessions keep arriving
/// at 10/s on its one slot. Each session planned during the stall waits for it, and its
/// latency — counted from its planned start — includes the rest of the stall.
#[tokio::test(start_paused = true)]
async fn a_stall_is_counted_in_every_queued_session() {
    let mut sim = SimServers::new(1, 1, MS(10));
    sim.first_stall = Duration::from_secs(1);
    let sim = Arc::new(sim);
    let p = plan(&sim, constant(10.0), Stop::Sessions(10), 0, "session_s<=0.5");
    let run = run_level(&p, sim.clone(), &CancellationToken::new(), &Events::none()).await.unwrap();
    assert_eq!(run.sessions.len(), 10);
    for s in &run.sessions {
        // The client did not wait for the server: every session started on time…
        assert!(s.schedule_error_ms < 1.0, "{s:?}");
        // …and its latency, from its planned start, holds the rest of the stall.
        let rest_of_stall = 1.0 - s.planned_s;
        assert!(s.figures.session_s >= rest_of_stall, "{s:?}");
        assert!(s.figures.ttft_max_ms.unwrap() >= rest_of_stall * 1000.0, "{s:?}");
    }
    // Sessions planned in the first half second waited over 0.5 s: they fail the SLO.
    let l = summarize_level(&run.sessions, 0.95, true);
    assert!(l.passing <= 5 && !l.meets_slo, "{l:?}");
}

#[tokio::test(start_paused = true)]
async fn closed_loop_runs_workers_back_to_back() {
    // Two workers on one 100 ms slot, 10 sessions: each waits for the other → 200 ms each
    // (the first one 100 ms); the whole run takes 1 s → 600 sessions/min.
    let sim = Arc::new(SimServers::new(1, 1, MS(100)));
    let p = plan(&sim, LoadModel::Closed { concurrency: 2 }, Stop::Sessions(10), 0, "session_s<=0.15");
    let run = run_level(&p, sim.clone(), &CancellationToken::new(), &Events::none()).await.unwrap();
    assert_eq!(run.sessions.len(), 10);
    let l = summarize_level(&run.sessions, 0.95, false);
    assert!((l.window_secs - 1.0).abs() < 1e-6, "{l:?}");
    assert!((l.throughput_per_min.unwrap() - 600.0).abs() < 1e-6);
    assert!(l.schedule_error_ms.is_none());
    // Only the first session got the slot at once.
    assert_eq!(l.passing, 1);
}

#[tokio::test(start_paused = true)]
async fn sessions_spread_over_servers_and_report_shares() {
    for spread in [Spread::RoundRobin, Spread::LeastLoaded] {
        let sim = Arc::new(SimServers::new(2, 1, MS(150)));
        let mut p = plan(&sim, constant(10.0), Stop::Sessions(20), 0, "session_s<=0.2");
        p.spread = spread;
        let run = run_level(&p, sim.clone(), &CancellationToken::new(), &Events::none()).await.unwrap();
        let l = summarize_level(&run.sessions, 0.95, true);
        // 10/s of 150 ms sessions need 1.5 slots: two servers carry it, each half the load.
        assert_eq!(l.servers.len(), 2);
        assert!(l.servers.iter().all(|s| s.sessions == 10 && s.share == 0.5), "{spread:?} {l:?}");
        assert_eq!(l.passing, 20, "{spread:?}");
    }
    // Least-loaded avoids a busy server: sessions of 250 ms at 10/s on two one-slot servers.
    // Round-robin sends every other session to a server still busy; least-loaded also queues
    // (2.5 slots needed) but never picks the server with more in flight.
    let sim = Arc::new(SimServers::new(2, 1, MS(250)));
    let mut p = plan(&sim, constant(10.0), Stop::Sessions(4), 0, "session_s<=10");
    p.spread = Spread::LeastLoaded;
    let run = run_level(&p, sim.clone(), &CancellationToken::new(), &Events::none()).await.unwrap();
    let servers: Vec<&str> = run.sessions.iter().map(|s| s.agent.as_str()).collect();
    // t=0 → srv0; 0.1 → srv1 (srv0 busy); 0.2 → srv0 (1 in flight each: the first); 0.3 →
    // srv0 ended at 0.25 but its queued session runs, srv1 ended at 0.35 → 1 each → srv0.
    assert_eq!(servers, ["srv0", "srv1", "srv0", "srv0"]);
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_keeps_the_finished_sessions() {
    let sim = Arc::new(SimServers::new(1, 4, MS(50)));
    let p = plan(&sim, constant(10.0), Stop::Sessions(100), 0, "session_s<=1");
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1020)).await;
        c.cancel();
    });
    let run = run_level(&p, sim.clone(), &cancel, &Events::none()).await.unwrap();
    assert!(run.interrupted);
    // Planned at 0 … 1.0 s and ended by 1.02 s: sessions 0 … 9 (the one at 1.0 s ends 1.05).
    assert_eq!(run.sessions.len(), 10);
    let closed =
        plan(&sim, LoadModel::Closed { concurrency: 2 }, Stop::DurationSecs(10.0), 0, "session_s<=1");
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(120)).await;
        c.cancel();
    });
    let run = run_level(&closed, sim, &cancel, &Events::none()).await.unwrap();
    // Two workers, 50 ms sessions: four ended by 120 ms.
    assert!(run.interrupted);
    assert_eq!(run.sessions.len(), 4);
}
