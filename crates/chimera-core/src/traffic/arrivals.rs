//! Arrival processes of open-loop load: constant, Poisson (seeded), a linear ramp, or offsets
//! replayed from a trace file — each turned into a schedule of planned session starts
//! (offsets from the start of the run) by one pure function, [`schedule`].

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rand::SeedableRng;
use rand_distr::{Distribution, Exp};
use serde::{Deserialize, Serialize};

/// At most this many sessions are planned in one run (a typo such as `--duration 10h` at
/// 1,000/s would otherwise plan millions).
pub const MAX_SESSIONS: usize = 1_000_000;

/// How sessions arrive in open loop. Rates are sessions per second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arrival {
    /// One session every `1 / per_sec` seconds, the first at 0.
    Constant { per_sec: f64 },
    /// Exponential gaps of mean `1 / per_sec` from a seeded generator (the first after one gap).
    Poisson { per_sec: f64, seed: u64 },
    /// The rate rises linearly from `from_per_sec` to `to_per_sec` over the run; session k
    /// starts when the expected count ∫ rate dt reaches k (k = 0, 1, …).
    Ramp { from_per_sec: f64, to_per_sec: f64 },
    /// Offsets read from a file (seconds from the start, one per line), replayed as given.
    Trace { path: PathBuf, offsets_secs: Vec<f64> },
}

/// When a run stops planning sessions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// Sessions planned to start before this many seconds.
    DurationSecs(f64),
    /// This many sessions.
    Sessions(u32),
}

/// A bad `--arrival` value, trace file or stop; the message says what to write instead.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ArrivalError {
    #[error(
        "--arrival '{0}' is not understood; write constant:RATE, poisson:RATE[:SEED], ramp:RATE..RATE or trace:FILE, with RATE like 2/s or 30/min"
    )]
    Syntax(String),
    #[error(
        "rate '{0}' is not valid: write a positive number of sessions per second or minute, e.g. 2/s or 30/min"
    )]
    Rate(String),
    #[error("cannot read the trace file {path}: {detail}")]
    TraceRead { path: PathBuf, detail: String },
    #[error(
        "trace file {path}, line {line}: '{text}' is not an offset; write one offset in seconds per line (non-negative, not decreasing; `#` starts a comment)"
    )]
    TraceLine { path: PathBuf, line: usize, text: String },
    #[error("trace file {0} holds no offsets")]
    TraceEmpty(PathBuf),
    #[error("the run would plan more than {MAX_SESSIONS} sessions; lower the rate, --duration or --sessions")]
    TooMany,
    #[error("--duration must be a positive number of seconds and --sessions at least 1")]
    BadStop,
}

/// Parse a rate: `2/s`, `30/min`, `0.5` (per second).
pub fn parse_rate(s: &str) -> Result<f64, ArrivalError> {
    let t = s.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("/min") {
        (n, 1.0 / 60.0)
    } else if let Some(n) = t.strip_suffix("/s") {
        (n, 1.0)
    } else {
        (t, 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v * scale),
        _ => Err(ArrivalError::Rate(s.to_string())),
    }
}

/// Parse a trace file's text: one offset in seconds per line; blank lines and `#` comments are
/// skipped; offsets must be finite, non-negative and not decreasing.
pub fn parse_trace(text: &str, path: &Path) -> Result<Vec<f64>, ArrivalError> {
    let mut out: Vec<f64> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let bad =
            || ArrivalError::TraceLine { path: path.to_path_buf(), line: i + 1, text: line.to_string() };
        let v: f64 = line.parse().map_err(|_| bad())?;
        if !v.is_finite() || v < 0.0 || out.last().is_some_and(|&last| v < last) {
            return Err(bad());
        }
        out.push(v);
    }
    if out.is_empty() {
        return Err(ArrivalError::TraceEmpty(path.to_path_buf()));
    }
    Ok(out)
}

impl FromStr for Arrival {
    type Err = ArrivalError;

