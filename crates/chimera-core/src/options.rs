//! Typed generation options (Ollama's `options` object) and their validation.
//!
//! Unset fields are never sent, so "server defaults" really are the server's defaults.
//! Floats are `f64`, which serde_json writes in shortest round-trip form (`0.8` stays
//! `0.8`; the original system sent it through `f32` as `0.800000011920929`).

use serde::{Deserialize, Serialize};

/// Options for one generation call. Every field is optional; `None` means "server default".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_gpu: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_ctx: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_batch: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_thread: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_last_n: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_predict: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
}

/// A named option whose value is invalid; the message names the flag to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid option {name}={value}: {reason}")]
pub struct OptionError {
    pub name: &'static str,
    pub value: String,
    pub reason: &'static str,
}

/// The subset of options that force a model reload when they change (Ollama semantics).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LoadKey {
    pub num_ctx: Option<u32>,
    pub num_gpu: Option<i64>,
    pub num_batch: Option<u32>,
    pub num_thread: Option<u32>,
}

impl GenOptions {
    /// Check ranges before any request is sent.
    pub fn validate(&self) -> Result<(), OptionError> {
        fn err(name: &'static str, value: impl ToString, reason: &'static str) -> OptionError {
            OptionError { name, value: value.to_string(), reason }
        }
        if let Some(v) = self.num_ctx {
            if v == 0 {
                return Err(err("num_ctx", v, "must be at least 1"));
            }
        }
        if let Some(v) = self.num_batch {
            if v == 0 {
                return Err(err("num_batch", v, "must be at least 1"));
            }
        }
        if let Some(v) = self.num_thread {
            if v == 0 {
                return Err(err("num_thread", v, "must be at least 1"));
            }
        }
        if let Some(v) = self.num_gpu {
            if v < -1 {
                return Err(err("num_gpu", v, "must be -1 (auto) or a layer count >= 0"));
            }
        }
        if let Some(v) = self.temperature {
            if !(v.is_finite() && v >= 0.0) {
                return Err(err("temperature", v, "must be a finite number >= 0"));
            }
        }
        if let Some(v) = self.top_p {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(err("top_p", v, "must be between 0 and 1"));
            }
        }
        if let Some(v) = self.min_p {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(err("min_p", v, "must be between 0 and 1"));
            }
        }
        if let Some(v) = self.repeat_penalty {
            if !(v.is_finite() && v > 0.0) {
                return Err(err("repeat_penalty", v, "must be a finite number > 0"));
            }
        }
        if let Some(v) = self.repeat_last_n {
            if v < -1 {
                return Err(err("repeat_last_n", v, "must be -1 (num_ctx), 0 (off) or positive"));
            }
        }
        if let Some(v) = self.num_predict {
            if v < -2 || v == 0 {
                return Err(err("num_predict", v, "must be positive, -1 (unlimited) or -2 (fill context)"));
            }
        }
        Ok(())
    }

    /// Options that reload the model when they change.
    pub fn load_key(&self) -> LoadKey {
        LoadKey {
            num_ctx: self.num_ctx,
            num_gpu: self.num_gpu,
            num_batch: self.num_batch,
            num_thread: self.num_thread,
        }
    }

    /// `self` with every field set in `over` replaced (stop lists are replaced when non-empty).
    pub fn merged(&self, over: &GenOptions) -> GenOptions {
        GenOptions {
            num_gpu: over.num_gpu.or(self.num_gpu),
            num_ctx: over.num_ctx.or(self.num_ctx),
            num_batch: over.num_batch.or(self.num_batch),
            num_thread: over.num_thread.or(self.num_thread),
            temperature: over.temperature.or(self.temperature),
            top_p: over.top_p.or(self.top_p),
            top_k: over.top_k.or(self.top_k),
            min_p: over.min_p.or(self.min_p),
            repeat_penalty: over.repeat_penalty.or(self.repeat_penalty),
            repeat_last_n: over.repeat_last_n.or(self.repeat_last_n),
            seed: over.seed.or(self.seed),
            num_predict: over.num_predict.or(self.num_predict),
            stop: if over.stop.is_empty() { self.stop.clone() } else { over.stop.clone() },
        }
    }

    /// True when no option is set (the "server defaults" configuration).
    pub fn is_default(&self) -> bool {
        *self == GenOptions::default()
    }

    /// The seed report's configuration line:
    /// `num_gpu=80, num_ctx=512, temp=1, top_p=default, top_k=default, repeat_penalty=default`,
    /// followed by any other option that is set.
    pub fn describe(&self) -> String {
        fn show<T: std::fmt::Display>(v: &Option<T>) -> String {
            v.as_ref().map_or_else(|| "default".to_string(), |x| x.to_string())
        }
        let mut parts = vec![
            format!("num_gpu={}", show(&self.num_gpu)),
            format!("num_ctx={}", show(&self.num_ctx)),
            format!("temp={}", show(&self.temperature)),
            format!("top_p={}", show(&self.top_p)),
            format!("top_k={}", show(&self.top_k)),
            format!("repeat_penalty={}", show(&self.repeat_penalty)),
        ];
        let extra: [(&str, Option<String>); 6] = [
            ("num_batch", self.num_batch.map(|v| v.to_string())),
            ("num_thread", self.num_thread.map(|v| v.to_string())),
            ("min_p", self.min_p.map(|v| v.to_string())),
            ("repeat_last_n", self.repeat_last_n.map(|v| v.to_string())),
            ("seed", self.seed.map(|v| v.to_string())),
            ("num_predict", self.num_predict.map(|v| v.to_string())),
        ];
        for (name, v) in extra {
            if let Some(v) = v {
                parts.push(format!("{name}={v}"));
            }
        }
        if !self.stop.is_empty() {
            parts.push(format!("stop={:?}", self.stop));
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_fields_are_not_serialised_and_floats_keep_their_text() {
        let o = GenOptions { temperature: Some(0.8), num_ctx: Some(512), ..Default::default() };
        assert_eq!(serde_json::to_string(&o).unwrap(), r#"{"num_ctx":512,"temperature":0.8}"#);
        assert_eq!(serde_json::to_string(&GenOptions::default()).unwrap(), "{}");
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
    }

    #[test]
    fn validation_names_the_option() {
        let o = GenOptions { top_p: Some(1.5), ..Default::default() };
        assert_eq!(o.validate().unwrap_err().name, "top_p");
        let o = GenOptions { num_ctx: Some(0), ..Default::default() };
        assert_eq!(o.validate().unwrap_err().name, "num_ctx");
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
    }
}
