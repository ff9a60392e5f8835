//! The `tool-loop` and `handoff` workflows end to end on the real model (Gemma 3 270M) over the
//! seed-101 corpus: in-process on the embedded engine, through `chimera serve` with the Ollama
//! client, and with the real binary; in-process and through `chimera serve` also a user-written
//! TOML workflow (a continued conversation, a tool step, think time). Kept short for 2 CPU cores: 8 output
//! tokens per call, one llama.cpp thread, one test at a time. num_ctx 2048: tool-loop's three
//! later turns (messages, tool calls and results, answers) take ≈ 1,600 estimated tokens on
//! seed-101, so at 1024 no room is left for any data and they would still outgrow the context.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use chimera_core::agent::{AgentOutcome, AgentRun, AgentSpec, run_agent};
use chimera_core::backend::ollama::OllamaClient;
use chimera_core::backend::{Backend, Timeouts};
use chimera_core::events::{CancellationToken, Events};
use chimera_core::inventory::CollectOptions;
use chimera_core::options::GenOptions;
use chimera_core::persona::Persona;
use chimera_core::workflow;

static REAL_MODEL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/seed-101");

fn spec(name: &str) -> AgentSpec {
    let options = GenOptions {
        num_ctx: Some(2048),
        temperature: Some(0.0),
        seed: Some(1),
        num_thread: Some(1),
        num_predict: Some(8),
        ..Default::default()
    };
    let mut s = AgentSpec::new("Chimera Agent A", Persona::collector(), "gemma3:270m", options);
    s.workflow = workflow::builtin(name).unwrap();
    // Short think times: the point is that they run, not how long.
    for step in &mut s.workflow.steps {
        step.think = step.think.map(|_| workflow::ThinkTime::Fixed { ms: 10.0 });
    }
    s
}

async fn run(spec: &AgentSpec, backend: Arc<dyn Backend>, out: PathBuf) -> AgentOutcome {
    run_agent(AgentRun {
        spec,
        backend,
        data_dirs: vec![PathBuf::from(CORPUS)],
        collect: CollectOptions::default(),
        out_dir: out,
        events: Events::none(),
        cancel: CancellationToken::new(),
        handoff: None,
    })
    .await
}

/// A user's workflow: a continued conversation, a tool step, a think time.
const USER_WORKFLOW: &str = r#"name = "mine"

[[steps]]
name = "ask"
user = "Benchmark data:\n{data}\nWhich model is fastest?"

[[steps]]
name = "check"
conversation = "continue"
tool = "lookup_metric"
args = { metric = "ttft_ms" }
think = { dist = "fixed", ms = 20 }
user = "Does the tool result agree? Quote one figure."

[[steps]]
name = "close"
conversation = "continue"
user = "One sentence of advice."
"#;

/// The agent running [`USER_WORKFLOW`] (written to `dir`).
fn user_spec(dir: &std::path::Path) -> AgentSpec {
    let file = dir.join("mine.toml");
    std::fs::write(&file, USER_WORKFLOW).unwrap();
    let mut s = spec("tool-loop");
    s.workflow = workflow::resolve(file.to_str().unwrap()).unwrap();
    s
}

/// The user's workflow: a fresh question over the data, continued by a tool turn after a think
/// time, then a follow-up in the same conversation; nothing cut.
fn check_user(u: &AgentOutcome) {
    assert!(u.ok, "{:?}", u.error);
    assert_eq!(u.workflow, "mine");
    assert_eq!(u.steps.iter().map(|s| s.messages).collect::<Vec<_>>(), [2, 6, 8]);
    assert_eq!(u.session.as_ref().unwrap().think_ms, 20.0);
    assert!(
        u.calls.iter().all(|c| c.prompt_truncated == Some(false) && c.server.eval_count.unwrap_or(0) > 0),
        "{:?}",
        u.calls
    );
}

