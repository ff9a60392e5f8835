//! Workflow sessions pooled over runs, agents or sides ([`SessionStats`]): mean ± sd of each
//! per-session figure of [`SessionMetrics`] and the cached share of the pooled prompt tokens, as
//! a pure function the reports render (`export::markdown::latency::session_table`).

use serde::{Deserialize, Serialize};

use super::agent::SessionMetrics;
use crate::metrics::cached_share;
use crate::stats::{Summary, summarize};

/// Per-session figures over a set of sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionStats {
    pub sessions: usize,
    pub wall_ms: Option<Summary>,
    pub think_ms: Option<Summary>,
    pub turns: Option<Summary>,
    pub llm_calls: Option<Summary>,
    pub tokens_out: Option<Summary>,
    /// Prompt tokens evaluated per session, over the sessions whose server said.
    pub prompt_tokens_new: Option<Summary>,
    /// Prompt tokens served from the cache per session, over the sessions whose server said.
    pub prompt_tokens_cached: Option<Summary>,
    /// Σ cached ÷ (Σ new + Σ cached) over the sessions whose server reported both; `None` (not
    /// reported) when none did — never 0.
    pub cached_share: Option<f64>,
}

impl SessionStats {
    /// The statistics of `sessions`; `None` when there is none.
    pub fn of<'a>(sessions: impl IntoIterator<Item = &'a SessionMetrics>) -> Option<Self> {
        let s: Vec<&SessionMetrics> = sessions.into_iter().collect();
        if s.is_empty() {
            return None;
        }
        let over = |f: &dyn Fn(&SessionMetrics) -> Option<f64>| {
            summarize(&s.iter().filter_map(|x| f(x)).collect::<Vec<_>>())
        };
        let both: Vec<(u64, u64)> =
            s.iter().filter_map(|x| Some((x.prompt_tokens_new?, x.prompt_tokens_cached?))).collect();
        let (new, cached) = both.iter().fold((0, 0), |(a, b), (n, c)| (a + n, b + c));
        Some(SessionStats {
            sessions: s.len(),
            wall_ms: over(&|x| Some(x.wall_ms)),
            think_ms: over(&|x| Some(x.think_ms)),
            turns: over(&|x| Some(x.turns as f64)),
            llm_calls: over(&|x| Some(x.llm_calls as f64)),
            tokens_out: over(&|x| Some(x.tokens_out as f64)),
            prompt_tokens_new: over(&|x| x.prompt_tokens_new.map(|n| n as f64)),
            prompt_tokens_cached: over(&|x| x.prompt_tokens_cached.map(|n| n as f64)),
            cached_share: if both.is_empty() { None } else { cached_share(new, cached) },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(wall: f64, think: f64, turns: usize, new: Option<u64>, cached: Option<u64>) -> SessionMetrics {
        SessionMetrics {
            wall_ms: wall,
            think_ms: think,
            turns,
            llm_calls: turns + 1,
            tokens_out: 10 * turns as u64,
            prompt_tokens_new: new,
            prompt_tokens_cached: cached,
        }
    }

    #[test]
    fn pooled_by_hand() {
        let a = s(1000.0, 100.0, 2, Some(300), Some(100));
        let b = s(2000.0, 300.0, 4, Some(100), Some(500));
        let c = s(3000.0, 200.0, 3, Some(50), None);
        let st = SessionStats::of([&a, &b, &c]).unwrap();
        assert_eq!(st.sessions, 3);
        let w = st.wall_ms.as_ref().unwrap();
        assert_eq!((w.mean, w.sd), (2000.0, Some(1000.0)));
        assert_eq!(st.think_ms.as_ref().unwrap().mean, 200.0);
        assert_eq!(st.turns.as_ref().unwrap().mean, 3.0);
        assert_eq!(st.llm_calls.as_ref().unwrap().mean, 4.0);
        assert_eq!(st.tokens_out.as_ref().unwrap().mean, 30.0);
        assert_eq!(st.prompt_tokens_new.as_ref().unwrap().n, 3);
        assert_eq!(st.prompt_tokens_cached.as_ref().unwrap().mean, 300.0);
        // Only a and b said both: (100 + 500) / (300 + 100 + 100 + 500) = 0.6.
        assert_eq!(st.cached_share, Some(0.6));
        let none = SessionStats::of([&c]).unwrap();
        assert_eq!(none.cached_share, None, "no cache figure: not reported, never 0");
        assert!(none.prompt_tokens_cached.is_none());
        assert!(SessionStats::of(std::iter::empty()).is_none());
    }
}
