//! Latency distributions of a set of LLM calls as pure functions: the per-call samples
//! ([`CallSamples`]: TTFT, time to first visible token, TPOT, e2e, every ITL, prompt tokens new
//! and cached) and their p50 / p90 / p99 and cached share ([`LatencyStats`]); the formulas are in
//! [`crate::metrics::FORMULAS_MD`] (printed in every report) and docs/METRICS.md.

use serde::{Deserialize, Serialize};

use crate::backend::CallRecord;
use crate::metrics::{cached_share, tpot_ms};
use crate::stats::{Percentiles, percentiles};

/// The raw latency samples of a set of calls; [`CallSamples::merge`] pools sets (runs, agents).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallSamples {
    /// Completed calls sampled.
    pub calls: usize,
    /// Calls that failed (not sampled).
    pub failed: usize,
    pub ttft_ms: Vec<f64>,
    /// Time to first visible (non-thinking) token.
    pub ttfvt_ms: Vec<f64>,
    /// Every inter-token latency of every call, pooled.
    pub itl_ms: Vec<f64>,
    pub tpot_ms: Vec<f64>,
    pub e2e_ms: Vec<f64>,
    /// Calls whose server reported its prompt cache, and their evaluated and cached prompt tokens.
    pub cache_reported_calls: usize,
    pub prompt_evaluated_tokens: u64,
    pub prompt_cached_tokens: u64,
}

impl CallSamples {
    /// The samples of `calls` (a failed call is counted in `failed`, not sampled).
    pub fn of_calls<'a>(calls: impl IntoIterator<Item = &'a CallRecord>) -> Self {
        let mut s = CallSamples::default();
        for c in calls {
            s.push(c);
        }
        s
    }

    /// Add one call.
    pub fn push(&mut self, c: &CallRecord) {
        if !c.completed || c.error.is_some() {
            self.failed += 1;
            return;
        }
        self.calls += 1;
        self.ttft_ms.extend(c.ttft_ms());
        self.ttfvt_ms.extend(c.first_content_ms);
        self.itl_ms.extend(c.itl_ms());
        self.e2e_ms.extend(c.e2e_ms());
        if let (Some(e2e), Some(ttft)) = (c.e2e_ms(), c.ttft_ms()) {
            self.tpot_ms.extend(tpot_ms(e2e, ttft, c.output_tokens()));
        }
        if let (Some(n), Some(cached)) = (c.server.prompt_eval_count, c.server.prompt_cached_count) {
            self.cache_reported_calls += 1;
            self.prompt_evaluated_tokens += n;
            self.prompt_cached_tokens += cached;
        }
    }

    /// Pool `other` into these samples.
    pub fn merge(&mut self, other: &CallSamples) {
        self.calls += other.calls;
        self.failed += other.failed;
        self.ttft_ms.extend_from_slice(&other.ttft_ms);
        self.ttfvt_ms.extend_from_slice(&other.ttfvt_ms);
        self.itl_ms.extend_from_slice(&other.itl_ms);
        self.tpot_ms.extend_from_slice(&other.tpot_ms);
        self.e2e_ms.extend_from_slice(&other.e2e_ms);
        self.cache_reported_calls += other.cache_reported_calls;
        self.prompt_evaluated_tokens += other.prompt_evaluated_tokens;
        self.prompt_cached_tokens += other.prompt_cached_tokens;
    }

    /// The percentiles and the cached share.
    pub fn stats(&self) -> LatencyStats {
        LatencyStats {
            calls: self.calls,
            failed: self.failed,
            ttft_ms: percentiles(&self.ttft_ms),
            ttfvt_ms: percentiles(&self.ttfvt_ms),
            itl_ms: percentiles(&self.itl_ms),
            tpot_ms: percentiles(&self.tpot_ms),
            e2e_ms: percentiles(&self.e2e_ms),
            cached_share: if self.cache_reported_calls == 0 {
                None
            } else {
                cached_share(self.prompt_evaluated_tokens, self.prompt_cached_tokens)
            },
        }
    }
}

/// p50 / p90 / p99 of each latency of a set of calls and their cached share of prompt tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    pub calls: usize,
    pub failed: usize,
    pub ttft_ms: Option<Percentiles>,
    pub ttfvt_ms: Option<Percentiles>,
    pub itl_ms: Option<Percentiles>,
    pub tpot_ms: Option<Percentiles>,
    pub e2e_ms: Option<Percentiles>,
    /// `None`: no call's server reported its prompt cache.
    pub cached_share: Option<f64>,
}

