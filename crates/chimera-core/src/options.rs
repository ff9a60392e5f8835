//! Typed generation options (Ollama's `options` object), each defined ONCE in the table below:
//! its name, type, help, rule, whether changing it reloads the model, and how each API sends
//! it. Everything else comes from that table: the `GenOptions` struct and its serde form, the
//! CLI flags (`--num-ctx`, `--set NAME=VALUE`, `--chimera NAME=VALUE`), per-agent TOML option
//! sets, sweep axes and the `points.csv` columns, [`GenOptions::describe`], the embedded
//! engine's list of known options, and the Ollama and OpenAI request bodies
//! ([`GenOptions::wire`]).
//!
//! Unset fields are never sent, so "server defaults" really are the server's defaults.
//! Floats are `f64`, which serde_json writes in shortest round-trip form (`0.8` stays
//! `0.8`; the original system sent it through `f32` as `0.800000011920929`).

mod field;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use field::{Api, Kind, OptionField, OptionSpec, Scalar, Wire};

/// Defines [`GenOptions`] (one field per row, with its doc comment as help) and [`OPTIONS`]
/// (one [`OptionSpec`] per row, in the same order). A row:
/// `name: field type { load: bool, ollama: Wire, openai: Wire, [describe: "label",]
/// [valid: |v| rule, "what the rule says",] }`.
macro_rules! define_options {
    ($(
        $(#[doc = $doc:literal])+
        $name:ident: $ty:ty {
            load: $load:literal,
            ollama: $ollama:expr,
            openai: $openai:expr,
            $(describe: $label:literal,)?
            $(valid: $pred:expr, $reason:literal,)?
        }
    )+) => {
        /// Options for one generation call. Every field is optional; unset means "server default".
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct GenOptions {
            $(
                $(#[doc = $doc])+
                #[serde(default, skip_serializing_if = "field::is_unset")]
                pub $name: $ty,
            )+
        }

        /// Every generation option, in table order (the order of flags, CSV columns and
        /// the configuration line).
        pub static OPTIONS: &[OptionSpec] = &[$(
            OptionSpec {
                name: stringify!($name),
                doc: concat!($($doc),+),
                kind: <$ty as OptionField>::KIND,
                load_time: $load,
                ollama: $ollama,
                openai: $openai,
                seed_label: define_options!(@label $($label)?),
                get: |o| o.$name.to_json(),
                show: |o| o.$name.show(),
                set: |o, v| {
                    o.$name = <$ty as OptionField>::from_json(v)?;
                    Ok(())
                },
                take: |o, from| {
                    if from.$name.is_set() {
                        o.$name = from.$name.clone();
                    }
                },
                check: |o| define_options!(@check o.$name $(, $pred, $reason)?),
            },
        )+];
    };
    (@label) => { None };
    (@label $label:literal) => { Some($label) };
    (@check $v:expr) => {{
        let _ = &$v;
        None
    }};
    (@check $v:expr, $pred:expr, $reason:literal) => { $v.find_invalid($pred).map(|bad| (bad, $reason)) };
}

define_options! {
    /// Layers to offload to the GPU (-1 = auto).
    num_gpu: Option<i64> {
        load: true, ollama: Wire::Same, openai: Wire::NotSent, describe: "num_gpu",
        valid: |v| *v >= -1, "must be -1 (auto) or a layer count >= 0",
    }
    /// Context window in tokens.
    num_ctx: Option<u32> {
        load: true, ollama: Wire::Same, openai: Wire::NotSent, describe: "num_ctx",
        valid: |v| *v >= 1, "must be at least 1",
    }
    /// Prompt-processing batch size.
    num_batch: Option<u32> {
        load: true, ollama: Wire::Same, openai: Wire::NotSent,
        valid: |v| *v >= 1, "must be at least 1",
    }
    /// CPU threads.
    num_thread: Option<u32> {
        load: true, ollama: Wire::Same, openai: Wire::NotSent,
        valid: |v| *v >= 1, "must be at least 1",
    }
    /// Sampling temperature (0 = greedy).
    temperature: Option<f64> {
        load: false, ollama: Wire::Same, openai: Wire::Same, describe: "temp",
        valid: |v| v.is_finite() && *v >= 0.0, "must be a finite number >= 0",
    }
    /// Nucleus sampling threshold.
    top_p: Option<f64> {
        load: false, ollama: Wire::Same, openai: Wire::Same, describe: "top_p",
        valid: |v| (0.0..=1.0).contains(v), "must be between 0 and 1",
    }
    /// Top-k sampling (0 = off).
    top_k: Option<u32> {
        load: false, ollama: Wire::Same, openai: Wire::Same, describe: "top_k",
    }
    /// Min-p sampling.
    min_p: Option<f64> {
        load: false, ollama: Wire::Same, openai: Wire::Same,
        valid: |v| (0.0..=1.0).contains(v), "must be between 0 and 1",
    }
    /// Locally typical sampling threshold (1 = off).
    typical_p: Option<f64> {
        load: false, ollama: Wire::Same, openai: Wire::Same,
        valid: |v| (0.0..=1.0).contains(v), "must be between 0 and 1",
    }
    /// Repetition penalty (1 = off).
    repeat_penalty: Option<f64> {
        load: false, ollama: Wire::Same, openai: Wire::Same, describe: "repeat_penalty",
        valid: |v| v.is_finite() && *v > 0.0, "must be a finite number > 0",
    }
    /// Tokens looked back for the repetition penalty (-1 = num_ctx, 0 = off).
    repeat_last_n: Option<i64> {
        load: false, ollama: Wire::Same, openai: Wire::Same,
        valid: |v| *v >= -1, "must be -1 (num_ctx), 0 (off) or positive",
    }
    /// Random seed (same seed + same options → same text).
    seed: Option<i64> {
        load: false, ollama: Wire::Same, openai: Wire::Same,
    }
    /// Maximum tokens to generate (-1 = unlimited, -2 = fill the context).
    num_predict: Option<i64> {
        load: false, ollama: Wire::Same, openai: Wire::PositiveAs("max_tokens"),
        valid: |v| *v >= -2 && *v != 0, "must be positive, -1 (unlimited) or -2 (fill context)",
    }
    /// Stop sequence (each one given adds one).
    stop: Vec<String> {
        load: false, ollama: Wire::Same, openai: Wire::Same,
    }
}

/// The option called `name`, if there is one.
pub fn spec(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|s| s.name == name)
}

/// Every option name, comma-separated (for messages and help).
pub fn names() -> String {
    OPTIONS.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
}

/// A named option whose value is invalid; the message names the flag to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid option {name}={value}: {reason}")]
pub struct OptionError {
    pub name: &'static str,
    pub value: String,
    pub reason: &'static str,
}

/// Why [`GenOptions::set`] refused a value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SetError {
    #[error("unknown option `{0}`; the options are: {list}", list = names())]
    Unknown(String),
    #[error("option {name}: `{value}` is not {expected}")]
    Type { name: &'static str, value: String, expected: &'static str },
    #[error(transparent)]
    Invalid(#[from] OptionError),
}

/// The field name under which `api` sends option `s` with value `v`, or None when it does not.
fn sent_as(s: &OptionSpec, api: Api, v: &Value) -> Option<&'static str> {
    match s.wire(api) {
        Wire::Same => Some(s.name),
        Wire::As(name) => Some(name),
        Wire::PositiveAs(name) => v.as_f64().is_some_and(|n| n > 0.0).then_some(name),
        Wire::NotSent => None,
    }
}

