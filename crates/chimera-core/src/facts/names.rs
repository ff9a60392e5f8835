//! Name rules: which column/key names are measurements (canonical metric, unit, statistic,
//! conversion factor) and which name the configuration (model, num_gpu, num_ctx, …).

/// What a measurement name maps to.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    /// Canonical metric including its unit, e.g. `ttft_ms`, `tokens_per_s`, `eval_count`.
    pub metric: String,
    /// Unit after conversion.
    pub unit: String,
    /// `value` or the statistic the name states (`mean`, `p95`, `sd`, …).
    pub stat: String,
    /// Multiply the raw number by this to get `unit`.
    pub factor: f64,
    /// Metric family for coverage/gap reports (`throughput`, `ttft`, `memory`, `gpu`, …).
    pub family: &'static str,
}

/// Metric families the gap report checks for (absent ones are listed as gaps).
pub const FAMILIES: &[(&str, &str)] = &[
    ("throughput", "tokens per second"),
    ("ttft", "time to first token"),
    ("latency", "end-to-end latency / generation time"),
    ("load_duration", "model load duration"),
    ("prompt_eval", "prompt evaluation duration"),
    ("eval", "eval (decode) duration"),
    ("total_duration", "total request duration"),
    ("tokens", "token counts"),
    ("memory", "memory telemetry (RAM / VRAM)"),
    ("gpu", "GPU utilisation telemetry"),
    ("cpu", "CPU utilisation telemetry"),
    ("quality", "quality (accuracy / loss / success rate)"),
];

/// Lower-case, non-alphanumerics to `_`, collapsed and trimmed: `Tokens per Second` →
/// `tokens_per_second`, `Generation Time (ms)` → `generation_time_ms`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

/// The configuration key a name stands for (`temp` → `temperature`, `model_name` → `model`),
/// or `None` when the name is not a configuration column/key.
pub fn group_key(name: &str) -> Option<&'static str> {
    // `normalize` into a stack buffer (this runs for every JSON key and CSV header): a
    // normalised name longer than the buffer is longer than every configuration key.
    let mut buf = [0u8; 32];
    let mut len = 0;
    // Bytes, not chars: every byte of a multi-byte character is non-alphanumeric, and runs of
    // those collapse into one `_` exactly as one non-ASCII char does.
    for c in name.bytes() {
        let b = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else if len > 0 && buf[len - 1] == b'_' {
            continue;
        } else {
            b'_'
        };
        if len == buf.len() {
            return None;
        }
        buf[len] = b;
        len += 1;
    }
    let norm = std::str::from_utf8(&buf[..len]).ok()?.trim_matches('_');
    Some(match norm {
        "model" | "model_name" | "model_id" => "model",
        "backend" => "backend",
        "device" => "device",
        "dtype" => "dtype",
        "num_gpu" => "num_gpu",
        "num_ctx" => "num_ctx",
        "num_batch" => "num_batch",
        "num_thread" => "num_thread",
        "num_predict" => "num_predict",
        "temperature" | "temp" => "temperature",
        "top_p" => "top_p",
        "top_k" => "top_k",
        "repeat_penalty" => "repeat_penalty",
        "quant" | "quantization" | "tag" => "quant",
        "batch_size" => "batch_size",
        "seq_len" => "seq_len",
        _ => return None,
    })
}

fn stat_of(tok: &str) -> Option<&'static str> {
    Some(match tok {
        "mean" | "avg" | "average" => "mean",
        "median" => "median",
        "p50" => "p50",
        "p90" => "p90",
        "p95" => "p95",
        "p99" => "p99",
        "min" => "min",
        "max" => "max",
        "std" | "stdev" | "stddev" | "sd" => "sd",
        _ => return None,
    })
}

/// Time unit tokens → factor to milliseconds.
fn time_factor(tok: &str) -> Option<f64> {
    Some(match tok {
        "ms" | "msec" | "millis" | "milliseconds" => 1.0,
        "s" | "sec" | "secs" | "second" | "seconds" => 1000.0,
        "us" | "usec" | "micros" | "microseconds" => 1e-3,
        "ns" | "nanos" | "nanoseconds" => 1e-6,
        _ => return None,
    })
}

