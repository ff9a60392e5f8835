//! `chimera agent` and `chimera bench` through the real binary against scripted loopback
//! Ollama servers (real TCP): exit codes, a connection dropped mid-run, bad input, and the
//! bench's interleaving, warm-ups and statistics with exactly known server timings, and Ctrl-C
//! (SIGINT) during `agent` and `bench`: exit 130 with what finished on disk.

mod common;

use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chimera_testkit::{
    FakeOllama, Final, LatencyProfile, Reply, Request, Script, ScriptedServer, Step, Timings,
};
use common::{CORPUS, chimera, interrupt_when, json_file, run, text};
use serde_json::{Value, json};

/// Analysis streams and completes; the report call drops the connection after two tokens.
fn drop_on_report(req: &Request) -> Reply {
    match req.path.as_str() {
        "/api/version" => Reply::Json(json!({"version": "0.12.0-scripted"})),
        "/api/generate" => {
            let prompt = req.json.as_ref().and_then(|j| j["prompt"].as_str()).unwrap_or("");
            let timings = Timings {
                eval_count: 3,
                eval_duration_ns: 30_000_000,
                prompt_eval_count: 100,
                ..Default::default()
            };
            let s = Script::new()
                .at_ms(5, Step::token("- 101 "))
                .at_ms(7, Step::token("files "))
                .at_ms(9, Step::token("found."));
            if prompt.contains("Technical report") {
                Reply::Ollama(
                    Script::new()
                        .at_ms(5, Step::token("Partial "))
                        .at_ms(7, Step::token("text"))
                        .at_ms(9, Step::Drop),
                )
            } else {
                Reply::Ollama(s.at_ms(11, Step::Done(Final::stop(timings))))
            }
        }
        _ => Reply::JsonStatus(404, json!({"error": "not found"})),
    }
}

#[tokio::test]
async fn a_call_failing_mid_run_leaves_a_report_and_exit_code_1() {
    let srv = ScriptedServer::start(drop_on_report).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("agent");
    let mut cmd = chimera();
    cmd.args([
        "agent",
        CORPUS,
        "--backend",
        "ollama",
        "--url",
        &srv.url(),
        "--label",
        "Chimera Agent A",
        "--num-ctx",
        "2048",
        "--out",
    ])
    .arg(&out);
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("Chimera Agent A: FAILED at report"), "{}", text(&o));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.starts_with("# Chimera Agent A\n\n# Technical Report: Chimera Agent A Analysis\n"), "{md}");
    assert!(md.contains("**Status:** FAILED at stage `report`"), "{md}");
    assert!(md.contains("- Files analyzed: 101\n"), "{md}");
    // Metrics so far: 3 analysis tokens (server count) + 2 partial report chunks.
    assert!(md.contains("- Tokens Generated: 5\n"), "{md}");
    assert!(md.contains("| analysis | ok |"), "{md}");
    let m = json_file(&out.join("metrics.json"));
    assert_eq!(m["failed_stage"], "report");
    assert_eq!(m["calls"].as_array().unwrap().len(), 2);
    srv.shutdown().await;
}

#[tokio::test]
async fn bad_input_fails_before_any_request_with_exit_code_2() {
    let srv = ScriptedServer::start(drop_on_report).await;
    let dir = tempfile::tempdir().unwrap();
    for (extra, needle) in [
        (vec!["--persona-file", "/nonexistent/persona.txt"], "--persona-file"),
        (vec!["--top-p", "1.5"], "--top-p"),
        (vec!["--analysis-num-predict", "0"], "--analysis-num-predict"),
    ] {
        let mut cmd = chimera();
        cmd.args(["agent", CORPUS, "--backend", "ollama", "--url", &srv.url(), "--out"])
            .arg(dir.path().join("x"))
            .args(&extra);
        let o = run(cmd).await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains(needle), "{}", text(&o));
    }
    let mut cmd = chimera();
    cmd.args(["agent", "/nonexistent/data", "--backend", "ollama", "--url", &srv.url(), "--out"])
        .arg(dir.path().join("y"));
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"), "{}", text(&o));
    assert!(srv.requests().iter().all(|r| r.path != "/api/generate"));
    srv.shutdown().await;
}

