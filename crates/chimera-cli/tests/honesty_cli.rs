//! Honest configurations and early refusals, through the real binary against scripted loopback
//! servers: `--backend openai` refuses the options it cannot send (and bench's default labels
//! only what it sends); every manifest records the backend; an empty data folder, a dead server
//! or a missing model end the command before any run; `--max-json-depth` above 127 is refused;
//! `sweep --resume` refuses another `--runs`; an output budget that is cut or unused is warned of.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use chimera_testkit::{
    FakeOllama, Final, LatencyProfile, Reply, Request, Script, ScriptedServer, Step, Timings,
};
use common::{CORPUS, chimera, json_file, run, text};
use serde_json::{Value, json};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fast() -> LatencyProfile {
    LatencyProfile::new(Duration::from_millis(3), Duration::from_millis(1), 4)
}

/// The JSON bodies of generation requests (Ollama or OpenAI) `srv` received.
fn generations(srv: &ScriptedServer) -> Vec<Value> {
    srv.requests()
        .into_iter()
        .filter(|r| ["/api/generate", "/api/chat", "/v1/chat/completions"].contains(&r.path.as_str()))
        .filter_map(|r| r.json)
        .collect()
}

fn script() -> Script {
    let t =
        Timings { eval_count: 2, eval_duration_ns: 2_000_000, prompt_eval_count: 50, ..Default::default() };
    Script::new()
        .at_ms(2, Step::token("- 101 "))
        .at_ms(4, Step::token("files."))
        .at_ms(6, Step::Done(Final::stop(t)))
}

/// A server that streams generations (Ollama and OpenAI) but cannot describe itself: every
/// other endpoint (version, tags, models) answers 500.
async fn undescribed_server() -> ScriptedServer {
    ScriptedServer::start(|req: &Request| match req.path.as_str() {
        "/api/generate" | "/api/chat" => Reply::Ollama(script()),
        "/v1/chat/completions" => Reply::OpenAi(script()),
        _ => Reply::JsonStatus(500, json!({"error": "not today"})),
    })
    .await
}

