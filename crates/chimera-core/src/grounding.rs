//! Grounding check: every number in a model's text is looked up among the known numbers
//! (facts + inventory + run context), tolerating rounding, truncation and unit changes
//! (ms↔s↔ns, % ↔ fraction, bytes ↔ KB/MB/GB). Score = supported / checked.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// What a known number measures; the value is stored in the canonical unit of its dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dim {
    /// A count or a number without a stated unit.
    Plain,
    /// Milliseconds.
    TimeMs,
    /// Percent (12.5 means 12.5 %).
    Percent,
    /// Tokens (or items) per second.
    Rate,
    /// Bytes.
    Bytes,
}

/// A number the model may legitimately quote, with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnownNumber {
    pub value: f64,
    pub dim: Dim,
    pub source: String,
}

impl KnownNumber {
    pub fn new(value: f64, dim: Dim, source: impl Into<String>) -> Self {
        KnownNumber { value, dim, source: source.into() }
    }
}

/// How a number in the text was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Equal to a known number at the precision written.
    Exact,
    /// A known number rounded (or truncated) to the precision written.
    Rounded,
    /// A known number after a unit change (ms↔s, %↔fraction, bytes↔MB…), possibly rounded.
    UnitChanged,
    /// Not found among the known numbers.
    Unsupported,
}

impl Verdict {
    pub fn supported(self) -> bool {
        self != Verdict::Unsupported
    }
}

/// The unit written after a number in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextUnit {
    None,
    Ms,
    S,
    Us,
    Ns,
    Min,
    Percent,
    TokS,
    B,
    Kb,
    Mb,
    Gb,
    Times,
}

/// One number found in the text and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumberCheck {
    /// As written (`3.2 s`, `2,156`).
    pub text: String,
    pub value: f64,
    pub unit: TextUnit,
    pub verdict: Verdict,
    /// Source of the matching known number.
    pub source: Option<String>,
    /// A few words around the number.
    pub context: String,
}

/// The grounding result for one text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Grounding {
    pub checks: Vec<NumberCheck>,
    pub checked: usize,
    pub supported: usize,
    /// supported / checked; `None` when the text has no number to check.
    pub score: Option<f64>,
    /// Numbers not checked: list markers, dates, times, versions, numbers inside identifiers
    /// and `code` spans (file names).
    pub skipped: usize,
}

impl Grounding {
    /// The unsupported numbers.
    pub fn unsupported(&self) -> impl Iterator<Item = &NumberCheck> {
        self.checks.iter().filter(|c| !c.verdict.supported())
    }
}

static SKIP_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"`[^`\n]*`",                                         // code spans (file names)
        r"|\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?", // dates
        r"|\b\d{8}[-_]\d{6}\b",                               // 20251002-170837 stamps
        r"|\b\d{1,2}:\d{2}(?::\d{2})?\b",                     // times
        r"|\b\d+\.\d+\.\d+(?:\.\d+)*\b",                      // versions
        r"|\b[A-Za-z_][A-Za-z_\-]*\d[\w\-.]*",                // identifiers with digits (gemma3, Q4_K_M, conv_bench_2025…)
        r"|\b\d+[A-Za-z_][\w\-]*",                            // 270m, 1b-it-qat, 25th (unless a unit, handled first)
        r"|(?m)^[\s>#*]*\(?\d{1,2}[.)](?:\s|\*)",             // list markers, numbered headings
        r"|\b(?:January|February|March|April|May|June|July|August|September|October|November|December)\s+\d{4}\b",
    ))
    .expect("static regex")
});

static NUM_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?P<num>[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+−]?\.\d+)",
        r"(?:\s?(?P<unit>%|percent\b|ms\b|milliseconds?\b|msec\b|µs\b|us\b|microseconds?\b|ns\b|nanoseconds?\b",
        r"|tok/s\b|tokens/s\b|tokens/sec\b|tokens per second\b|tok/sec\b|t/s\b",
        r"|s\b|sec\b|secs\b|seconds?\b|min\b|minutes?\b",
        r"|GiB\b|GB\b|MiB\b|MB\b|KiB\b|KB\b|kB\b|bytes\b|B\b|x\b|×))?",
    ))
    .expect("static regex")
});

