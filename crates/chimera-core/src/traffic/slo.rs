//! Service-level objectives per session (`--slo ttft_ms<=800,itl_p99_ms<=150,session_s<=60`):
//! parsing, the pass/fail verdict of one session, and goodput (passing sessions per minute).

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What an objective bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloMetric {
    /// TTFT of every call of the session (the worst one counts), ms; the first call's counts
    /// from the session's planned arrival in open loop.
    TtftMs,
    /// The session's own ITL p99 (over the gaps of all its calls), ms.
    ItlP99Ms,
    /// The session's wall time, from its planned arrival to its end, seconds.
    SessionS,
}

impl SloMetric {
    pub const ALL: [SloMetric; 3] = [SloMetric::TtftMs, SloMetric::ItlP99Ms, SloMetric::SessionS];

    pub fn name(self) -> &'static str {
        match self {
            SloMetric::TtftMs => "ttft_ms",
            SloMetric::ItlP99Ms => "itl_p99_ms",
            SloMetric::SessionS => "session_s",
        }
    }
}

/// One objective: `metric <= limit`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    pub metric: SloMetric,
    pub max: f64,
}

/// A set of objectives; a session passes when it meets all of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    pub objectives: Vec<Objective>,
}

/// A bad `--slo`; the message shows the expected form.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SloError {
    #[error(
        "--slo '{0}' is not understood; write objectives like ttft_ms<=800,itl_p99_ms<=150,session_s<=60 (metrics: ttft_ms, itl_p99_ms, session_s; only <=)"
    )]
    Syntax(String),
    #[error("--slo names {0} twice")]
    Duplicate(&'static str),
    #[error("--slo-quantile must be in (0, 100] percent, e.g. 95")]
    Quantile,
}

impl FromStr for Slo {
    type Err = SloError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut objectives: Vec<Objective> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || SloError::Syntax(part.to_string());
            let (name, value) = part.split_once("<=").ok_or_else(bad)?;
            let metric = SloMetric::ALL.into_iter().find(|m| m.name() == name.trim()).ok_or_else(bad)?;
            let max: f64 = value.trim().parse().map_err(|_| bad())?;
            if !(max.is_finite() && max > 0.0) {
                return Err(bad());
            }
            if objectives.iter().any(|o| o.metric == metric) {
                return Err(SloError::Duplicate(metric.name()));
            }
            objectives.push(Objective { metric, max });
        }
        if objectives.is_empty() {
            return Err(SloError::Syntax(s.to_string()));
        }
        Ok(Slo { objectives })
    }
}

impl std::fmt::Display for Slo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> =
            self.objectives.iter().map(|o| format!("{}<={}", o.metric.name(), o.max)).collect();
        f.write_str(&parts.join(","))
    }
}

/// Parse `--slo-quantile` (percent, e.g. `95` or `95%`) into a fraction.
pub fn parse_quantile(s: &str) -> Result<f64, SloError> {
    match s.trim().trim_end_matches('%').trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 100.0 => Ok(v / 100.0),
        _ => Err(SloError::Quantile),
    }
}

/// What an SLO judges of one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionFigures {
    /// The session ended without error.
    pub ok: bool,
    /// Its worst TTFT, ms (None: no token arrived).
    pub ttft_max_ms: Option<f64>,
    /// Its ITL p99, ms (None: fewer than two tokens, no gap).
    pub itl_p99_ms: Option<f64>,
    /// From planned arrival to end, seconds.
    pub session_s: f64,
}

impl Slo {
    /// The objectives `s` misses (empty = it passes). A failed session misses everything it
    /// bounds; a session without a token misses a TTFT objective; without two tokens it has
    /// no gap and meets an ITL objective.
    pub fn missed(&self, s: &SessionFigures) -> Vec<SloMetric> {
        self.objectives
            .iter()
            .filter(|o| {
                !s.ok
                    || match o.metric {
                        SloMetric::TtftMs => s.ttft_max_ms.is_none_or(|v| v > o.max),
                        SloMetric::ItlP99Ms => s.itl_p99_ms.is_some_and(|v| v > o.max),
                        SloMetric::SessionS => s.session_s > o.max,
                    }
            })
            .map(|o| o.metric)
            .collect()
    }

