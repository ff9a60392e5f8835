//! Deterministic tools over the ingested facts, for tool steps: `list_metrics`,
//! `lookup_metric` and `compare`. A result is plain text computed by Chimera (no LLM); bad
//! arguments give a result that says what exists, never a failure. Also the tools' JSON
//! definitions for native tool calling (Ollama and OpenAI share the shape).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ToolArgs;
use crate::export::table::inline;
use crate::facts::{FactGroup, FactSet, fmt_group, fmt_num};

/// Lines of a `lookup_metric` result at most.
const LOOKUP_ROWS: usize = 5;

/// One tool call: the tool's name and its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    #[serde(rename = "tool")]
    pub name: String,
    #[serde(default)]
    pub args: ToolArgs,
}

/// A tool: name, what it does, (argument, description, required).
struct Tool {
    name: &'static str,
    about: &'static str,
    args: &'static [(&'static str, &'static str, bool)],
}

const TOOLS: &[Tool] = &[
    Tool {
        name: "list_metrics",
        about: "List the measured metrics with their units and sample counts.",
        args: &[],
    },
    Tool {
        name: "lookup_metric",
        about: "Summaries (n, mean, median, p95, min, max) of one metric, optionally only the groups whose file or configuration contains `group`.",
        args: &[
            ("metric", "metric name, e.g. tokens_per_s or ttft_ms", true),
            ("group", "text the file name or configuration must contain", false),
        ],
    },
    Tool {
        name: "compare",
        about: "Compare one metric between two configurations: the sample-weighted mean of the groups matching `a` and of those matching `b`, and the difference in percent.",
        args: &[
            ("metric", "metric name, e.g. tokens_per_s", true),
            ("a", "text the first configuration's file or group contains", true),
            ("b", "text the second configuration's file or group contains", true),
        ],
    },
];

/// Names of the tools.
pub fn names() -> Vec<&'static str> {
    TOOLS.iter().map(|t| t.name).collect()
}

/// Why `call` is not a valid call (unknown tool, missing or unknown argument), if it is not.
pub fn check(call: &ToolCall) -> Result<(), String> {
    let Some(t) = TOOLS.iter().find(|t| t.name == call.name) else {
        return Err(format!("unknown tool '{}'; the tools are {}", call.name, names().join(", ")));
    };
    for (arg, _, required) in t.args {
        if *required && call.args.get(*arg).is_none_or(|v| v.trim().is_empty()) {
            return Err(format!("tool '{}' needs the argument '{arg}'", t.name));
        }
    }
    if let Some(k) = call.args.keys().find(|k| !t.args.iter().any(|(a, _, _)| a == k)) {
        let known: Vec<&str> = t.args.iter().map(|a| a.0).collect();
        return Err(format!("tool '{}' has no argument '{k}' (it takes: {})", t.name, known.join(", ")));
    }
    Ok(())
}

/// The tool definitions as both Ollama and OpenAI take them (`tools` of a chat request).
pub fn definitions() -> Vec<Value> {
    TOOLS
        .iter()
        .map(|t| {
            let props: serde_json::Map<String, Value> = t
                .args
                .iter()
                .map(|(a, about, _)| (a.to_string(), json!({"type": "string", "description": about})))
                .collect();
            let required: Vec<&str> = t.args.iter().filter(|a| a.2).map(|a| a.0).collect();
            json!({"type": "function", "function": {
                "name": t.name,
                "description": t.about,
                "parameters": {"type": "object", "properties": props, "required": required},
            }})
        })
        .collect()
}

/// A tool call from a model's JSON (`arguments` as an object or as a JSON string; values that
/// are not strings are written as JSON text).
pub fn call_from_json(name: &str, arguments: &Value) -> ToolCall {
    let parsed;
    let obj = match arguments {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
            parsed.as_object()
        }
        v => v.as_object(),
    };
    let args = obj
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect();
    ToolCall { name: name.to_string(), args }
}

/// Run a valid call over the facts. Text from artifacts is flattened to one line per row.
pub fn run(call: &ToolCall, facts: &FactSet) -> String {
    if let Err(e) = check(call) {
        return format!("error: {e}");
    }
    let arg = |k: &str| call.args.get(k).map(String::as_str).unwrap_or("");
    match call.name.as_str() {
        "list_metrics" => list_metrics(facts),
        "lookup_metric" => lookup(facts, arg("metric"), arg("group")),
        _ => compare(facts, arg("metric"), arg("a"), arg("b")),
    }
}

fn label(g: &FactGroup) -> String {
    inline(&format!("{} [{}] {}", g.files.join(", "), fmt_group(&g.group), g.stat))
}

fn matching<'a>(facts: &'a FactSet, metric: &'a str, needle: &str) -> Vec<&'a FactGroup> {
    let needle = needle.trim().to_lowercase();
    facts.groups_for(metric).filter(|g| label(g).to_lowercase().contains(&needle)).collect()
}

fn unknown_metric(facts: &FactSet, metric: &str) -> String {
    format!("no metric named '{}'; the metrics are: {}", inline(metric), facts.metrics().join(", "))
}

fn list_metrics(facts: &FactSet) -> String {
    let mut out = String::new();
    for m in facts.metrics() {
        let gs: Vec<&FactGroup> = facts.groups_for(&m).collect();
        let n: usize = gs.iter().map(|g| g.summary.n).sum();
        let unit = gs.first().map_or("", |g| g.unit.as_str());
        let _ = writeln!(out, "{} ({}): {} groups, {n} samples", inline(&m), inline(unit), gs.len());
    }
    if out.is_empty() { "no metrics were extracted from the data".into() } else { out.trim_end().into() }
}

