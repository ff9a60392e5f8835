//! The sweep grid: axes of option values, their cartesian product as [`Point`]s, the baseline
//! (server defaults) point, and the run order (grid order or shuffled with a seed).

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::options::{GenOptions, SetError};

use super::SweepError;

/// One option and the values it takes in the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// Ollama option name (`num_ctx`, `temperature`, …).
    pub name: String,
    pub values: Vec<Value>,
}

/// Options fixed for every point (the baseline included) plus the axes that vary.
///
/// A flag given a single value (`--num-predict 64`) is *fixed*: it applies to every point,
/// the baseline too, so that the comparison stays fair. Only multi-valued flags span the grid.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    pub fixed: GenOptions,
    pub axes: Vec<Axis>,
}

/// One configuration of the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Stable identity used by `--resume`: the options as canonical JSON.
    pub key: String,
    /// Human label: `baseline` or the grid coordinates (`num_ctx=512 temperature=0.6`).
    pub label: String,
    /// True for the server-defaults point (only the fixed options set).
    pub baseline: bool,
    /// Grid coordinates of this point (empty for the baseline).
    pub coords: BTreeMap<String, Value>,
    /// Full options sent (fixed options merged with the coordinates).
    pub options: GenOptions,
}

/// Parse one flag value list (`60,80,120`, `0.6, 0.8`) into JSON values:
/// integers stay integers, other numbers become floats, anything else stays a string.
pub fn parse_values(list: &str) -> Vec<Value> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if let Ok(i) = s.parse::<i64>() {
                Value::from(i)
            } else if let Ok(f) = s.parse::<f64>() {
                Value::from(f)
            } else {
                Value::from(s.to_string())
            }
        })
        .collect()
}

/// `opts` with option `name` set to `value`, checked by the option table's type and rule
/// (unknown names, wrong types and out-of-range values are errors naming the option).
pub fn with_option(opts: &GenOptions, name: &str, value: &Value) -> Result<GenOptions, SweepError> {
    let mut o = opts.clone();
    o.set(name, value).map_err(|e| SweepError::BadOption {
        name: name.to_string(),
        value: fmt_value(value),
        detail: match e {
            SetError::Invalid(e) => e.reason.to_string(),
            SetError::Type { expected, .. } => format!("expected {expected}"),
            unknown @ SetError::Unknown(_) => unknown.to_string(),
        },
    })?;
    Ok(o)
}

fn fmt_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Grid {
    /// Build from `(option, values)` pairs: one value → fixed, several → an axis.
    pub fn from_lists(lists: &[(String, Vec<Value>)]) -> Result<Grid, SweepError> {
        let mut g = Grid::default();
        for (name, values) in lists {
            g.add(name, values.clone())?;
        }
        Ok(g)
    }

    /// Add an option with its values (one value → fixed, several → an axis).
    pub fn add(&mut self, name: &str, values: Vec<Value>) -> Result<(), SweepError> {
        if values.is_empty() {
            return Err(SweepError::Grid(format!(
                "option {name} has no values; give a comma-separated list"
            )));
        }
        if self.axes.iter().any(|a| a.name == name) {
            return Err(SweepError::Grid(format!("option {name} is given twice")));
        }
        // Check every value with the typed parser now, before any request is sent.
        for v in &values {
            with_option(&GenOptions::default(), name, v)?;
        }
        if values.len() == 1 {
            self.fixed = with_option(&self.fixed, name, &values[0])?;
        } else {
            self.axes.push(Axis { name: name.to_string(), values });
        }
        Ok(())
    }

    /// Parse a TOML grid file:
    /// ```toml
    /// [grid]            # each list is an axis (a single value is fixed)
    /// num_ctx = [256, 512, 1024]
    /// temperature = [0.6, 0.8]
    /// [fixed]           # options for every point, the baseline included
    /// num_predict = 64
    /// seed = 42
    /// ```
    pub fn from_toml(text: &str) -> Result<Grid, SweepError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            #[serde(default)]
            grid: toml::Table,
            #[serde(default)]
            fixed: toml::Table,
        }
        let f: File = toml::from_str(text).map_err(|e| SweepError::Grid(format!("grid file: {e}")))?;
        let mut g = Grid::default();
        for (name, v) in f.fixed {
            let v = serde_json::to_value(v).map_err(|e| SweepError::Grid(e.to_string()))?;
            g.add(&name, vec![v])?;
        }
        for (name, v) in f.grid {
            let v = serde_json::to_value(v).map_err(|e| SweepError::Grid(e.to_string()))?;
            let values = match v {
                Value::Array(a) => a,
                other => vec![other],
            };
            g.add(&name, values)?;
        }
        Ok(g)
    }

    /// Number of grid points (without the baseline).
    pub fn size(&self) -> usize {
        self.axes.iter().map(|a| a.values.len()).product()
    }

    /// The baseline (when `with_baseline`) followed by the cartesian product in axis order
    /// (the first axis varies slowest).
    pub fn points(&self, with_baseline: bool) -> Result<Vec<Point>, SweepError> {
        let mut out = Vec::new();
        if with_baseline {
            out.push(make_point(&self.fixed, BTreeMap::new(), true)?);
        }
        if self.axes.is_empty() {
            return Ok(out);
        }
        let mut idx = vec![0usize; self.axes.len()];
        loop {
            let mut opts = self.fixed.clone();
            let mut coords = BTreeMap::new();
            for (a, &i) in self.axes.iter().zip(&idx) {
                opts = with_option(&opts, &a.name, &a.values[i])?;
                coords.insert(a.name.clone(), a.values[i].clone());
            }
            let p = make_point(&opts, coords, false)?;
            // Coordinates equal to the fixed options can reproduce the baseline: keep one.
            if !out.iter().any(|q: &Point| q.key == p.key) {
                out.push(p);
            }
            // odometer increment, last axis fastest
            let mut k = self.axes.len();
            loop {
                if k == 0 {
                    return Ok(out);
                }
                k -= 1;
                idx[k] += 1;
                if idx[k] < self.axes[k].values.len() {
                    break;
                }
                idx[k] = 0;
            }
        }
    }
}

