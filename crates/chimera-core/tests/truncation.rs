//! Prompt truncation reported truthfully on every backend (issue 18, item 13): known where the
//! server says (or Ollama's prompt count reaches the num_ctx the request set), *unknown* — never
//! "no" — where the client cannot know, and the agent report says which, with the reason.

use std::path::PathBuf;
use std::sync::Arc;

use chimera_core::agent::{AgentRun, AgentSpec, run_agent};
use chimera_core::backend::{Backend, CallRecord, GenRequest, OllamaClient, OpenAiClient, Timeouts, no_sink};
use chimera_core::events::{CancellationToken, Events};
use chimera_core::inventory::CollectOptions;
use chimera_core::options::GenOptions;
use chimera_core::persona::Persona;
use chimera_testkit::{Final, Reply, Script, ScriptedServer, Step, Timings};
use serde_json::json;

const SEED_101: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/seed-101");

/// Two tokens, then a final chunk counting `prompt` prompt tokens.
fn script(prompt: u64) -> Script {
    let t = Timings {
        prompt_eval_count: prompt,
        eval_count: 2,
        eval_duration_ns: 1_000_000,
        ..Default::default()
    };
    Script::new().at_ms(1, Step::token("a ")).at_ms(2, Step::token("b")).then(Step::Done(Final::stop(t)))
}

fn req(num_ctx: Option<u32>) -> GenRequest {
    GenRequest::generate("gemma3:270m", None, "x", GenOptions { num_ctx, ..Default::default() })
}

async fn ollama(num_ctx: Option<u32>, prompt: u64) -> CallRecord {
    let srv = ScriptedServer::start(move |_| Reply::Ollama(script(prompt))).await;
    OllamaClient::new(&srv.url(), Timeouts::default()).generate(&req(num_ctx), &no_sink).await.unwrap()
}

#[tokio::test]
async fn ollama_is_unknown_without_num_ctx_and_known_with_it() {
    // Without num_ctx Ollama's default context is not known: 5,000 prompt tokens may or may not
    // have been cut, and a record that said "no" would be false.
    let r = ollama(None, 5000).await;
    assert_eq!((r.prompt_truncated, r.truncation_label().as_str()), (None, "unknown"));
    assert!(r.truncation_unknown().unwrap().contains("num_ctx was not set"), "{:?}", r.truncation_unknown());
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["prompt_truncated"], serde_json::Value::Null, "written as unknown");

    let r = ollama(Some(64), 64).await;
    assert_eq!((r.prompt_truncated, r.truncation_unknown()), (Some(true), None), "64 tokens fill num_ctx 64");
    let r = ollama(Some(64), 63).await;
    assert_eq!(r.prompt_truncated, Some(false));
}

/// The usage chunk of an OpenAI stream, with `timings` as given.
fn openai_script(timings: serde_json::Value) -> Script {
    let usage = json!({
        "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [],
        "usage": {"prompt_tokens": 900, "completion_tokens": 2, "total_tokens": 902},
        "timings": timings,
    });
    Script::new()
        .at_ms(1, Step::token("a "))
        .at_ms(
            2,
            Step::RawLine(format!(
                "data: {}",
                json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
            )),
        )
        .then(Step::RawLine(format!("data: {usage}")))
        .then(Step::RawLine("data: [DONE]".into()))
}

async fn openai(timings: serde_json::Value) -> CallRecord {
    let s = openai_script(timings);
    let srv = ScriptedServer::start(move |_| Reply::OpenAi(s.clone())).await;
    OpenAiClient::new(&srv.url(), None, Timeouts::default()).generate(&req(None), &no_sink).await.unwrap()
}

#[tokio::test]
async fn openai_is_unknown_unless_the_server_says() {
    // llama-server's timings say nothing of truncation: unknown, with the reason.
    let r = openai(json!({"prompt_n": 900, "predicted_n": 2})).await;
    assert!(r.completed);
    assert_eq!(r.prompt_truncated, None);
    assert!(r.truncation_unknown().unwrap().contains("OpenAI-compatible"), "{:?}", r.truncation_unknown());
    // chimera serve's extension says it, with the tokens dropped.
    let r = openai(
        json!({"prompt_n": 900, "predicted_n": 2, "prompt_truncated": true, "prompt_tokens_dropped": 37}),
    )
    .await;
    assert_eq!((r.prompt_truncated, r.prompt_tokens_dropped), (Some(true), Some(37)));
    assert_eq!(r.truncation_label(), "yes (37 prompt tokens dropped)");
    let r = openai(json!({"prompt_n": 900, "prompt_truncated": false, "prompt_tokens_dropped": 0})).await;
    assert_eq!((r.prompt_truncated, r.truncation_unknown()), (Some(false), None));
}

