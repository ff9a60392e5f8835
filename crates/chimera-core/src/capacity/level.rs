//! A load level as the search and its report name and judge it: its name, its pass-rate
//! interval as text, and whether it meets the SLO.

use crate::records::traffic::{Axis, LevelSummary};

/// A level counts as meeting the SLO when its pooled pass rate reaches the quantile and the
/// client kept to its schedule (a client that fell behind proves nothing about the server).
pub fn meets(l: &LevelSummary) -> bool {
    l.meets_slo && !l.client_behind
}

/// `[0.81, 0.97]`, or `–`.
pub fn interval_text(l: &LevelSummary) -> String {
    l.pass_interval
        .map_or_else(|| "–".into(), |iv| format!("[{:.1} %, {:.1} %]", iv.low * 100.0, iv.high * 100.0))
}

/// `4 sessions/s` or `concurrency 3`.
pub fn level_name(axis: Axis, level: f64) -> String {
    match axis {
        Axis::Concurrency => format!("concurrency {level}"),
        Axis::Rate => format!("{level:.3} sessions/s"),
    }
}
