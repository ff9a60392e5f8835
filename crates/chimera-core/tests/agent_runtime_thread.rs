//! The agent's CPU-heavy steps (grounding; report rendering and file writes) run off the async
//! thread, which `chimera` has only one of and which timestamps every stream: while an agent
//! is in those stages, other tasks on that thread keep running.
//!
//! A probe task on the same current-thread runtime counts its turns while the agent is inside
//! each stage. Work done inline on the async thread gets zero turns (the stage starts and ends
//! before the probe runs again); work on a blocking thread leaves the async thread to the probe.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chimera_core::agent::{AgentRun, AgentSpec, run_agent};
use chimera_core::backend::{OllamaClient, Timeouts};
use chimera_core::events::{Event, Events, Stage};
use chimera_core::inventory::CollectOptions;
use chimera_core::options::GenOptions;
use chimera_core::persona::Persona;
use chimera_testkit::{Final, Reply, Script, ScriptedServer, Step, Timings};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const SEED_101: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/seed-101");

fn model_text() -> Script {
    let t = Timings { eval_count: 400, eval_duration_ns: 400_000_000, ..Default::default() };
    let mut s = Script::new();
    for i in 0..400 {
        s = s.at(
            Duration::from_micros(100 * i),
            Step::token(format!("run {i} reached {}.{} tok/s; ", 70 + i % 9, i % 97)),
        );
    }
    s.then(Step::Done(Final::stop(t)))
}

#[tokio::test(flavor = "current_thread")]
async fn grounding_and_writing_leave_the_async_thread_free() {
    let srv = ScriptedServer::start(|r| match r.path.as_str() {
        "/api/version" => Reply::Json(json!({"version": "0.12.0-scripted"})),
        "/api/generate" => Reply::Ollama(model_text()),
        _ => Reply::JsonStatus(404, json!({"error": "not found"})),
    })
    .await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let probe = tokio::spawn(async move {
        let mut current: Option<Stage> = None;
        let mut turns: HashMap<Stage, u64> = HashMap::new();
        loop {
            while let Ok(ev) = rx.try_recv() {
                match ev {
                    Event::StageStarted { stage, .. } => current = Some(stage),
                    Event::StageFinished { .. } => current = None,
                    Event::AgentFinished { .. } => return turns,
                    _ => {}
                }
            }
            if let Some(s) = current {
                *turns.entry(s).or_default() += 1;
            }
            tokio::task::yield_now().await;
        }
    });
    let spec = AgentSpec::new(
        "A",
        Persona::collector(),
        "gemma3:270m",
        GenOptions { num_ctx: Some(4096), ..Default::default() },
    );
    let dir = tempfile::tempdir().unwrap();
    let out = run_agent(AgentRun {
        spec: &spec,
        backend: Arc::new(OllamaClient::new(&srv.url(), Timeouts::default())),
        data_dirs: vec![PathBuf::from(SEED_101)],
        collect: CollectOptions::default(),
        out_dir: dir.path().to_path_buf(),
        events: Events::new(tx),
        cancel: CancellationToken::new(),
        handoff: None,
    })
    .await;
    assert!(out.ok, "{:?}", out.error);
    assert!(
        out.grounding.as_ref().is_some_and(|g| g.checked >= 400),
        "{:?}",
        out.grounding.map(|g| g.checked)
    );
    let turns = probe.await.unwrap();
    // Control: ingest has always run on a blocking thread.
    assert!(turns.get(&Stage::Ingest).copied().unwrap_or(0) > 0, "{turns:?}");
    for stage in [Stage::Grounding, Stage::Write] {
        assert!(turns.get(&stage).copied().unwrap_or(0) > 0, "{stage} ran on the async thread: {turns:?}");
    }
    srv.shutdown().await;
}
