//! `chimera sweep` end to end against a fake Ollama on 127.0.0.1 whose speed depends on the
//! options: the printed best configuration, the files, and resume after a SIGKILL.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chimera_testkit::{FakeOllama, LatencyProfile, Request, ScriptedServer};

const MODEL: &str = "gemma3:270m";

/// num_ctx=256 num_gpu=80 decodes fastest (1000/itl tok/s) and is first to the first token, by
/// margins (tens of ms) that client-side jitter cannot undo: it dominates every other point.
async fn server() -> ScriptedServer {
    FakeOllama::with_profile(|req: &Request| {
        let ms = Duration::from_millis;
        let (ft, itl) = match (req.option_i64("num_gpu"), req.option_i64("num_ctx")) {
            (Some(80), Some(256)) => (20, 2),
            (Some(60), Some(256)) => (60, 4),
            (Some(80), Some(512)) => (80, 3),
            (Some(60), Some(512)) => (100, 5),
            _ => (150, 6),
        };
        LatencyProfile::new(ms(ft), ms(itl), 10)
    })
    .models(&[MODEL])
    .start()
    .await
}

fn chimera(url: &str, out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chimera"));
    c.args(["sweep", "--backend", "ollama", "--url", url, "--model", MODEL])
        .args([
            "--num-gpu",
            "60,80",
            "--num-ctx",
            "256,512",
            "--temperature",
            "0.6,0.8",
            "--num-predict",
            "10",
        ])
        .args(["--runs", "2", "--quiet", "--out"])
        .arg(out)
        .args(extra)
        .stdin(Stdio::null());
    c
}

fn generate_requests(srv: &ScriptedServer) -> Vec<Request> {
    srv.requests().into_iter().filter(|r| r.path.starts_with("/api/generate")).collect()
}

fn finished_lines(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("points.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_names_the_right_best_and_writes_everything() {
    let srv = server().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let url = srv.url();
    let json = dir.path().join("summary-copy.json");
    let json_arg = json.display().to_string();
    let o =
        tokio::task::spawn_blocking(move || chimera(&url, &out, &["--json", &json_arg]).output().unwrap())
            .await
            .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("best configuration: num_ctx=256 num_gpu=80"), "{stdout}");
    // 500 vs 166.7 tok/s (exact server rates, sd 0 with n = 2): +200 %
    assert!(stdout.contains("+200.0% throughput vs baseline"), "{stdout}");
    let out = dir.path().join("sweep");
    for f in ["points.csv", "points.jsonl", "summary.md", "summary.json", "manifest.json", "report.html"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert_eq!(std::fs::read_to_string(out.join("points.csv")).unwrap().lines().count(), 1 + 9);
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["kind"], "chimera.sweep");
    let copy: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(copy, s, "--json FILE writes the summary");
    let pareto = s["ranking"]["pareto"].as_array().unwrap();
    for i in pareto {
        let label = s["points"][i.as_u64().unwrap() as usize]["label"].as_str().unwrap();
        assert!(label.starts_with("num_ctx=256"), "dominated point on the front: {label}");
    }
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_kill_reruns_nothing_finished() {
    let srv = server().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let url = srv.url();
    // Start, wait until 3 points are on disk, then SIGKILL the process.
    let mut child = chimera(&url, &out, &[]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let t0 = Instant::now();
    while finished_lines(&out).len() < 3 {
        assert!(t0.elapsed() < Duration::from_secs(60), "sweep made no progress");
        assert!(child.try_wait().unwrap().is_none(), "sweep ended before it could be killed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let finished = finished_lines(&out);
    assert!(finished.len() >= 3 && finished.len() < 9, "killed too late: {}", finished.len());
    assert!(!out.join("summary.md").exists(), "a killed sweep must not have a summary yet");
    let before = generate_requests(&srv).len();

    let (u2, o2) = (url.clone(), out.clone());
    let o = tokio::task::spawn_blocking(move || chimera(&u2, &o2, &["--resume"]).output().unwrap())
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let after: Vec<Request> = generate_requests(&srv).into_iter().skip(before).collect();
    let key =
        |num_gpu: Option<i64>, num_ctx: Option<i64>, t: Option<f64>| format!("{num_gpu:?}/{num_ctx:?}/{t:?}");
    let done_keys: Vec<String> = finished
        .iter()
        .map(|p| {
            let o = &p["options"];
            key(o["num_gpu"].as_i64(), o["num_ctx"].as_i64(), o["temperature"].as_f64())
        })
        .collect();
    for r in &after {
        let k = key(r.option_i64("num_gpu"), r.option_i64("num_ctx"), r.option_f64("temperature"));
        assert!(!done_keys.contains(&k), "finished point {k} was requested again");
    }
    // Every remaining point ran its 2 runs (plus warm-ups), and the files hold all 9 once.
    let remaining = 9 - finished.len();
    assert!(after.len() >= remaining * 2, "{} requests for {remaining} points", after.len());
    let all = finished_lines(&out);
    assert_eq!(all.len(), 9);
    let mut keys: Vec<&str> = all.iter().map(|p| p["key"].as_str().unwrap()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 9);
    assert_eq!(std::fs::read_to_string(out.join("points.csv")).unwrap().lines().count(), 10);
    assert!(out.join("summary.md").is_file());
    srv.shutdown().await;
}
