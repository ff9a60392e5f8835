//! `chimera sweep --scenario chimera_homo` end to end against a fake Ollama on 127.0.0.1 whose
//! speed depends on num_ctx: exit code, printed best point and efficiency, and the files.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use chimera_testkit::{FakeOllama, LatencyProfile, Request, ScriptedServer};
use common::interrupt_when;

const MODEL: &str = "gemma3:270m";

/// num_ctx=256 decodes at 500 tok/s, 512 at 250, the baseline (no num_ctx) at 125.
async fn server() -> ScriptedServer {
    FakeOllama::with_profile(|req: &Request| {
        let itl = match req.option_i64("num_ctx") {
            Some(256) => 2,
            Some(512) => 4,
            _ => 8,
        };
        LatencyProfile::new(Duration::from_millis(20), Duration::from_millis(itl), 20)
    })
    .models(&[MODEL])
    .start()
    .await
}

async fn chimera(url: &str, data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chimera"));
    c.args(["sweep", "--backend", "ollama", "--url", url, "--model", MODEL, "--agent-data"])
        .arg(data)
        .args(["--set", "num_ctx=256,512", "--set", "num_predict=20", "--runs", "1", "--quiet", "--out"])
        .arg(out)
        .args(extra)
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
}

fn data_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("csv_data")).unwrap();
    std::fs::write(d.path().join("csv_data/run.csv"), "model,tokens_per_s\ngemma3:270m,88.5\n").unwrap();
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_sweep_writes_a_multi_agent_summary() {
    let srv = server().await;
    let data = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let o = chimera(&srv.url(), data.path(), &out, &["--scenario", "chimera-homo", "--agents", "2"]).await;
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("best configuration: num_ctx=256"), "{stdout}");
    assert!(stdout.contains("aggregate throughput vs baseline"), "{stdout}");
    assert!(stdout.contains("chimera_homo with 2 agents: efficiency"), "{stdout}");
    for f in ["points.csv", "points.jsonl", "summary.md", "summary.json", "manifest.json", "report.html"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // The efficiency of every point is plotted (SVG in the HTML report, PNG for Markdown viewers).
    for f in ["plots/sweep_efficiency.svg", "plots/sweep_efficiency.png"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Concurrency efficiency per configuration"), "efficiency plot not in the HTML");
    for p in ["baseline", "num_ctx=256", "num_ctx=512"] {
        let run = out.join("agents").join(p).join("run_1");
        for f in ["chimera-agent-a/report.md", "chimera-agent-b/report.md", "solo/chimera-agent-b/report.md"]
        {
            assert!(run.join(f).is_file(), "{p}: {f} missing");
        }
        assert!(out.join("agents").join(p).join("summary.md").is_file());
    }
    let csv = std::fs::read_to_string(out.join("points.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3, "{csv}");
    assert!(csv.lines().next().unwrap().contains("efficiency_mean"));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["kind"], "chimera.sweep");
    assert_eq!(s["scenario"]["scenario"], "chimera_homo");
    for p in s["points"].as_array().unwrap() {
        let eff = p["multi"]["efficiency"]["mean"].as_f64().unwrap();
        assert!(eff > 0.8, "{}: a concurrent server overlaps the agents: {eff}", p["label"]);
    }
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("multi-agent sweep of `chimera_homo`"), "{md}");
    assert!(md.contains("| Configuration | Efficiency |"), "{md}");
    // Both personas reached the server as system prompts.
    let systems: Vec<String> = srv
        .requests()
        .iter()
        .filter_map(|r| r.json.as_ref()?.get("system")?.as_str().map(str::to_string))
        .collect();
    assert!(systems.iter().any(|s| s.contains("DataCollector-9000")));
    assert!(systems.iter().any(|s| s.contains("InsightAgent")));

    // --resume of the finished sweep runs nothing; resuming it as another kind of sweep is refused.
    let before = srv.requests().len();
    let o = chimera(&srv.url(), data.path(), &out, &["--scenario", "chimera_homo", "--resume"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let gens = |from: usize| {
        srv.requests().iter().skip(from).filter(|r| r.path.starts_with("/api/generate")).count()
    };
    assert_eq!(gens(before), 0, "a finished point was run again");
    let o = chimera(&srv.url(), data.path(), &out, &["--resume"]).await;
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("holds chimera_homo with 2 agents but this command runs a single-call"), "{err}");
    assert_eq!(gens(before), 0);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_scenario_flags_fail_before_any_request() {
    let srv = server().await;
    let data = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let o = chimera(&srv.url(), data.path(), &out, &["--scenario", "chimera_hetero", "--agents", "3"]).await;
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--agents 3") && err.contains("exactly 2"), "{err}");
    let o =
        chimera(&srv.url(), data.path(), &out, &["--scenario", "chimera_homo", "--chimera2-num-ctx", "64"])
            .await;
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--chimera2-*"));
    assert!(srv.requests().iter().all(|r| !r.path.starts_with("/api/generate")));
    assert!(!out.join("points.jsonl").exists());
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_keeps_finished_points_and_exits_130() {
    let srv = server().await;
    let data = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let mut c = Command::new(env!("CARGO_BIN_EXE_chimera"));
    c.args(["sweep", "--backend", "ollama", "--url", &srv.url(), "--model", MODEL, "--agent-data"])
        .arg(data.path())
        .args(["--scenario", "chimera_homo", "--num-ctx", "256,512", "--num-predict", "20"])
        .args(["--runs", "3", "--quiet", "--out"])
        .arg(&out);
    // SIGINT once the first point is on disk.
    let jsonl = out.join("points.jsonl");
    let o = interrupt_when(c, move || {
        std::fs::read_to_string(&jsonl).map(|t| t.lines().count()).unwrap_or(0) >= 1
    })
    .await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("--resume"), "{err}");
    let kept = std::fs::read_to_string(out.join("points.jsonl")).unwrap();
    let n = kept.lines().count();
    assert!((1..3).contains(&n), "{n} points kept");
    assert!(kept.lines().next().unwrap().contains("\"label\":\"baseline\""));
    // The summary of what finished is written.
    assert!(std::fs::read_to_string(out.join("summary.md")).unwrap().contains("multi-agent sweep"));
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url2_puts_agent_b_on_the_second_server() {
    let (a, b) = (server().await, server().await);
    let data = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let url2 = b.url();
    let o = chimera(
        &a.url(),
        data.path(),
        &out,
        &["--scenario", "chimera_homo", "--no-baseline", "--url2", &url2],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let systems = |s: &ScriptedServer| -> Vec<String> {
        s.requests()
            .iter()
            .filter_map(|r| r.json.as_ref()?.get("system")?.as_str().map(str::to_string))
            .collect()
    };
    // 2 points × (solo + concurrent) × 2 calls per agent.
    let (sa, sb) = (systems(&a), systems(&b));
    assert_eq!((sa.len(), sb.len()), (8, 8));
    assert!(sa.iter().all(|s| s.contains("DataCollector-9000")), "agent A on --url");
    assert!(sb.iter().all(|s| s.contains("InsightAgent")), "agent B on --url2");
    a.shutdown().await;
    b.shutdown().await;
}
