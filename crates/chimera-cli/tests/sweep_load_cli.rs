//! `chimera sweep --agent-data DIR --concurrency LIST | --arrival LIST` (a load axis) end to end
//! against a one-slot fake Ollama whose first token depends on num_ctx: every point measured
//! at every level, goodput / pass rate / session TTFT p95 per point, the ranking by goodput,
//! `--resume` measuring only the new levels, and the bad flags refused before any request.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use chimera_testkit::{FakeOllama, LatencyProfile, Request, ScriptedServer};
use common::json_file;

const MODEL: &str = "gemma3:270m";

/// One slot (requests queue). num_ctx=512 answers its first token after 400 ms — always over
/// the SLO's 250 ms, however fast the machine; 256 after 5 ms.
async fn server() -> ScriptedServer {
    FakeOllama::with_profile(|req: &Request| {
        let first = if req.option_i64("num_ctx") == Some(512) { 400 } else { 5 };
        LatencyProfile::new(Duration::from_millis(first), Duration::from_millis(1), 4)
    })
    .models(&[MODEL])
    .start_serial()
    .await
}

async fn chimera(url: &str, data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chimera"));
    c.args(["sweep", "--backend", "ollama", "--url", url, "--model", MODEL, "--agent-data"])
        .arg(data)
        .args(["--set", "num_ctx=256,512", "--set", "num_predict=4", "--no-baseline", "--quiet", "--out"])
        .arg(out)
        .args(extra)
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
}

