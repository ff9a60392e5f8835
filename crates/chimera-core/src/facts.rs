//! Deterministic fact extraction: named numeric measurements with provenance, units normalised, grouped and summarised.
//!
//! A [`Fact`] is one number whose name says what it measures (tokens/s, TTFT, load / prompt-eval /
//! eval durations, latency, memory, …), with the file and JSON path or CSV column/row it came from.
//! [`names::classify`] decides from a column or key name whether it is a measurement and which
//! canonical metric and unit it maps to. [`FactSet::from_facts`] groups facts by file, metric,
//! statistic and the configuration the data names (model, num_gpu, num_ctx, temperature, …) and
//! summarises every group with [`crate::stats::summarize`].

pub mod names;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::stats::{Summary, summarize};

/// One numeric measurement with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    /// Canonical metric with its unit, e.g. `tokens_per_s`, `ttft_ms`, `eval_duration_ms`.
    pub metric: String,
    /// Unit after normalisation: `ms`, `tok/s`, `tokens`, `%`, `MB`, `bytes`, …
    pub unit: String,
    /// What the number is: `value` for a raw sample, or a pre-aggregated statistic the data
    /// names (`mean`, `median`, `p95`, `sd`, `min`, `max`, `total`, …).
    pub stat: String,
    /// The value in `unit` (already converted, e.g. seconds × 1000 for a `_s` name).
    pub value: f64,
    /// File path relative to the scanned directory (`reports/gemma3/gemma3_270m_baseline.csv`).
    pub file: String,
    /// JSON path like `$.runs[3].ttft_ms`, or `column tokens_s, row 2` (1-based data rows).
    pub location: String,
    /// The column or key name as written in the file.
    pub source_name: String,
    /// Configuration the data names beside the number (model, num_gpu, num_ctx, temperature, …).
    pub group: BTreeMap<String, String>,
}

/// Facts of one file sharing metric, unit, statistic and configuration, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactGroup {
    pub metric: String,
    pub unit: String,
    pub stat: String,
    pub group: BTreeMap<String, String>,
    pub summary: Summary,
    pub files: Vec<String>,
}

/// All facts of a scan and their grouped summaries, in a deterministic order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FactSet {
    /// Individual facts (file order, then position in the file). May be capped by the
    /// collector; `facts_total` counts every fact seen.
    pub facts: Vec<Fact>,
    /// Group summaries over *all* facts seen, sorted by file, metric, stat, group.
    pub groups: Vec<FactGroup>,
    /// Number of facts extracted (≥ `facts.len()` when the collector capped the list).
    pub facts_total: usize,
    /// Number of groups summarised (≥ `groups.len()` when the collector capped the list).
    pub groups_total: usize,
}

/// Where a raw fact sits in its file.
#[derive(Debug, Clone, PartialEq)]
pub enum RawLoc {
    /// CSV cell in the column named by the fact's source name; 1-based data row.
    Cell { row: u32 },
    /// JSON path such as `$.runs[3].ttft_ms`.
    Path(String),
    /// JSON leaf: its container's path is `RawFacts::paths[parent]`; the leaf is the element
    /// `index` of an array, or (no index) the key named by the fact's source name.
    Json { parent: u32, index: Option<u32> },
    /// Markdown table cell on a 1-based line; the column or row label is the source name.
    Line { line: u32 },
}

/// `parent.key`, or `parent["odd key"]` when the key is not a plain identifier.
pub fn json_key_path(parent: &str, key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!("{parent}.{key}")
    } else {
        format!("{parent}[{}]", serde_json::Value::String(key.to_string()))
    }
}

/// One number of a file before it becomes a [`Fact`]: indices into the file's tables.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFact {
    /// Index into [`RawFacts::metrics`].
    pub metric: u32,
    /// Index into [`RawFacts::groups`].
    pub group: u32,
    pub value: f64,
    pub loc: RawLoc,
}

