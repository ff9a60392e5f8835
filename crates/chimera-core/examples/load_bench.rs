//! Load benchmarks (issue 20), each against scripted servers in CHILD processes (this binary
//! re-executed with `serve …`), so their CPU and timers are never the client's:
//!
//! - `schedule RATE SESSIONS`: open-loop constant arrivals through the level runner and the
//!   Ollama client (one 1-token call per session, answered after 5 ms); prints the schedule
//!   error (actual − planned start) p50/p99/max, beside a reference measured in the same run:
//!   a bare loop of the runner's own wait at the same rate, starting nothing.
//! - `cpu SESSIONS TOK_PER_S SECS`: SESSIONS sessions arriving within one second, each
//!   streaming TOK_PER_S tokens/s for SECS seconds; prints the client's CPU (all its threads,
//!   `/proc/self/task/*/schedstat`) as % of one core over the whole run (arrivals, connects and
//!   the streams) and over the steady state alone: from 2 s (every session started) to SECS s
//!   (before the first ends), when all SESSIONS stream at once. Beside it, a reference measured
//!   in the same run: the same streams read by bare tokio sockets (no HTTP client, no parsing).
//! - `capacity SERVICE_MS K`: the capacity search (rate axis, constant arrivals, 3 repeats of
//!   30 sessions per server per level, SLO session_s ≤ 3 × service time) over K one-slot servers;
//!   prints the capacity found against K / S.
//!
//! Run: `cargo build --release -p chimera-core --example load_bench` then
//! `./target/release/examples/load_bench schedule 200 2000` (etc.).

use std::sync::Arc;
use std::time::Duration;

use chimera_core::backend::{Backend, OllamaClient, Timeouts, http_client};
use chimera_core::capacity::run::{CapacityPlan, Shape, run_capacity};
use chimera_core::capacity::search::SearchPlan;
use chimera_core::events::Events;
use chimera_core::multi::AgentSlot;
use chimera_core::multi::jobs::{CallsAgent, CallsJob};
use chimera_core::options::GenOptions;
use chimera_core::records::traffic::{Axis, LoadModel, Spread};
use chimera_core::stats::summarize;
use chimera_core::traffic::arrivals::{Arrival, Stop};
use chimera_core::traffic::run::{LevelPlan, run_level, wait_until};
use chimera_testkit::{ChildServer, FakeOllama, LatencyProfile, serve_until_stdin_closes};
use tokio_util::sync::CancellationToken;

const MS: fn(u64) -> Duration = Duration::from_millis;

fn process_cpu_ns() -> u64 {
    let mut total = 0;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for e in dir.flatten() {
            if let Ok(s) = std::fs::read_to_string(e.path().join("schedstat")) {
                total += s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            }
        }
    }
    total
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// One agent per server URL, each session one call.
fn job(urls: &[String]) -> (Arc<CallsJob>, Vec<AgentSlot>) {
    let t = Timeouts::default();
    let agents = urls
        .iter()
        .enumerate()
        .map(|(i, u)| CallsAgent {
            label: format!("server {i}"),
            backend: Arc::new(OllamaClient::with_http(http_client(&t), u, t)) as Arc<dyn Backend>,
            model: "gemma3:270m".into(),
            options: GenOptions::default(),
            prompts: vec![(None, "hello".into())],
        })
        .collect();
    let slots = urls
        .iter()
        .enumerate()
        .map(|(i, u)| AgentSlot { label: format!("server {i}"), server: u.clone(), warmup_key: u.clone() })
        .collect();
    (Arc::new(CallsJob { agents, events: Events::none(), write_calls: false }), slots)
}

fn level(load: LoadModel, stop: Stop, slots: Vec<AgentSlot>) -> LevelPlan {
    LevelPlan {
        load,
        stop,
        warmup_sessions: 0,
        agents: slots,
        spread: Spread::RoundRobin,
        slo: "session_s<=60".parse().expect("SLO"),
        out_dir: std::env::temp_dir().join("chimera-load-bench"),
    }
}

/// The runner's own wait ([`wait_until`]) in a bare loop at `rate`, starting nothing: the
/// timer's own error.
async fn bare_timer_errors(rate: f64, n: usize) -> Vec<f64> {
    let t0 = tokio::time::Instant::now();
    let mut errs = Vec::with_capacity(n);
    for k in 0..n {
        let at = t0 + Duration::from_secs_f64(k as f64 / rate);
        wait_until(at).await;
        errs.push(tokio::time::Instant::now().duration_since(at).as_secs_f64() * 1000.0);
    }
    errs
}