fn cmd(args: &[&str], out: &Path) -> std::process::Command {
    let mut c = chimera();
    c.args(args).arg("--quiet").arg("--out").arg(out);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_refuses_the_options_it_cannot_send_and_labels_only_what_it_sent() {
    let srv = undescribed_server().await;
    let url = srv.url();
    let d = tempfile::tempdir().unwrap();
    let openai = ["--backend", "openai", "--url", &url, "--model", "m"];
    for (args, needle) in [
        (vec!["agent", CORPUS, "--num-ctx", "512"], "--backend openai does not send num_ctx=512"),
        (vec!["agent", CORPUS, "--set", "num_predict=-1"], "does not send num_predict=-1"),
        (vec!["bench", CORPUS, "--num-gpu", "80", "--temperature", "0.5"], "does not send num_gpu=80"),
        (
            vec!["sweep", "--num-ctx", "256,512"],
            "point num_ctx=256: --backend openai does not send num_ctx=256",
        ),
    ] {
        let out = d.path().join(args[0]);
        let o = run(cmd(&[&args[..], &openai[..]].concat(), &out)).await;
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", text(&o));
        assert!(!out.exists(), "{args:?}");
    }
    // An agents file: the agent on OpenAI may not set a load-time option.
    let file = d.path().join("agents.toml");
    std::fs::write(
        &file,
        format!("[[agents]]\nlabel = \"A\"\nbackend = \"openai\"\nurl = \"{url}\"\n[agents.options]\nnum_gpu = 80\n"),
    )
    .unwrap();
    let mut c = chimera();
    c.args(["multi", CORPUS, "--agents-file"]).arg(&file).arg("--out").arg(d.path().join("multi"));
    let o = run(c).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(stderr(&o).contains("agent 'A': --backend openai does not send num_gpu=80"), "{}", text(&o));
    assert!(srv.requests().is_empty(), "refused before any request");

    // bench's default chimera side keeps only what OpenAI sends, says so, and is labelled so.
    let out = d.path().join("bench-default");
    let o = run(cmd(&[&["bench", CORPUS, "--runs", "1"][..], &openai[..]].concat(), &out)).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        stderr(&o).contains(
            "note: --backend openai cannot send num_gpu=80, num_ctx=512 of the default chimera configuration; \
             the chimera side sets temperature=1"
        ),
        "{}",
        text(&o)
    );
    let md = std::fs::read_to_string(out.join("comparison_report.md")).unwrap();
    assert!(md.contains("**Chimera configuration:** num_gpu=default, num_ctx=default, temp=1,"), "{md}");
    let bodies = generations(&srv);
    assert_eq!(bodies.len(), 6, "two warm-ups and two agent runs of two calls");
    for b in &bodies {
        assert!(b.get("num_ctx").is_none() && b.get("num_gpu").is_none(), "{b}");
    }
    assert_eq!(json_file(&out.join("manifest.json"))["options"], json!({"temperature": 1.0}));

    // --help says which options OpenAI-compatible servers are not sent.
    let o = chimera().args(["agent", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    let line = help.lines().skip_while(|l| !l.contains("--num-ctx <N>")).nth(1).unwrap_or_default();
    assert!(line.contains("Not sent by --backend openai"), "{help}");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_manifest_records_the_backend_even_when_it_cannot_describe_itself() {
    let srv = undescribed_server().await;
    let url = srv.url();
    let d = tempfile::tempdir().unwrap();
    let ollama = ["--backend", "ollama", "--url", &url];
    for args in [
        vec!["agent", CORPUS],
        vec!["bench", CORPUS, "--runs", "1"],
        vec!["sweep", "--num-ctx", "256,512", "--num-predict", "4", "--runs", "1"],
    ] {
        let out = d.path().join(args[0]);
        let o = run(cmd(&[&args[..], &ollama[..]].concat(), &out)).await;
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
        let m = json_file(&out.join("manifest.json"));
        assert_eq!(
            (m["backend"]["kind"].as_str(), m["backend"]["endpoint"].as_str()),
            (Some("ollama"), Some(url.as_str())),
            "{args:?}: {m}"
        );
    }
    srv.shutdown().await;
}

#[test]
fn the_readme_names_the_commands_that_take_the_backend_flags() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let sentence = "`agent`, `bench`, `multi` and `sweep` take the backend flags";
    assert!(readme.contains(sentence), "README must say which commands take --backend");
    for command in ["inventory", "agent", "bench", "multi", "sweep", "compare", "serve", "demo"] {
        let o = chimera().args([command, "--help"]).output().unwrap();
        let takes = String::from_utf8_lossy(&o.stdout).contains("--backend <BACKEND>");
        assert_eq!(takes, sentence.contains(&format!("`{command}`")), "{command}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_data_folder_a_dead_server_or_a_missing_model_end_before_any_run() {
    let srv = FakeOllama::new(fast()).models(&["llama3:8b"]).start().await;
    let d = tempfile::tempdir().unwrap();
    let empty = d.path().join("empty");
    std::fs::create_dir_all(empty.join("reports")).unwrap();
    std::fs::write(empty.join("reports/notes.txt"), "no data here").unwrap();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let out = d.path().join("out");
    for (args, needle) in [
        (
            vec!["agent", empty.to_str().unwrap(), "--backend", "ollama", "--url", &srv.url()],
            "no artifacts to analyse",
        ),
        (
            vec!["bench", empty.to_str().unwrap(), "--backend", "ollama", "--url", &srv.url()],
            "no artifacts to analyse",
        ),
        (
            vec!["agent", CORPUS, "--backend", "ollama", "--url", &dead],
            "pre-flight check failed, nothing was run: cannot connect",
        ),
        (
            vec!["bench", CORPUS, "--backend", "ollama", "--url", &dead],
            "pre-flight check failed, nothing was run: cannot connect",
        ),
        (vec!["agent", CORPUS, "--backend", "ollama", "--url", &srv.url()], "model 'gemma3:270m' not found"),
        (vec!["bench", CORPUS, "--backend", "ollama", "--url", &srv.url()], "model 'gemma3:270m' not found"),
    ] {
        let o = run(cmd(&args, &out)).await;
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", text(&o));
        assert!(!out.exists(), "{args:?}: nothing written");
    }
    assert!(generations(&srv).is_empty(), "no generation was attempted");
    srv.shutdown().await;
}

#[test]
fn a_json_depth_the_parser_cannot_honour_is_refused() {
    let o = chimera().args(["inventory", CORPUS, "--summary", "--max-json-depth", "200"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(stderr(&o).contains("--max-json-depth") && stderr(&o).contains("up to 127"), "{}", text(&o));
    let o = chimera().args(["inventory", CORPUS, "--summary", "--max-json-depth", "127"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_resume_with_another_runs_count_is_refused() {
    let srv = FakeOllama::new(fast()).start().await;
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("sweep");
    let sweep = |runs: &str, extra: &[&str]| {
        let mut c = cmd(&["sweep", "--backend", "ollama", "--url", &srv.url(), "--num-ctx", "256,512"], &out);
        c.args(["--num-predict", "4", "--runs", runs]).args(extra);
        c
    };
    assert_eq!(run(sweep("1", &[])).await.status.code(), Some(0));
    let before = generations(&srv).len();
    let o = run(sweep("2", &["--resume"])).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains(
            "the finished point baseline was measured with --runs 1 but this command asks for --runs 2"
        ),
        "{}",
        text(&o)
    );
    assert_eq!(generations(&srv).len(), before, "nothing re-measured or reused");
    let o = run(sweep("1", &["--resume"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(generations(&srv).len(), before, "every point was already measured with --runs 1");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_budget_that_is_cut_or_unused_is_said() {
    let srv = FakeOllama::new(fast()).start().await;
    let d = tempfile::tempdir().unwrap();
    let agent = |out: &str, extra: &[&str]| {
        let mut c = cmd(&["agent", CORPUS, "--backend", "ollama", "--url", &srv.url()], &d.path().join(out));
        c.args(extra);
        c
    };
    // Default context 2048: an answer may take 512 tokens.
    let o = run(agent("cut", &["--analysis-num-predict", "20000"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        stderr(&o).contains(
            "warning: --analysis-num-predict 20000 is cut to 512 tokens for Chimera Agent: an answer may take at most \
             a quarter of the 2048-token context (the default num_ctx)"
        ),
        "{}",
        text(&o)
    );
    let sent: Vec<i64> =
        generations(&srv).iter().map(|b| b["options"]["num_predict"].as_i64().unwrap()).collect();
    assert_eq!(sent, [512, 384], "the cut value, and the report call's default");
    // A context that fits it: sent as given, no warning.
    let o = run(agent("fits", &["--num-ctx", "4096", "--analysis-num-predict", "1000"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!stderr(&o).contains("warning"), "{}", text(&o));
    assert_eq!(generations(&srv)[2]["options"]["num_predict"], 1000);
    // --num-predict sets every call: the budget flag is not used, and that is said.
    let o = run(agent("unused", &["--num-predict", "64", "--report-num-predict", "100"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        stderr(&o).contains(
            "warning: --report-num-predict 100 is not used: --num-predict 64 applies to every call"
        ),
        "{}",
        text(&o)
    );
    srv.shutdown().await;
}
