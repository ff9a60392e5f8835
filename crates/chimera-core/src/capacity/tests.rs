//! The capacity search end to end on tokio's paused clock, against simulated servers whose
//! capacity is known by hand: one slot of service time S (1/S sessions/s), k such servers
//! (k/S), and a server whose TTFT grows with the sessions in flight.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::run::{CapacityError, CapacityPlan, Shape, run_capacity};
use super::search::SearchPlan;
use crate::events::Events;
use crate::records::traffic::{Axis, CapacityRecord, Spread};
use crate::traffic::arrivals::Stop;
use crate::traffic::sim::SimServers;

fn plan(
    sim: &SimServers,
    axis: Axis,
    start: f64,
    sessions: u32,
    slo: &str,
    out: &std::path::Path,
) -> CapacityPlan {
    CapacityPlan {
        axis,
        shape: Shape::Constant,
        search: SearchPlan {
            start,
            factor: 2.0,
            max: 1000.0,
            min: 0.1,
            resolution: 0.05,
            integer: axis == Axis::Concurrency,
        },
        repeats: 3,
        stop: Stop::Sessions(sessions),
        warmup_sessions: 0,
        agents: sim.agents(),
        spread: Spread::RoundRobin,
        slo: slo.parse().unwrap(),
        quantile: 0.95,
        out_dir: out.to_path_buf(),
        manifest: None,
    }
}

async fn search(sim: SimServers, axis: Axis, start: f64, sessions: u32, slo: &str) -> CapacityRecord {
    let dir = tempfile::tempdir().unwrap();
    let sim = Arc::new(sim);
    let p = plan(&sim, axis, start, sessions, slo, dir.path());
    let rec = run_capacity(&p, sim, &CancellationToken::new(), &Events::none()).await.unwrap();
    // Written after every level, read back through the typed loader.
    let back: CapacityRecord = crate::load::load(&dir.path().join("capacity.json")).unwrap();
    assert_eq!(back, rec);
    let md = std::fs::read_to_string(dir.path().join("capacity.md")).unwrap();
    assert!(md.contains("## Answer") && md.contains("Highest level meeting the SLO"), "{md}");
    rec
}

/// One slot, S = 100 ms → 10 sessions/s. Each level: 40 sessions × 3 repeats, SLO
/// session_s ≤ 0.25 s. Above 10/s the queue grows by S − 1/rate per session: at 11/s session
/// k waits 9.1 k ms and from k = 17 on misses the SLO; at 10/s nobody waits.
#[tokio::test(start_paused = true)]
async fn one_slot_capacity_is_one_over_s() {
    let rec =
        search(SimServers::new(1, 1, Duration::from_millis(100)), Axis::Rate, 1.0, 40, "session_s<=0.25")
            .await;
    let found = rec.max_level.unwrap();
    assert!(
        (found - 10.0).abs() <= 1.0,
        "found {found}/s: {:?}",
        rec.levels.iter().map(|l| l.level).collect::<Vec<_>>()
    );
    assert!(rec.first_failing.unwrap() > found);
    // 40 sessions 100 ms apart, the last ending at 4.0 s: 600 per minute in every repeat.
    let g = rec.sustainable_per_min.as_ref().unwrap();
    assert!((g.mean - 600.0).abs() < 1.0, "{g:?}");
    assert_eq!(g.n, 3);
    // The levels below pass, the levels above fail; every level has three repeats.
    assert!(rec.levels.iter().all(|l| l.repeats.len() == 3 && (l.level <= found) == l.pooled.meets_slo));
    // 12/s fails with most sessions late: its interval is far from 10/s's.
    assert!(rec.told_apart, "{:?}", rec.notes);
    // Throughput stops at 600/min from 10/s on while latency climbs.
    assert_eq!(rec.saturation_level, Some(10.0));
}