fn text_unit(u: &str) -> TextUnit {
    match u {
        "%" | "percent" => TextUnit::Percent,
        "ms" | "millisecond" | "milliseconds" | "msec" => TextUnit::Ms,
        "µs" | "us" | "microsecond" | "microseconds" => TextUnit::Us,
        "ns" | "nanosecond" | "nanoseconds" => TextUnit::Ns,
        "s" | "sec" | "secs" | "second" | "seconds" => TextUnit::S,
        "min" | "minute" | "minutes" => TextUnit::Min,
        "GiB" | "GB" => TextUnit::Gb,
        "MiB" | "MB" => TextUnit::Mb,
        "KiB" | "KB" | "kB" => TextUnit::Kb,
        "bytes" | "B" => TextUnit::B,
        "x" | "×" => TextUnit::Times,
        "" => TextUnit::None,
        _ => TextUnit::TokS,
    }
}

/// A number found in text, before checking.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub text: String,
    pub value: f64,
    pub decimals: u32,
    pub unit: TextUnit,
    pub start: usize,
}

/// Extract the numbers of `text` that make a claim; also returns how many were skipped.
/// Linear in the text: skipped spans are blanked in one copy of it, then numbers are scanned once.
pub fn extract(text: &str) -> (Vec<Found>, usize) {
    // Blank out spans that are not claims, keeping byte offsets.
    let mut masked = text.as_bytes().to_vec();
    let mut skipped = 0;
    for m in SKIP_RE.find_iter(text) {
        if m.as_str().chars().any(|c| c.is_ascii_digit()) {
            // A number with a unit glued to it (`3.2s`, `88ms`, `12%`) is a claim, not an identifier.
            if NUM_RE
                .find(m.as_str())
                .is_some_and(|n| n.start() == 0 && n.end() == m.len() && !m.as_str().starts_with('`'))
            {
                continue;
            }
            skipped += 1;
        }
        // Every byte of the span becomes an ASCII space: offsets and UTF-8 validity are kept.
        masked[m.range()].fill(b' ');
    }
    let masked = String::from_utf8(masked).expect("whole UTF-8 sequences replaced by spaces");
    let mut out = Vec::new();
    for c in NUM_RE.captures_iter(&masked) {
        let Some(num) = c.name("num") else { continue };
        let start = num.start();
        // Not part of a larger token (`.5` after a letter, `v2`).
        if let Some(prev) = masked[..start].chars().next_back() {
            if prev.is_alphanumeric() || prev == '_' || prev == '.' || prev == '/' {
                continue;
            }
        }
        let raw = num.as_str().replace('−', "-");
        let clean = raw.replace(',', "");
        let Ok(value) = clean.parse::<f64>() else { continue };
        let decimals = clean.split_once('.').map_or(0, |(_, d)| d.len() as u32);
        let unit = c.name("unit").map_or(TextUnit::None, |u| text_unit(u.as_str()));
        let end = c.get(0).map_or(num.end(), |m| m.end());
        out.push(Found { text: text[start..end].trim().to_string(), value, decimals, unit, start });
    }
    (out, skipped)
}

/// `candidate` (a known number expressed in the text's unit) written at `decimals` places:
/// exactly `value`, or rounded / truncated to it.
fn matches_at_precision(candidate: f64, value: f64, decimals: u32) -> Option<bool> {
    let step = 10f64.powi(-(decimals as i32));
    let eps = 1e-9 * candidate.abs().max(1.0);
    let diff = (candidate - value).abs();
    if diff <= eps {
        return Some(true); // exact
    }
    if diff <= step / 2.0 + eps {
        return Some(false); // rounded
    }
    let trunc = (candidate / step).trunc() * step;
    if (trunc - value).abs() <= eps {
        return Some(false); // truncated
    }
    None
}

