//! The latency tables every report shows: per call (TTFT, first visible token, ITL p50 / p90 /
//! p99, TPOT, e2e, cached share) and per configuration, agent or side (p50 / p90 / p99 of each
//! latency over its calls), from [`crate::latency`].

use crate::backend::CallRecord;
use crate::export::table::{Align, Table};
use crate::latency::{CallSamples, LatencyStats};
use crate::metrics::cached_share;
use crate::stats::Percentiles;

use super::f2;

/// `62.5 %` of a fraction, or `not reported` (no server said what it cached).
pub fn share(x: Option<f64>) -> String {
    x.map_or_else(|| "not reported".into(), |s| format!("{:.1} %", s * 100.0))
}

/// `p50 / p90 / p99` in ms, or `n/a`.
fn triple(p: Option<&Percentiles>) -> String {
    p.map_or_else(|| "n/a".into(), |p| format!("{:.2} / {:.2} / {:.2}", p.p50, p.p90, p.p99))
}

/// One row per call, named by its kind or step (`analysis`, `report`, a workflow step …).
/// Empty when there is no call.
pub fn per_call_table<'a>(calls: impl IntoIterator<Item = (String, &'a CallRecord)>) -> String {
    use Align::{Left as L, Right as R};
    let mut t = Table::new(&[
        ("call", L),
        ("TTFT ms", R),
        ("first visible ms", R),
        ("ITL p50 ms", R),
        ("ITL p90 ms", R),
        ("ITL p99 ms", R),
        ("TPOT ms", R),
        ("e2e ms", R),
        ("cached share", R),
    ]);
    for (name, c) in calls {
        let s = CallSamples::of_calls([c]).stats();
        let itl = s.itl_ms;
        let cached = match (c.server.prompt_eval_count, c.server.prompt_cached_count) {
            (Some(n), Some(k)) => share(cached_share(n, k)),
            _ => share(None),
        };
        let status = if s.failed > 0 { " (failed: not sampled)" } else { "" };
        t.row([
            format!("{name}{status}"),
            f2(c.ttft_ms()),
            f2(c.first_content_ms),
            f2(itl.map(|p| p.p50)),
            f2(itl.map(|p| p.p90)),
            f2(itl.map(|p| p.p99)),
            f2(s.tpot_ms.map(|p| p.p50)),
            f2(c.e2e_ms()),
            cached,
        ]);
    }
    if t.is_empty() { String::new() } else { t.block() }
}

/// One row per named set of calls (configuration, side, agent): calls sampled (and failed),
/// each latency's `p50 / p90 / p99` and the cached share.
pub fn distribution_table<'a>(
    rows: impl IntoIterator<Item = (String, &'a LatencyStats)>,
    first: &str,
) -> String {
    use Align::{Left as L, Right as R};
    let mut t = Table::new(&[
        (first, L),
        ("calls", R),
        ("TTFT p50 / p90 / p99 ms", R),
        ("first visible p50 / p90 / p99 ms", R),
        ("ITL p50 / p90 / p99 ms", R),
        ("TPOT p50 / p90 / p99 ms", R),
        ("e2e p50 / p90 / p99 ms", R),
        ("cached share", R),
    ]);
    for (name, s) in rows {
        let calls =
            if s.failed > 0 { format!("{} (+{} failed)", s.calls, s.failed) } else { s.calls.to_string() };
        let mut row = vec![name, calls];
        row.extend(s.rows().iter().map(|(_, p)| triple(*p)));
        row.push(share(s.cached_share));
        t.row(row);
    }
    if t.is_empty() { String::new() } else { t.block() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ServerTimings;
    use crate::latency::tests::call;

    #[test]
    fn tables_show_hand_worked_percentiles() {
        let t = ServerTimings {
            prompt_eval_count: Some(300),
            prompt_cached_count: Some(700),
            ..Default::default()
        };
        let c = call(&[100.0, 110.0, 130.0, 160.0], 1, 200.0, t);
        let per_call = per_call_table([("analysis".to_string(), &c)]);
        // ITL 10 20 30: p50 20, p90 28, p99 29.8; TPOT (200 − 100) / 3
        assert!(
            per_call
                .contains("| analysis | 100.00 | 110.00 | 20.00 | 28.00 | 29.80 | 33.33 | 200.00 | 70.0 % |"),
            "{per_call}"
        );
        let s = CallSamples::of_calls([&c]).stats();
        let d = distribution_table([("baseline".to_string(), &s)], "config");
        assert!(d.contains("| baseline | 1 | 100.00 / 100.00 / 100.00 | 110.00 / 110.00 / 110.00 | 20.00 / 28.00 / 29.80 |"), "{d}");
        assert!(per_call_table(std::iter::empty()).is_empty());
        assert_eq!(share(None), "not reported");
    }
}
