//! Per-call metric formulas as pure functions; [`FORMULAS_MD`] is printed in every report.

/// The formulas, in Markdown, exactly as computed below (see also docs/METRICS.md).
pub const FORMULAS_MD: &str = "\
- **TTFT** = arrival of the first non-empty token chunk (thinking tokens count) − request sent, client clock, ms. The first *visible* content is kept separately.
- **Decode throughput** = eval_count / eval_duration (server-reported), tok/s.
- **Client decode rate** = (chunks − 1) / (t_last − t_first), chunks/s, client clock.
- **ITL** = differences between consecutive chunk arrivals, ms.
- **E2E** = end of stream − request sent, ms.
- **Load / Prompt Eval / Eval Duration** = the server's `load_duration`, `prompt_eval_duration`, `eval_duration` (ns → ms).
- **Prompt truncated** = as reported by the server (embedded engine, `chimera serve`: with the prompt tokens dropped), else on Ollama prompt_eval_count ≥ num_ctx when num_ctx was set; otherwise *unknown* (Ollama without num_ctx, OpenAI-compatible servers), never \"no\".
- **Cached prompt tokens** = prompt tokens the server reused from its prompt cache (not in prompt_eval_count), shown as `(+N cached)`.
- **First visible token** = arrival of the first non-empty *visible* content chunk − request sent (thinking tokens excluded), client clock, ms.
- **TPOT** (time per output token) = (E2E − TTFT) / (output tokens − 1), ms, for calls with at least 2 output tokens.
- **Latency percentiles** (every report): p50 / p90 / p99 of TTFT, first visible token, TPOT and E2E over the completed calls (one sample per call) and of ITL over every gap of every call (pooled); a failed call is counted, not sampled.
- **Cached share** = Σ cached prompt tokens / Σ (evaluated + cached prompt tokens), over the calls whose server reports its prompt cache; \"not reported\" when none does.
- Aggregates: mean ± sample sd (sd only when n > 1), median, min…max, CV = sd / mean; percentiles by linear interpolation (type 7).";

/// Server-side decode throughput in tokens/s: `eval_count / eval_duration`.
pub fn decode_tok_s(eval_count: u64, eval_duration_ns: u64) -> Option<f64> {
    if eval_duration_ns == 0 { None } else { Some(eval_count as f64 / (eval_duration_ns as f64 / 1e9)) }
}

/// Client-side decode rate in chunks/s: `(chunks − 1) / (t_last − t_first)`.
pub fn client_decode_rate(chunks: u64, first_ms: f64, last_ms: f64) -> Option<f64> {
    let span_s = (last_ms - first_ms) / 1000.0;
    if chunks < 2 || span_s <= 0.0 { None } else { Some((chunks - 1) as f64 / span_s) }
}

/// Inter-token latencies: consecutive differences of chunk arrival offsets.
pub fn itl_ms(arrivals_ms: &[f64]) -> Vec<f64> {
    arrivals_ms.windows(2).map(|w| w[1] - w[0]).collect()
}

/// TPOT of one call: `(e2e − ttft) / (output_tokens − 1)`, ms; `None` below 2 output tokens.
pub fn tpot_ms(e2e_ms: f64, ttft_ms: f64, output_tokens: u64) -> Option<f64> {
    (output_tokens >= 2 && e2e_ms >= ttft_ms).then(|| (e2e_ms - ttft_ms) / (output_tokens - 1) as f64)
}

/// `cached / (evaluated + cached)`; `None` when both are 0.
pub fn cached_share(evaluated: u64, cached: u64) -> Option<f64> {
    let total = evaluated + cached;
    (total > 0).then(|| cached as f64 / total as f64)
}

/// Nanoseconds to milliseconds.
pub fn ns_to_ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_by_hand() {
        assert_eq!(decode_tok_s(100, 2_000_000_000), Some(50.0));
        assert_eq!(decode_tok_s(5, 0), None);
        assert_eq!(client_decode_rate(11, 100.0, 600.0), Some(20.0));
        assert_eq!(client_decode_rate(1, 100.0, 100.0), None);
        assert_eq!(itl_ms(&[10.0, 15.0, 27.0]), vec![5.0, 12.0]);
        assert_eq!(ns_to_ms(1_500_000), 1.5);
        // 1100 ms e2e, 100 ms TTFT, 11 tokens: 1000 ms over 10 gaps = 100 ms per token
        assert_eq!(tpot_ms(1100.0, 100.0, 11), Some(100.0));
        assert_eq!(tpot_ms(1100.0, 100.0, 1), None);
        assert_eq!(cached_share(250, 750), Some(0.75));
        assert_eq!(cached_share(0, 0), None);
    }
}