fn show(name: &str, ms: &[f64]) {
    let s = summarize(ms).expect("samples");
    println!("{name}: n={} p50={:.3} ms p99={:.3} ms max={:.3} ms", s.n, s.median, s.p99, s.max);
}

async fn schedule(rate: f64, n: u32) {
    let child = ChildServer::spawn(&["serve", "5", "1", "0"]);
    let (job, slots) = job(&[child.url().to_string()]);
    let reference = bare_timer_errors(rate, n as usize).await;
    let p = level(LoadModel::Open { arrival: Arrival::Constant { per_sec: rate } }, Stop::Sessions(n), slots);
    let run = run_level(&p, job, &CancellationToken::new(), &Events::none()).await.expect("level");
    let errs: Vec<f64> = run.sessions.iter().map(|s| s.schedule_error_ms).collect();
    let failed = run.sessions.iter().filter(|s| !s.figures.ok).count();
    println!("schedule error at {rate}/s, {n} sessions ({failed} failed):");
    show("  runner (sessions through the Ollama client)", &errs);
    show("  reference (bare timer loop, no sessions)", &reference);
}

/// CPU of this process over the run and over its steady state (from 2 s, when every session
/// has started, to `secs`, before the first ends), each as a fraction of one core.
async fn measure_cpu<F: std::future::Future>(secs: u64, run: F) -> (F::Output, f64, f64) {
    let (c0, w0) = (process_cpu_ns(), std::time::Instant::now());
    let steady = tokio::spawn(async move {
        let t0 = tokio::time::Instant::now();
        tokio::time::sleep_until(t0 + Duration::from_secs(2)).await;
        let (c, w) = (process_cpu_ns(), std::time::Instant::now());
        tokio::time::sleep_until(t0 + Duration::from_secs(secs)).await;
        (process_cpu_ns() - c) as f64 / 1e9 / w.elapsed().as_secs_f64()
    });
    let out = run.await;
    let whole = (process_cpu_ns() - c0) as f64 / 1e9 / w0.elapsed().as_secs_f64();
    (out, whole, steady.await.expect("steady-state sampler"))
}

/// The machine's floor for the same streams: `sessions` bare tokio TCP readers (one raw HTTP
/// request each, arriving evenly within one second, then reading the chunked NDJSON into a
/// buffer until its last chunk), no HTTP client, no parsing, no timestamps. Returns bytes read.
async fn bare_readers(url: &str, sessions: u32) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let body = r#"{"model":"gemma3:270m","prompt":"hello","stream":true}"#;
    let req = format!(
        "POST /api/generate HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let t0 = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..sessions {
        let (addr, req) = (addr.clone(), req.clone());
        tasks.spawn(async move {
            tokio::time::sleep_until(t0 + Duration::from_secs_f64(f64::from(k) / f64::from(sessions))).await;
            let mut s = tokio::net::TcpStream::connect(&addr).await.expect("connect");
            s.write_all(req.as_bytes()).await.expect("request");
            // The testkit server keeps the connection open: the chunked body's last chunk ends it.
            let (mut buf, mut n) = (vec![0u8; 4096], 0u64);
            loop {
                match s.read(&mut buf).await.expect("read") {
                    0 => return n,
                    k if buf[..k].ends_with(b"0\r\n\r\n") => return n + k as u64,
                    k => n += k as u64,
                }
            }
        });
    }
    tasks.join_all().await.into_iter().sum()
}