/// The facts of one file in compact form (no per-fact strings), as the parser produces them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawFacts {
    /// Distinct (classification, source name) pairs of the file.
    /// (shared: the parser hands out one classification per distinct name and thread).
    pub metrics: Vec<(std::sync::Arc<names::Classified>, std::sync::Arc<str>)>,
    /// Distinct configurations of the file.
    pub groups: Vec<BTreeMap<String, String>>,
    pub items: Vec<RawFact>,
    /// JSON container paths referenced by [`RawLoc::Json`].
    pub paths: Vec<String>,
    /// Per-group summaries `(metric index, group index, summary)` in output order, filled by
    /// [`RawFacts::summarize`] (the parser does it on its worker thread).
    pub summaries: Vec<(u32, u32, Summary)>,
    /// Set instead of `summaries` when the collector's group summaries were already full
    /// (`max_groups`): the number of summaries the file has, from [`RawFacts::count_summaries`].
    pub summary_count: Option<usize>,
    /// Facts counted but not kept in `items` (when the collector keeps no more facts nor
    /// summaries, only the counts travel back from the parser).
    pub dropped_items: usize,
}

impl RawFacts {
    /// Index of the first metric with the same (metric, statistic, unit) as each metric.
    fn canonical_metrics(&self) -> Vec<u32> {
        let key = |m: usize| {
            let c = &self.metrics[m].0;
            (&c.metric, &c.stat, &c.unit)
        };
        (0..self.metrics.len()).map(|m| (0..m).find(|&e| key(e) == key(m)).unwrap_or(m) as u32).collect()
    }

    /// How many summaries [`RawFacts::summarize`] returns, without computing them.
    pub fn count_summaries(&self) -> usize {
        let canon = self.canonical_metrics();
        let groups = self.groups.len().max(1);
        if self.metrics.len().saturating_mul(groups) > 1 << 16 {
            let mut pairs: Vec<(u32, u32)> = self
                .items
                .iter()
                .filter(|r| r.value.is_finite())
                .map(|r| (canon[r.metric as usize], r.group))
                .collect();
            pairs.sort_unstable();
            pairs.dedup();
            return pairs.len();
        }
        let mut seen = vec![false; self.metrics.len() * groups];
        let mut n = 0;
        for r in self.items.iter().filter(|r| r.value.is_finite()) {
            let at = canon[r.metric as usize] as usize * groups + r.group as usize;
            if let Some(s) = seen.get_mut(at).filter(|s| !**s) {
                *s = true;
                n += 1;
            }
        }
        n
    }

    /// Summarise the values per (metric, unit, statistic, configuration), sorted by metric,
    /// statistic, unit and configuration. Columns with different names but the same canonical
    /// metric share a group.
    pub fn summarize(&self) -> Vec<(u32, u32, Summary)> {
        let key = |m: usize| {
            let c = &self.metrics[m].0;
            (&c.metric, &c.stat, &c.unit)
        };
        let canon = self.canonical_metrics();
        // Sort (metric, group, value) triples, then summarise each run of equal keys.
        let mut triples: Vec<(u32, u32, f64)> =
            self.items.iter().map(|r| (canon[r.metric as usize], r.group, r.value)).collect();
        triples.sort_unstable_by_key(|t| (t.0, t.1));
        let mut out: Vec<(u32, u32, Summary)> = Vec::new();
        let mut xs: Vec<f64> = Vec::new();
        let mut i = 0;
        while i < triples.len() {
            let (m, g, _) = triples[i];
            xs.clear();
            while i < triples.len() && (triples[i].0, triples[i].1) == (m, g) {
                xs.push(triples[i].2);
                i += 1;
            }
            if let Some(s) = summarize(&xs) {
                out.push((m, g, s));
            }
        }
        out.sort_by(|a, b| {
            key(a.0 as usize)
                .cmp(&key(b.0 as usize))
                .then_with(|| self.groups[a.1 as usize].cmp(&self.groups[b.1 as usize]))
        });
        out
    }

