//! TTFT timestamp error under load (issue 18, item 16): how late a call's client-side
//! first-token stamp is against the moment the server really wrote that token, for one agent
//! alone and for two agents at once, both measured in the same run (interleaved rounds).
//!
//! A scripted Ollama server runs in a CHILD process (this binary re-executed with `serve`):
//! every `/api/generate` sends its first token FIRST_MS after receiving the request, then a
//! long model text full of numbers (so grounding and report rendering have real work), then a
//! last token ([`Step::FirstSendStamp`]) saying when the server wrote the first token and when
//! it had read the request, on the system clock, read just before the write. The
//! parent runs the real agent workflow (`run_agent`: ingest of DIR, analysis and report calls,
//! grounding, report and files written) on a current-thread runtime, as `chimera` does. Each
//! round: one agent alone, then two agents on one shared client (one server, one pool), the
//! second starting after a pseudo-random delay so that its calls meet the first agent's
//! grounding and writing.
//!
//! Stamp error = client stamp (`started_at` + TTFT, system clock) − the server's real send (system
//! clock; both processes read the same clock, and a clock step during the run is checked for
//! against the monotonic clock). It is loopback delivery plus every delay of the client until it
//! stamps. The old figure, client TTFT − FIRST_MS, is printed beside it: it also holds the
//! server's own timer lateness (printed too: send − read − FIRST_MS) and the request's transfer.
//!
//! Run: `cargo run --release -p chimera-core --example ttft_error -- [DIR] [ROUNDS] [TOKENS] [MODE]`
//! (defaults: ../shared/corpus/seed-101, 10, 2000, auto). MODE `auto` stamps on a real-time
//! thread when the OS allows it, as `chimera` does (`stamp_thread`); `normal` keeps the stamping
//! thread at normal priority (the reference); `nice` is `normal` with the client's worker threads
//! (tokio's blocking pool, rayon's pool) at nice 10, below the async thread that stamps.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chimera_core::agent::{AgentOutcome, AgentRun, AgentSpec, run_agent};
use chimera_core::backend::{Backend, OllamaClient, Timeouts};
use chimera_core::events::Events;
use chimera_core::inventory::CollectOptions;
use chimera_core::options::GenOptions;
use chimera_core::persona::Persona;
use chimera_core::stamp_thread::{self, StampPriority};
use chimera_core::stats;
use chimera_testkit::{
    ChildServer, Final, Reply, Script, ScriptedServer, Step, Timings, first_send_stamp,
    serve_until_stdin_closes,
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
    s.then(Step::FirstSendStamp).then(Step::Done(Final::stop(t)))
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

/// Per call: (stamp error against the real send, the old error against the script, the
/// server's own lateness), ms.
#[derive(Default)]
struct Errors {
    stamp: Vec<f64>,
    script: Vec<f64>,
    server: Vec<f64>,
}

impl Errors {
    fn add(&mut self, o: &AgentOutcome) {
        assert!(o.ok, "agent failed: {:?}", o.error);
        for c in &o.calls {
            let ttft = c.ttft_ms().expect("a TTFT");
            let (sent, read) = first_send_stamp(&c.text).expect("the server's first-send stamp");
            let started = c.started_at.timestamp_nanos_opt().expect("a start time in range") as f64;
            self.stamp.push(started / 1e6 + ttft - sent as f64 / 1e6);
            self.script.push(ttft - FIRST_MS);
            self.server.push((sent as f64 - read as f64) / 1e6 - FIRST_MS);
        }
    }
}

fn row(name: &str, xs: &[f64]) {
    let s = stats::summarize(xs).expect("samples");
    println!(
        "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} |",
        s.n,
        s.mean,
        s.median,
        s.p99,
        s.min,
        s.max,
        xs.iter().filter(|&&x| x > 1.0).count()
    );
}

/// System clock − monotonic clock, ns: constant unless the system clock is stepped.
fn wall_minus_mono() -> i128 {
    let read = |id| {
        let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `t` is a valid timespec for clock_gettime to fill.
        unsafe { libc::clock_gettime(id, &mut t) };
        i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec)
    };
    read(libc::CLOCK_REALTIME) - read(libc::CLOCK_MONOTONIC)
}

/// Run this thread at nice 10 (Linux: per thread), below the async thread.
fn lower_priority() {
    // SAFETY: plain syscalls on the calling thread.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
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

    let nice = args.get(4).map(String::as_str) == Some("nice");
    // As `chimera` does: the async thread that stamps runs real-time when the OS allows it;
    // `normal` (and `nice`) leave it at normal priority, the reference.
    let normal = matches!(args.get(4).map(String::as_str), Some("normal" | "nice"));

    let child = ChildServer::spawn(&["serve", &tokens.to_string()]);
    let url = child.url().to_string();

    let mut rt = tokio::runtime::Builder::new_current_thread();
    if nice {
        rayon::ThreadPoolBuilder::new()
            .start_handler(|_| lower_priority())
            .build_global()
            .expect("rayon pool");
        rt.on_thread_start(lower_priority);
    }
    let stamp = stamp_thread::apply(if normal { StampPriority::Normal } else { StampPriority::Auto })
        .expect("auto and normal never fail");
    let offset_before = wall_minus_mono();
    // One async thread, as the `chimera` binary runs.
    let rt = rt.enable_all().build().expect("runtime");
    let (solo, pair) = rt.block_on(async {
        let out = tempfile::tempdir().expect("scratch folder");
        let backend: Arc<dyn Backend> = Arc::new(OllamaClient::new(&url, Timeouts::default()));
        let (mut solo, mut pair) = (Errors::default(), Errors::default());
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        // One warm-up round (connection, page cache), not counted.
        agent(backend.clone(), dir.clone(), out.path().join("warm")).await;
        for r in 0..rounds {
            solo.add(&agent(backend.clone(), dir.clone(), out.path().join(format!("s{r}"))).await);
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let stagger = Duration::from_millis(seed % 800);
            let (a, b) =
                tokio::join!(agent(backend.clone(), dir.clone(), out.path().join(format!("a{r}"))), async {
                    tokio::time::sleep(stagger).await;
                    agent(backend.clone(), dir.clone(), out.path().join(format!("b{r}"))).await
                });
            pair.add(&a);
            pair.add(&b);
        }
        (solo, pair)
    });
    drop(child);
    let step_ns = wall_minus_mono() - offset_before;
    println!(
        "rounds: {rounds} (+1 warm-up); model text: {tokens} tokens per call; first token scripted at {FIRST_MS} ms; \
         corpus {}; stamping thread {} {}{}; worker threads {}; system clock stepped by {step_ns} ns during the run (must be ~0)",
        dir.display(),
        stamp.policy,
        stamp.priority,
        stamp.reason.map(|r| format!(" ({r})")).unwrap_or_default(),
        if nice { "at nice 10" } else { "at normal priority" },
    );
    println!("| condition | calls | mean ms | median ms | p99 ms | min ms | max ms | calls over 1 ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    row("stamp error, one agent alone (reference)", &solo.stamp);
    row("stamp error, two agents at once", &pair.stamp);
    row("old figure (TTFT − scripted 50 ms), one agent", &solo.script);
    row("old figure (TTFT − scripted 50 ms), two agents", &pair.script);
    row("server lateness (send − read − 50 ms), one agent", &solo.server);
    row("server lateness (send − read − 50 ms), two agents", &pair.server);
}