/// Scales that turn a known number of `dim` into the text's unit, and whether each is a
/// unit change. `x_text = known / scale`.
fn scales(dim: Dim, unit: TextUnit) -> &'static [(f64, bool)] {
    use TextUnit as U;
    match (dim, unit) {
        (Dim::TimeMs, U::Ms) => &[(1.0, false)],
        (Dim::TimeMs, U::S) => &[(1000.0, true)],
        (Dim::TimeMs, U::Us) => &[(1e-3, true)],
        (Dim::TimeMs, U::Ns) => &[(1e-6, true)],
        (Dim::TimeMs, U::Min) => &[(60_000.0, true)],
        (Dim::TimeMs, U::None) => &[(1.0, false), (1000.0, true)],
        (Dim::Percent, U::Percent | U::None) => &[(1.0, false)],
        (Dim::Percent, _) => &[],
        (Dim::Rate, U::TokS | U::None) => &[(1.0, false)],
        (Dim::Bytes, U::B | U::None) => &[(1.0, false)],
        (Dim::Bytes, U::Kb) => &[(1e3, true), (1024.0, true)],
        (Dim::Bytes, U::Mb) => &[(1e6, true), (1_048_576.0, true)],
        (Dim::Bytes, U::Gb) => &[(1e9, true), (1_073_741_824.0, true)],
        // A plain number (unit unknown): same value, or a fraction written as a percent.
        (Dim::Plain, U::Percent) => &[(1.0, false), (0.01, true)],
        (Dim::Plain, U::S | U::Ms) => &[(1.0, false), (1000.0, true), (1e-3, true)],
        (Dim::Plain, _) => &[(1.0, false)],
        _ => &[],
    }
}

const DIMS: [Dim; 5] = [Dim::Plain, Dim::TimeMs, Dim::Percent, Dim::Rate, Dim::Bytes];

fn verdict_rank(v: Verdict) -> u8 {
    match v {
        Verdict::Exact => 0,
        Verdict::Rounded => 1,
        Verdict::UnitChanged => 2,
        Verdict::Unsupported => 3,
    }
}

/// One distinct known value of a dimension: |value|, its sign, and the first position in the
/// known list where it appears (whose source is cited; later duplicates never win).
#[derive(Debug, Clone, Copy)]
struct Entry {
    abs: f64,
    negative: bool,
    first: usize,
}

/// The known numbers sorted by magnitude per dimension, so that each number of the text is
/// checked against the few known values near it (a binary search) instead of all of them.
struct KnownIndex {
    by_dim: [Vec<Entry>; 5],
}

impl KnownIndex {
    fn new(known: &[KnownNumber]) -> Self {
        let mut by_dim: [Vec<Entry>; 5] = Default::default();
        for (i, k) in known.iter().enumerate() {
            if k.value.is_finite() {
                let e = Entry { abs: k.value.abs(), negative: k.value < 0.0, first: i };
                by_dim[DIMS.iter().position(|d| *d == k.dim).unwrap_or(0)].push(e);
            }
        }
        for v in &mut by_dim {
            // By magnitude, then sign, then first appearance: keep the first of each value.
            v.sort_by(|a, b| {
                a.abs.total_cmp(&b.abs).then(a.negative.cmp(&b.negative)).then(a.first.cmp(&b.first))
            });
            v.dedup_by(|later, earlier| later.abs == earlier.abs && later.negative == earlier.negative);
        }
        KnownIndex { by_dim }
    }