impl LatencyStats {
    /// Each latency with its report name, in the reports' order.
    pub fn rows(&self) -> [(&'static str, Option<&Percentiles>); 5] {
        [
            ("TTFT", self.ttft_ms.as_ref()),
            ("First visible token", self.ttfvt_ms.as_ref()),
            ("ITL", self.itl_ms.as_ref()),
            ("TPOT", self.tpot_ms.as_ref()),
            ("E2E", self.e2e_ms.as_ref()),
        ]
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::backend::{BackendError, BackendKind, ServerTimings};
    use crate::options::GenOptions;

    /// A completed call with chunks at `arrivals` (the first `thinking` of them thinking), ended
    /// at `end`.
    pub(crate) fn call(arrivals: &[f64], thinking: usize, end: f64, timings: ServerTimings) -> CallRecord {
        CallRecord {
            backend: BackendKind::Ollama,
            endpoint: "http://x".into(),
            model: "m".into(),
            options: GenOptions::default(),
            started_at: chrono::Utc::now(),
            chunk_arrivals_ms: arrivals.to_vec(),
            first_token_ms: arrivals.first().copied(),
            first_content_ms: arrivals.get(thinking).copied(),
            last_token_ms: arrivals.last().copied(),
            end_ms: Some(end),
            chunks: arrivals.len() as u64,
            text: String::new(),
            thinking: String::new(),
            server: timings,
            done_reason: Some("stop".into()),
            prompt_truncated: Some(false),
            prompt_tokens_dropped: None,
            completed: true,
            error: None,
            retry: None,
            tool_calls: Vec::new(),
        }
    }

    #[test]
    fn samples_and_percentiles_of_calls_by_hand() {
        let t =
            |n, c| ServerTimings { prompt_eval_count: Some(n), prompt_cached_count: c, ..Default::default() };
        // call 1: chunks at 100 110 130 160 (1 thinking), end 200, no eval_count → 4 tokens
        //   ITL 10 20 30; first visible 110; TPOT (200 − 100) / 3 = 33.33…
        // call 2: chunks at 50 90, end 90, server says 3 tokens → TPOT (90 − 50) / 2 = 20; ITL 40
        // call 3: failed, not sampled
        let c1 = call(&[100.0, 110.0, 130.0, 160.0], 1, 200.0, t(300, Some(700)));
        let mut c2 = call(&[50.0, 90.0], 0, 90.0, t(100, None));
        c2.server.eval_count = Some(3);
        let mut c3 = call(&[5.0], 0, 6.0, t(9, Some(9)));
        c3.completed = false;
        c3.error = Some(BackendError::Truncated);
        let s = CallSamples::of_calls([&c1, &c2, &c3]);
        assert_eq!((s.calls, s.failed, s.cache_reported_calls), (2, 1, 1));
        assert_eq!(s.itl_ms, vec![10.0, 20.0, 30.0, 40.0]);
        let st = s.stats();
        // TTFT 100, 50: p50 75, p90 50 + 0.9 · 50 = 95, p99 99.5
        let ttft = st.ttft_ms.unwrap();
        assert!(
            (ttft.p50 - 75.0).abs() < 1e-9
                && (ttft.p90 - 95.0).abs() < 1e-9
                && (ttft.p99 - 99.5).abs() < 1e-9
        );
        // ITL 10 20 30 40: p50 25; p90 h = 2.7 → 30 + 0.7 · 10 = 37; p99 h = 2.97 → 39.7
        let itl = st.itl_ms.unwrap();
        assert!(
            (itl.p50 - 25.0).abs() < 1e-9 && (itl.p90 - 37.0).abs() < 1e-9 && (itl.p99 - 39.7).abs() < 1e-9
        );
        // first visible 110, 50 → p50 80
        assert_eq!(st.ttfvt_ms.unwrap().p50, 80.0);
        // TPOT 20, 33.33…: p50 26.66…
        assert!((st.tpot_ms.unwrap().p50 - (20.0 + 100.0 / 3.0) / 2.0).abs() < 1e-9);
        // only call 1 reports its cache: 700 / (300 + 700)
        assert_eq!(st.cached_share, Some(0.7));
        // pooling two sets is the set of both
        let mut a = CallSamples::of_calls([&c1]);
        a.merge(&CallSamples::of_calls([&c2, &c3]));
        assert_eq!(a, s);
        assert_eq!(CallSamples::of_calls([&c2]).stats().cached_share, None);
    }
}