#[tokio::test]
async fn bench_interleaves_warms_up_and_computes_the_delta() {
    // Speed depends on num_ctx: the chimera side (num_ctx 512) decodes at 1 / 4 ms = 250 tok/s,
    // the baseline (server default) at 1 / 8 ms = 125 tok/s; a reload costs 30 ms of load.
    let srv = FakeOllama::with_profile(|req| {
        let itl = if req.option_i64("num_ctx") == Some(512) { 4 } else { 8 };
        LatencyProfile::new(Duration::from_millis(40), Duration::from_millis(itl), 6)
            .with_load(Duration::from_millis(30))
    })
    .start()
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench");
    let mut cmd = chimera();
    cmd.args([
        "bench",
        CORPUS,
        "--backend",
        "ollama",
        "--url",
        &srv.url(),
        "--runs",
        "2",
        "--seed",
        "7",
        "--num-predict",
        "6",
        "--out",
    ])
    .arg(&out);
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // What the server received, in order: warm-up + 2 calls per agent run, alternating sides.
    let gens: Vec<Value> =
        srv.requests().into_iter().filter(|r| r.path == "/api/generate").map(|r| r.json.unwrap()).collect();
    assert_eq!(gens.len(), 4 * 3, "4 agent runs × (warm-up + analysis + report)");
    let ctx: Vec<Option<i64>> = gens.iter().map(|g| g["options"]["num_ctx"].as_i64()).collect();
    let np: Vec<i64> = gens.iter().map(|g| g["options"]["num_predict"].as_i64().unwrap()).collect();
    let b = None;
    let c = Some(512);
    assert_eq!(ctx, vec![b, b, b, c, c, c, b, b, b, c, c, c]);
    // Warm-ups use 4 tokens; measured calls the fixed --num-predict.
    assert_eq!(np, vec![4, 6, 6, 4, 6, 6, 4, 6, 6, 4, 6, 6]);
    for g in &gens {
        assert_eq!(g["options"]["seed"], 7, "--seed applies to both sides");
        assert!(g["system"].as_str().unwrap().starts_with("You are DataCollector-9000"));
    }
    assert_eq!(gens[3]["options"]["num_gpu"], 80);
    assert_eq!(gens[3]["options"]["temperature"], 1.0);
    assert!(gens[0]["options"].get("num_gpu").is_none(), "baseline sends server defaults");

    let m = json_file(&out.join("metrics.json"));
    assert_eq!(m["schema_version"], 2);
    assert_eq!(m["kind"], "chimera.bench");
    assert_eq!(m["entries"].as_array().unwrap().len(), 4);
    assert_eq!(m["warmups"].as_array().unwrap().len(), 4);
    assert_eq!(m["failed_runs"], 0);
    let tput = m["comparisons"].as_array().unwrap().iter().find(|c| c["metric"] == "Throughput").unwrap();
    assert!((tput["baseline"]["mean"].as_f64().unwrap() - 125.0).abs() < 1e-6, "{tput}");
    assert!((tput["chimera"]["mean"].as_f64().unwrap() - 250.0).abs() < 1e-6, "{tput}");
    assert!((tput["delta_pct"]["value"].as_f64().unwrap() - 100.0).abs() < 1e-6, "{tput}");
    // Warm-ups took the reload; measured runs did not.
    let load = m["comparisons"].as_array().unwrap().iter().find(|c| c["metric"] == "Load Duration").unwrap();
    assert_eq!(load["baseline"]["max"], 0.0, "{load}");
    for w in m["warmups"].as_array().unwrap() {
        assert_eq!(w["record"]["server"]["load_duration_ns"], 30_000_000, "{w}");
    }

    let md = std::fs::read_to_string(out.join("comparison_report.md")).unwrap();
    assert!(md.contains("| Throughput (tok/s) | 125.00 ± 0.00 | 125.00 | 125.00…125.00 | 0.0% | 250.00 ± 0.00 | 250.00 | 250.00…250.00 | 0.0% | +100.0% ± 0.0% (better) |"), "{md}");
    assert!(
        md.contains("**Baseline configuration:** num_gpu=default, num_ctx=default, temp=default"),
        "{md}"
    );
    assert!(md.contains("**Chimera configuration:** num_gpu=80, num_ctx=512, temp=1"), "{md}");
    for p in [
        "run_1/baseline/report.md",
        "run_1/chimera/report.md",
        "run_2/baseline/report.md",
        "run_2/chimera/metrics.json",
        "baseline_report.md",
        "chimera_report.md",
        "manifest.json",
    ] {
        assert!(out.join(p).exists(), "{p} missing");
    }
    let chimera_md = std::fs::read_to_string(out.join("chimera_report.md")).unwrap();
    assert!(chimera_md.starts_with("# Chimera Agent\n"), "{chimera_md}");
    assert!(chimera_md.contains("- Throughput: 250.00 tok/s\n"), "{chimera_md}");
    srv.shutdown().await;
}