#[tokio::test]
async fn chimera_serve_fields_on_the_ollama_route_carry_the_dropped_count() {
    let line = json!({"model": "m", "created_at": "2026-01-01T00:00:00Z", "response": "", "done": true,
                      "done_reason": "stop", "prompt_eval_count": 100, "prompt_cached_count": 20,
                      "eval_count": 1, "eval_duration": 1000, "prompt_truncated": true,
                      "prompt_tokens_dropped": 480});
    let s = Script::new().at_ms(1, Step::token("a")).then(Step::RawLine(line.to_string()));
    let srv = ScriptedServer::start(move |_| Reply::Ollama(s.clone())).await;
    let r = OllamaClient::new(&srv.url(), Timeouts::default()).generate(&req(None), &no_sink).await.unwrap();
    assert_eq!((r.prompt_truncated, r.prompt_tokens_dropped), (Some(true), Some(480)));
}

/// One agent run against a scripted Ollama whose every generate call streams `script`; its
/// report.md.
async fn agent_report(script: Script, options: GenOptions) -> (chimera_core::agent::AgentOutcome, String) {
    let srv = ScriptedServer::start(move |r| match r.path.as_str() {
        "/api/version" => Reply::Json(json!({"version": "0.12.0-scripted"})),
        "/api/tags" => Reply::Json(json!({"models": [{"name": "gemma3:270m", "model": "gemma3:270m"}]})),
        "/api/generate" => Reply::Ollama(script.clone()),
        _ => Reply::JsonStatus(404, json!({"error": "not found"})),
    })
    .await;
    let spec = AgentSpec::new("A", Persona::collector(), "gemma3:270m", options);
    let dir = tempfile::tempdir().unwrap();
    let o = run_agent(AgentRun {
        spec: &spec,
        backend: Arc::new(OllamaClient::new(&srv.url(), Timeouts::default())),
        data_dirs: vec![PathBuf::from(SEED_101)],
        collect: CollectOptions::default(),
        out_dir: dir.path().to_path_buf(),
        events: Events::none(),
        cancel: CancellationToken::new(),
        handoff: None,
    })
    .await;
    assert!(o.ok, "{:?}", o.error);
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    (o, report)
}

/// The agent report says "unknown" (not "ok" alone, which reads as "not truncated") in the
/// per-call table, and why in the notes.
#[tokio::test]
async fn agent_report_says_unknown_with_the_reason() {
    let (o, report) = agent_report(script(900), GenOptions::default()).await;
    assert!(o.calls.iter().all(|c| c.prompt_truncated.is_none()));
    assert!(report.contains("| ok (truncation unknown) |"), "{report}");
    assert!(!report.contains("| ok |"), "no call may read as not truncated");
    assert_eq!(report.matches("Note: prompt truncation unknown: num_ctx was not set").count(), 1, "{report}");
}

/// A server that says it cut the prompt (chimera serve) is shown with the tokens it dropped.
#[tokio::test]
async fn agent_report_shows_the_tokens_a_server_dropped() {
    let last = json!({"model": "m", "created_at": "2026-01-01T00:00:00Z", "response": "", "done": true,
                      "done_reason": "stop", "prompt_eval_count": 500, "prompt_cached_count": 12,
                      "eval_count": 2, "eval_duration": 2_000_000, "prompt_truncated": true,
                      "prompt_tokens_dropped": 480});
    let s = Script::new()
        .at_ms(1, Step::token("a "))
        .at_ms(2, Step::token("b"))
        .then(Step::RawLine(last.to_string()));
    let (_, report) = agent_report(s, GenOptions { num_ctx: Some(1024), ..Default::default() }).await;
    assert!(report.contains("| ok (prompt truncated: 480 tokens dropped) |"), "{report}");
    assert!(
        report.contains(
            "prompt truncated by the server to fit the context: 480 prompt tokens dropped, 512 kept"
        ),
        "{report}"
    );
}

/// An agent's metrics.json of schema 1 (a bool per call) still loads, read as known (the version
/// written now is 2: null allowed).
#[test]
fn schema_1_files_with_a_bool_still_load() {
    use chimera_core::records::agent::AgentRecord;
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/golden/agent/metrics.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(golden).unwrap()).unwrap();
    v["kind"] = json!("chimera.agent");
    v["schema_version"] = json!(1);
    v["calls"][0]["prompt_truncated"] = json!(true);
    v["calls"][1]["prompt_truncated"] = json!(false);
    let r: AgentRecord =
        chimera_core::load::parse(&v.to_string(), std::path::Path::new("metrics.json")).unwrap();
    let t: Vec<_> = r.outcome.calls.iter().map(|c| c.prompt_truncated).collect();
    assert_eq!(t, vec![Some(true), Some(false)]);
}