/// Classify a column/key name; `None` when it is not a named measurement.
///
/// Rules (in order): throughput names (`tokens_s`, `tokens_per_second`, `tok_s`, `tps`);
/// statistic words (`mean`, `p95`, `stdev`, …) are taken out; a trailing time unit (`_ms`, `_s`,
/// `_ns`, …) converts to milliseconds; Ollama's raw `*_duration` keys are nanoseconds; token
/// counts, memory, GPU/CPU utilisation and quality names map to their families.
pub fn classify(name: &str) -> Option<Classified> {
    let n = normalize(name);
    if n.is_empty()
        || n.contains("timestamp")
        || n.contains("date")
        || n.ends_with("_at")
        || name.contains('Δ')
    {
        return None;
    }
    // A difference between two measurements is not a measurement of its own.
    if n.split('_')
        .any(|t| matches!(t, "delta" | "diff" | "difference" | "change" | "improvement" | "penalty"))
    {
        return None;
    }
    let mut stat = "value";
    let mut toks: Vec<&str> = Vec::new();
    for t in n.split('_') {
        if let Some(s) = stat_of(t) {
            stat = s;
        } else if t != "overall" {
            toks.push(t);
        }
    }
    let joined = toks.join("_");
    let j = joined.as_str();
    let c = |metric: &str, unit: &'static str, factor: f64, family: &'static str| {
        Some(Classified {
            metric: metric.to_string(),
            unit: unit.to_string(),
            stat: stat.to_string(),
            factor,
            family,
        })
    };
    // Throughput first: `tokens_s` means tokens per second, not "tokens, in seconds".
    if j.contains("tokens_per_s")
        || j.contains("tok_per_s")
        || j.ends_with("tokens_s")
        || j.ends_with("tokens_sec")
        || j.ends_with("tok_s")
        || j == "tps"
        || j.ends_with("_tps")
    {
        return c("tokens_per_s", "tok/s", 1.0, "throughput");
    }
    // Ollama's raw durations are nanoseconds.
    match j {
        "total_duration" => return c("total_duration_ms", "ms", 1e-6, "total_duration"),
        "load_duration" => return c("load_duration_ms", "ms", 1e-6, "load_duration"),
        "prompt_eval_duration" => return c("prompt_eval_duration_ms", "ms", 1e-6, "prompt_eval"),
        "eval_duration" => return c("eval_duration_ms", "ms", 1e-6, "eval"),
        "prompt_eval_count" | "prompt_tokens" | "input_tokens" => {
            return c("prompt_tokens", "tokens", 1.0, "tokens");
        }
        "eval_count" | "completion_tokens" | "output_tokens" | "tokens_generated" | "generated_tokens" => {
            return c("output_tokens", "tokens", 1.0, "tokens");
        }
        "total_tokens" | "tokens" => return c("total_tokens", "tokens", 1.0, "tokens"),
        "accuracy" => return c("accuracy", "ratio", 1.0, "quality"),
        "loss" => return c("loss", "loss", 1.0, "quality"),
        "success_rate" => return c("success_rate", "ratio", 1.0, "quality"),
        "response_chars" => return c("response_chars", "chars", 1.0, "tokens"),
        _ => {}
    }
    let last = toks.last().copied().unwrap_or("");
    let has = |w: &str| toks.contains(&w);
    // Percentages.
    if last == "percent" || last == "pct" || (has("util") || has("utilization")) {
        if has("gpu") {
            return c("gpu_util_percent", "%", 1.0, "gpu");
        }
        if has("memory") || has("mem") || has("vram") {
            return c("memory_percent", "%", 1.0, "memory");
        }
        if has("cpu") {
            return c("cpu_percent", "%", 1.0, "cpu");
        }
        return None;
    }
    // Memory sizes, normalised to MB.
    if has("memory") || has("mem") || has("vram") || has("rss") {
        let f = match last {
            "mb" | "mib" => 1.0,
            "gb" | "gib" => 1024.0,
            "kb" | "kib" => 1.0 / 1024.0,
            "bytes" | "b" => 1.0 / (1024.0 * 1024.0),
            _ => return None,
        };
        let family = if has("vram") || has("gpu") { "gpu" } else { "memory" };
        let metric = if family == "gpu" { "gpu_memory_mb" } else { "memory_mb" };
        return c(metric, "MB", f, family);
    }
    // Durations with a unit in the name.
    if let Some(f) = time_factor(last) {
        let base = &toks[..toks.len() - 1];
        let b = base.join("_");
        let (metric, family) = if b.contains("ttft") || b.contains("time_to_first_token") {
            ("ttft".to_string(), "ttft")
        } else if b.contains("prompt_eval") {
            ("prompt_eval_duration".to_string(), "prompt_eval")
        } else if b == "eval" || b.starts_with("eval_") {
            ("eval_duration".to_string(), "eval")
        } else if b.contains("load") {
            ("load_duration".to_string(), "load_duration")
        } else if b.contains("total_duration") {
            ("total_duration".to_string(), "total_duration")
        } else if b.contains("latency") || b.contains("generation_time") || b.contains("e2e") {
            (if b.contains("latency") { "latency" } else { "generation_time" }.to_string(), "latency")
        } else if b.is_empty() {
            ("time".to_string(), "latency")
        } else if b.contains("time") || b.contains("duration") || b.contains("elapsed") {
            (b.clone(), "latency")
        } else {
            return None;
        };
        return c(&format!("{metric}_ms"), "ms", f, family);
    }
    if j.contains("ttft") {
        return None; // a TTFT without a unit in its name: the name does not say what it is
    }
    if last == "bytes" && toks.len() > 1 {
        return c(&joined, "bytes", 1.0, "memory");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(metric: &str, unit: &str, stat: &str, factor: f64) -> (String, String, String, f64) {
        (metric.into(), unit.into(), stat.into(), factor)
    }

    fn m(name: &str) -> Option<(String, String, String, f64)> {
        classify(name).map(|c| (c.metric, c.unit, c.stat, c.factor))
    }

    #[test]
    fn seed_names_map_to_canonical_metrics() {
        assert_eq!(m("tokens_s"), Some(t("tokens_per_s", "tok/s", "value", 1.0)));
        assert_eq!(m("Tokens per Second"), Some(t("tokens_per_s", "tok/s", "value", 1.0)));
        assert_eq!(m("mean_tokens_s").map(|x| x.2).as_deref(), Some("mean"));
        assert_eq!(m("ttft_s"), Some(t("ttft_ms", "ms", "value", 1000.0)));
        assert_eq!(m("mean_ttft_s"), Some(t("ttft_ms", "ms", "mean", 1000.0)));
        assert_eq!(m("load_s"), Some(t("load_duration_ms", "ms", "value", 1000.0)));
        assert_eq!(m("prompt_eval_s"), Some(t("prompt_eval_duration_ms", "ms", "value", 1000.0)));
        assert_eq!(m("eval_s_mean"), Some(t("eval_duration_ms", "ms", "mean", 1000.0)));
        assert_eq!(m("eval_duration"), Some(t("eval_duration_ms", "ms", "value", 1e-6)));
        assert_eq!(m("Generation Time (ms)"), Some(t("generation_time_ms", "ms", "value", 1.0)));
        assert_eq!(m("p95_ms"), Some(t("time_ms", "ms", "p95", 1.0)));
        assert_eq!(m("overall_stdev_ms"), Some(t("time_ms", "ms", "sd", 1.0)));
        assert_eq!(m("eval_count"), Some(t("output_tokens", "tokens", "value", 1.0)));
        assert_eq!(m("memory_percent"), Some(t("memory_percent", "%", "value", 1.0)));
        assert_eq!(m("memory_used_gb"), Some(t("memory_mb", "MB", "value", 1024.0)));
        assert_eq!(m("gpu_utilization"), Some(t("gpu_util_percent", "%", "value", 1.0)));
    }

    #[test]
    fn non_measurements_are_rejected() {
        for n in [
            "num_gpu",
            "timestamp",
            "test_timestamp",
            "prompt_index",
            "runs",
            "prompt_eval",
            "ttft",
            "TP Δ (tok/s)",
            "ttft_delta_ms",
            "Avg TTFT Penalty (ms)",
        ] {
            assert_eq!(classify(n), None, "{n}");
        }
        assert_eq!(group_key("Temp"), Some("temperature"));
        assert_eq!(group_key("model"), Some("model"));
        assert_eq!(group_key("prompt"), None);
    }
}
