//! The capacity search as a pure function of what was measured so far ([`next_level`]):
//! bracket (multiply the level until the SLO fails, or divide it until it holds), then bisect
//! between the highest level that met the SLO and the lowest that failed above it, until the
//! two are within the resolution.

use serde::{Deserialize, Serialize};

/// How the search moves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SearchPlan {
    /// The first level.
    pub start: f64,
    /// Bracketing factor (> 1): the next level up is `level × factor`, down `level / factor`.
    pub factor: f64,
    /// Never measure above this (the search stops and says capacity ≥ the highest level).
    pub max: f64,
    /// Never measure below this.
    pub min: f64,
    /// Stop bisecting when (failing − passing) / passing ≤ this (e.g. 0.05).
    pub resolution: f64,
    /// Levels are whole numbers (concurrency): bisect to a gap of 1.
    pub integer: bool,
}

/// A measured level and whether it met the SLO.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub level: f64,
    pub meets: bool,
}

/// The highest level that met the SLO below the lowest that failed (levels may be measured
/// out of order; a level that met above a failing one is noise the bracket ignores), and that
/// lowest failing level.
pub fn bracket(measured: &[Measured]) -> (Option<f64>, Option<f64>) {
    let fail = measured.iter().filter(|m| !m.meets).map(|m| m.level).reduce(f64::min);
    let pass = measured
        .iter()
        .filter(|m| m.meets && fail.is_none_or(|f| m.level < f))
        .map(|m| m.level)
        .reduce(f64::max);
    (pass, fail)
}

fn round(plan: &SearchPlan, x: f64) -> f64 {
    if plan.integer { x.round().max(1.0) } else { x }
}

/// The next level to measure, or `None` when the search is over.
pub fn next_level(plan: &SearchPlan, measured: &[Measured]) -> Option<f64> {
    let seen = |x: f64| measured.iter().any(|m| (m.level - x).abs() < 1e-9);
    let next = match bracket(measured) {
        _ if measured.is_empty() => round(plan, plan.start),
        (Some(pass), None) => {
            let up = round(plan, pass * plan.factor).min(plan.max);
            if up <= pass {
                return None;
            }
            up
        }
        (None, Some(fail)) => {
            let down = round(plan, fail / plan.factor).max(plan.min);
            if down >= fail {
                return None;
            }
            down
        }
        (Some(pass), Some(fail)) => {
            let close =
                if plan.integer { fail - pass <= 1.0 } else { (fail - pass) / pass <= plan.resolution };
            if close {
                return None;
            }
            let mid = if plan.integer { ((pass + fail) / 2.0).floor() } else { (pass + fail) / 2.0 };
            if mid <= pass {
                return None;
            }
            mid
        }
        (None, None) => return None,
    };
    (!seen(next)).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(start: f64, integer: bool) -> SearchPlan {
        SearchPlan { start, factor: 2.0, max: 1000.0, min: 0.01, resolution: 0.05, integer }
    }

    /// Run the search against a level that passes iff it is ≤ `cap`; the levels visited.
    fn walk(plan: &SearchPlan, cap: f64) -> Vec<f64> {
        let mut m = Vec::new();
        while let Some(l) = next_level(plan, &m) {
            m.push(Measured { level: l, meets: l <= cap });
            assert!(m.len() < 50, "the search does not end: {m:?}");
        }
        m.iter().map(|x| x.level).collect()
    }

    #[test]
    fn rate_search_by_hand() {
        // Capacity 10/s from 1/s: bracket 1, 2, 4, 8, 16 (fails); bisect 12 (f), 10 (p),
        // 11 (f): (11 − 10)/10 = 10 % > 5 % → 10.5 (f): 5 % → stop at 10.
        let levels = walk(&plan(1.0, false), 10.0);
        assert_eq!(levels, [1.0, 2.0, 4.0, 8.0, 16.0, 12.0, 10.0, 11.0, 10.5]);
        let m: Vec<Measured> = levels.iter().map(|&l| Measured { level: l, meets: l <= 10.0 }).collect();
        assert_eq!(bracket(&m), (Some(10.0), Some(10.5)));
    }

    #[test]
    fn search_goes_down_when_the_start_fails() {
        // Capacity 0.3/s from 1/s: 1 (f), 0.5 (f), 0.25 (p), then bisect 0.375 (f), 0.3125 (f),
        // 0.28125 (p): (0.3125 − 0.28125)/0.28125 = 11 % → 0.296875 (p): 5.3 % → 0.3046875 (f):
        // 2.6 % → stop.
        let levels = walk(&plan(1.0, false), 0.3);
        assert_eq!(&levels[..3], &[1.0, 0.5, 0.25]);
        let m: Vec<Measured> = levels.iter().map(|&l| Measured { level: l, meets: l <= 0.3 }).collect();
        let (p, f) = bracket(&m);
        assert!(p.unwrap() <= 0.3 && f.unwrap() > 0.3 && (f.unwrap() - p.unwrap()) / p.unwrap() <= 0.05);
    }

    #[test]
    fn concurrency_search_by_hand() {
        // Capacity 5 agents from 1: 1, 2, 4, 8 (f), 6 (f), 5 (p): gap 1 → stop.
        assert_eq!(walk(&plan(1.0, true), 5.0), [1.0, 2.0, 4.0, 8.0, 6.0, 5.0]);
        // Capacity 1: 1, 2 (f), stop.
        assert_eq!(walk(&plan(1.0, true), 1.0), [1.0, 2.0]);
        // Nothing passes: 1 fails, and no whole number is below it.
        assert_eq!(walk(&plan(1.0, true), 0.5), [1.0]);
    }

    #[test]
    fn limits_end_the_search() {
        // Everything passes: up to the maximum, then stop.
        let p = SearchPlan { max: 20.0, ..plan(4.0, false) };
        assert_eq!(walk(&p, 1e9), [4.0, 8.0, 16.0, 20.0]);
        // Nothing passes: down to the minimum, then stop.
        let p = SearchPlan { min: 1.0, ..plan(4.0, false) };
        assert_eq!(walk(&p, 0.0), [4.0, 2.0, 1.0]);
        // A noisy pass above a failure is ignored by the bracket.
        let m = [
            Measured { level: 4.0, meets: true },
            Measured { level: 8.0, meets: false },
            Measured { level: 16.0, meets: true },
        ];
        assert_eq!(bracket(&m), (Some(4.0), Some(8.0)));
        assert_eq!(next_level(&plan(1.0, false), &m), Some(6.0));
    }
}