/// Both workflows completed every call with real server figures, and wrote their reports.
fn check(tool_loop: &AgentOutcome, handoff: &AgentOutcome) {
    for o in [tool_loop, handoff] {
        assert!(o.ok, "{}: {:?} at {:?}", o.workflow, o.error, o.failed_stage);
        assert!(o.calls.iter().all(|c| c.completed && c.server.eval_count.unwrap_or(0) > 0), "{:?}", o.calls);
        assert!(o.report_path.is_file());
    }
    assert_eq!(tool_loop.calls.len(), 4);
    let msgs: Vec<usize> = tool_loop.steps.iter().map(|s| s.messages).collect();
    assert_eq!(msgs, [2, 6, 10, 14]);
    assert!(tool_loop.steps[1..].iter().all(|s| s.tool.as_ref().is_some_and(|t| !t.result.is_empty())));
    assert_eq!(tool_loop.session.as_ref().unwrap().think_ms, 30.0);
    assert_eq!(handoff.calls.len(), 2);
    assert_eq!(handoff.steps.iter().map(|s| s.step.as_str()).collect::<Vec<_>>(), ["collect", "insight"]);
}

#[tokio::test]
async fn tool_loop_and_handoff_in_process() {
    let _one = REAL_MODEL.lock().await;
    let engine: Arc<dyn Backend> = Arc::new(
        chimera_engine::EmbeddedBackend::discover(None).expect("the Gemma 3 270M GGUF (docs/ENGINE.md)"),
    );
    let dir = tempfile::tempdir().unwrap();
    let t = run(&spec("tool-loop"), Arc::clone(&engine), dir.path().join("t")).await;
    let h = run(&spec("handoff"), Arc::clone(&engine), dir.path().join("h")).await;
    check(&t, &h);
    let u = run(&user_spec(dir.path()), engine, dir.path().join("u")).await;
    check_user(&u);
}

#[tokio::test]
async fn tool_loop_and_handoff_through_chimera_serve() {
    let _one = REAL_MODEL.lock().await;
    let path = chimera_engine::discover(None).expect("the Gemma 3 270M GGUF (docs/ENGINE.md)");
    let srv = chimera_engine::serve::spawn(chimera_engine::ServeConfig::new(path)).await.unwrap();
    let url = srv.url();
    let client: Arc<dyn Backend> = Arc::new(OllamaClient::new(&url, Timeouts::default()));
    let dir = tempfile::tempdir().unwrap();
    let t = run(&spec("tool-loop"), Arc::clone(&client), dir.path().join("t")).await;
    let h = run(&spec("handoff"), Arc::clone(&client), dir.path().join("h")).await;
    check(&t, &h);
    // The turns extend one conversation that fits num_ctx (the first turn's data left room for
    // the turns after it): no prompt is cut, and every later turn reuses the cached prefix.
    let figures = || t.calls.iter().map(|c| (&c.server, c.prompt_truncated)).collect::<Vec<_>>();
    assert!(t.calls.iter().all(|c| c.prompt_truncated == Some(false)), "{:?}", figures());
    assert!(t.calls[1..].iter().all(|c| c.server.prompt_cached_count.unwrap_or(0) > 0), "{:?}", figures());
    assert!(t.prompts[0].reserved_later_tokens > 0 && t.prompts[0].later_turns == 3, "{:?}", t.prompts[0]);

    let u = run(&user_spec(dir.path()), client, dir.path().join("u")).await;
    check_user(&u);
    assert!(u.calls[1..].iter().all(|c| c.server.prompt_cached_count.unwrap_or(0) > 0), "{:?}", u.calls);

    // The real binary.
    let out = dir.path().join("cli");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chimera"));
    cmd.args(["agent", CORPUS, "--backend", "ollama", "--url", &url, "--workflow", "handoff"])
        .args([
            "--num-ctx",
            "1024",
            "--temperature",
            "0",
            "--seed",
            "1",
            "--num-thread",
            "1",
            "--num-predict",
            "8",
        ])
        .arg("--out")
        .arg(&out)
        .stdin(Stdio::null());
    let res = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    assert_eq!(res.status.code(), Some(0), "{}", String::from_utf8_lossy(&res.stderr));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!((m["workflow"].as_str(), m["calls"].as_array().unwrap().len()), (Some("handoff"), 2));
    srv.shutdown().await.unwrap();
}