    /// Number of facts (kept in `items` or only counted).
    pub fn len(&self) -> usize {
        self.items.len() + self.dropped_items
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Take out the individual facts and free their paths, keeping their number (for a
    /// collector whose fact list is full but which still keeps summaries: call after
    /// [`RawFacts::summarize`]). The list is returned so its memory can be reused.
    pub fn drop_items(&mut self) -> Vec<RawFact> {
        self.dropped_items += self.items.len();
        self.paths = Vec::new();
        std::mem::take(&mut self.items)
    }

    /// Keep only the counts (facts and summaries), freeing the rest.
    pub fn into_counts(self) -> RawFacts {
        RawFacts {
            summary_count: Some(self.summary_count.unwrap_or(self.summaries.len())),
            dropped_items: self.len(),
            ..RawFacts::default()
        }
    }

    /// Materialise fact `i` for `file`.
    pub fn fact(&self, file: &str, i: usize) -> Fact {
        let r = &self.items[i];
        let (c, source) = &self.metrics[r.metric as usize];
        let location = match &r.loc {
            RawLoc::Cell { row } => format!("column {source}, row {row}"),
            RawLoc::Path(p) => p.clone(),
            RawLoc::Line { line } => format!("line {line}, {source}"),
            RawLoc::Json { parent, index: Some(i) } => format!("{}[{i}]", self.paths[*parent as usize]),
            RawLoc::Json { parent, index: None } => json_key_path(&self.paths[*parent as usize], source),
        };
        Fact {
            metric: c.metric.clone(),
            unit: c.unit.to_string(),
            stat: c.stat.to_string(),
            value: r.value,
            file: file.to_string(),
            location,
            source_name: source.to_string(),
            group: self.groups[r.group as usize].clone(),
        }
    }
}

/// Streaming builder for a [`FactSet`]: feed files in order; keeps at most `max_facts`
/// individual facts and `max_groups` group summaries (the first ones in file order), and
/// counts all of them, so memory does not grow with the corpus.
#[derive(Debug)]
pub struct FactSetBuilder {
    max_facts: usize,
    max_groups: usize,
    facts: Vec<Fact>,
    facts_total: usize,
    groups: Vec<FactGroup>,
    groups_total: usize,
}

impl FactSetBuilder {
    /// A builder keeping at most `max_facts` facts and `max_groups` groups.
    pub fn new(max_facts: usize, max_groups: usize) -> Self {
        Self { max_facts, max_groups, facts: Vec::new(), facts_total: 0, groups: Vec::new(), groups_total: 0 }
    }

    /// Add one file's facts. Groups are closed per file (values of one file at a time).
    pub fn add_raw(&mut self, file: &str, raw: &RawFacts) {
        if let Some(n) = raw.summary_count
            && self.groups.len() >= self.max_groups
        {
            // No room for summaries: only their number is needed.
            self.groups_total += n;
            self.facts_total += raw.len();
            let room = self.max_facts.saturating_sub(self.facts.len()).min(raw.items.len());
            self.facts.extend((0..room).map(|i| raw.fact(file, i)));
            return;
        }
        let computed;
        let summaries = if raw.summaries.is_empty() && !raw.items.is_empty() {
            computed = raw.summarize();
            &computed
        } else {
            &raw.summaries
        };
        self.groups_total += summaries.len();
        for (m, g, summary) in summaries.iter().take(self.max_groups.saturating_sub(self.groups.len())) {
            let c = &raw.metrics[*m as usize].0;
            self.groups.push(FactGroup {
                metric: c.metric.clone(),
                unit: c.unit.clone(),
                stat: c.stat.clone(),
                group: raw.groups[*g as usize].clone(),
                summary: summary.clone(),
                files: vec![file.to_string()],
            });
        }
        self.facts_total += raw.len();
        let room = self.max_facts.saturating_sub(self.facts.len()).min(raw.items.len());
        self.facts.extend((0..room).map(|i| raw.fact(file, i)));
    }

    /// Add one file's facts given as [`Fact`]s (all with the same `file`).
    pub fn add_file(&mut self, facts: Vec<Fact>) {
        let Some(file) = facts.first().map(|f| f.file.clone()) else { return };
        let mut raw = RawFacts::default();
        for f in facts {
            let c =
                names::Classified { metric: f.metric, unit: f.unit, stat: f.stat, factor: 1.0, family: "" };
            let m = match raw.metrics.iter().position(|(x, s)| **x == c && **s == *f.source_name) {
                Some(i) => i,
                None => {
                    raw.metrics.push((std::sync::Arc::new(c), f.source_name.into()));
                    raw.metrics.len() - 1
                }
            };
            let g = match raw.groups.iter().position(|g| *g == f.group) {
                Some(i) => i,
                None => {
                    raw.groups.push(f.group);
                    raw.groups.len() - 1
                }
            };
            raw.items.push(RawFact {
                metric: m as u32,
                group: g as u32,
                value: f.value,
                loc: RawLoc::Path(f.location),
            });
        }
        raw.summaries = raw.summarize();
        self.add_raw(&file, &raw);
    }

    /// Finish: groups sorted by file, metric, stat and configuration.
    /// No more group summaries will be kept (later files' summaries are only counted).
    pub fn groups_full(&self) -> bool {
        self.groups.len() >= self.max_groups
    }

    /// No more individual facts will be kept (later files' facts are only counted).
    pub fn facts_full(&self) -> bool {
        self.facts.len() >= self.max_facts
    }

    pub fn finish(mut self) -> FactSet {
        self.groups.sort_by(|a, b| {
            (&a.files, &a.metric, &a.stat, &a.unit, &a.group)
                .cmp(&(&b.files, &b.metric, &b.stat, &b.unit, &b.group))
        });
        FactSet {
            facts: self.facts,
            groups: self.groups,
            facts_total: self.facts_total,
            groups_total: self.groups_total,
        }
    }
}

impl FactSet {
    /// Build a set from facts in any order: facts are sorted by file (stable within a file)
    /// and grouped per file.
    pub fn from_facts(mut facts: Vec<Fact>) -> FactSet {
        facts.sort_by(|a, b| a.file.cmp(&b.file));
        let mut b = FactSetBuilder::new(usize::MAX, usize::MAX);
        let mut start = 0;
        while start < facts.len() {
            let end = start + facts[start..].iter().take_while(|f| f.file == facts[start].file).count();
            b.add_file(facts[start..end].to_vec());
            start = end;
        }
        b.finish()
    }

    /// Groups of one canonical metric (e.g. `tokens_per_s`).
    pub fn groups_for<'a>(&'a self, metric: &'a str) -> impl Iterator<Item = &'a FactGroup> + 'a {
        self.groups.iter().filter(move |g| g.metric == metric)
    }

    /// Distinct canonical metrics present, sorted.
    pub fn metrics(&self) -> Vec<String> {
        let mut m: Vec<String> = self.groups.iter().map(|g| g.metric.clone()).collect();
        m.sort();
        m.dedup();
        m
    }

    /// Markdown tables, one per metric, each listing at most `max_rows` groups (largest n
    /// first, then file order) with n, mean, median, p95, min and max, and the file the
    /// values came from. A line says how many groups were left out.
    pub fn to_markdown_tables(&self, max_rows: usize) -> String {
        let mut out = String::new();
        for metric in self.metrics() {
            let mut gs: Vec<&FactGroup> = self.groups_for(&metric).collect();
            gs.sort_by(|a, b| b.summary.n.cmp(&a.summary.n).then_with(|| a.files.cmp(&b.files)));
            let unit = gs.first().map(|g| g.unit.as_str()).unwrap_or("");
            let _ = writeln!(out, "### {metric} ({unit})\n");
            use crate::export::table::{Align::Left as L, Align::Right as R, Table};
            let mut t = Table::new(&[
                ("file", L),
                ("stat", L),
                ("configuration", L),
                ("n", R),
                ("mean", R),
                ("median", R),
                ("p95", R),
                ("min", R),
                ("max", R),
            ]);
            for g in gs.iter().take(max_rows) {
                let s = &g.summary;
                t.row([
                    g.files.join(", "),
                    g.stat.clone(),
                    fmt_group(&g.group),
                    s.n.to_string(),
                    fmt_num(s.mean),
                    fmt_num(s.median),
                    fmt_num(s.p95),
                    fmt_num(s.min),
                    fmt_num(s.max),
                ]);
            }
            out.push_str(&t.render());
            if gs.len() > max_rows {
                let _ = writeln!(out, "\n… and {} more groups of {metric}", gs.len() - max_rows);
            }
            out.push('\n');
        }
        out
    }
}

/// `model=gemma3:270m, num_ctx=1024`, or `-` when the data names no configuration.
pub fn fmt_group(g: &BTreeMap<String, String>) -> String {
    if g.is_empty() {
        return "-".into();
    }
    g.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

/// A number for tables: up to 4 decimals, trailing zeros trimmed (deterministic).
pub fn fmt_num(x: f64) -> String {
    let s = format!("{x:.4}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if s == "-0" { "0".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(file: &str, metric: &str, v: f64, model: Option<&str>) -> Fact {
        let mut group = BTreeMap::new();
        if let Some(m) = model {
            group.insert("model".to_string(), m.to_string());
        }
        Fact {
            metric: metric.into(),
            unit: "tok/s".into(),
            stat: "value".into(),
            value: v,
            file: file.into(),
            location: "column x, row 1".into(),
            source_name: "x".into(),
            group,
        }
    }

    #[test]
    fn groups_per_file_and_configuration() {
        let fs = FactSet::from_facts(vec![
            fact("b.csv", "tokens_per_s", 10.0, Some("a")),
            fact("a.csv", "tokens_per_s", 1.0, None),
            fact("a.csv", "tokens_per_s", 3.0, None),
            fact("b.csv", "tokens_per_s", 20.0, Some("b")),
            fact("b.csv", "tokens_per_s", 30.0, Some("a")),
        ]);
        assert_eq!(fs.facts_total, 5);
        assert_eq!(fs.groups.len(), 3);
        assert_eq!(fs.groups[0].files, vec!["a.csv"]);
        assert_eq!((fs.groups[0].summary.n, fs.groups[0].summary.mean), (2, 2.0));
        assert_eq!(fs.groups[1].group.get("model").map(String::as_str), Some("a"));
        assert_eq!((fs.groups[1].summary.n, fs.groups[1].summary.mean), (2, 20.0));
        let md = fs.to_markdown_tables(2);
        assert!(md.contains("### tokens_per_s (tok/s)"), "{md}");
        assert!(md.contains("| a.csv | value | - | 2 | 2 | 2 | 2.9 | 1 | 3 |"), "{md}");
        assert!(md.contains("… and 1 more groups"), "{md}");
    }

    #[test]
    fn builder_caps_kept_facts_but_summarises_all() {
        let mut b = FactSetBuilder::new(1, 10);
        b.add_file(vec![fact("a", "m", 1.0, None), fact("a", "m", 5.0, None)]);
        let fs = b.finish();
        assert_eq!(fs.facts.len(), 1);
        assert_eq!(fs.facts_total, 2);
        assert_eq!(fs.groups[0].summary.mean, 3.0);
    }

    #[test]
    fn numbers_format_deterministically() {
        assert_eq!(fmt_num(2.0), "2");
        assert_eq!(fmt_num(289.36687379), "289.3669");
        assert_eq!(fmt_num(-0.00001), "0");
        assert_eq!(fmt_num(0.15), "0.15");
    }
}
