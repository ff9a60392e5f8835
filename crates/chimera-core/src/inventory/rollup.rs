//! Per-model roll-ups over the whole corpus: for each metric (with its statistic and unit) and
//! model, n, mean, sd, min and max of every measurement, from streaming sums
//! ([`crate::stats::Running`]), with a measurement that twin files repeat counted once.
//!
//! Twin files share a path stem in several formats (`x.csv`, `x.json`, `x.md`). A later twin's
//! measurement with the same metric, statistic, unit and value as one of the earlier twins'
//! matches it (each earlier measurement at most once per twin) and is not counted again; when
//! the earlier copy names no model and the twin's does, the measurement counts under the
//! twin's model. Files arrive in path order, where every path that starts with `x.` comes in
//! one run, so a twin set is complete once a path outside that run arrives: only the values of
//! the sets still open are held.

use rustc_hash::FxHashMap;

use super::Rollup;
use crate::facts::names::Classified;
use crate::facts::{RawFact, RawFacts};
use crate::stats::Running;

/// One measurement: metric id, model id (0: none) and value.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    metric: u32,
    model: u32,
    value: f64,
}

/// The measurements of the files of one stem so far, while a twin may still come.
struct TwinSet {
    stem: String,
    samples: Vec<Sample>,
}

/// Folds files' measurements, given in path order, into [`Rollup`]s.
#[derive(Default)]
pub struct RollupBuilder {
    /// Metric → (stat, unit, metric id) of each of its (metric, stat, unit) triples.
    metric_ids: FxHashMap<String, Vec<(String, String, u32)>>,
    /// (metric, stat, unit) of each metric id.
    metrics: Vec<(String, String, String)>,
    /// Model → model id (from 1; 0 is "no model"), and the models by id − 1.
    model_ids: FxHashMap<String, u32>,
    models: Vec<String>,
    totals: FxHashMap<(u32, u32), Running>,
    /// Twin sets still open, each stem a prefix of the next one's.
    open: Vec<TwinSet>,
}

impl RollupBuilder {
    /// Add the facts of the file at `rel_path`; files come in path order.
    pub fn add_file(&mut self, rel_path: &str, facts: &RawFacts) {
        self.close_unless_under(rel_path);
        let stem = super::walk::stem_of(rel_path).0;
        let samples = self.samples(facts);
        match self.open.last_mut() {
            Some(set) if set.stem == stem => merge_twin(&mut set.samples, samples),
            _ => self.open.push(TwinSet { stem: stem.to_string(), samples }),
        }
    }

    /// The roll-ups, sorted by metric, statistic, unit and model (none first).
    pub fn finish(mut self) -> Vec<Rollup> {
        self.close_unless_under("");
        let (metrics, models) = (&self.metrics, &self.models);
        let mut out: Vec<Rollup> = self
            .totals
            .iter()
            .map(|(&(metric, model), r)| {
                let (metric, stat, unit) = metrics[metric as usize].clone();
                let model = model.checked_sub(1).map(|i| models[i as usize].clone());
                Rollup { metric, unit, stat, model, n: r.n, mean: r.mean, sd: r.sd(), min: r.min, max: r.max }
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.metric, &a.stat, &a.unit, &a.model).cmp(&(&b.metric, &b.stat, &b.unit, &b.model))
        });
        out
    }

    /// Count the sets that no path from `rel_path` on can join (their stem plus `.` is not a
    /// prefix of it).
    fn close_unless_under(&mut self, rel_path: &str) {
        while let Some(set) = self.open.last() {
            if rel_path.strip_prefix(set.stem.as_str()).is_some_and(|rest| rest.starts_with('.')) {
                return;
            }
            for s in self.open.pop().map(|set| set.samples).unwrap_or_default() {
                self.totals.entry((s.metric, s.model)).or_default().push(s.value);
            }
        }
    }

    /// A file's facts as samples with corpus-wide metric and model ids.
    fn samples(&mut self, facts: &RawFacts) -> Vec<Sample> {
        let metric_of: Vec<u32> = facts.metrics.iter().map(|(c, _)| self.metric_id(c)).collect();
        let model_of: Vec<u32> =
            facts.groups.iter().map(|g| g.get("model").map_or(0, |m| self.model_id(m))).collect();
        let sample = |r: &RawFact| Sample {
            metric: metric_of[r.metric as usize],
            model: model_of[r.group as usize],
            value: r.value,
        };
        facts.items.iter().map(sample).collect()
    }
}

impl RollupBuilder {
    /// The id of a (metric, stat, unit) triple, a new one the first time.
    fn metric_id(&mut self, c: &Classified) -> u32 {
        if let Some(ids) = self.metric_ids.get(c.metric.as_str())
            && let Some(&(_, _, id)) = ids.iter().find(|(s, u, _)| *s == c.stat && *u == c.unit)
        {
            return id;
        }
        let id = self.metrics.len() as u32;
        self.metrics.push((c.metric.clone(), c.stat.clone(), c.unit.clone()));
        self.metric_ids.entry(c.metric.clone()).or_default().push((c.stat.clone(), c.unit.clone(), id));
        id
    }

    fn model_id(&mut self, model: &str) -> u32 {
        if let Some(&id) = self.model_ids.get(model) {
            return id;
        }
        self.models.push(model.to_string());
        self.model_ids.insert(model.to_string(), self.models.len() as u32);
        self.models.len() as u32
    }
}

/// Add a twin file's samples to its set: each matches at most one earlier sample of the same
/// metric and value (the earliest unmatched one), which takes the twin's model if it had none;
/// samples without a match are new measurements.
fn merge_twin(set: &mut Vec<Sample>, twin: Vec<Sample>) {
    let mut earlier: FxHashMap<(u32, u64), Vec<usize>> = FxHashMap::default();
    for (i, s) in set.iter().enumerate().rev() {
        earlier.entry((s.metric, s.value.to_bits())).or_default().push(i);
    }
    for s in twin {
        match earlier.get_mut(&(s.metric, s.value.to_bits())).and_then(Vec::pop) {
            Some(i) if set[i].model == 0 => set[i].model = s.model,
            Some(_) => {}
            None => set.push(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(metric: u32, model: u32, value: f64) -> Sample {
        Sample { metric, model, value }
    }

    #[test]
    fn a_twin_repeats_count_once_and_name_the_model() {
        // The CSV: 30, 40, 40 of metric 0 without a model, and 1 of metric 1.
        let mut set = vec![s(0, 0, 30.0), s(0, 0, 40.0), s(0, 0, 40.0), s(1, 0, 1.0)];
        // Its JSON twin: the same 30 and one 40 naming model 7, a new 50, and 1 of metric 2.
        merge_twin(&mut set, vec![s(0, 7, 40.0), s(0, 7, 30.0), s(0, 7, 50.0), s(2, 7, 1.0)]);
        assert_eq!(
            set,
            [s(0, 7, 30.0), s(0, 7, 40.0), s(0, 0, 40.0), s(1, 0, 1.0), s(0, 7, 50.0), s(2, 7, 1.0)]
        );
        // A third twin repeating 40 twice: both copies match, nothing is added.
        merge_twin(&mut set, vec![s(0, 3, 40.0), s(0, 3, 40.0)]);
        assert_eq!(set.len(), 6);
        assert_eq!(set[2], s(0, 3, 40.0), "the copy without a model takes the third twin's");
    }
}