    /// Whether `s` meets every objective (a failed session never passes, even without any).
    pub fn passes(&self, s: &SessionFigures) -> bool {
        s.ok && self.missed(s).is_empty()
    }
}

/// Goodput: passing sessions per minute over a window of `window_secs`.
pub fn goodput_per_min(passing: usize, window_secs: f64) -> Option<f64> {
    (window_secs > 0.0 && window_secs.is_finite()).then(|| passing as f64 * 60.0 / window_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slo_parses_and_prints() {
        let s: Slo = "ttft_ms<=800, itl_p99_ms<=150,session_s<=60".parse().unwrap();
        assert_eq!(s.objectives.len(), 3);
        assert_eq!(s.objectives[1], Objective { metric: SloMetric::ItlP99Ms, max: 150.0 });
        assert_eq!(s.to_string(), "ttft_ms<=800,itl_p99_ms<=150,session_s<=60");
        for bad in ["ttft_ms<800", "ttft<=800", "ttft_ms<=x", "ttft_ms<=0", "", "session_s<=-1"] {
            assert!(matches!(bad.parse::<Slo>(), Err(SloError::Syntax(_))), "{bad}");
        }
        assert_eq!("ttft_ms<=1,ttft_ms<=2".parse::<Slo>(), Err(SloError::Duplicate("ttft_ms")));
        assert_eq!(parse_quantile("95"), Ok(0.95));
        assert_eq!(parse_quantile("97.5%"), Ok(0.975));
        assert_eq!(parse_quantile("0"), Err(SloError::Quantile));
        assert_eq!(parse_quantile("101"), Err(SloError::Quantile));
    }

    /// A hand-worked trace of five sessions against ttft_ms<=800,itl_p99_ms<=150,session_s<=60.
    #[test]
    fn sessions_pass_or_fail_by_hand() {
        let slo: Slo = "ttft_ms<=800,itl_p99_ms<=150,session_s<=60".parse().unwrap();
        let s =
            |ok, ttft, itl, secs| SessionFigures { ok, ttft_max_ms: ttft, itl_p99_ms: itl, session_s: secs };
        let trace = [
            s(true, Some(800.0), Some(150.0), 60.0), // exactly at every bound: passes
            s(true, Some(801.0), Some(20.0), 10.0),  // one call's TTFT too slow
            s(true, Some(100.0), Some(151.0), 61.0), // ITL and wall too slow
            s(true, Some(100.0), None, 5.0),         // one token: no gap, passes
            s(false, Some(100.0), Some(10.0), 5.0),  // failed: never passes
        ];
        let missed: Vec<Vec<SloMetric>> = trace.iter().map(|x| slo.missed(x)).collect();
        assert_eq!(missed[0], vec![]);
        assert_eq!(missed[1], vec![SloMetric::TtftMs]);
        assert_eq!(missed[2], vec![SloMetric::ItlP99Ms, SloMetric::SessionS]);
        assert_eq!(missed[3], vec![]);
        assert_eq!(missed[4].len(), 3);
        let passing = trace.iter().filter(|x| slo.passes(x)).count();
        assert_eq!(passing, 2);
        // 2 passing sessions in a 30 s window = 4 per minute.
        assert_eq!(goodput_per_min(passing, 30.0), Some(4.0));
        assert_eq!(goodput_per_min(1, 0.0), None);
        // No token at all misses a TTFT objective.
        assert_eq!(slo.missed(&s(true, None, None, 1.0)), vec![SloMetric::TtftMs]);
        // Without objectives a failed session still does not pass.
        assert!(!Slo::default().passes(&s(false, None, None, 1.0)));
    }
}
