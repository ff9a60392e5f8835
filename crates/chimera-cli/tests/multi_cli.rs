//! `chimera multi` end to end through the real binary: scripted loopback Ollama servers of
//! known timing (files of every run present and consistent, per-agent URL and options, an
//! agents file with N agents, a server killed mid-run), bad input, and two real
//! `chimera serve` instances on the real model (scenario chimera_hetero, 2 runs).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use chimera_testkit::{FakeOllama, LatencyProfile, ScriptedServer};
use common::{CORPUS, chimera, json_file as json, run, serve, text};
use serde_json::Value;

const MS: fn(u64) -> Duration = Duration::from_millis;

/// Generation requests (generate or chat) a server received.
fn gen_requests(s: &ScriptedServer) -> Vec<chimera_testkit::Request> {
    s.requests().into_iter().filter(|r| r.path == "/api/generate" || r.path == "/api/chat").collect()
}

/// Every file of every run is there, and metrics.json / summary.json agree with each other.
fn check_layout(out: &Path, runs: u64, labels: &[&str], solo: bool) -> Value {
    let summary = json(&out.join("summary.json"));
    assert!(out.join("summary.md").is_file());
    assert_eq!(summary["runs_planned"], runs);
    assert_eq!(summary["runs"].as_array().unwrap().len() as u64, runs);
    for run in 1..=runs {
        let dir = out.join(format!("run_{run}"));
        let m = json(&dir.join("metrics.json"));
        assert_eq!(m["run"], run);
        let md = std::fs::read_to_string(dir.join("combined_report.md")).unwrap();
        assert!(md.contains(&format!("# Multi-agent run {run}")), "{md}");
        let agents = m["agents"].as_array().unwrap();
        assert_eq!(agents.len(), labels.len());
        for (a, label) in agents.iter().zip(labels) {
            assert_eq!(a["label"], *label);
            assert!(md.contains(&format!("### {label}")));
            let phases: &[&str] = if solo { &["solo", "concurrent"] } else { &["concurrent"] };
            for phase in phases {
                let rel =
                    a[phase]["report"].as_str().unwrap_or_else(|| panic!("{label} {phase} report: {a}"));
                let report = std::fs::read_to_string(out.join(rel)).unwrap();
                assert!(
                    report.starts_with(&format!("# {label}\n")),
                    "{rel}: {}",
                    &report[..report.len().min(200)]
                );
                assert!(report.contains("## Metrics") && report.contains("## Persona Prompt"), "{rel}");
                assert!(out.join(rel).with_file_name("metrics.json").is_file());
            }
        }
        // The summary's per-run line is this run's figures.
        let brief = &summary["runs"][(run - 1) as usize];
        assert_eq!(brief["speedup"], m["speedup"]);
        assert_eq!(brief["concurrent_wall_secs"], m["concurrent_wall_secs"]);
    }
    summary
}

