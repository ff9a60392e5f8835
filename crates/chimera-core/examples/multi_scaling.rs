//! Scaling benchmark of `chimera multi`'s scheduler (issue 6): N agents (2, 16, 64, 256), each
//! with its own scripted loopback Ollama server of fixed latency and its own connection pool,
//! solo phase then concurrent phase. Orchestration efficiency = speedup / N, where
//! speedup = Σ solo / concurrent wall, both measured in the same run.
//!
//! Run: `cargo run --release -p chimera-core --example multi_scaling [--fake-ollama] [--write-calls] [N ...]`
//! (`--write-calls`: each agent also writes its calls.json, fsync'd, inside the measured time.)
//!
//! The default server is a minimal fixed-latency Ollama stream (below) that sleeps on tokio's
//! timer between tokens. `--fake-ollama` uses `chimera_testkit::FakeOllama` instead, whose
//! sub-millisecond precision busy-yields for the last millisecond before every token: exact for
//! tests, but at 64+ concurrent streams on 2 cores that spinning itself saturates the CPU.

use std::sync::Arc;
use std::time::Duration;

use chimera_core::backend::{Backend, OllamaClient, Timeouts, http_client};
use chimera_core::events::Events;
use chimera_core::multi::jobs::{CallsAgent, CallsJob};
use chimera_core::multi::{AgentSlot, CancellationToken, MultiPlan, ScenarioName, run_multi};
use chimera_core::options::GenOptions;
use chimera_testkit::{FakeOllama, LatencyProfile};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const FIRST_TOKEN_MS: u64 = 50;
const ITL_MS: u64 = 10;
const TOKENS: usize = 20;
const CALLS: usize = 2;

/// A loopback Ollama `/api/generate` stream of fixed latency: first token FIRST_TOKEN_MS after
/// the request, then one every ITL_MS (absolute deadlines, no drift), then the final chunk.
async fn latency_server() -> (String, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let url = format!("http://{}", l.local_addr().expect("address"));
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(serve_conn(s));
        }
    });
    (url, task)
}

async fn serve_conn(mut s: TcpStream) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    loop {
        // Read one request: head, then Content-Length bytes of body.
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let n = s.read(&mut tmp).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&tmp[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:").and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let n = s.read(&mut tmp).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&tmp[..n]);
        }
        buf.drain(..head_end + len);
        let t0 = tokio::time::Instant::now();
        s.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n",
        )
        .await?;
        for i in 0..TOKENS as u64 {
            tokio::time::sleep_until(t0 + Duration::from_millis(FIRST_TOKEN_MS + i * ITL_MS)).await;
            let line = format!("{{\"model\":\"m\",\"response\":\"t{i} \",\"done\":false}}\n");
            s.write_all(format!("{:x}\r\n{line}\r\n", line.len()).as_bytes()).await?;
        }
        let eval_ns = TOKENS as u64 * ITL_MS * 1_000_000;
        let total_ns = t0.elapsed().as_nanos() as u64;
        let line = format!(
            "{{\"model\":\"m\",\"response\":\"\",\"done\":true,\"done_reason\":\"stop\",\"total_duration\":{total_ns},\
             \"load_duration\":0,\"prompt_eval_count\":10,\"prompt_eval_duration\":{},\"eval_count\":{TOKENS},\
             \"eval_duration\":{eval_ns}}}\n",
            FIRST_TOKEN_MS * 1_000_000
        );
        s.write_all(format!("{:x}\r\n{line}\r\n0\r\n\r\n", line.len()).as_bytes()).await?;
    }
}

fn main() {
    let fake = std::env::args().any(|a| a == "--fake-ollama");
    let files = std::env::args().any(|a| a == "--write-calls");
    let ns: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let ns = if ns.is_empty() { vec![2, 16, 64, 256] } else { ns };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    // Scripted time of one agent: CALLS × (first token + (TOKENS − 1) × ITL).
    let script_s = CALLS as f64 * (FIRST_TOKEN_MS + (TOKENS as u64 - 1) * ITL_MS) as f64 / 1000.0;
    println!(
        "server: {}; per-agent calls.json: {}",
        if fake { "chimera_testkit::FakeOllama" } else { "fixed-latency loopback stream (tokio timer)" },
        if files { "written (fsync) inside the measured time" } else { "not written" }
    );
    println!(
        "cpus={cpus}; per agent: {CALLS} calls × (first token {FIRST_TOKEN_MS} ms + {} × {ITL_MS} ms) = {script_s:.3} s scripted",
        TOKENS - 1
    );
    println!(
        "| agents | mean solo s | concurrent wall s | solo / scripted | speedup × | efficiency | aggregate tok/s |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for n in ns {
        rt.block_on(async move {
            let profile = LatencyProfile::new(
                Duration::from_millis(FIRST_TOKEN_MS),
                Duration::from_millis(ITL_MS),
                TOKENS,
            );
            // Keep the servers alive for the whole measurement (dropped at the end of the block).
            let mut fakes = Vec::new();
            let mut plain = Vec::new();
            let mut urls = Vec::with_capacity(n);
            for _ in 0..n {
                if fake {
                    let s = FakeOllama::new(profile).start().await;
                    urls.push(s.url());
                    fakes.push(s);
                } else {
                    let (url, task) = latency_server().await;
                    urls.push(url);
                    plain.push(task);
                }
            }
            let t = Timeouts::default();
            let agents: Vec<CallsAgent> = urls
                .iter()
                .enumerate()
                .map(|(i, url)| CallsAgent {
                    label: format!("agent {i}"),
                    backend: Arc::new(OllamaClient::with_http(http_client(&t), url, t)) as Arc<dyn Backend>,
                    model: "gemma3:270m".into(),
                    options: GenOptions { num_predict: Some(TOKENS as i64), ..Default::default() },
                    prompts: (0..CALLS).map(|c| (None, format!("call {c}"))).collect(),
                })
                .collect();
            let dir = tempfile::tempdir().expect("temp dir");
            let plan = MultiPlan {
                scenario: ScenarioName::AgentsFile(format!("scaling_{n}")),
                agents: urls
                    .iter()
                    .enumerate()
                    .map(|(i, u)| AgentSlot {
                        label: format!("agent {i}"),
                        server: u.clone(),
                        warmup_key: u.clone(),
                    })
                    .collect(),
                runs: 1,
                solo: true,
                warmup: true,
                contention_threshold: 1.25,
                out_dir: dir.path().to_path_buf(),
                manifest: None,
            };
            let job = Arc::new(CallsJob { agents, events: Events::none(), write_calls: files });
            let s =
                run_multi(&plan, job, CancellationToken::new(), &Events::none()).await.expect("multi run");
            plain.iter().for_each(|t| t.abort());
            drop(fakes);
            let r = &s.runs[0];
            assert!(!s.failed, "a call failed: {:?}", r.failures);
            let solo_mean = r.solo_sum_secs.unwrap_or(f64::NAN) / n as f64;
            println!(
                "| {n} | {solo_mean:.4} | {:.4} | {:.4} | {:.2} | {:.2} % | {:.0} |",
                r.concurrent_wall_secs.unwrap_or(f64::NAN),
                solo_mean / script_s,
                r.speedup.unwrap_or(f64::NAN),
                r.efficiency.unwrap_or(f64::NAN) * 100.0,
                r.aggregate_tok_s.unwrap_or(f64::NAN),
            );
        });
    }
}