    /// `constant:2/s`, `poisson:2/s` (seed 1) or `poisson:2/s:7`, `ramp:1/s..10/s`,
    /// `trace:FILE` (the file is read here).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || ArrivalError::Syntax(s.to_string());
        let (kind, rest) = s.split_once(':').ok_or_else(syntax)?;
        match kind.trim() {
            "constant" => Ok(Arrival::Constant { per_sec: parse_rate(rest)? }),
            "poisson" => {
                let (rate, seed) = match rest.rsplit_once(':') {
                    Some((r, seed)) => (r, seed.trim().parse().map_err(|_| syntax())?),
                    None => (rest, 1),
                };
                Ok(Arrival::Poisson { per_sec: parse_rate(rate)?, seed })
            }
            "ramp" => {
                let (a, b) = rest.split_once("..").ok_or_else(syntax)?;
                Ok(Arrival::Ramp { from_per_sec: parse_rate(a)?, to_per_sec: parse_rate(b)? })
            }
            "trace" => {
                let path = PathBuf::from(rest.trim());
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| ArrivalError::TraceRead { path: path.clone(), detail: e.to_string() })?;
                Ok(Arrival::Trace { offsets_secs: parse_trace(&text, &path)?, path })
            }
            _ => Err(syntax()),
        }
    }
}

impl std::fmt::Display for Arrival {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arrival::Constant { per_sec } => write!(f, "constant {per_sec:.3}/s"),
            Arrival::Poisson { per_sec, seed } => write!(f, "Poisson {per_sec:.3}/s (seed {seed})"),
            Arrival::Ramp { from_per_sec, to_per_sec } => {
                write!(f, "ramp {from_per_sec:.3}/s → {to_per_sec:.3}/s")
            }
            Arrival::Trace { path, offsets_secs } => {
                write!(f, "trace {} ({} arrivals)", path.display(), offsets_secs.len())
            }
        }
    }
}

impl Arrival {
    /// The mean rate, sessions/s (a trace's: its count over its last offset, when > 0).
    pub fn mean_per_sec(&self) -> Option<f64> {
        match self {
            Arrival::Constant { per_sec } | Arrival::Poisson { per_sec, .. } => Some(*per_sec),
            Arrival::Ramp { from_per_sec, to_per_sec } => Some((from_per_sec + to_per_sec) / 2.0),
            Arrival::Trace { offsets_secs, .. } => {
                let last = offsets_secs.last().copied().unwrap_or(0.0);
                (last > 0.0).then(|| offsets_secs.len() as f64 / last)
            }
        }
    }
}

/// Offset of ramp arrival `k`: solve a·t + (b − a)·t²/(2T) = k for t (the expected count of
/// a rate rising linearly from a to b over T seconds).
fn ramp_offset(a: f64, b: f64, total_secs: f64, k: f64) -> f64 {
    let slope = (b - a) / total_secs;
    if slope.abs() < 1e-12 {
        return k / a;
    }
    (-a + (a * a + 2.0 * slope * k).max(0.0).sqrt()) / slope
}