/// Three one-slot servers, sessions round-robin: 3/S = 30 sessions/s.
#[tokio::test(start_paused = true)]
async fn k_servers_carry_k_over_s() {
    let rec =
        search(SimServers::new(3, 1, Duration::from_millis(100)), Axis::Rate, 1.0, 120, "session_s<=0.25")
            .await;
    let found = rec.max_level.unwrap();
    assert!((found - 30.0).abs() <= 3.0, "found {found}/s");
    let at = rec.levels.iter().find(|l| l.level == found).unwrap();
    assert_eq!(at.pooled.servers.len(), 3);
    assert!(at.pooled.servers.iter().all(|s| (s.share - 1.0 / 3.0).abs() < 0.01), "{:?}", at.pooled.servers);
}

/// TTFT = 50 ms + 50 ms per session in flight on arrival, SLO ttft_ms ≤ 120 (at most one
/// other in flight). Below 20/s (arrivals more than 50 ms apart) a session meets one other
/// running and takes 100 ms; above, two are in flight, TTFT reaches 150 ms and climbs.
#[tokio::test(start_paused = true)]
async fn ttft_growing_with_load() {
    let mut sim = SimServers::new(1, 1000, Duration::from_millis(50));
    sim.ttft_per_in_flight = Duration::from_millis(50);
    let rec = search(sim, Axis::Rate, 1.5, 40, "ttft_ms<=120").await;
    let found = rec.max_level.unwrap();
    assert!((18.0..20.0).contains(&found), "found {found}/s");
}

/// Closed loop on one 100 ms slot: c sessions at once each take c × 100 ms; with
/// session_s ≤ 0.25 s two agents pass and three do not.
#[tokio::test(start_paused = true)]
async fn concurrency_search_on_one_slot() {
    let rec = search(
        SimServers::new(1, 1, Duration::from_millis(100)),
        Axis::Concurrency,
        1.0,
        12,
        "session_s<=0.25",
    )
    .await;
    assert_eq!((rec.max_level, rec.first_failing), (Some(2.0), Some(3.0)));
    let levels: Vec<f64> = rec.levels.iter().map(|l| l.level).collect();
    assert_eq!(levels, [1.0, 2.0, 3.0, 4.0]);
    // Two in flight at 600 sessions/min.
    let agents = rec.concurrent_agents.as_ref().unwrap();
    assert!((agents.mean - 2.0).abs() < 0.1, "{agents:?}");
}

#[tokio::test(start_paused = true)]
async fn fewer_than_three_repeats_are_refused() {
    let sim = Arc::new(SimServers::new(1, 1, Duration::from_millis(100)));
    let mut p = plan(&sim, Axis::Rate, 1.0, 10, "session_s<=1", std::path::Path::new("/nonexistent"));
    p.repeats = 2;
    let e = run_capacity(&p, sim, &CancellationToken::new(), &Events::none()).await.unwrap_err();
    assert!(matches!(e, CapacityError::Repeats));
    assert!(e.to_string().contains("--repeats"));
}

/// `compare` gates on capacity and goodput: the same search against a server 25 % slower
/// finds a lower capacity and goodput, and the gate fails; against itself it passes.
#[tokio::test(start_paused = true)]
async fn compare_gates_on_capacity_and_goodput() {
    let mut dirs = Vec::new();
    for ms in [100, 125] {
        let dir = tempfile::tempdir().unwrap();
        let sim = Arc::new(SimServers::new(1, 1, Duration::from_millis(ms)));
        let p = plan(&sim, Axis::Rate, 1.0, 40, "session_s<=0.3", dir.path());
        run_capacity(&p, sim, &CancellationToken::new(), &Events::none()).await.unwrap();
        dirs.push(dir);
    }
    let th = crate::compare::Thresholds { max_throughput_drop_pct: 5.0, max_ttft_rise_pct: 10.0 };
    let old = crate::compare::extract(dirs[0].path()).unwrap();
    let new = crate::compare::extract(dirs[1].path()).unwrap();
    assert_eq!(old.kind, crate::records::Kind::Capacity);
    let c = crate::compare::compare(&old, &new, th).unwrap();
    let names: Vec<&str> = c.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["capacity (sessions/s)", "sustainable goodput (sessions/min)"]);
    assert!(c.failed, "{:?}", c.rows);
    assert!(c.rows.iter().all(|r| r.delta_pct.unwrap().value < -5.0), "{:?}", c.rows);
    assert!(!crate::compare::compare(&old, &old, th).unwrap().failed);
}
