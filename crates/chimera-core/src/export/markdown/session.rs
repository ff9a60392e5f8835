//! The workflow tables: one row per step turn of an agent run ([`steps_table`]: think and wall
//! time, calls, TTFT and ITL p50 / p90 / p99 of the turn's calls, prompt tokens new / cached,
//! the tool used, the hand-off source), the names of the calls by step ([`call_names`]), and one
//! row per set of sessions ([`session_table`]: an agent run, an agent's phase over the runs, a
//! bench side, a sweep point), shared by every report.

use crate::backend::CallRecord;
use crate::export::table::{Align, Table, inline};
use crate::latency::CallSamples;
use crate::records::agent::{StepRecord, ToolUse};
use crate::records::session::SessionStats;
use crate::stats::{Percentiles, Summary, fmt_mean_sd};

use super::latency::share;

/// `p50 / p90 / p99` in ms, or `n/a`.
fn triple(p: Option<&Percentiles>) -> String {
    p.map_or_else(|| "n/a".into(), |p| format!("{:.2} / {:.2} / {:.2}", p.p50, p.p90, p.p99))
}

/// A count per session: `3` for one value (or equal values), else `3.5 ± 0.7`; `–` unknown.
fn count(s: Option<&Summary>) -> String {
    match s {
        None => "–".into(),
        Some(s) if s.sd.is_none_or(|sd| sd == 0.0) && s.mean.fract() == 0.0 => format!("{:.0}", s.mean),
        Some(s) => fmt_mean_sd(s, 1),
    }
}

/// Σ of the known values of the calls; `None` when no call said.
fn sum(xs: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    xs.flatten().fold(None, |acc, x| Some(acc.unwrap_or(0) + x))
}

/// `lookup_metric(metric=ttft_ms) — native`, `list_metrics() — scripted`, or the fallback and
/// why.
pub fn tool_cell(t: &ToolUse) -> String {
    let args = t.args.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
    let how = match (&t.fallback, t.native) {
        (Some(why), _) => format!("scripted (native fallback: {why})"),
        (None, true) => "native".into(),
        (None, false) => "scripted".into(),
    };
    inline(&format!("{}({args}) — {how}", t.name))
}

/// The name of each step turn: the step's name, with `#turn` when the step ran more than once.
fn turn_names(steps: &[StepRecord]) -> Vec<String> {
    steps
        .iter()
        .map(|s| {
            let looped = steps.iter().any(|o| o.step == s.step && o.turn > 1);
            if looped { format!("{} #{}", s.step, s.turn) } else { s.step.clone() }
        })
        .collect()
}

/// Each call's name: its step turn's (the first call of a native tool turn is `… (tool
/// request)`), else `fallback(i)` (records without steps name calls by their stage).
pub fn call_names(steps: &[StepRecord], calls: usize, fallback: impl Fn(usize) -> String) -> Vec<String> {
    let mut names: Vec<Option<String>> = vec![None; calls];
    for (s, name) in steps.iter().zip(turn_names(steps)) {
        let last = s.calls.len().saturating_sub(1);
        for (j, &i) in s.calls.iter().enumerate() {
            if let Some(slot) = names.get_mut(i) {
                *slot = Some(if j < last { format!("{name} (tool request)") } else { name.clone() });
            }
        }
    }
    names.into_iter().enumerate().map(|(i, n)| n.unwrap_or_else(|| fallback(i))).collect()
}

/// One row per step turn (empty when no step started).
pub fn steps_table(steps: &[StepRecord], calls: &[CallRecord]) -> String {
    use Align::{Left as L, Right as R};
    let mut t = Table::new(&[
        ("step", L),
        ("think ms", R),
        ("step wall ms", R),
        ("calls", R),
        ("messages", R),
        ("TTFT p50 / p90 / p99 ms", R),
        ("ITL p50 / p90 / p99 ms", R),
        ("prompt tokens new", R),
        ("prompt tokens cached", R),
        ("tool", L),
        ("hand-off from", L),
    ]);
    for (s, name) in steps.iter().zip(turn_names(steps)) {
        let mine: Vec<&CallRecord> = s.calls.iter().filter_map(|&i| calls.get(i)).collect();
        let st = CallSamples::of_calls(mine.iter().copied()).stats();
        let new = sum(mine.iter().map(|c| c.server.prompt_eval_count));
        let cached = sum(mine.iter().map(|c| c.server.prompt_cached_count));
        let failed = if st.failed > 0 { format!(" ({} failed)", st.failed) } else { String::new() };
        t.row([
            name,
            format!("{:.2}", s.think_ms),
            format!("{:.2}", s.wall_ms),
            format!("{}{failed}", s.calls.len()),
            s.messages.to_string(),
            triple(st.ttft_ms.as_ref()),
            triple(st.itl_ms.as_ref()),
            new.map_or_else(|| "n/a".into(), |n| n.to_string()),
            cached.map_or_else(|| "not reported".into(), |n| n.to_string()),
            s.tool.as_ref().map_or_else(|| "–".into(), tool_cell),
            s.handoff_from.as_deref().map_or_else(|| "–".into(), inline),
        ]);
    }
    if t.is_empty() { String::new() } else { t.block() }
}