fn said(o: &Output) -> String {
    format!("stdout: {}\nstderr: {}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn data_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("csv_data")).unwrap();
    std::fs::write(d.path().join("csv_data/run.csv"), "model,tokens_per_s\ngemma3:270m,88.5\n").unwrap();
    d
}

/// Agent calls the server answered (the sweep's warm-up calls, with its fixed prompt, left out).
fn agent_calls(srv: &ScriptedServer) -> usize {
    srv.requests()
        .iter()
        .filter(|r| r.path == "/api/generate" || r.path == "/api/chat")
        .filter(|r| !r.body.contains("numbered list of ten short points"))
        .count()
}

fn points(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("points.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_axis_measures_each_point_at_each_level_and_ranks_by_goodput() {
    let srv = server().await;
    let data = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let load = ["--concurrency", "1,2", "--sessions", "3", "--warmup-sessions", "0", "--runs", "2"];
    let o = chimera(
        &srv.url(),
        data.path(),
        &out,
        &[&load[..], &["--slo", "ttft_ms<=250,session_s<=60"]].concat(),
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("best configuration: num_ctx=256 concurrency="), "{stdout}");
    assert!(stdout.contains("goodput"), "{stdout}");
    // 2 options × 2 levels, each 2 runs of 3 sessions, each session an agent (2 calls).
    assert_eq!(agent_calls(&srv), 4 * 2 * 3 * 2);
    let pts = points(&out);
    let labels: Vec<&str> = pts.iter().map(|p| p["label"].as_str().unwrap()).collect();
    assert_eq!(
        labels,
        [
            "num_ctx=256 concurrency=1",
            "num_ctx=256 concurrency=2",
            "num_ctx=512 concurrency=1",
            "num_ctx=512 concurrency=2"
        ]
    );
    for p in &pts {
        let l = &p["load"];
        assert_eq!(l["load"]["model"], "closed", "{p}");
        assert_eq!(l["runs"].as_array().unwrap().len(), 2, "{p}");
        assert_eq!(l["pooled"]["sessions"], 6, "{p}");
        assert_eq!(p["coords"]["concurrency"], l["load"]["concurrency"].to_string(), "{p}");
        assert!(l["pooled"]["goodput_per_min"].is_number(), "{p}");
        assert!(l["pooled"]["throughput_per_min"].as_f64().unwrap() > 0.0, "{p}");
        assert!(l["pooled"]["ttft_max_ms"]["p95"].is_number(), "{p}");
        assert_eq!(p["runs"].as_array().unwrap().len(), 2, "{p}");
    }
    // points.csv carries the same load figures, one column each.
    let mut csv = csv::Reader::from_path(out.join("points.csv")).unwrap();
    let head = csv.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    let col = |r: &csv::StringRecord, name: &str| {
        r[head.iter().position(|c| c == name).unwrap_or_else(|| panic!("{name} in {head:?}"))].to_string()
    };
    for (r, p) in rows.iter().zip(&pts) {
        let pooled = &p["load"]["pooled"];
        assert_eq!(col(r, "label"), p["label"].as_str().unwrap());
        assert!(col(r, "load").starts_with("closed loop, "), "{r:?}");
        assert_eq!(col(r, "sessions"), "6");
        let goodput: f64 = col(r, "goodput_per_min").parse().unwrap();
        assert!((goodput - pooled["goodput_per_min"].as_f64().unwrap()).abs() < 1e-3, "{r:?}");
        assert_eq!(col(r, "meets_slo"), pooled["meets_slo"].to_string());
        assert_eq!(col(r, "client_behind"), "false");
    }
    assert_eq!(col(&rows[2], "pass_rate"), "0.0000");
    // num_ctx=512's first token (400 ms) is over the SLO at every level: nothing passes.
    for p in &pts[2..] {
        assert_eq!(p["load"]["pooled"]["passing"], 0, "{p}");
        assert_eq!(p["load"]["pooled"]["goodput_per_min"], 0.0, "{p}");
        assert!(p["load"]["pooled"]["ttft_max_ms"]["min"].as_f64().unwrap() >= 400.0, "{p}");
    }
    let s = json_file(&out.join("summary.json"));
    assert_eq!(s["load"]["slo"]["objectives"].as_array().unwrap().len(), 2, "{}", s["load"]);
    let by_goodput: Vec<usize> =
        s["ranking"]["by_goodput"].as_array().unwrap().iter().map(|i| i.as_u64().unwrap() as usize).collect();
    assert_eq!(by_goodput.len(), 4);
    let best = s["ranking"]["best"]["index"].as_u64().unwrap() as usize;
    assert_eq!(best, by_goodput[0]);
    assert!(s["points"][best]["label"].as_str().unwrap().starts_with("num_ctx=256"));
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    for text in ["## Load per point", "### Ranking by goodput", "Session TTFT p95 (ms)", "goodput /min"] {
        assert!(md.contains(text), "{text}: {md}");
    }
    // Each run's load files and the sessions' agent reports are kept.
    let run = out.join("agents").join("num_ctx=256_concurrency=2").join("run_2");
    let rec = json_file(&run.join("load.json"));
    assert_eq!(rec["kind"], "chimera.load");
    assert_eq!(rec["sessions"].as_array().unwrap().len(), 3);
    assert!(run.join("load.md").is_file());
    assert!(out.join("report.html").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_measures_only_the_new_levels_and_another_session_count_again() {
    let srv = server().await;
    let data = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let base = ["--arrival", "constant:20/s", "--sessions", "2", "--warmup-sessions", "0", "--runs", "1"];
    let o = chimera(&srv.url(), data.path(), &out, &base).await;
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    assert_eq!(points(&out).len(), 2);
    let before = agent_calls(&srv);
    assert_eq!(before, 2 * 2 * 2);
    // One more level: only its two points run.
    let more = [
        "--arrival",
        "constant:20/s,constant:40/s",
        "--sessions",
        "2",
        "--warmup-sessions",
        "0",
        "--runs",
        "1",
    ];
    let o = chimera(&srv.url(), data.path(), &out, &[&more[..], &["--resume"]].concat()).await;
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    assert_eq!(agent_calls(&srv) - before, 2 * 2 * 2);
    let labels: Vec<String> = points(&out).iter().map(|p| p["label"].as_str().unwrap().to_string()).collect();
    assert_eq!(labels.len(), 4);
    assert!(labels.contains(&"num_ctx=512 arrival=constant:40/s".to_string()), "{labels:?}");
    // Another session count is another measurement: every point runs again.
    let before = agent_calls(&srv);
    let other = ["--arrival", "constant:20/s", "--sessions", "3", "--warmup-sessions", "0", "--runs", "1"];
    let o = chimera(&srv.url(), data.path(), &out, &[&other[..], &["--resume"]].concat()).await;
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    assert_eq!(agent_calls(&srv) - before, 2 * 3 * 2);
    let s = json_file(&out.join("summary.json"));
    assert_eq!(s["points"].as_array().unwrap().len(), 2, "the summary covers this command's points");
    // No --slo: every session that ends without error passes, and nothing is ranked by goodput.
    assert!(s["ranking"].get("by_goodput").is_none(), "{}", s["ranking"]);
}

#[tokio::test]
async fn load_axis_flags_are_checked_before_any_request() {
    let srv = server().await;
    let data = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let url = srv.url();
    let cases: [(&[&str], &str); 4] = [
        (&["--concurrency", "1,x"], "--concurrency: 'x'"),
        (&["--arrival", "uniform:2/s"], "--arrival"),
        (&["--slo", "session_s<=9"], "--concurrency LIST"),
        (&["--concurrency", "2", "--scenario", "chimera-homo"], "--scenario"),
    ];
    for (extra, says) in cases {
        let o = chimera(&url, data.path(), &dir.path().join("x"), extra).await;
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", said(&o));
        assert!(said(&o).contains(says), "{extra:?}: {}", said(&o));
    }
    // Without --agent-data there is no session to run.
    let mut c = Command::new(env!("CARGO_BIN_EXE_chimera"));
    c.args([
        "sweep",
        "--backend",
        "ollama",
        "--url",
        &url,
        "--num-ctx",
        "256,512",
        "--concurrency",
        "1,2",
        "--out",
    ])
    .arg(dir.path().join("y"))
    .stdin(Stdio::null());
    let o = tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", said(&o));
    assert!(said(&o).contains("need --agent-data DIR"), "{}", said(&o));
    assert!(srv.requests().is_empty(), "refused before any request");
}