fn profile() -> LatencyProfile {
    LatencyProfile::new(MS(40), MS(5), 24)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hetero_on_two_scripted_servers_two_runs() {
    let a = FakeOllama::new(profile()).start().await;
    let b = FakeOllama::new(profile()).start().await;
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let mut cmd = chimera();
    cmd.args([
        "multi",
        CORPUS,
        "--scenario",
        "chimera-hetero",
        "--backend",
        "ollama",
        "--runs",
        "2",
        "--quiet",
        "--json",
        "-",
    ])
    .args(["--url", &a.url(), "--url2", &b.url()])
    .args(["--chimera", "num_gpu=80", "--chimera", "num_ctx=2048", "--chimera", "temperature=0.8"])
    .args(["--chimera2", "num_ctx=1024", "--chimera2", "top_k=20"])
    .arg("--out")
    .arg(&out);
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let printed: Value = serde_json::from_slice(&o.stdout).expect("--json prints the summary");
    let summary = check_layout(&out, 2, &["Chimera Agent A", "Chimera Agent B"], true);
    assert_eq!(printed["runs"], summary["runs"]);
    assert_eq!(summary["scenario"], "chimera_hetero");
    assert_eq!(summary["aggregates"]["speedup"]["n"], 2);
    assert!(summary["aggregates"]["speedup"]["mean"].as_f64().unwrap() > 1.0);
    // Per-agent URL and options: A's server only saw A's options, B's only B's.
    let (ra, rb) = (gen_requests(&a), gen_requests(&b));
    // per run: 1 warm-up + 2 calls solo + 2 calls concurrent
    assert_eq!((ra.len(), rb.len()), (10, 10));
    for r in &ra {
        let o = r.json.as_ref().unwrap()["options"].clone();
        assert_eq!(
            (o["num_ctx"].as_i64(), o["num_gpu"].as_i64(), o["temperature"].as_f64()),
            (Some(2048), Some(80), Some(0.8)),
            "{o}"
        );
    }
    for r in &rb {
        let o = r.json.as_ref().unwrap()["options"].clone();
        assert_eq!(
            (o["num_ctx"].as_i64(), o["top_k"].as_i64(), o.get("num_gpu")),
            (Some(1024), Some(20), None),
            "{o}"
        );
    }
    // Each agent's persona reached its server as the system prompt.
    assert!(ra.iter().any(|r| r.body.contains("DataCollector-9000")));
    assert!(rb.iter().any(|r| r.body.contains("InsightAgent")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_file_with_three_agents_and_no_solo() {
    let a = FakeOllama::new(profile()).start().await;
    let b = FakeOllama::new(profile()).start().await;
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("agents.toml");
    let toml = format!(
        "[[agents]]\nlabel = \"One\"\npersona = \"collector\"\nbackend = \"ollama\"\nurl = \"{a}\"\n[agents.options]\nnum_ctx = 1024\n\n\
         [[agents]]\nlabel = \"Two\"\npersona = \"insight\"\nbackend = \"ollama\"\nurl = \"{a}\"\n\n\
         [[agents]]\nlabel = \"Three\"\nbackend = \"ollama\"\nurl = \"{b}\"\nmodel = \"gemma3:270m\"\n[agents.options]\nseed = 7\n",
        a = a.url(),
        b = b.url()
    );
    std::fs::write(&file, toml).unwrap();
    let out = d.path().join("out");
    let mut cmd = chimera();
    cmd.args(["multi", CORPUS, "--no-solo", "--quiet", "--agents-file"]).arg(&file).arg("--out").arg(&out);
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let summary = check_layout(&out, 1, &["One", "Two", "Three"], false);
    assert_eq!(summary["runs"][0]["speedup"], Value::Null, "no solo phase → no true speedup");
    assert!(summary["runs"][0]["original_speedup"].as_f64().is_some());
    assert!(!out.join("run_1/solo").exists());
    // One and Two share server A: 2 warm-ups (different num_ctx) + 2 × 2 calls; Three: 1 + 2.
    assert_eq!((gen_requests(&a).len(), gen_requests(&b).len()), (6, 3));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("original's formula"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_run_keeps_the_other_report_and_the_summary() {
    let a = FakeOllama::new(LatencyProfile::new(MS(100), MS(20), 40)).start().await;
    let b = FakeOllama::new(profile()).start().await;
    let (url_a, url_b) = (a.url(), b.url());
    // Kill A during its first concurrent-phase call (after warm-up + 2 solo calls).
    let killer = tokio::spawn(async move {
        for _ in 0..4000 {
            if gen_requests(&a).len() >= 4 {
                tokio::time::sleep(MS(200)).await;
                a.shutdown().await;
                return true;
            }
            tokio::time::sleep(MS(5)).await;
        }
        false
    });
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let mut cmd = chimera();
    cmd.args(["multi", CORPUS, "--scenario", "chimera_homo", "--backend", "ollama", "--quiet"])
        .args(["--url", &url_a, "--url2", &url_b, "--out"])
        .arg(&out);
    let o = run(cmd).await;
    assert!(killer.await.unwrap(), "server A was killed");
    assert_eq!(o.status.code(), Some(1), "a failed agent makes the exit code 1\n{}", text(&o));
    let summary = json(&out.join("summary.json"));
    assert!(out.join("summary.md").is_file());
    assert_eq!(summary["failed"], true);
    let m = json(&out.join("run_1/metrics.json"));
    assert_eq!(m["status"], "failed");
    assert_eq!(m["agents"][0]["concurrent"]["ok"], false);
    assert_eq!(m["agents"][1]["concurrent"]["ok"], true);
    let b_report = std::fs::read_to_string(out.join("run_1/chimera-agent-b/report.md")).unwrap();
    assert!(b_report.starts_with("# Chimera Agent B\n"));
    // The failed agent's report says what failed.
    let a_report = std::fs::read_to_string(out.join("run_1/chimera-agent-a/report.md")).unwrap();
    assert!(a_report.to_lowercase().contains("fail"), "{a_report}");
    let failures = summary["runs"][0]["failures"].as_array().unwrap();
    assert!(failures[0].as_str().unwrap().starts_with("Chimera Agent A (concurrent)"), "{failures:?}");
    b.shutdown().await;
}

#[test]
fn bad_input_fails_before_any_request_and_names_the_flag() {
    let o = chimera().args(["multi", CORPUS, "--scenario", "chimera"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("chimera_hetero"), "{}", text(&o));
    let o =
        chimera().args(["multi", CORPUS, "--chimera2-top-p", "3", "--backend", "ollama"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--chimera2-top-p"), "{}", text(&o));
    let o = chimera().args(["multi", CORPUS, "--runs", "0"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--runs"), "{}", text(&o));
    // --json takes FILE or -: a folder right after it is refused (the old bare `--json DIR`).
    let o = chimera().args(["multi", "--json", CORPUS]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--json takes a FILE or -"), "{}", text(&o));
}

#[test]
fn the_old_agents_spelling_still_reads_the_file_with_a_warning() {
    let o = chimera().args(["multi", CORPUS, "--agents", "/nonexistent/agents.toml"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("warning: --agents FILE is deprecated; write --agents-file FILE"), "{err}");
    assert!(err.contains("cannot read agents file /nonexistent/agents.toml"), "{err}");
}

#[test]
fn hetero_on_two_real_chimera_serve_instances_two_runs() {
    let (a, b) = (serve(&["--parallel", "1"], Stdio::null()), serve(&["--parallel", "1"], Stdio::null()));
    let d = tempfile::tempdir().unwrap();
    let out: PathBuf = d.path().join("out");
    let o = chimera()
        .args([
            "multi",
            CORPUS,
            "--scenario",
            "chimera_hetero",
            "--backend",
            "ollama",
            "--runs",
            "2",
            "--quiet",
            // The old bare spelling: still prints summary.json, with a warning.
            "--json",
        ])
        .args(["--url", &a.url, "--url2", &b.url])
        .args(["--num-predict", "12", "--seed", "42", "--temperature", "0"])
        .args(["--chimera-num-ctx", "512", "--chimera2-num-ctx", "512", "--chimera2-top-k", "20"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let printed: Value = serde_json::from_slice(&o.stdout).expect("a bare --json prints the summary");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("warning: --json (without a value) is deprecated; write --json -"), "{err}");
    let summary = check_layout(&out, 2, &["Chimera Agent A", "Chimera Agent B"], true);
    assert_eq!(printed["runs"], summary["runs"]);
    for run in 1..=2u64 {
        let m = json(&out.join(format!("run_{run}/metrics.json")));
        assert_eq!(m["status"], "ok");
        let sp = m["speedup"].as_f64().unwrap();
        let solo: f64 =
            m["agents"].as_array().unwrap().iter().map(|a| a["solo"]["secs"].as_f64().unwrap()).sum();
        let wall = m["concurrent_wall_secs"].as_f64().unwrap();
        assert!((sp - solo / wall).abs() < 1e-9, "speedup = Σ solo / wall");
        assert!((m["efficiency"].as_f64().unwrap() - sp / 2.0).abs() < 1e-9);
        for a in m["agents"].as_array().unwrap() {
            let c = &a["concurrent"];
            assert!(c["tokens"].as_u64().unwrap() > 0, "{a}");
            assert!(
                (a["slowdown"].as_f64().unwrap()
                    - c["secs"].as_f64().unwrap() / a["solo"]["secs"].as_f64().unwrap())
                .abs()
                    < 1e-9
            );
            // The agent's own metrics.json agrees with what the run recorded.
            let rel = c["report"].as_str().unwrap();
            let am = json(&out.join(rel).with_file_name("metrics.json"));
            assert_eq!(am["label"], a["label"]);
            assert_eq!(am["metrics"]["tokens_generated"], c["tokens"]);
            assert_eq!(am["files_analyzed"], 101);
        }
        let report =
            std::fs::read_to_string(out.join(format!("run_{run}/chimera-agent-a/report.md"))).unwrap();
        assert!(
            report.contains("num_ctx=512") && report.contains("top_k=default"),
            "Configuration line carries A's options"
        );
        let report =
            std::fs::read_to_string(out.join(format!("run_{run}/chimera-agent-b/report.md"))).unwrap();
        assert!(report.contains("num_ctx=512") && report.contains("top_k=20"));
        assert!(report.contains("Files analyzed: 101"), "{}", &report[..report.len().min(3000)]);
    }
    assert_eq!(summary["aggregates"]["speedup"]["n"], 2);
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("Speedup (true)") && md.contains("Original's formula"));
    println!("{}", md);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_keeps_finished_runs_and_marks_the_run_interrupted() {
    let a = FakeOllama::new(profile()).start().await;
    let b = FakeOllama::new(profile()).start().await;
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let child = chimera()
        .args(["multi", CORPUS, "--backend", "ollama", "--runs", "5", "--quiet"])
        .args(["--url", &a.url(), "--url2", &b.url(), "--out"])
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (bounded) until run 1 is written and run 2 has begun, then press Ctrl-C.
    let mut sent = false;
    for _ in 0..6000 {
        if out.join("run_1/metrics.json").is_file() && gen_requests(&a).len() >= 6 {
            let st = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
            assert!(st.success());
            sent = true;
            break;
        }
        tokio::time::sleep(MS(10)).await;
    }
    assert!(sent, "run 1 never finished");
    let o = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["runs_completed"], 1);
    assert_eq!(summary["runs"][0]["status"], "ok");
    assert_eq!(summary["runs"][1]["status"], "interrupted");
    assert_eq!(json(&out.join("run_2/metrics.json"))["status"], "interrupted");
    assert!(out.join("run_1/chimera-agent-a/report.md").is_file());
    assert!(!out.join("run_3").exists());
    assert!(std::fs::read_to_string(out.join("summary.md")).unwrap().contains("INTERRUPTED"));
}
