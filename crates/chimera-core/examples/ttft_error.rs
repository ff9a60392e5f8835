//! TTFT timestamp error under load (issue 18, item 16): how far a call's client-side TTFT is
//! from the first-token time the server was scripted with, for one agent alone and for two
//! agents at once, both measured in the same run (interleaved rounds).
//!
//! A scripted Ollama server runs in a CHILD process (this binary re-executed with `serve`):
//! every `/api/generate` sends its first token FIRST_MS after receiving the request, then a
//! long model text full of numbers (so grounding and report rendering have real work). The
//! parent runs the real agent workflow (`run_agent`: ingest of DIR, analysis and report calls,
//! grounding, report and files written) on a current-thread runtime, as `chimera` does. Each
//! round: one agent alone, then two agents on one shared client (one server, one pool), the
//! second starting after a pseudo-random delay so that its calls meet the first agent's
//! grounding and writing. TTFT error = client TTFT − FIRST_MS (it includes loopback transfer
//! and the server's own timer jitter, equally in both conditions).
//!
//! Run: `cargo run --release -p chimera-core --example ttft_error -- [DIR] [ROUNDS] [TOKENS]`
//! (defaults: ../shared/corpus/seed-101, 10, 2000).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chimera_core::agent::{AgentOutcome, AgentRun, AgentSpec, run_agent};
use chimera_core::backend::{Backend, OllamaClient, Timeouts};
use chimera_core::events::Events;
use chimera_core::inventory::CollectOptions;
use chimera_core::options::GenOptions;
use chimera_core::persona::Persona;
use chimera_core::stats;
use chimera_testkit::{
    ChildServer, Final, Reply, Script, ScriptedServer, Step, Timings, serve_until_stdin_closes,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const FIRST_MS: f64 = 50.0;

fn script(tokens: usize) -> Script {
    let t = Timings { eval_count: tokens as u64, eval_duration_ns: 100_000_000, ..Default::default() };
    let first = Duration::from_secs_f64(FIRST_MS / 1000.0);
    let mut s = Script::new();
    for i in 0..tokens {
        let piece = match i % 4 {
            0 => format!("run {i} reached {}.{} tok/s ", 60 + i % 30, i % 97),
            1 => format!("with TTFT {}.{} ms; ", 80 + i % 50, i % 89),
            2 => "the data shows a steady trend ".to_string(),
            _ => format!("and {} files. ", i % 120),
        };
        s = s.at(first + Duration::from_micros(100 * i as u64), Step::token(piece));
    }
    s.then(Step::Done(Final::stop(t)))
}

async fn serve(tokens: usize) {
    let s = script(tokens);
    let srv = ScriptedServer::start(move |r| match r.path.as_str() {
        "/api/version" => Reply::Json(json!({"version": "0.12.0-scripted"})),
        "/api/tags" => Reply::Json(json!({"models": [{"name": "gemma3:270m", "model": "gemma3:270m"}]})),
        "/api/generate" => Reply::Ollama(s.clone()),
        _ => Reply::JsonStatus(404, json!({"error": "not found"})),
    })
    .await;
    serve_until_stdin_closes(&srv).await;
}

async fn agent(backend: Arc<dyn Backend>, dir: PathBuf, out: PathBuf) -> AgentOutcome {
    let spec = AgentSpec::new(
        "Bench",
        Persona::collector(),
        "gemma3:270m",
        GenOptions { num_ctx: Some(4096), ..Default::default() },
    );
    run_agent(AgentRun {
        spec: &spec,
        backend,
        data_dirs: vec![dir],
        collect: CollectOptions::default(),
        out_dir: out,
        events: Events::none(),
        cancel: CancellationToken::new(),
        handoff: None,
    })
    .await
}

fn errors(o: &AgentOutcome) -> Vec<f64> {
    assert!(o.ok, "agent failed: {:?}", o.error);
    o.calls.iter().map(|c| c.ttft_ms().expect("a TTFT") - FIRST_MS).collect()
}

fn row(name: &str, xs: &[f64]) {
    let s = stats::summarize(xs).expect("samples");
    println!(
        "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
        s.n, s.mean, s.median, s.p99, s.min, s.max
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        let tokens = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(2000);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(serve(tokens));
        return;
    }
    let dir = args.get(1).map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/seed-101")),
        PathBuf::from,
    );
    let rounds: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(10);
    let tokens: usize = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(2000);

    let child = ChildServer::spawn(&["serve", &tokens.to_string()]);
    let url = child.url().to_string();

    // One async thread, as the `chimera` binary runs.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (solo, pair) = rt.block_on(async {
        let out = tempfile::tempdir().expect("scratch folder");
        let backend: Arc<dyn Backend> = Arc::new(OllamaClient::new(&url, Timeouts::default()));
        let (mut solo, mut pair) = (Vec::new(), Vec::new());
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        // One warm-up round (connection, page cache), not counted.
        agent(backend.clone(), dir.clone(), out.path().join("warm")).await;
        for r in 0..rounds {
            solo.extend(errors(&agent(backend.clone(), dir.clone(), out.path().join(format!("s{r}"))).await));
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let stagger = Duration::from_millis(seed % 800);
            let (a, b) =
                tokio::join!(agent(backend.clone(), dir.clone(), out.path().join(format!("a{r}"))), async {
                    tokio::time::sleep(stagger).await;
                    agent(backend.clone(), dir.clone(), out.path().join(format!("b{r}"))).await
                });
            pair.extend(errors(&a));
            pair.extend(errors(&b));
        }
        (solo, pair)
    });
    drop(child);
    println!(
        "rounds: {rounds} (+1 warm-up); model text: {tokens} tokens per call; first token scripted at {FIRST_MS} ms; corpus {}",
        dir.display()
    );
    println!("| condition | calls | mean ms | median ms | p99 ms | min ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    row("one agent alone (reference)", &solo);
    row("two agents at once", &pair);
}