/// The load-time options of a configuration (they force a model reload when they change).
/// Compared, hashed and printed only; its text is the options' canonical JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LoadKey(String);

impl GenOptions {
    /// Check every rule before any request is sent; the error names the option.
    pub fn validate(&self) -> Result<(), OptionError> {
        for s in OPTIONS {
            if let Some((value, reason)) = (s.check)(self) {
                return Err(OptionError { name: s.name, value, reason });
            }
        }
        Ok(())
    }

    /// Set option `name` from JSON, checked by its type and its rule. Lenient the way Ollama is:
    /// a whole float (`42.0`) for a whole-number option, a single text for a list.
    pub fn set(&mut self, name: &str, value: &Value) -> Result<(), SetError> {
        let s = spec(name).ok_or_else(|| SetError::Unknown(name.to_string()))?;
        let mut one = GenOptions::default();
        (s.set)(&mut one, value).map_err(|expected| SetError::Type {
            name: s.name,
            value: match value {
                Value::String(t) => t.clone(),
                other => other.to_string(),
            },
            expected,
        })?;
        one.validate()?;
        (s.take)(self, &one);
        Ok(())
    }

    /// Options that reload the model when they change.
    pub fn load_key(&self) -> LoadKey {
        let load: Map<String, Value> = OPTIONS
            .iter()
            .filter(|s| s.load_time)
            .filter_map(|s| Some((s.name.to_string(), s.get(self)?)))
            .collect();
        LoadKey(Value::Object(load).to_string())
    }

