//! One load level's figures from its sessions, as a pure function ([`summarize_level`]): pass
//! rate and its Wilson interval against the SLO quantile, goodput and throughput per minute,
//! latency and schedule-error percentiles, whether the client fell behind, each server's share.

use std::collections::BTreeMap;

use crate::records::traffic::{LevelSummary, ServerShare, SessionRecord};
use crate::stats::summarize;
use crate::traffic::interval::{Z95, judge, wilson};
use crate::traffic::slo::goodput_per_min;

/// A client whose own schedule error p99 is above this (ms) has fallen behind: its level is
/// marked unreliable.
pub const CLIENT_BEHIND_MS: f64 = 10.0;

/// Summarise the measured (non-warm-up) sessions of `sessions`. `open_loop` decides whether
/// the schedule error is a figure (closed loop has no schedule). `quantile` is the fraction of
/// sessions that must pass.
pub fn summarize_level(sessions: &[SessionRecord], quantile: f64, open_loop: bool) -> LevelSummary {
    let m: Vec<&SessionRecord> = sessions.iter().filter(|s| !s.warmup).collect();
    let n = m.len();
    let passing = m.iter().filter(|s| s.pass).count();
    let ok = m.iter().filter(|s| s.figures.ok).count();
    let start = m.iter().map(|s| s.planned_s).fold(f64::INFINITY, f64::min);
    let end = m.iter().map(|s| s.ended_s).fold(f64::NEG_INFINITY, f64::max);
    let window = if n > 0 { (end - start).max(0.0) } else { 0.0 };
    let per_s = |x: f64| (window > 0.0).then(|| x / window);
    let pass_interval = wilson(passing, n, Z95);
    let pass_rate = (n > 0).then(|| passing as f64 / n as f64);
    let latency: Vec<f64> = m.iter().map(|s| s.figures.session_s).collect();
    let schedule_error_ms =
        if open_loop { summarize(&m.iter().map(|s| s.schedule_error_ms).collect::<Vec<_>>()) } else { None };
    let mut by_server: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for s in &m {
        let e = by_server.entry(&s.server).or_default();
        e.0 += 1;
        e.1 += usize::from(s.pass);
    }
    LevelSummary {
        sessions: n,
        failed: n - ok,
        passing,
        pass_rate,
        pass_interval,
        meets_slo: pass_rate.is_some_and(|p| p >= quantile),
        confidence: pass_interval.map(|iv| judge(&iv, quantile)),
        window_secs: window,
        throughput_per_min: per_s(ok as f64).map(|x| x * 60.0),
        goodput_per_min: goodput_per_min(passing, window),
        tokens_per_s: per_s(m.iter().map(|s| s.tokens as f64).sum()),
        mean_in_flight: per_s(latency.iter().sum()),
        session_s: summarize(&latency),
        ttft_max_ms: summarize(&m.iter().filter_map(|s| s.figures.ttft_max_ms).collect::<Vec<_>>()),
        itl_p99_ms: summarize(&m.iter().filter_map(|s| s.figures.itl_p99_ms).collect::<Vec<_>>()),
        client_behind: schedule_error_ms.as_ref().is_some_and(|e| e.p99 > CLIENT_BEHIND_MS),
        schedule_error_ms,
        servers: by_server
            .into_iter()
            .map(|(server, (k, p))| ServerShare {
                server: server.to_string(),
                sessions: k,
                share: k as f64 / n as f64,
                passing: p,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::interval::Confidence;
    use crate::traffic::slo::{SessionFigures, Slo};

    /// A session planned at `planned`, started `late_ms` later, lasting `secs` from its plan.
    fn session(i: u32, server: &str, planned: f64, late_ms: f64, secs: f64, slo: &Slo) -> SessionRecord {
        let figures =
            SessionFigures { ok: true, ttft_max_ms: Some(100.0), itl_p99_ms: Some(10.0), session_s: secs };
        SessionRecord {
            index: i,
            warmup: false,
            agent: server.into(),
            server: server.into(),
            planned_s: planned,
            started_s: planned + late_ms / 1000.0,
            ended_s: planned + secs,
            schedule_error_ms: late_ms,
            figures,
            tokens: 10,
            error: None,
            pass: slo.passes(&figures),
            missed: slo.missed(&figures),
        }
    }

    /// Four sessions planned at 0, 1, 2, 3 s lasting 2, 2, 5, 3 s (session_s <= 4): three pass.
    /// They end at 2, 3, 7, 6 s: window = 0 … 7 s → goodput 3 × 60 / 7, throughput 4 × 60 / 7
    /// per minute, tokens 40 / 7 per second; in flight (2 + 2 + 5 + 3) / 7. A warm-up session
    /// (planned before them, lasting long) is left out of all of it.
    #[test]
    fn hand_worked_level() {
        let slo: Slo = "session_s<=4".parse().unwrap();
        let mut warm = session(0, "a", -5.0, 0.0, 100.0, &slo);
        warm.warmup = true;
        let ss = vec![
            warm,
            session(1, "a", 0.0, 1.0, 2.0, &slo),
            session(2, "b", 1.0, 2.0, 2.0, &slo),
            session(3, "a", 2.0, 3.0, 5.0, &slo),
            session(4, "b", 3.0, 4.0, 3.0, &slo),
        ];
        let l = summarize_level(&ss, 0.95, true);
        assert_eq!((l.sessions, l.passing, l.failed), (4, 3, 0));
        assert_eq!(l.pass_rate, Some(0.75));
        assert!(!l.meets_slo);
        assert_eq!(l.window_secs, 7.0);
        assert!((l.goodput_per_min.unwrap() - 3.0 * 60.0 / 7.0).abs() < 1e-9);
        assert!((l.throughput_per_min.unwrap() - 4.0 * 60.0 / 7.0).abs() < 1e-9);
        assert!((l.mean_in_flight.unwrap() - 12.0 / 7.0).abs() < 1e-9);
        assert!((l.tokens_per_s.unwrap() - 40.0 / 7.0).abs() < 1e-9);
        assert_eq!(l.confidence, Some(Confidence::Unsure));
        // Schedule errors 1, 2, 3, 4 ms: p99 = 3 + 0.97 × 1 = 3.97 ms — the client kept up.
        let e = l.schedule_error_ms.as_ref().unwrap();
        assert!((e.p99 - 3.97).abs() < 1e-9 && !l.client_behind);
        assert_eq!(l.servers.len(), 2);
        assert_eq!((l.servers[0].sessions, l.servers[0].passing, l.servers[0].share), (2, 1, 0.5));
        // One session 30 ms late pushes the p99 over 10 ms: unreliable.
        let mut late = ss.clone();
        late[4].schedule_error_ms = 30.0;
        assert!(summarize_level(&late, 0.95, true).client_behind);
        // Closed loop: no schedule, so no schedule error and never "behind".
        assert!(summarize_level(&late, 0.95, false).schedule_error_ms.is_none());
        // With a 75 % quantile the level meets the SLO.
        assert!(summarize_level(&ss, 0.75, true).meets_slo);
        // Nothing measured.
        let empty = summarize_level(&ss[..1], 0.95, true);
        assert_eq!((empty.sessions, empty.pass_rate, empty.goodput_per_min), (0, None, None));
    }
}
