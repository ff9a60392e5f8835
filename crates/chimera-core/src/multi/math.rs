//! The multi-agent figures as small pure functions: true speedup, efficiency, aggregate
//! throughput, per-agent slowdown, contention, and the original system's (flawed) estimate.

/// True speedup: the sum of each agent's solo time (measured alone) over the wall time of
/// the concurrent phase. `None` without agents or with a non-positive wall.
pub fn speedup(solo_secs: &[f64], concurrent_wall_secs: f64) -> Option<f64> {
    if solo_secs.is_empty() || concurrent_wall_secs <= 0.0 || !concurrent_wall_secs.is_finite() {
        return None;
    }
    Some(solo_secs.iter().sum::<f64>() / concurrent_wall_secs)
}

/// Parallel efficiency: speedup / N (1.0 = perfect scaling). `None` when `n` is 0.
pub fn efficiency(speedup: f64, n: usize) -> Option<f64> {
    (n > 0).then(|| speedup / n as f64)
}

/// Aggregate throughput: all tokens generated during the concurrent phase over its wall time.
pub fn aggregate_tok_s(tokens: &[u64], wall_secs: f64) -> Option<f64> {
    if wall_secs <= 0.0 || !wall_secs.is_finite() {
        return None;
    }
    Some(tokens.iter().sum::<u64>() as f64 / wall_secs)
}

/// Per-agent slowdown: time in the concurrent phase over time alone (1.0 = unaffected).
pub fn slowdown(concurrent_secs: f64, solo_secs: f64) -> Option<f64> {
    (solo_secs > 0.0 && solo_secs.is_finite() && concurrent_secs.is_finite())
        .then(|| concurrent_secs / solo_secs)
}

/// Contention: the agent ran more than `threshold` times slower next to the others.
pub fn contended(slowdown: f64, threshold: f64) -> bool {
    slowdown > threshold
}

/// The ORIGINAL system's figure, kept only for comparison: it estimated "sequential time" as
/// the sum of the agents' durations measured *during* the concurrent run and divided it by
/// the concurrent wall. That measures how evenly the agents overlapped (balance), not speedup:
/// agents queued behind each other on one server still "overlap" and score near N.
pub fn original_speedup(concurrent_durations_secs: &[f64], concurrent_wall_secs: f64) -> Option<f64> {
    speedup(concurrent_durations_secs, concurrent_wall_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn independent_servers_by_hand() {
        // Two agents of 10 s and 12 s alone; together the wall is 12 s (no interference).
        let s = speedup(&[10.0, 12.0], 12.0).unwrap();
        assert!(close(s, 22.0 / 12.0)); // 1.8333…
        assert!(close(efficiency(s, 2).unwrap(), 22.0 / 24.0)); // 0.91666…
        assert!(close(slowdown(12.0, 12.0).unwrap(), 1.0));
        assert!(!contended(1.0, 1.25));
    }

    #[test]
    fn serial_server_by_hand() {
        // One server serving one request at a time, two agents of 10 s each:
        // agent A ends at 10 s, agent B waited and ends at 20 s. Wall = 20 s.
        let s = speedup(&[10.0, 10.0], 20.0).unwrap();
        assert!(close(s, 1.0));
        assert!(close(efficiency(s, 2).unwrap(), 0.5));
        // Slowdowns: A 10/10 = 1.0, B 20/10 = 2.0 > 1.25 → contended.
        assert!(close(slowdown(20.0, 10.0).unwrap(), 2.0));
        assert!(contended(2.0, 1.25));
        // The original's estimate: (10 + 20) / 20 = 1.5 — it "sees" a 1.5× speedup that is not there.
        assert!(close(original_speedup(&[10.0, 20.0], 20.0).unwrap(), 1.5));
    }

    #[test]
    fn aggregate_throughput_and_degenerate_inputs() {
        // 300 + 500 tokens in 4 s = 200 tok/s.
        assert!(close(aggregate_tok_s(&[300, 500], 4.0).unwrap(), 200.0));
        assert_eq!(aggregate_tok_s(&[1], 0.0), None);
        assert_eq!(speedup(&[], 1.0), None);
        assert_eq!(speedup(&[1.0], 0.0), None);
        assert_eq!(efficiency(2.0, 0), None);
        assert_eq!(slowdown(1.0, 0.0), None);
        // Exactly at the threshold is not contention.
        assert!(!contended(1.25, 1.25));
    }
}
