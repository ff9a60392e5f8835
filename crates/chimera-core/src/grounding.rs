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
pub fn extract(text: &str) -> (Vec<Found>, usize) {
    // Blank out spans that are not claims, keeping byte offsets.
    let mut masked = text.to_string();
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
        // SAFETY of offsets: replace every byte of the span with ASCII spaces of equal length.
        let blank = " ".repeat(m.len());
        masked.replace_range(m.range(), &blank);
    }
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
fn scales(dim: Dim, unit: TextUnit) -> Vec<(f64, bool)> {
    use TextUnit as U;
    match (dim, unit) {
        (Dim::TimeMs, U::Ms) => vec![(1.0, false)],
        (Dim::TimeMs, U::S) => vec![(1000.0, true)],
        (Dim::TimeMs, U::Us) => vec![(1e-3, true)],
        (Dim::TimeMs, U::Ns) => vec![(1e-6, true)],
        (Dim::TimeMs, U::Min) => vec![(60_000.0, true)],
        (Dim::TimeMs, U::None) => vec![(1.0, false), (1000.0, true)],
        (Dim::Percent, U::Percent | U::None) => vec![(1.0, false)],
        (Dim::Percent, _) => vec![],
        (Dim::Rate, U::TokS | U::None) => vec![(1.0, false)],
        (Dim::Bytes, U::B | U::None) => vec![(1.0, false)],
        (Dim::Bytes, U::Kb) => vec![(1e3, true), (1024.0, true)],
        (Dim::Bytes, U::Mb) => vec![(1e6, true), (1_048_576.0, true)],
        (Dim::Bytes, U::Gb) => vec![(1e9, true), (1_073_741_824.0, true)],
        // A plain number (unit unknown): same value, or a fraction written as a percent.
        (Dim::Plain, U::Percent) => vec![(1.0, false), (0.01, true)],
        (Dim::Plain, U::S | U::Ms) => vec![(1.0, false), (1000.0, true), (1e-3, true)],
        (Dim::Plain, _) => vec![(1.0, false)],
        _ => vec![],
    }
}

/// Best verdict for one found number against the known set.
fn check_one(f: &Found, known: &[KnownNumber]) -> (Verdict, Option<String>) {
    let mut best: Option<(Verdict, &str)> = None;
    let rank = |v: Verdict| match v {
        Verdict::Exact => 0,
        Verdict::Rounded => 1,
        Verdict::UnitChanged => 2,
        Verdict::Unsupported => 3,
    };
    for k in known {
        for (scale, changed) in scales(k.dim, f.unit) {
            let cand = k.value / scale;
            if let Some(exact) = matches_at_precision(cand.abs(), f.value.abs(), f.decimals) {
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
                if best.is_none_or(|(b, _)| rank(v) < rank(b)) {
                    best = Some((v, &k.source));
                }
                if v == Verdict::Exact {
                    return (v, Some(k.source.clone()));
                }
            }
        }
    }
    match best {
        Some((v, s)) => (v, Some(s.to_string())),
        None => (Verdict::Unsupported, None),
    }
}

fn context_of(text: &str, start: usize) -> String {
    let before: Vec<&str> = text[..start].split_whitespace().rev().take(4).collect();
    let after: Vec<&str> = text[start..].split_whitespace().take(4).collect();
    let mut words: Vec<&str> = before.into_iter().rev().collect();
    words.extend(after);
    words.join(" ").replace('|', "/").replace('`', "'")
}

/// Check every number of `text` against `known`.
pub fn check(text: &str, known: &[KnownNumber]) -> Grounding {
    let (found, skipped) = extract(text);
    let checks: Vec<NumberCheck> = found
        .iter()
        .map(|f| {
            let (verdict, source) = check_one(f, known);
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