/// One row per named set of sessions: how many, then per session wall and think time, turns,
/// LLM calls, output and prompt tokens (mean ± sd over the sessions; the value itself for one),
/// and the cached share of the pooled prompt tokens. Empty when there is no row.
pub fn session_table<'a>(rows: impl IntoIterator<Item = (String, &'a SessionStats)>, first: &str) -> String {
    use Align::{Left as L, Right as R};
    let mut t = Table::new(&[
        (first, L),
        ("sessions", R),
        ("session wall ms", R),
        ("think ms", R),
        ("turns", R),
        ("LLM calls", R),
        ("tokens out", R),
        ("prompt tokens new", R),
        ("prompt tokens cached", R),
        ("cached share", R),
    ]);
    let ms = |s: Option<&Summary>| s.map_or_else(|| "–".into(), |s| fmt_mean_sd(s, 2));
    for (name, s) in rows {
        t.row([
            name,
            s.sessions.to_string(),
            ms(s.wall_ms.as_ref()),
            ms(s.think_ms.as_ref()),
            count(s.turns.as_ref()),
            count(s.llm_calls.as_ref()),
            count(s.tokens_out.as_ref()),
            s.prompt_tokens_new.as_ref().map_or_else(|| "n/a".into(), |x| count(Some(x))),
            s.prompt_tokens_cached.as_ref().map_or_else(|| "not reported".into(), |x| count(Some(x))),
            share(s.cached_share),
        ]);
    }
    if t.is_empty() { String::new() } else { t.block() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ServerTimings;
    use crate::latency::tests::call;
    use crate::records::agent::SessionMetrics;

    fn timings(n: u64, c: Option<u64>) -> ServerTimings {
        ServerTimings { prompt_eval_count: Some(n), prompt_cached_count: c, ..Default::default() }
    }

    #[test]
    fn steps_by_hand() {
        // Turn 1: one call, TTFT 100, ITL 10 20 30; turn 2 (native tool): TTFT 40 and 60, no gaps.
        let calls = vec![
            call(&[100.0, 110.0, 130.0, 160.0], 1, 200.0, timings(300, Some(700))),
            call(&[40.0], 1, 50.0, timings(20, Some(980))),
            call(&[60.0], 1, 70.0, timings(30, Some(990))),
        ];
        let tool = ToolUse {
            name: "lookup_metric".into(),
            args: [("metric".to_string(), "ttft|ms".to_string())].into(),
            result: "r".into(),
            native: false,
            fallback: Some("the model's reply had no tool call".into()),
        };
        let steps = vec![
            StepRecord {
                step: "ask".into(),
                turn: 1,
                think_ms: 0.0,
                wall_ms: 210.5,
                calls: vec![0],
                messages: 2,
                ..Default::default()
            },
            StepRecord {
                step: "ask".into(),
                turn: 2,
                think_ms: 150.0,
                wall_ms: 130.0,
                calls: vec![1, 2],
                messages: 6,
                tool: Some(tool),
                handoff_from: Some("collector".into()),
                ..Default::default()
            },
        ];
        let t = steps_table(&steps, &calls);
        assert!(
            t.contains("| ask #1 | 0.00 | 210.50 | 1 | 2 | 100.00 / 100.00 / 100.00 | 20.00 / 28.00 / 29.80 | 300 | 700 | – | – |"),
            "{t}"
        );
        // p50 of 40, 60 = 50; p90 = 58; p99 = 59.8.
        assert!(
            t.contains("| ask #2 | 150.00 | 130.00 | 2 | 6 | 50.00 / 58.00 / 59.80 | n/a | 50 | 1970 | lookup_metric(metric=ttft\\|ms) — scripted (native fallback: the model's reply had no tool call) | collector |"),
            "{t}"
        );
        let names = call_names(&steps, 4, |i| format!("stage{i}"));
        assert_eq!(names, ["ask #1", "ask #2 (tool request)", "ask #2", "stage3"]);
        assert_eq!(call_names(&[], 1, |_| "analysis".into()), ["analysis"]);
        assert!(steps_table(&[], &[]).is_empty());
    }

    #[test]
    fn sessions_by_hand() {
        let m = |wall, turns, cached| SessionMetrics {
            wall_ms: wall,
            think_ms: 200.0,
            turns,
            llm_calls: turns,
            tokens_out: 105,
            prompt_tokens_new: Some(240),
            prompt_tokens_cached: cached,
        };
        let one = SessionStats::of([&m(1234.5, 2, None)]).unwrap();
        let two = SessionStats::of([&m(1000.0, 3, Some(760)), &m(2000.0, 4, Some(760))]).unwrap();
        let t = session_table([("this run".to_string(), &one), ("pooled".to_string(), &two)], "agent");
        assert!(
            t.contains(
                "| this run | 1 | 1234.50 | 200.00 | 2 | 2 | 105 | 240 | not reported | not reported |"
            ),
            "{t}"
        );
        // wall sd = √((500² + 500²) / 1) = 707.11; turns 3.5 ± 0.7; share 1520 / 2000.
        assert!(
            t.contains("| pooled | 2 | 1500.00 ± 707.11 | 200.00 ± 0.00 | 3.5 ± 0.7 | 3.5 ± 0.7 | 105 | 240 | 760 | 76.0 % |"),
            "{t}"
        );
        assert!(session_table(std::iter::empty(), "x").is_empty());
    }
}