fn make_point(
    opts: &GenOptions,
    coords: BTreeMap<String, Value>,
    baseline: bool,
) -> Result<Point, SweepError> {
    let key = serde_json::to_string(opts).map_err(|e| SweepError::Grid(e.to_string()))?;
    let label = if baseline {
        "baseline".to_string()
    } else {
        coords.iter().map(|(k, v)| format!("{k}={}", fmt_value(v))).collect::<Vec<_>>().join(" ")
    };
    Ok(Point { key, label, baseline, coords, options: opts.clone() })
}

/// The order points run in: as given, or shuffled by a seeded RNG (same seed, same order).
pub fn order(points: &[Point], shuffle_seed: Option<u64>) -> Vec<Point> {
    let mut v = points.to_vec();
    if let Some(seed) = shuffle_seed {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        v.shuffle(&mut rng);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid3() -> Grid {
        Grid::from_lists(&[
            ("num_gpu".into(), parse_values("60,80,120")),
            ("num_ctx".into(), parse_values("256,512,1024")),
            ("temperature".into(), parse_values("0.6,0.8")),
            ("num_predict".into(), parse_values("64")),
        ])
        .unwrap()
    }

    #[test]
    fn product_has_every_combination_and_a_baseline() {
        let g = grid3();
        assert_eq!(g.size(), 18);
        assert_eq!(g.fixed.num_predict, Some(64));
        let pts = g.points(true).unwrap();
        assert_eq!(pts.len(), 19);
        assert!(pts[0].baseline);
        assert_eq!(pts[0].options, GenOptions { num_predict: Some(64), ..Default::default() });
        assert_eq!(pts[1].label, "num_ctx=256 num_gpu=60 temperature=0.6");
        assert_eq!(pts[2].label, "num_ctx=256 num_gpu=60 temperature=0.8");
        assert_eq!(pts[18].options.num_gpu, Some(120));
        assert_eq!(pts[18].options.num_ctx, Some(1024));
        assert_eq!(pts[18].options.temperature, Some(0.8));
        assert_eq!(pts[18].options.num_predict, Some(64));
        let keys: std::collections::HashSet<_> = pts.iter().map(|p| &p.key).collect();
        assert_eq!(keys.len(), 19);
    }

    #[test]
    fn bad_values_name_the_option() {
        let e = Grid::from_lists(&[("top_p".into(), parse_values("0.5,1.5"))]).unwrap_err();
        assert!(e.to_string().contains("top_p"), "{e}");
        let e = Grid::from_lists(&[("num_ctxx".into(), parse_values("1,2"))]).unwrap_err();
        assert!(e.to_string().contains("num_ctxx"), "{e}");
        let e = Grid::from_lists(&[("num_ctx".into(), parse_values("a,b"))]).unwrap_err();
        assert!(e.to_string().contains("num_ctx"), "{e}");
    }

    #[test]
    fn toml_grid_and_fixed() {
        let g =
            Grid::from_toml("[grid]\nnum_ctx = [256, 512]\ntemperature = [0.6, 0.8]\n[fixed]\nseed = 42\n")
                .unwrap();
        assert_eq!(g.size(), 4);
        assert_eq!(g.fixed.seed, Some(42));
        let p = g.points(false).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p[3].options.temperature, Some(0.8));
        assert!(Grid::from_toml("[grid]\nbogus = [1, 2]\n").is_err());
    }

    #[test]
    fn shuffle_is_seeded() {
        let pts = grid3().points(true).unwrap();
        let a = order(&pts, Some(7));
        let b = order(&pts, Some(7));
        let c = order(&pts, None);
        assert_eq!(a, b);
        assert_eq!(c, pts);
        assert_ne!(a, pts);
        let mut ka: Vec<_> = a.iter().map(|p| p.key.clone()).collect();
        let mut kp: Vec<_> = pts.iter().map(|p| p.key.clone()).collect();
        ka.sort();
        kp.sort();
        assert_eq!(ka, kp);
    }
}