async fn cpu(sessions: u32, tok_s: u64, secs: u64) {
    let itl = 1000 / tok_s.max(1);
    let n_tokens = (tok_s * secs).to_string();
    let child = ChildServer::spawn(&["serve", "0", &n_tokens, &itl.to_string()]);
    let url = child.url().to_string();
    let (job, slots) = job(std::slice::from_ref(&url));
    let p = level(
        LoadModel::Open { arrival: Arrival::Constant { per_sec: f64::from(sessions) } },
        Stop::Sessions(sessions),
        slots,
    );
    // The reference first, the same streams read by bare tokio sockets (the floor of any tokio
    // client on this machine), then the level runner with the Ollama client.
    let (bytes, ref_whole, ref_steady) = measure_cpu(secs, bare_readers(&url, sessions)).await;
    let w0 = std::time::Instant::now();
    let (run, whole, steady) = measure_cpu(secs, async {
        run_level(&p, job, &CancellationToken::new(), &Events::none()).await.expect("level")
    })
    .await;
    let wall = w0.elapsed().as_secs_f64();
    let tokens: u64 = run.sessions.iter().map(|s| s.tokens).sum();
    let failed = run.sessions.iter().filter(|s| !s.figures.ok).count();
    println!(
        "{sessions} open sessions × {tok_s} tok/s for {secs} s: {tokens} tokens in {wall:.1} s ({:.0} tok/s), {failed} failed; \
         client CPU {:.1} % of one core over the whole run, {:.1} % in the steady state (2–{secs} s, all streaming); \
         reference, bare tokio readers of the same streams ({bytes} bytes): {:.1} % / {:.1} %; ratio (steady) {:.2}×",
        tokens as f64 / wall,
        whole * 100.0,
        steady * 100.0,
        ref_whole * 100.0,
        ref_steady * 100.0,
        steady / ref_steady
    );
}

async fn capacity(service_ms: u64, k: usize) {
    let children: Vec<ChildServer> =
        (0..k).map(|_| ChildServer::spawn(&["serve", &service_ms.to_string(), "1", "0", "serial"])).collect();
    let urls: Vec<String> = children.iter().map(|c| c.url().to_string()).collect();
    let (job, slots) = job(&urls);
    let cap = k as f64 * 1000.0 / service_ms as f64;
    let dir = std::env::temp_dir().join(format!("chimera-load-bench-capacity-{k}"));
    let plan = CapacityPlan {
        axis: Axis::Rate,
        shape: Shape::Constant,
        search: SearchPlan {
            start: cap / 4.0,
            factor: 2.0,
            max: cap * 8.0,
            min: cap / 16.0,
            resolution: 0.05,
            integer: false,
        },
        repeats: 3,
        stop: Stop::Sessions(30 * k as u32),
        warmup_sessions: 1,
        agents: slots,
        spread: Spread::RoundRobin,
        slo: format!("session_s<={}", 3.0 * service_ms as f64 / 1000.0).parse().expect("SLO"),
        quantile: 0.95,
        out_dir: dir.clone(),
        manifest: None,
    };
    let rec = run_capacity(&plan, job, &CancellationToken::new(), &Events::none()).await.expect("search");
    for l in &rec.levels {
        let p = &l.pooled;
        println!(
            "  level {:.3}/s: pass {:.1} % meets {} behind {} sched p99 {:.2} ms",
            l.level,
            p.pass_rate.unwrap_or(0.0) * 100.0,
            p.meets_slo,
            p.client_behind,
            p.schedule_error_ms.as_ref().map_or(0.0, |s| s.p99)
        );
    }
    let found = rec.max_level.unwrap_or(0.0);
    println!(
        "capacity of {k} one-slot server(s) of {service_ms} ms: found {found:.3}/s vs k/S = {cap:.3}/s → {:.3}× ({:+.1} %); first failing {:?}; told apart {}",
        found / cap,
        (found / cap - 1.0) * 100.0,
        rec.first_failing,
        rec.told_apart
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    match args.get(1).map(String::as_str) {
        // serve FIRST_TOKEN_MS N_TOKENS ITL_MS [serial]
        Some("serve") => rt.block_on(async {
            let p = LatencyProfile::new(MS(arg(&args, 2, 5)), MS(arg(&args, 4, 0)), arg(&args, 3, 1));
            let f = FakeOllama::new(p).models(&["gemma3:270m"]);
            let srv = if args.get(5).is_some_and(|s| s == "serial") {
                f.start_serial().await
            } else {
                f.start().await
            };
            serve_until_stdin_closes(&srv).await;
        }),
        Some("schedule") => rt.block_on(schedule(arg(&args, 2, 200.0), arg(&args, 3, 2000))),
        Some("cpu") => rt.block_on(cpu(arg(&args, 2, 1000), arg(&args, 3, 20), arg(&args, 4, 10))),
        Some("capacity") => rt.block_on(capacity(arg(&args, 2, 50), arg(&args, 3, 1))),
        _ => eprintln!(
            "usage: load_bench schedule RATE SESSIONS | cpu SESSIONS TOK_PER_S SECS | capacity SERVICE_MS K"
        ),
    }
}
