//! Client streaming cost benchmark (issue 3): client CPU time per streamed token.
//!
//! A scripted loopback server runs in a CHILD process (this same binary, re-executed with
//! `serve`), streaming N tokens as fast as it can, one HTTP chunk per token. The parent measures
//! only its own CPU time: the sum of `/proc/self/task/*/schedstat` run times (nanoseconds, all
//! threads of this process, tokio workers included) around each call, so the server's CPU is
//! never counted. References measured in the same run against the same server:
//! - `raw-tcp`: read the same HTTP response with a plain socket (no HTTP or JSON parsing);
//! - `reqwest-bytes`: read the body through reqwest without line framing or JSON parsing.
//!
//! Run: `cargo run --release -p chimera-core --example stream_cost -- [TOKENS] [RUNS]`
//! (`CHIMERA_BENCH_RUNTIME=current|multi1|multi` picks the client's tokio runtime; default `multi`).

use std::time::{Duration, Instant};

use chimera_core::backend::{Backend, GenRequest, OllamaClient, OpenAiClient, Timeouts, no_sink};
use chimera_core::options::GenOptions;
use chimera_core::stats;
use chimera_testkit::{ChildServer, Final, Reply, Script, ScriptedServer, Timings, serve_until_stdin_closes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// CPU time of this process so far, ns (sum over live threads of schedstat's first field).
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

fn script(n: usize) -> Script {
    let t = Timings { eval_count: n as u64, eval_duration_ns: 1_000_000, ..Default::default() };
    Script::tokens(Duration::ZERO, Duration::ZERO, n, Final::stop(t))
}

async fn serve(n: usize) {
    let ollama = script(n);
    let openai = script(n);
    let srv = ScriptedServer::start(move |r| {
        if r.path.starts_with("/v1/") { Reply::OpenAi(openai.clone()) } else { Reply::Ollama(ollama.clone()) }
    })
    .await;
    serve_until_stdin_closes(&srv).await;
}

async fn raw_tcp(url: &str, body: &str) -> usize {
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect to the child server");
    s.set_nodelay(true).ok();
    let req = format!(
        "POST /api/generate HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("send");
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    let mut tail = [0u8; 7];
    loop {
        let n = s.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        total += n;
        // Track the last 7 bytes to spot the terminating chunk "\r\n0\r\n\r\n".
        let take = n.min(7);
        tail.rotate_left(take);
        tail[7 - take..].copy_from_slice(&buf[n - take..n]);
        if &tail == b"\r\n0\r\n\r\n" {
            break;
        }
    }
    total
}

async fn reqwest_bytes(http: &reqwest::Client, url: &str, body: &str) -> usize {
    let mut resp = http
        .post(format!("{url}/api/generate"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    let mut total = 0;
    while let Some(c) = resp.chunk().await.expect("body") {
        total += c.len();
    }
    total
}

struct Row {
    name: &'static str,
    cpu_ns_per_token: Vec<f64>,
    wall_ms: Vec<f64>,
}

fn main() {
    // CHIMERA_BENCH_RUNTIME: `multi` (default: the multi-thread runtime the `chimera` binary
    // uses, one worker per core), `multi1` (multi-thread, 1 worker), `current` (current-thread).
    let kind = std::env::var("CHIMERA_BENCH_RUNTIME").unwrap_or_else(|_| "multi".into());
    let rt = match kind.as_str() {
        "current" => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        "multi1" => tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build(),
        _ => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
    };
    rt.expect("tokio runtime").block_on(run(&kind));
}

async fn run(runtime: &str) {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        let n = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(20_000);
        serve(n).await;
        return;
    }
    let n: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let runs: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(7);

    let child = ChildServer::spawn(&["serve", &n.to_string()]);
    let url = child.url().to_string();

    let t = Timeouts::default();
    let http = chimera_core::backend::http_client(&t);
    let ollama = OllamaClient::with_http(http.clone(), &url, t);
    let openai = OpenAiClient::with_http(http.clone(), &url, None, t);
    let req = GenRequest::generate("bench", None, "go", GenOptions::default());
    let body = serde_json::to_string(&OllamaClient::request_body(&req)).expect("body");

    let mut rows = vec![
        Row { name: "raw-tcp (reference)", cpu_ns_per_token: vec![], wall_ms: vec![] },
        Row { name: "reqwest-bytes (reference)", cpu_ns_per_token: vec![], wall_ms: vec![] },
        Row { name: "OllamaClient NDJSON", cpu_ns_per_token: vec![], wall_ms: vec![] },
        Row { name: "OpenAiClient SSE", cpu_ns_per_token: vec![], wall_ms: vec![] },
    ];
    // One warm-up of each (connection pool, allocator), then interleaved measured runs.
    for run in 0..=runs {
        for (i, row) in rows.iter_mut().enumerate() {
            let (c0, w0) = (process_cpu_ns(), Instant::now());
            match i {
                0 => assert!(raw_tcp(&url, &body).await > n),
                1 => assert!(reqwest_bytes(http.pooled(), &url, &body).await > n),
                2 => {
                    assert_eq!(ollama.generate(&req, &no_sink).await.expect("ollama stream").chunks, n as u64)
                }
                _ => {
                    assert_eq!(openai.generate(&req, &no_sink).await.expect("openai stream").chunks, n as u64)
                }
            }
            let (cpu, wall) = (process_cpu_ns() - c0, w0.elapsed());
            if run > 0 {
                row.cpu_ns_per_token.push(cpu as f64 / n as f64);
                row.wall_ms.push(wall.as_secs_f64() * 1000.0);
            }
        }
    }
    let pid = child.id();
    drop(child);

    println!(
        "tokens per call: {n}; measured runs: {runs} (+1 warm-up); client runtime: {runtime}; server: child process {}",
        pid
    );
    println!(
        "| client | CPU µs/token (median) | CPU µs/token (min…max) | wall ms/call (median) | CPU vs raw-tcp |"
    );
    println!("|---|---|---|---|---|");
    let raw = stats::summarize(&rows[0].cpu_ns_per_token).map(|s| s.median);
    for r in &rows {
        let (Some(c), Some(w)) = (stats::summarize(&r.cpu_ns_per_token), stats::summarize(&r.wall_ms)) else {
            continue;
        };
        let ratio = raw.map_or("-".to_string(), |b| format!("{:.2}×", c.median / b));
        println!(
            "| {} | {:.3} | {:.3}…{:.3} | {:.1} | {} |",
            r.name,
            c.median / 1000.0,
            c.min / 1000.0,
            c.max / 1000.0,
            w.median,
            ratio
        );
    }
}