/// The planned start offsets of a run, in order.
pub fn schedule(arrival: &Arrival, stop: Stop) -> Result<Vec<Duration>, ArrivalError> {
    match stop {
        Stop::DurationSecs(d) if !(d.is_finite() && d > 0.0) => return Err(ArrivalError::BadStop),
        Stop::Sessions(0) => return Err(ArrivalError::BadStop),
        _ => {}
    }
    let (limit_n, limit_t) = match stop {
        Stop::Sessions(n) => (n as usize, f64::INFINITY),
        Stop::DurationSecs(d) => (usize::MAX, d),
    };
    if let Some(rate) = arrival.mean_per_sec()
        && let Stop::DurationSecs(d) = stop
        && rate * d > MAX_SESSIONS as f64 * 1.5
    {
        return Err(ArrivalError::TooMany);
    }
    let mut out: Vec<f64> = Vec::new();
    let mut push = |t: f64| -> Result<bool, ArrivalError> {
        if out.len() >= limit_n || t >= limit_t {
            return Ok(false);
        }
        if out.len() >= MAX_SESSIONS {
            return Err(ArrivalError::TooMany);
        }
        out.push(t);
        Ok(true)
    };
    match arrival {
        Arrival::Constant { per_sec } => {
            let mut k = 0u64;
            while push(k as f64 / per_sec)? {
                k += 1;
            }
        }
        Arrival::Poisson { per_sec, seed } => {
            let exp = Exp::new(*per_sec).map_err(|_| ArrivalError::Rate(per_sec.to_string()))?;
            let mut rng = rand::rngs::StdRng::seed_from_u64(*seed);
            let mut t = 0.0;
            loop {
                t += exp.sample(&mut rng);
                if !push(t)? {
                    break;
                }
            }
        }
        Arrival::Ramp { from_per_sec: a, to_per_sec: b } => {
            // With a session count, the ramp lasts as long as that many sessions take at the
            // mean rate: n = (a + b)/2 · T.
            let total = match stop {
                Stop::DurationSecs(d) => d,
                Stop::Sessions(n) => 2.0 * f64::from(n) / (a + b),
            };
            let mut k = 0u64;
            while push(ramp_offset(*a, *b, total, k as f64))? {
                k += 1;
            }
        }
        Arrival::Trace { offsets_secs, .. } => {
            for &t in offsets_secs {
                if !push(t)? {
                    break;
                }
            }
        }
    }
    Ok(out.into_iter().map(Duration::from_secs_f64).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(v: &[Duration]) -> Vec<f64> {
        v.iter().map(Duration::as_secs_f64).collect()
    }

    #[test]
    fn specs_and_rates_parse() {
        assert_eq!(parse_rate("2/s"), Ok(2.0));
        assert_eq!(parse_rate("30/min"), Ok(0.5));
        assert_eq!(parse_rate("0.25"), Ok(0.25));
        assert!(parse_rate("0/s").is_err() && parse_rate("x/s").is_err() && parse_rate("-1").is_err());
        assert_eq!("constant:4/s".parse::<Arrival>(), Ok(Arrival::Constant { per_sec: 4.0 }));
        assert_eq!("poisson:2/s".parse::<Arrival>(), Ok(Arrival::Poisson { per_sec: 2.0, seed: 1 }));
        assert_eq!("poisson:120/min:7".parse::<Arrival>(), Ok(Arrival::Poisson { per_sec: 2.0, seed: 7 }));
        assert_eq!(
            "ramp:1/s..3/s".parse::<Arrival>(),
            Ok(Arrival::Ramp { from_per_sec: 1.0, to_per_sec: 3.0 })
        );
        let e = "uniform:2/s".parse::<Arrival>().unwrap_err().to_string();
        assert!(e.contains("constant:RATE") && e.contains("trace:FILE"), "{e}");
        assert!(matches!("trace:/no/such/file".parse::<Arrival>(), Err(ArrivalError::TraceRead { .. })));
    }

    #[test]
    fn trace_files_parse_and_name_the_bad_line() {
        let p = Path::new("t.txt");
        assert_eq!(parse_trace("# offsets\n0\n0.5 # half\n\n2.25\n", p), Ok(vec![0.0, 0.5, 2.25]));
        let e = parse_trace("0\n1\n0.5\n", p).unwrap_err();
        assert_eq!(e, ArrivalError::TraceLine { path: p.into(), line: 3, text: "0.5".into() });
        assert!(matches!(parse_trace("0\nabc\n", p), Err(ArrivalError::TraceLine { line: 2, .. })));
        assert!(matches!(parse_trace("-1\n", p), Err(ArrivalError::TraceLine { line: 1, .. })));
        assert_eq!(parse_trace("# none\n", p), Err(ArrivalError::TraceEmpty(p.into())));
    }

    #[test]
    fn constant_schedule_by_hand() {
        let c = Arrival::Constant { per_sec: 4.0 };
        assert_eq!(secs(&schedule(&c, Stop::Sessions(3)).unwrap()), vec![0.0, 0.25, 0.5]);
        // Starts strictly before 1 s: 0, 0.25, 0.5, 0.75.
        assert_eq!(schedule(&c, Stop::DurationSecs(1.0)).unwrap().len(), 4);
        assert_eq!(schedule(&c, Stop::Sessions(0)), Err(ArrivalError::BadStop));
        assert_eq!(schedule(&c, Stop::DurationSecs(0.0)), Err(ArrivalError::BadStop));
        let huge = Arrival::Constant { per_sec: 1e6 };
        assert_eq!(schedule(&huge, Stop::DurationSecs(1e3)), Err(ArrivalError::TooMany));
    }

    #[test]
    fn ramp_schedule_by_hand() {
        // From 1/s to 3/s over 2 s: count(t) = t + t²/2 → arrivals at count 0, 1, 2, 3:
        // t = 0, √3 − 1 = 0.7320…, √5 − 1 = 1.2360…, √7 − 1 = 1.6457…; count(2) = 4 ends it.
        let r = Arrival::Ramp { from_per_sec: 1.0, to_per_sec: 3.0 };
        let got = secs(&schedule(&r, Stop::DurationSecs(2.0)).unwrap());
        let want = [0.0, 3f64.sqrt() - 1.0, 5f64.sqrt() - 1.0, 7f64.sqrt() - 1.0];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-9, "{got:?}");
        }
        // By session count: 4 sessions at a mean of 2/s take T = 2 s, the same ramp.
        let by_n = secs(&schedule(&r, Stop::Sessions(4)).unwrap());
        assert!(by_n.iter().zip(&got).all(|(a, b)| (a - b).abs() < 1e-9));
        // A flat ramp is a constant rate.
        let flat = Arrival::Ramp { from_per_sec: 2.0, to_per_sec: 2.0 };
        assert_eq!(secs(&schedule(&flat, Stop::Sessions(3)).unwrap()), vec![0.0, 0.5, 1.0]);
    }

    #[test]
    fn trace_schedule_replays_offsets() {
        let t = Arrival::Trace { path: "t".into(), offsets_secs: vec![0.0, 0.1, 0.1, 5.0] };
        assert_eq!(secs(&schedule(&t, Stop::DurationSecs(1.0)).unwrap()), vec![0.0, 0.1, 0.1]);
        assert_eq!(schedule(&t, Stop::Sessions(10)).unwrap().len(), 4);
        assert_eq!(t.mean_per_sec(), Some(0.8));
    }

    /// χ² goodness of fit of the Poisson schedule for a fixed seed: 10,000 gaps at 5/s sorted
    /// into 10 bins of equal probability under Exp(5) (edges −ln(1 − i/10)/5); with 9 degrees
    /// of freedom the 1 % critical value is 21.666. Counts in 1 s windows must also be Poisson:
    /// their mean and variance both ≈ 5.
    #[test]
    fn poisson_schedule_passes_chi_square() {
        let rate = 5.0;
        let p = Arrival::Poisson { per_sec: rate, seed: 42 };
        let t = secs(&schedule(&p, Stop::Sessions(10_000)).unwrap());
        assert_eq!(t, secs(&schedule(&p, Stop::Sessions(10_000)).unwrap()), "same seed, same schedule");
        let mut gaps = vec![t[0]];
        gaps.extend(t.windows(2).map(|w| w[1] - w[0]));
        let edges: Vec<f64> = (1..10).map(|i| -(1.0 - f64::from(i) / 10.0).ln() / rate).collect();
        let mut counts = [0f64; 10];
        for g in &gaps {
            counts[edges.iter().take_while(|&&e| *g >= e).count()] += 1.0;
        }
        let expected = gaps.len() as f64 / 10.0;
        let chi2: f64 = counts.iter().map(|c| (c - expected).powi(2) / expected).sum();
        assert!(chi2 < 21.666, "χ² = {chi2:.2} over bins {counts:?}");

        let whole = t.last().unwrap().floor() as usize;
        let mut per_sec = vec![0f64; whole];
        for x in &t {
            if let Some(c) = per_sec.get_mut(*x as usize) {
                *c += 1.0;
            }
        }
        let m = crate::stats::mean(&per_sec).unwrap();
        let var = crate::stats::sample_sd(&per_sec).unwrap().powi(2);
        assert!((m - rate).abs() < 0.25 && (var / m - 1.0).abs() < 0.15, "mean {m}, variance {var}");
        // Another seed gives another schedule.
        let q = Arrival::Poisson { per_sec: rate, seed: 43 };
        assert_ne!(t[..10], secs(&schedule(&q, Stop::Sessions(10)).unwrap())[..]);
    }
}