    /// Best verdict for `f` and the position of the known number it matched: the lowest rank,
    /// then the earliest position in the known list (the same answer as checking every known
    /// number in order).
    fn check(&self, f: &Found) -> Option<(Verdict, usize)> {
        let v = f.value.abs();
        if !v.is_finite() {
            return None;
        }
        let step = 10f64.powi(-(f.decimals as i32));
        // Every known value that can match lies in this window (rounding reaches step/2 below,
        // truncation a step above); the margin covers floating-point error, and each candidate
        // is then decided exactly by `matches_at_precision`.
        let margin = step + 1e-6 * v.max(1.0);
        let (lo, hi) = ((v - margin).max(0.0), v + step + margin);
        let mut best: Option<(u8, usize, Verdict)> = None;
        for (d, entries) in DIMS.iter().zip(&self.by_dim) {
            for &(scale, changed) in scales(*d, f.unit) {
                let from = entries.partition_point(|e| e.abs / scale < lo);
                for e in entries[from..].iter().take_while(|e| e.abs / scale <= hi) {
                    if e.negative != (f.value < 0.0) && f.value != 0.0 {
                        continue;
                    }
                    let Some(exact) = matches_at_precision(e.abs / scale, v, f.decimals) else { continue };
                    let verdict = if changed {
                        Verdict::UnitChanged
                    } else if exact {
                        Verdict::Exact
                    } else {
                        Verdict::Rounded
                    };
                    let key = (verdict_rank(verdict), e.first);
                    if best.is_none_or(|(r, i, _)| key < (r, i)) {
                        best = Some((key.0, key.1, verdict));
                    }
                }
            }
        }
        best.map(|(_, i, verdict)| (verdict, i))
    }
}

fn context_of(text: &str, start: usize) -> String {
    let before: Vec<&str> = text[..start].split_whitespace().rev().take(4).collect();
    let after: Vec<&str> = text[start..].split_whitespace().take(4).collect();
    let mut words: Vec<&str> = before.into_iter().rev().collect();
    words.extend(after);
    words.join(" ").replace('|', "/").replace('`', "'")
}