fn lookup(facts: &FactSet, metric: &str, group: &str) -> String {
    if facts.groups_for(metric).next().is_none() {
        return unknown_metric(facts, metric);
    }
    let mut gs = matching(facts, metric, group);
    if gs.is_empty() {
        return format!("no group of {} contains '{}'", inline(metric), inline(group));
    }
    gs.sort_by(|a, b| b.summary.n.cmp(&a.summary.n).then_with(|| a.files.cmp(&b.files)));
    let mut out = String::new();
    for g in gs.iter().take(LOOKUP_ROWS) {
        let s = &g.summary;
        let _ = writeln!(
            out,
            "{}: n={} mean={} median={} p95={} min={} max={} {}",
            label(g),
            s.n,
            fmt_num(s.mean),
            fmt_num(s.median),
            fmt_num(s.p95),
            fmt_num(s.min),
            fmt_num(s.max),
            inline(&g.unit)
        );
    }
    if gs.len() > LOOKUP_ROWS {
        let _ = writeln!(out, "… and {} more groups", gs.len() - LOOKUP_ROWS);
    }
    out.trim_end().into()
}

/// Σ mean·n / Σ n over `gs`, with Σ n.
fn pooled_mean(gs: &[&FactGroup]) -> Option<(f64, usize)> {
    let n: usize = gs.iter().map(|g| g.summary.n).sum();
    (n > 0).then(|| (gs.iter().map(|g| g.summary.mean * g.summary.n as f64).sum::<f64>() / n as f64, n))
}

fn compare(facts: &FactSet, metric: &str, a: &str, b: &str) -> String {
    if facts.groups_for(metric).next().is_none() {
        return unknown_metric(facts, metric);
    }
    let unit = facts.groups_for(metric).next().map(|g| inline(&g.unit)).unwrap_or_default();
    let side = |needle: &str| match pooled_mean(&matching(facts, metric, needle)) {
        Some(m) => Ok(m),
        None => Err(format!("no group of {} contains '{}'", inline(metric), inline(needle))),
    };
    let (ma, na) = match side(a) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let (mb, nb) = match side(b) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let (a, b, metric) = (inline(a), inline(b), inline(metric));
    let mut out = format!(
        "{metric} '{a}': mean {} {unit} (n={na}); '{b}': mean {} {unit} (n={nb})",
        fmt_num(ma),
        fmt_num(mb)
    );
    if ma != 0.0 {
        let _ = write!(out, "; '{b}' vs '{a}': {:+.1} %", (mb - ma) / ma * 100.0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Fact, FactSet};

    fn fact(metric: &str, value: f64, file: &str, model: &str) -> Fact {
        Fact {
            metric: metric.into(),
            unit: "tok/s".into(),
            stat: "value".into(),
            value,
            file: file.into(),
            location: "column tps, row 1".into(),
            source_name: "tps".into(),
            group: [("model".to_string(), model.to_string())].into(),
        }
    }

    fn facts() -> FactSet {
        FactSet::from_facts(vec![
            fact("tokens_per_s", 10.0, "a.csv", "q4"),
            fact("tokens_per_s", 20.0, "a.csv", "q4"),
            fact("tokens_per_s", 45.0, "b.csv", "q8"),
        ])
    }

    fn call(name: &str, args: &[(&str, &str)]) -> ToolCall {
        ToolCall {
            name: name.into(),
            args: args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn compare_pools_by_sample_count() {
        // q4: mean 15 over 2 samples; q8: 45 over 1; (45 − 15) / 15 = +200 %.
        let r = run(&call("compare", &[("metric", "tokens_per_s"), ("a", "q4"), ("b", "Q8")]), &facts());
        assert_eq!(
            r,
            "tokens_per_s 'q4': mean 15 tok/s (n=2); 'Q8': mean 45 tok/s (n=1); 'Q8' vs 'q4': +200.0 %"
        );
    }

    #[test]
    fn lookup_and_list_say_what_exists() {
        let f = facts();
        let r = run(&call("lookup_metric", &[("metric", "tokens_per_s"), ("group", "b.csv")]), &f);
        assert!(r.starts_with("b.csv [model=q8] value: n=1 mean=45"), "{r}");
        let r = run(&call("lookup_metric", &[("metric", "ttft_ms")]), &f);
        assert_eq!(r, "no metric named 'ttft_ms'; the metrics are: tokens_per_s");
        assert_eq!(run(&call("list_metrics", &[]), &f), "tokens_per_s (tok/s): 2 groups, 3 samples");
    }

    #[test]
    fn calls_are_checked() {
        assert!(check(&call("lookup_metric", &[])).unwrap_err().contains("'metric'"));
        assert!(check(&call("nope", &[])).unwrap_err().contains("list_metrics, lookup_metric, compare"));
        assert!(check(&call("list_metrics", &[("x", "1")])).unwrap_err().contains("no argument 'x'"));
        let c = call_from_json("compare", &json!("{\"metric\":\"m\",\"a\":1,\"b\":\"y\"}"));
        assert_eq!(c, call("compare", &[("metric", "m"), ("a", "1"), ("b", "y")]));
        assert_eq!(definitions().len(), 3);
        assert_eq!(definitions()[1]["function"]["parameters"]["required"], json!(["metric"]));
    }
}
