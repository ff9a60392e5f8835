//! `chimera multi --arrival/--concurrency` and `chimera capacity` end to end through the real
//! binary against scripted loopback Ollama servers (each session a whole agent workflow over
//! the seed corpus), and their bad input (exit 2 with a message naming the flag).

mod common;

use std::time::Duration;

use chimera_testkit::{FakeOllama, Final, LatencyProfile, Reply, Request, Script, ScriptedServer, Timings};
use common::{CORPUS, chimera, json_file as json, run, serve, text};
use serde_json::json as j;

const MS: fn(u64) -> Duration = Duration::from_millis;

fn fast() -> LatencyProfile {
    LatencyProfile::new(MS(5), MS(1), 4)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_multi_writes_sessions_goodput_and_the_slo_verdict() {
    let srv = FakeOllama::new(fast()).start().await;
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let mut cmd = chimera();
    cmd.args(["multi", CORPUS, "--scenario", "chimera-homo", "--backend", "ollama", "--url", &srv.url()])
        .args(["--arrival", "poisson:4/s:7", "--sessions", "4", "--warmup-sessions", "1"])
        .args([
            "--slo",
            "ttft_ms<=5000,itl_p99_ms<=1000,session_s<=60",
            "--spread",
            "least-loaded",
            "--quiet",
        ])
        .arg("--out")
        .arg(&out);
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("4 of 4 sessions passed"), "{}", text(&o));
    let rec = json(&out.join("load.json"));
    assert_eq!(rec["kind"], "chimera.load");
    assert_eq!(rec["sessions"].as_array().unwrap().len(), 5);
    assert_eq!(rec["sessions"][0]["warmup"], true);
    assert_eq!(rec["summary"]["sessions"], 4);
    assert_eq!(rec["summary"]["passing"], 4);
    assert!(rec["summary"]["goodput_per_min"].as_f64().unwrap() > 0.0);
    assert_eq!(rec["load"]["arrival"]["kind"], "poisson");
    // Each session is one agent run: analysis + report call, and its report in the seed layout.
    let calls = srv
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/generate") || r.path.starts_with("/api/chat"))
        .count();
    assert_eq!(calls, 10);
    let md = std::fs::read_to_string(out.join("load.md")).unwrap();
    assert!(md.contains("Meets the SLO") && md.contains("goodput"), "{md}");
    // compare reads the load run and gates on its goodput, throughput, pass rate and TTFT.
    let mut cmd = chimera();
    cmd.arg("compare").arg(&out).arg(&out);
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for figure in
        ["goodput (sessions/min)", "throughput (sessions/min)", "SLO pass rate (%)", "session TTFT p95 (ms)"]
    {
        assert!(text(&o).contains(figure), "{figure}: {}", text(&o));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_answers_with_files_plot_and_html() {
    let srv = FakeOllama::new(fast()).start().await;
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("cap");
    // A one-file data folder: each session ingests it, so the client stays light.
    let data = d.path().join("data");
    std::fs::create_dir_all(data.join("csv_data")).unwrap();
    std::fs::write(data.join("csv_data/run.csv"), "model,tokens_per_second,ttft_ms\ngemma,85.5,120\n")
        .unwrap();
    let mut cmd = chimera();
    cmd.arg("capacity")
        .arg(&data)
        .args(["--backend", "ollama", "--server", &srv.url(), "--slo", "session_s<=60"])
        .args(["--start", "1", "--min", "1", "--max", "2", "--sessions", "3", "--warmup-sessions", "0"])
        .args(["--quiet", "--out"])
        .arg(&out);
    let o = run(cmd).await;
    // 1 and 2 sessions/s against a 10 ms server meet a 60 s SLO — unless this (shared, busy)
    // machine makes the client fall behind its schedule, which marks a level as failing and
    // sends the search lower: the verdict is the machine's, the files must be there either way.
    let said = text(&o);
    assert!(said.contains("capacity: "), "{said}");
    assert!(matches!(o.status.code(), Some(0 | 1)), "{said}");
    let rec = json(&out.join("capacity.json"));
    assert_eq!(rec["kind"], "chimera.capacity");
    let levels = rec["levels"].as_array().unwrap();
    assert!(levels.len() >= 2, "{rec}");
    assert!(levels.iter().all(|l| l["repeats"].as_array().unwrap().len() == 3));
    assert_eq!(levels[0]["level"], 1.0);
    assert!(out.join("plots/latency_throughput.png").is_file());
    assert!(out.join("plots/latency_throughput.svg").is_file());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Capacity"));
    assert!(std::fs::read_to_string(out.join("capacity.md")).unwrap().contains("## Answer"));
    // The same manifest a load run carries: the command, the host, the server and what it says
    // about itself (the model's digest), the agent's model and options.
    let m = &rec["manifest"];
    assert_eq!(m["tool"], "chimera", "{m}");
    assert!(m["command"].as_array().unwrap().iter().any(|a| a == "capacity"), "{m}");
    assert!(m["host"].is_object(), "{m}");
    let servers = m["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 1, "{m}");
    assert_eq!(servers[0]["info"]["kind"], "ollama", "{m}");
    assert_eq!(servers[0]["info"]["model"], "gemma3:270m", "{m}");
    assert!(servers[0]["info"]["model_digest"].as_str().is_some_and(|d| !d.is_empty()), "{m}");
    assert_eq!(m["agents"][0]["label"], "server 1", "{m}");
    assert_eq!(m["agents"][0]["model"], "gemma3:270m", "{m}");
    assert_eq!(m["agents"][0]["server"], servers[0]["endpoint"], "{m}");
}

/// Hand-off workflows in load runs: a session is one agent run started on its own, so a step
/// that reads another agent's hand-off has no producer in its session — refused before any
/// request, saying what to run instead; an agents file whose workflows take no hand-off runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_runs_refuse_hand_off_workflows_and_run_other_agents_files() {
    let srv = FakeOllama::new(fast()).start().await;
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("follow.toml"),
        "[[steps]]\nname = \"next\"\nhandoff_from = \"Agent A\"\nuser = \"A wrote:\\n{handoff}\\nWhat next?\"\n",
    )
    .unwrap();
    let agents = |b_workflow: &str| {
        format!(
            "[[agents]]\nlabel = \"Agent A\"\nbackend = \"ollama\"\nurl = \"{0}\"\n\n[[agents]]\nlabel = \"Agent B\"\npersona = \"insight\"\nbackend = \"ollama\"\nurl = \"{0}\"\n{b_workflow}",
            srv.url()
        )
    };
    let file = d.path().join("agents.toml");
    for load in [&["--arrival", "constant:5/s"][..], &["--concurrency", "2"][..]] {
        std::fs::write(&file, agents("workflow = \"follow.toml\"\n")).unwrap();
        let mut cmd = chimera();
        cmd.args(["multi", CORPUS, "--agents-file"]).arg(&file).args(load).args(["--sessions", "2", "--out"]);
        cmd.arg(d.path().join("refused"));
        let o = run(cmd).await;
        assert_eq!(o.status.code(), Some(2), "{load:?}: {}", text(&o));
        let said = text(&o);
        assert!(
            said.contains("agent 'Agent B' (workflow 'follow') reads a hand-off from agent 'Agent A'"),
            "{said}"
        );
        assert!(said.contains("chimera multi --runs N"), "{said}");
        assert!(srv.requests().is_empty(), "refused before any request");
        assert!(!d.path().join("refused").join("load.json").exists());
    }
    // Without the hand-off step the same two agents take turns at the sessions.
    std::fs::write(&file, agents("")).unwrap();
    let out = d.path().join("plain");
    let mut cmd = chimera();
    cmd.args(["multi", CORPUS, "--agents-file"])
        .arg(&file)
        .args(["--arrival", "constant:5/s", "--sessions", "2", "--warmup-sessions", "0", "--quiet", "--out"])
        .arg(&out);
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let rec = json(&out.join("load.json"));
    let who: Vec<&str> =
        rec["sessions"].as_array().unwrap().iter().map(|s| s["agent"].as_str().unwrap()).collect();
    assert_eq!(who, ["Agent A", "Agent B"]);
    assert_eq!(rec["summary"]["passing"], 2);
    assert_eq!(rec["manifest"]["agents"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_flags_are_checked_before_any_request() {
    let d = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["capacity", CORPUS, "--backend", "ollama"], "--slo"),
        (&["capacity", CORPUS, "--slo", "session_s<=1", "--repeats", "2"], "--repeats"),
        (&["multi", CORPUS, "--sessions", "3"], "--arrival"),
        (&["multi", CORPUS, "--arrival", "uniform:2/s"], "constant:RATE"),
        (&["multi", CORPUS, "--arrival", "constant:2/s", "--slo", "ttft<=3"], "ttft_ms"),
    ];
    for (args, says) in cases {
        let mut cmd = chimera();
        cmd.args(args).arg("--out").arg(d.path().join("x"));
        let o = run(cmd).await;
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(says), "{args:?}: {}", text(&o));
    }
}

/// An OpenAI-compatible server with one slot (requests queue) answering every chat call in
/// `service_ms` (first token at `service_ms - 4`, then 4 tokens 1 ms apart).
async fn openai_one_slot(service_ms: u64) -> ScriptedServer {
    ScriptedServer::start_serial(move |r: &Request| match r.path.as_str() {
        "/v1/models" => Reply::Json(j!({"data": [{"id": "gemma3:270m"}]})),
        _ => Reply::OpenAi(Script::tokens(
            MS(service_ms - 4),
            MS(1),
            4,
            Final::stop(Timings { eval_count: 4, eval_duration_ns: 4_000_000, ..Default::default() }),
        )),
    })
    .await
}

/// A one-file data folder: each session ingests it, so the client stays light.
fn small_data(d: &std::path::Path) -> std::path::PathBuf {
    let data = d.join("data");
    std::fs::create_dir_all(data.join("csv_data")).unwrap();
    std::fs::write(data.join("csv_data/run.csv"), "model,tokens_per_second,ttft_ms\ngemma,85.5,120\n")
        .unwrap();
    data
}

/// `capacity --backend openai` against a one-slot OpenAI-compatible server whose calls take
/// 100 ms: a session (analysis + report call) holds the slot 0.2 s, so c sessions at once end
/// 0.2, 0.4, … 0.2·c s after they start. Under `session_s <= 0.5` concurrency 3 fails whatever
/// the machine (its third session cannot end before 0.6 s): the search, raising 1 → 2 → 4 and
/// bisecting, answers at most 2 — 2 on an idle machine (the SLO leaves 0.1 s of slack), lower
/// only if this machine adds more than that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_over_openai_finds_a_one_slot_server_s_limit() {
    let srv = openai_one_slot(100).await;
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("cap");
    let mut cmd = chimera();
    cmd.arg("capacity")
        .arg(small_data(d.path()))
        .args([
            "--backend",
            "openai",
            "--url",
            &srv.url(),
            "--axis",
            "concurrency",
            "--slo",
            "session_s<=0.5",
        ])
        .args(["--start", "1", "--max", "8", "--sessions", "4", "--warmup-sessions", "0", "--quiet", "--out"])
        .arg(&out);
    let o = run(cmd).await;
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
    let rec = json(&out.join("capacity.json"));
    let failing = rec["first_failing"].as_f64().unwrap_or_else(|| panic!("no level failed: {rec}"));
    assert!(failing <= 3.0, "concurrency 3 cannot meet the SLO on one slot: {rec}");
    if let Some(m) = rec["max_level"].as_f64() {
        assert!(m <= 2.0 && m < failing, "{rec}");
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let levels: Vec<f64> =
        rec["levels"].as_array().unwrap().iter().map(|l| l["level"].as_f64().unwrap()).collect();
    assert_eq!(levels[0], 1.0, "{levels:?}");
    assert_eq!(rec["manifest"]["servers"][0]["info"]["kind"], "openai", "{}", rec["manifest"]);
    let chats = srv.requests().iter().filter(|r| r.path == "/v1/chat/completions").count();
    let sessions: usize = rec["levels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["repeats"].as_array().unwrap())
        .map(|r| r["sessions"].as_u64().unwrap() as usize)
        .sum();
    assert!(
        chats >= 2 * sessions,
        "every session is an agent run of two calls: {chats} calls, {sessions} sessions"
    );
}

/// Two OpenAI-compatible servers given with --server: sessions alternate (round robin), each
/// server's share is reported per level, and the manifest names both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_spreads_sessions_over_a_list_of_servers_and_reports_shares() {
    let (a, b) = (openai_one_slot(10).await, openai_one_slot(10).await);
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("cap");
    let mut cmd = chimera();
    cmd.arg("capacity")
        .arg(small_data(d.path()))
        .args(["--backend", "openai", "--server", &a.url(), "--server", &b.url(), "--slo", "session_s<=60"])
        .args(["--start", "1", "--min", "1", "--max", "2", "--sessions", "4", "--warmup-sessions", "0"])
        .args(["--quiet", "--out"])
        .arg(&out);
    let o = run(cmd).await;
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
    let rec = json(&out.join("capacity.json"));
    for level in rec["levels"].as_array().unwrap() {
        for rep in level["repeats"].as_array().unwrap() {
            let shares: Vec<(u64, f64)> = rep["servers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| (s["sessions"].as_u64().unwrap(), s["share"].as_f64().unwrap()))
                .collect();
            assert_eq!(shares, [(2, 0.5), (2, 0.5)], "{rep}");
        }
        assert_eq!(level["pooled"]["servers"].as_array().unwrap().len(), 2, "{level}");
    }
    assert_eq!(rec["manifest"]["servers"].as_array().unwrap().len(), 2, "{}", rec["manifest"]);
    let agents: Vec<&str> =
        rec["manifest"]["agents"].as_array().unwrap().iter().map(|a| a["label"].as_str().unwrap()).collect();
    assert_eq!(agents, ["server 1", "server 2"]);
    for s in [&a, &b] {
        assert!(s.requests().iter().any(|r| r.path == "/v1/chat/completions"));
    }
}

/// The real model behind a real `chimera serve`, through its OpenAI API: a small search (two
/// concurrency levels, 8 tokens a call) runs end to end and writes its answer.
#[test]
fn capacity_against_chimera_serve_on_the_real_model() {
    let s = serve(&[], std::process::Stdio::inherit());
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("cap");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_chimera"))
        .arg("capacity")
        .arg(small_data(d.path()))
        .args(["--backend", "openai", "--url", &s.url, "--num-predict", "8", "--temperature", "0"])
        .args(["--axis", "concurrency", "--start", "1", "--max", "2", "--slo", "session_s<=600"])
        .args(["--sessions", "2", "--warmup-sessions", "0", "--quiet", "--out"])
        .arg(&out)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("capacity: concurrency 2 meets the SLO (no level failed)"), "{}", text(&o));
    let rec = json(&out.join("capacity.json"));
    let levels: Vec<f64> =
        rec["levels"].as_array().unwrap().iter().map(|l| l["level"].as_f64().unwrap()).collect();
    assert_eq!(levels, [1.0, 2.0]);
    assert!(rec["levels"].as_array().unwrap().iter().all(|l| l["pooled"]["failed"] == 0), "{rec}");
    assert_eq!(rec["max_level"], 2.0);
    let info = &rec["manifest"]["servers"][0]["info"];
    assert_eq!(info["kind"], "openai", "{info}");
    assert!(std::fs::read_to_string(out.join("capacity.md")).unwrap().contains("## Answer"));
}