    /// `self` with every option set in `over` replaced (stop lists are replaced when non-empty).
    pub fn merged(&self, over: &GenOptions) -> GenOptions {
        let mut m = self.clone();
        for s in OPTIONS {
            (s.take)(&mut m, over);
        }
        m
    }

    /// True when no option is set (the "server defaults" configuration).
    pub fn is_default(&self) -> bool {
        *self == GenOptions::default()
    }

    /// The fields `api` sends for these options, under its names (unset options are absent).
    pub fn wire(&self, api: Api) -> Map<String, Value> {
        let mut m = Map::new();
        for s in OPTIONS {
            let Some(v) = s.get(self) else { continue };
            if let Some(name) = sent_as(s, api, &v) {
                m.insert(name.to_string(), v);
            }
        }
        m
    }

    /// The options set here that `api` does not send (e.g. `num_ctx` to an OpenAI-compatible
    /// server, or `num_predict=-1`, which `max_tokens` cannot say), as `name=value`, in table
    /// order. A configuration labelled with them would claim what the server never received.
    pub fn not_sent(&self, api: Api) -> Vec<String> {
        self.assignments(|s, v| sent_as(s, api, v).is_none())
    }

    /// Every option set here, as `name=value`, in table order.
    pub fn set_list(&self) -> Vec<String> {
        self.assignments(|_, _| true)
    }

    fn assignments(&self, keep: impl Fn(&OptionSpec, &Value) -> bool) -> Vec<String> {
        OPTIONS
            .iter()
            .filter_map(|s| {
                let v = s.get(self)?;
                keep(s, &v).then(|| format!("{}={}", s.name, s.show(self).unwrap_or_default()))
            })
            .collect()
    }

    /// These options without the ones `api` does not send.
    pub fn sent_only(&self, api: Api) -> GenOptions {
        let mut kept = GenOptions::default();
        for s in OPTIONS {
            if s.get(self).is_some_and(|v| sent_as(s, api, &v).is_some()) {
                (s.take)(&mut kept, self);
            }
        }
        kept
    }