/// Scripted Ollama whose first `quick` generate calls answer at once and every later one stalls
/// (far longer than any test waits); counts the generate calls it received.
fn stall_after(quick: usize) -> (impl Fn(&Request) -> Reply + Send + Sync + 'static, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&seen);
    let handler = move |req: &Request| match req.path.as_str() {
        "/api/version" => Reply::Json(json!({"version": "0.12.0-scripted"})),
        "/api/generate" => {
            let n = count.fetch_add(1, Ordering::SeqCst);
            let timings = Timings { eval_count: 3, eval_duration_ns: 30_000_000, ..Default::default() };
            let s = Script::new().at_ms(5, Step::token("- 101 ")).at_ms(7, Step::token("files."));
            if n < quick {
                Reply::Ollama(s.at_ms(9, Step::Done(Final::stop(timings))))
            } else {
                Reply::Ollama(s.at_ms(9, Step::Stall(Duration::from_secs(600))))
            }
        }
        _ => Reply::JsonStatus(404, json!({"error": "not found"})),
    };
    (handler, seen)
}

/// Run `chimera ARGS --out DIR` against a server whose generate calls stall after the first
/// `quick`, and press Ctrl-C (SIGINT) once it has received `at` of them (bounded wait). Returns
/// the output and the temporary folder holding `out/`.
async fn interrupted(args: &[&str], quick: usize, at: usize) -> (Output, tempfile::TempDir) {
    let (handler, seen) = stall_after(quick);
    let srv = ScriptedServer::start(handler).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = chimera();
    cmd.args(args)
        .args(["--backend", "ollama", "--url", &srv.url(), "--quiet", "--out"])
        .arg(dir.path().join("out"));
    // A short pause after the call arrives, so Ctrl-C lands mid-stream.
    let o = interrupt_when(cmd, move || {
        seen.load(Ordering::SeqCst) >= at && {
            std::thread::sleep(Duration::from_millis(100));
            true
        }
    })
    .await;
    srv.shutdown().await;
    (o, dir)
}

#[tokio::test]
async fn ctrl_c_during_agent_exits_130_and_keeps_the_report() {
    // The analysis call answers; the report call stalls until Ctrl-C.
    let (o, dir) = interrupted(&["agent", CORPUS], 1, 2).await;
    let out = dir.path().join("out");
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("**Status:** FAILED at stage `report`"), "{md}");
    assert!(md.contains("| analysis | ok (truncation unknown) |"), "no num_ctx sent: {md}");
    let m = json_file(&out.join("metrics.json"));
    assert_eq!(m["failed_stage"], "report");
    assert!(m["error"].as_str().unwrap().contains("interrupted (Ctrl-C)"), "{m}");
    assert_eq!(m["calls"].as_array().unwrap().len(), 1, "the finished analysis call is kept");
}

#[tokio::test]
async fn ctrl_c_during_bench_exits_130_and_keeps_the_finished_runs() {
    // Run 1 (baseline: warm-up + 2 calls, chimera: warm-up + 2 calls) and run 2's baseline
    // warm-up answer; run 2's baseline analysis call stalls until Ctrl-C.
    let (o, dir) = interrupted(&["bench", CORPUS, "--runs", "3"], 7, 8).await;
    let out = dir.path().join("out");
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("INTERRUPTED after 2 of 6 agent runs"),
        "{}",
        text(&o)
    );
    let m = json_file(&out.join("metrics.json"));
    assert_eq!(m["interrupted"], true);
    let sides: Vec<(u64, &str)> = m["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["run"].as_u64().unwrap(), e["side"].as_str().unwrap()))
        .collect();
    assert_eq!(sides, [(1, "baseline"), (1, "chimera")], "only finished runs are entries");
    let md = std::fs::read_to_string(out.join("comparison_report.md")).unwrap();
    assert!(md.contains("2 of 6 agent runs done, 0 failed"), "{md}");
    assert!(md.contains("**Interrupted (Ctrl-C):**"), "{md}");
    assert!(out.join("run_1/chimera/report.md").is_file());
    // The run cut short still wrote its own report, saying where it stopped.
    let cut = std::fs::read_to_string(out.join("run_2/baseline/report.md")).unwrap();
    assert!(cut.contains("**Status:** FAILED at stage `analysis`"), "{cut}");
}
