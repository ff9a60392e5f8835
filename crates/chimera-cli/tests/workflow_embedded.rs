//! The `tool-loop` and `handoff` workflows end to end on the real model (Gemma 3 270M) over the
//! seed-101 corpus: in-process on the embedded engine, through `chimera serve` with the Ollama
//! client, and with the real binary. Kept short for 2 CPU cores: num_ctx 1024, 8 output tokens
//! per call, one llama.cpp thread, one test at a time.

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
        num_ctx: Some(1024),
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
    let h = run(&spec("handoff"), engine, dir.path().join("h")).await;
    check(&t, &h);
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
    let h = run(&spec("handoff"), client, dir.path().join("h")).await;
    check(&t, &h);
    // The turns extend one conversation: the server reuses its cached prefix and says so —
    // unless the conversation outgrew num_ctx and the server cut its start (then no prefix is
    // shared, and the records must say the prompt was truncated). On seed-101 with num_ctx 1024
    // the later turns of tool-loop are cut today (known defect: the first turn's {data} leaves
    // too little room for the turns after it; see the closing note of issue 19).
    let cached = t.session.as_ref().unwrap().prompt_tokens_cached.unwrap_or(0);
    let truncated = t.calls.iter().any(|c| c.prompt_truncated == Some(true));
    assert!(
        cached > 0 || truncated,
        "{:?}",
        t.calls.iter().map(|c| (&c.server, c.prompt_truncated)).collect::<Vec<_>>()
    );

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