    /// The seed report's configuration line:
    /// `num_gpu=80, num_ctx=512, temp=1, top_p=default, top_k=default, repeat_penalty=default`,
    /// followed by any other option that is set.
    pub fn describe(&self) -> String {
        let always = OPTIONS.iter().filter_map(|s| {
            let label = s.seed_label?;
            Some(format!("{label}={}", s.show(self).unwrap_or_else(|| "default".into())))
        });
        let extra = OPTIONS
            .iter()
            .filter(|s| s.seed_label.is_none())
            .filter_map(|s| Some(format!("{}={}", s.name, s.show(self)?)));
        always.chain(extra).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unset_fields_are_not_serialised_and_floats_keep_their_text() {
        let o = GenOptions { temperature: Some(0.8), num_ctx: Some(512), ..Default::default() };
        assert_eq!(serde_json::to_string(&o).unwrap(), r#"{"num_ctx":512,"temperature":0.8}"#);
        assert_eq!(serde_json::to_string(&GenOptions::default()).unwrap(), "{}");
        let back: GenOptions = serde_json::from_str(r#"{"num_ctx":512,"temperature":0.8}"#).unwrap();
        assert_eq!(back, o);
        assert!(serde_json::from_str::<GenOptions>(r#"{"num_ctxx":1}"#).is_err(), "typos are refused");
    }

    #[test]
    fn describe_matches_seed_layout() {
        let o = GenOptions {
            num_gpu: Some(80),
            num_ctx: Some(512),
            temperature: Some(1.0),
            ..Default::default()
        };
        assert_eq!(
            o.describe(),
            "num_gpu=80, num_ctx=512, temp=1, top_p=default, top_k=default, repeat_penalty=default"
        );
        let o =
            GenOptions { seed: Some(7), num_batch: Some(8), stop: vec!["END".into()], ..Default::default() };
        assert_eq!(
            o.describe(),
            "num_gpu=default, num_ctx=default, temp=default, top_p=default, top_k=default, \
             repeat_penalty=default, num_batch=8, seed=7, stop=[\"END\"]"
        );
    }

    #[test]
    fn validation_names_the_option() {
        let o = GenOptions { top_p: Some(1.5), ..Default::default() };
        assert_eq!(o.validate().unwrap_err().name, "top_p");
        let o = GenOptions { num_ctx: Some(0), ..Default::default() };
        assert_eq!(o.validate().unwrap_err().name, "num_ctx");
        let o = GenOptions { num_predict: Some(0), ..Default::default() };
        let e = o.validate().unwrap_err();
        assert_eq!((e.name, e.value.as_str()), ("num_predict", "0"));
        assert!(GenOptions::default().validate().is_ok());
    }

    #[test]
    fn merge_and_load_key() {
        let base = GenOptions { num_ctx: Some(512), temperature: Some(0.2), ..Default::default() };
        let over = GenOptions { temperature: Some(0.9), ..Default::default() };
        let m = base.merged(&over);
        assert_eq!(m.temperature, Some(0.9));
        assert_eq!(m.num_ctx, Some(512));
        assert_eq!(m.load_key(), base.load_key());
        assert_ne!(m.load_key(), GenOptions::default().load_key());
        let stops = GenOptions { stop: vec!["a".into()], ..Default::default() };
        assert_eq!(stops.merged(&GenOptions::default()).stop, vec!["a".to_string()]);
        assert_eq!(GenOptions::default().merged(&stops).stop, vec!["a".to_string()]);
    }

    #[test]
    fn set_by_name_types_and_checks_the_value() {
        let mut o = GenOptions::default();
        o.set("num_ctx", &json!(512)).unwrap();
        o.set("num_gpu", &json!(-1.0)).unwrap();
        o.set("temperature", &json!(1)).unwrap();
        o.set("stop", &json!("END")).unwrap();
        assert_eq!(
            o,
            GenOptions {
                num_ctx: Some(512),
                num_gpu: Some(-1),
                temperature: Some(1.0),
                stop: vec!["END".into()],
                ..Default::default()
            }
        );
        let e = o.set("num_ctxx", &json!(1)).unwrap_err().to_string();
        assert!(e.contains("num_ctxx") && e.contains("num_ctx, num_batch"), "{e}");
        let e = o.set("num_ctx", &json!("big")).unwrap_err();
        assert_eq!(
            e,
            SetError::Type { name: "num_ctx", value: "big".into(), expected: Kind::Count.expected() }
        );
        assert!(matches!(o.set("num_ctx", &json!(-5)), Err(SetError::Type { .. })));
        assert!(matches!(o.set("num_ctx", &json!(2.5)), Err(SetError::Type { .. })));
        assert!(matches!(o.set("top_p", &json!(1.5)), Err(SetError::Invalid(_))));
        assert_eq!(o.num_ctx, Some(512), "a refused value leaves the option as it was");
    }

    #[test]
    fn each_api_gets_its_own_names() {
        let o = GenOptions {
            num_ctx: Some(2048),
            temperature: Some(0.8),
            num_predict: Some(64),
            stop: vec!["END".into()],
            ..Default::default()
        };
        assert_eq!(
            Value::Object(o.wire(Api::Ollama)),
            json!({"num_ctx": 2048, "temperature": 0.8, "num_predict": 64, "stop": ["END"]})
        );
        assert_eq!(
            Value::Object(o.wire(Api::Openai)),
            json!({"temperature": 0.8, "max_tokens": 64, "stop": ["END"]})
        );
        let unlimited = GenOptions { num_predict: Some(-1), ..Default::default() };
        assert!(unlimited.wire(Api::Openai).is_empty(), "-1 has no max_tokens equivalent");
        assert_eq!(Value::Object(unlimited.wire(Api::Ollama)), json!({"num_predict": -1}));
    }

    #[test]
    fn options_an_api_does_not_send_are_named() {
        let o = GenOptions {
            num_gpu: Some(80),
            num_ctx: Some(512),
            num_batch: Some(8),
            num_thread: Some(2),
            temperature: Some(1.0),
            num_predict: Some(-1),
            ..Default::default()
        };
        assert_eq!(
            o.not_sent(Api::Openai),
            ["num_gpu=80", "num_ctx=512", "num_batch=8", "num_thread=2", "num_predict=-1"]
        );
        assert!(o.not_sent(Api::Ollama).is_empty());
        assert_eq!(o.set_list().len(), 6);
        assert_eq!(o.set_list()[4], "temperature=1");
        assert_eq!(o.sent_only(Api::Openai), GenOptions { temperature: Some(1.0), ..Default::default() });
        assert_eq!(o.sent_only(Api::Ollama), o);
        let positive = GenOptions { num_predict: Some(64), ..Default::default() };
        assert!(positive.not_sent(Api::Openai).is_empty());
    }

    #[test]
    fn the_table_agrees_with_the_struct() {
        // Every row round-trips through the struct's serde form under its own name.
        for s in OPTIONS {
            let v = match s.kind {
                Kind::Texts => json!(["x"]),
                Kind::Float => json!(0.5),
                Kind::Int | Kind::Count => json!(3),
            };
            let mut o = GenOptions::default();
            o.set(s.name, &v).unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert_eq!(serde_json::to_value(&o).unwrap(), json!({ s.name: v }), "{}", s.name);
            assert_eq!(s.get(&o), Some(v), "{}", s.name);
            assert!(!s.help().is_empty() && !s.help().starts_with(' '), "{}", s.name);
        }
        let load: Vec<&str> = OPTIONS.iter().filter(|s| s.load_time).map(|s| s.name).collect();
        assert_eq!(load, ["num_gpu", "num_ctx", "num_batch", "num_thread"]);
        assert_eq!(spec("top_k").unwrap().flag(), "top-k");
        assert!(spec("nope").is_none());
    }

    #[test]
    fn typed_text_is_parsed_by_kind() {
        assert_eq!(spec("num_ctx").unwrap().parse_text(" 512 ").unwrap(), json!(512));
        assert_eq!(spec("temperature").unwrap().parse_text("0.8").unwrap(), json!(0.8));
        assert_eq!(spec("stop").unwrap().parse_text("42").unwrap(), json!("42"));
        let e = spec("seed").unwrap().parse_text("x").unwrap_err();
        assert_eq!(e, "seed: `x` is not a whole number");
        assert!(spec("top_p").unwrap().parse_text("NaN").is_err());
    }
}