/// Check every number of `text` against `known`. Cost: one pass over the text, plus a binary
/// search among the known values of each dimension per number found.
pub fn check(text: &str, known: &[KnownNumber]) -> Grounding {
    let (found, skipped) = extract(text);
    let index = KnownIndex::new(known);
    let checks: Vec<NumberCheck> = found
        .iter()
        .map(|f| {
            let (verdict, source) = match index.check(f) {
                Some((v, i)) => (v, Some(known[i].source.clone())),
                None => (Verdict::Unsupported, None),
            };
            NumberCheck {
                text: f.text.clone(),
                value: f.value,
                unit: f.unit,
                verdict,
                source,
                context: context_of(text, f.start),
            }
        })
        .collect();
    let supported = checks.iter().filter(|c| c.verdict.supported()).count();
    let checked = checks.len();
    Grounding {
        checks,
        checked,
        supported,
        score: if checked == 0 { None } else { Some(supported as f64 / checked as f64) },
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(text: &str) -> Vec<(f64, TextUnit)> {
        extract(text).0.into_iter().map(|f| (f.value, f.unit)).collect()
    }

    #[test]
    fn extraction_skips_identifiers_dates_and_markers() {
        let (f, skipped) = extract(
            "1. **gemma3_270m** on 2025-10-02 at 17:08 in `conv_bench_20251002-170837.json` ran 2,156 tokens at 48.47 tok/s, TTFT 920.5ms and 12% CV; version 0.1.160.",
        );
        let vals: Vec<(f64, TextUnit)> = f.iter().map(|f| (f.value, f.unit)).collect();
        assert_eq!(
            vals,
            vec![
                (2156.0, TextUnit::None),
                (48.47, TextUnit::TokS),
                (920.5, TextUnit::Ms),
                (12.0, TextUnit::Percent)
            ]
        );
        assert_eq!(skipped, 6);
    }

    #[test]
    fn units_are_read() {
        assert_eq!(units("3.2 s and 0.09 seconds"), vec![(3.2, TextUnit::S), (0.09, TextUnit::S)]);
        assert_eq!(units("about 3 GB, 40 layers"), vec![(3.0, TextUnit::Gb), (40.0, TextUnit::None)]);
        assert_eq!(units("1.5x faster"), vec![(1.5, TextUnit::Times)]);
        assert_eq!(units("October 2025 and 25th"), vec![]);
    }

    /// The old way: every known number, every scale, in order (the first of the best rank wins).
    fn brute_force(f: &Found, known: &[KnownNumber]) -> Option<(Verdict, usize)> {
        let mut best: Option<(Verdict, usize)> = None;
        for (i, k) in known.iter().enumerate() {
            for &(scale, changed) in scales(k.dim, f.unit) {
                let cand = k.value / scale;
                let Some(exact) = matches_at_precision(cand.abs(), f.value.abs(), f.decimals) else {
                    continue;
                };
                if (cand < 0.0) != (f.value < 0.0) && f.value != 0.0 {
                    continue;
                }
                let v = if changed {
                    Verdict::UnitChanged
                } else if exact {
                    Verdict::Exact
                } else {
                    Verdict::Rounded
                };
                if best.is_none_or(|(b, _)| verdict_rank(v) < verdict_rank(b)) {
                    best = Some((v, i));
                }
            }
        }
        best
    }

    #[test]
    fn index_agrees_with_checking_every_known_number() {
        let mut rng = crate::testrng::Rng(0x5eed_1234_abcd_0001);
        let units = [
            TextUnit::None,
            TextUnit::Ms,
            TextUnit::S,
            TextUnit::Us,
            TextUnit::Min,
            TextUnit::Percent,
            TextUnit::TokS,
            TextUnit::Kb,
            TextUnit::Mb,
            TextUnit::Gb,
            TextUnit::Times,
        ];
        let bases = [0.0, 0.3, 1.0, 12.5, 48.47, 77.29, 920.52, 3202.2, 1_073_741_824.0, 1e15];
        for round in 0..300 {
            let mut known = Vec::new();
            for i in 0..(1 + rng.below(60)) {
                let base = *rng.pick(&bases) * (1.0 + rng.below(5) as f64 / 1000.0);
                let value = if rng.below(6) == 0 { -base } else { base };
                let value = if rng.below(20) == 0 { f64::NAN } else { value };
                known.push(KnownNumber::new(value, *rng.pick(&DIMS), format!("k{i}")));
                if rng.below(4) == 0 {
                    known.push(known[rng.below(known.len() as u64) as usize].clone());
                }
            }
            let index = KnownIndex::new(&known);
            for _ in 0..40 {
                let k = rng.pick(&known).value;
                let unit = *rng.pick(&units);
                let decimals = rng.below(4) as u32;
                let scale = *rng.pick(&[1.0, 1000.0, 1e-3, 0.01, 1024.0, 1e6]);
                let p = 10f64.powi(decimals as i32);
                let v = match rng.below(4) {
                    0 => (k / scale * p).round() / p,
                    1 => (k / scale * p).trunc() / p,
                    2 => (k / scale * p).round() / p + 1.0 / p,
                    _ => rng.below(100_000) as f64 / p,
                };
                if !v.is_finite() {
                    continue;
                }
                let f = Found { text: String::new(), value: v, decimals, unit, start: 0 };
                assert_eq!(
                    index.check(&f),
                    brute_force(&f, &known),
                    "round {round}: {f:?} against {known:?}"
                );
            }
        }
    }

    #[test]
    fn precision_rules() {
        assert_eq!(matches_at_precision(77.29, 77.29, 2), Some(true));
        assert_eq!(matches_at_precision(77.29, 77.3, 1), Some(false));
        assert_eq!(matches_at_precision(77.29, 77.0, 0), Some(false));
        assert_eq!(matches_at_precision(77.29, 77.2, 1), Some(false)); // truncated
        assert_eq!(matches_at_precision(77.29, 78.0, 0), None);
        assert_eq!(matches_at_precision(77.29, 77.4, 1), None);
    }
}
