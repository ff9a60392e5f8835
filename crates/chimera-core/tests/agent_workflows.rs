//! Workflows against scripted loopback servers (real TCP, real NDJSON/SSE) over the seed-101
//! corpus: `analyst` sends exactly the seed's requests; a continued conversation carries the
//! growing message list; tool results travel as tool messages and native tool calls are
//! answered (or replaced by the scripted call, said in the report); think times are honoured;
//! a hand-off prompt carries the other agent's output.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chimera_core::agent::{AgentOutcome, AgentRun, AgentSpec, run_agent};
use chimera_core::analysis;
use chimera_core::backend::{Backend, GenRequest, OllamaClient, OpenAiClient, Timeouts};
use chimera_core::events::{CancellationToken, Events};
use chimera_core::inventory::{self, CollectOptions, Inventory};
use chimera_core::multi::jobs::{WorkflowAgent, WorkflowJob};
use chimera_core::multi::orchestrate::AgentJob;
use chimera_core::options::GenOptions;
use chimera_core::persona::Persona;
use chimera_core::prompt;
use chimera_core::records::multi::Phase;
use chimera_core::workflow::{self, Workflow, parse_workflow, tools};
use chimera_testkit::{Final, Reply, Request, Script, ScriptedServer, Step, Timings};
use serde_json::{Value, json};

const SEED_101: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/seed-101");
const ANALYSIS: &str = "The corpus holds 101 files.\n\n## Key Findings\n- Mean TTFT is 97.26 ms.\n";
const ANSWER: &str = "The figures show 76.59 tok/s.";
const T: Timings = Timings {
    total_duration_ns: 1_000_000_000,
    load_duration_ns: 0,
    prompt_eval_count: 100,
    prompt_eval_duration_ns: 100_000_000,
    eval_count: 5,
    eval_duration_ns: 500_000_000,
};
/// The scripted answers end 20 ms after the request arrives.
const END_MS: u64 = 20;

fn text_script(text: &str) -> Script {
    Script::new().at_ms(5, Step::token(text)).at_ms(END_MS, Step::Done(Final::stop(T)))
}

fn meta(req: &Request) -> Option<Reply> {
    match req.path.as_str() {
        "/api/version" => Some(Reply::Json(json!({"version": "0.12.0-scripted"}))),
        "/api/tags" => {
            Some(Reply::Json(json!({"models": [{"name": "gemma3:270m", "digest": "d", "size": 1}]})))
        }
        "/v1/models" => Some(Reply::Json(json!({"data": [{"id": "gemma3:270m"}]}))),
        "/api/show" => Some(Reply::Json(json!({"model_info": {"gemma3.context_length": 32768}}))),
        _ => None,
    }
}

/// Every generation answered with `ANALYSIS` for analysis prompts, else `ANSWER`.
async fn plain_server() -> ScriptedServer {
    ScriptedServer::start(|req: &Request| {
        meta(req).unwrap_or_else(|| {
            let body = req.body.as_str();
            Reply::Ollama(text_script(if body.contains("Analysis of the data above") {
                ANALYSIS
            } else {
                ANSWER
            }))
        })
    })
    .await
}

fn spec(workflow: Workflow) -> AgentSpec {
    let options = GenOptions { num_ctx: Some(4096), temperature: Some(1.0), ..Default::default() };
    let mut s = AgentSpec::new("Agent A", Persona::collector(), "gemma3:270m", options);
    s.workflow = workflow;
    s
}

async fn run_with(spec: &AgentSpec, backend: Arc<dyn Backend>, out: &Path) -> AgentOutcome {
    run_agent(AgentRun {
        spec,
        backend,
        data_dirs: vec![PathBuf::from(SEED_101)],
        collect: CollectOptions::default(),
        out_dir: out.to_path_buf(),
        events: Events::none(),
        cancel: CancellationToken::new(),
        handoff: None,
    })
    .await
}

async fn run(spec: &AgentSpec, url: &str, out: &Path) -> AgentOutcome {
    run_with(spec, Arc::new(OllamaClient::new(url, Timeouts::default())), out).await
}

fn wf(toml: &str) -> Workflow {
    parse_workflow(toml, "test.toml", Path::new("."), "test").unwrap()
}

fn generations(srv: &ScriptedServer) -> Vec<Request> {
    srv.requests().into_iter().filter(|r| meta(r).is_none()).collect()
}

fn inv() -> Inventory {
    inventory::collect(&[PathBuf::from(SEED_101)], &CollectOptions::default()).unwrap()
}

fn messages(r: &Request) -> Vec<Value> {
    r.json.as_ref().unwrap()["messages"].as_array().unwrap().clone()
}

#[tokio::test]
async fn analyst_sends_exactly_the_seed_requests() {
    let srv = plain_server().await;
    let dir = tempfile::tempdir().unwrap();
    let s = spec(workflow::builtin("analyst").unwrap());
    let o = run(&s, &srv.url(), dir.path()).await;
    assert!(o.ok, "{:?}", o.error);
    // What the seed workflow sent before workflows existed: the analysis prompt, then the report
    // prompt with the parsed analysis, both as /api/generate with the persona as system.
    let inv = inv();
    let persona = Persona::collector();
    let a = prompt::analysis_prompt(&persona, &inv, 4096, 256);
    let parsed = analysis::parse(&format!("{}{ANSWER}", a.primer).replace(ANSWER, ANALYSIS));
    let r = prompt::report_prompt(&persona, "Agent A", &inv, &parsed, 4096, 384);
    let body = |p: &prompt::PromptPlan| {
        let o = GenOptions { num_predict: Some(p.num_predict), ..s.options.clone() };
        OllamaClient::request_body(&GenRequest::generate("gemma3:270m", Some(&p.system), &p.prompt, o))
    };
    let got = generations(&srv);
    assert_eq!(got.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/api/generate", "/api/generate"]);
    assert_eq!(got[0].json.as_ref().unwrap(), &body(&a));
    assert_eq!(got[1].json.as_ref().unwrap(), &body(&r));
    assert_eq!(o.workflow, "analyst");
    assert_eq!(
        o.steps.iter().map(|s| (s.step.as_str(), s.messages)).collect::<Vec<_>>(),
        [("analysis", 2), ("report", 2)]
    );
    let session = o.session.unwrap();
    assert_eq!((session.llm_calls, session.tokens_out, session.prompt_tokens_new), (2, 10, Some(200)));
}

#[tokio::test]
async fn a_continued_conversation_carries_the_growing_message_list() {
    let srv = plain_server().await;
    let dir = tempfile::tempdir().unwrap();
    let o = run(&spec(workflow::builtin("analyst-chat").unwrap()), &srv.url(), dir.path()).await;
    assert!(o.ok, "{:?}", o.error);
    let got = generations(&srv);
    assert_eq!(got[1].path, "/api/chat");
    let m = messages(&got[1]);
    let roles: Vec<&str> = m.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(m[1]["content"], got[0].json.as_ref().unwrap()["prompt"]);
    assert_eq!(m[2]["content"], format!("## Summary\n{ANALYSIS}"));
    assert!(m[3]["content"].as_str().unwrap().ends_with("**1. Executive Summary**\n"));
}

#[tokio::test]
async fn tool_loop_sends_tool_messages_in_a_growing_conversation() {
    let srv = plain_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut w = workflow::builtin("tool-loop").unwrap();
    w.steps[1].think = None;
    let o = run(&spec(w.clone()), &srv.url(), dir.path()).await;
    assert!(o.ok, "{:?}", o.error);
    let got = generations(&srv);
    assert_eq!(got[0].path, "/api/chat");
    assert_eq!(messages(&got[0]).len(), 2);
    // Each turn adds: its question, the tool call, the tool result (and the previous answer).
    let lens: Vec<usize> = got[1..].iter().map(|r| messages(r).len()).collect();
    assert_eq!(lens, [6, 10, 14]);
    let facts = inv().facts;
    let last = messages(&got[3]);
    for (turn, call) in w.steps[1].tool.as_ref().unwrap().calls.iter().enumerate() {
        let (asst, tool) = (&last[4 + 4 * turn], &last[5 + 4 * turn]);
        assert_eq!(asst["tool_calls"][0]["function"]["name"], call.name.as_str());
        assert_eq!(tool["role"], "tool");
        assert_eq!(tool["tool_name"], call.name.as_str());
        assert_eq!(tool["content"], tools::run(call, &facts).as_str());
    }
    assert_eq!(o.steps.len(), 4);
    assert_eq!(o.steps[3].tool.as_ref().unwrap().name, "lookup_metric");
    assert_eq!(o.session.unwrap().turns, 4);
}

#[tokio::test]
async fn think_times_are_honoured() {
    let w = wf(r#"
[[steps]]
name = "first"
user = "Hello"
[[steps]]
name = "again"
user = "Turn {turn}"
conversation = "continue"
turns = 3
think = { dist = "fixed", ms = 150 }
"#);
    // The gap from a scripted answer's end to the next request is ≥ 150 ms; the overhead above
    // it is at most 2 ms in the best of up to ten sessions (a loaded machine delays wake-ups).
    // The answers are sent at once, so the server's own timer adds nothing to the gap.
    let mut best = f64::INFINITY;
    for _ in 0..10 {
        let srv = ScriptedServer::start(|req: &Request| {
            meta(req).unwrap_or_else(|| {
                Reply::Ollama(
                    Script::new().at_ms(0, Step::token(ANSWER)).at_ms(0, Step::Done(Final::stop(T))),
                )
            })
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let o = run(&spec(w.clone()), &srv.url(), dir.path()).await;
        assert!(o.ok, "{:?}", o.error);
        assert_eq!(o.steps.iter().map(|s| s.think_ms).collect::<Vec<_>>(), [0.0, 150.0, 150.0, 150.0]);
        let got = generations(&srv);
        let mut worst: f64 = 0.0;
        for pair in got.windows(2).skip(1) {
            let gap = pair[1].received_at.duration_since(pair[0].received_at).as_secs_f64() * 1000.0;
            assert!(gap >= 150.0, "gap {gap} ms");
            worst = worst.max(gap - 150.0);
        }
        eprintln!("session: think gaps exceed 150 ms by at most {worst:.3} ms");
        best = best.min(worst);
        if best <= 2.0 {
            break;
        }
    }
    assert!(best <= 2.0, "think gaps exceed the scripted time by {best:.3} ms");
}

#[tokio::test]
async fn a_loop_ends_at_its_stop_pattern_or_its_turns() {
    let srv = ScriptedServer::start(|req: &Request| {
        meta(req).unwrap_or_else(|| {
            let stop = req.body.contains("Go on (2)");
            Reply::Ollama(text_script(if stop { "I STOP here." } else { ANSWER }))
        })
    })
    .await;
    let looped = |until: &str| {
        wf(&format!(
            "[[steps]]\nname = \"ask\"\nuser = \"Go on ({{turn}})\"\nconversation = \"continue\"\nturns = 4\n{until}"
        ))
    };
    let dir = tempfile::tempdir().unwrap();
    let o = run(&spec(looped("until = \"STOP\"\n")), &srv.url(), &dir.path().join("a")).await;
    assert!(o.ok, "{:?}", o.error);
    assert_eq!(o.steps.iter().map(|s| s.turn).collect::<Vec<_>>(), [1, 2], "ended by the pattern");
    let o = run(&spec(looped("")), &srv.url(), &dir.path().join("b")).await;
    assert_eq!(o.steps.iter().map(|s| s.turn).collect::<Vec<_>>(), [1, 2, 3, 4], "ended by turns");
}

const NATIVE: &str = r#"
[[steps]]
name = "ask"
user = "Which configuration is fastest?"
tools = "native"
tool = "lookup_metric"
args = { metric = "tokens_per_s" }
"#;

#[tokio::test]
async fn a_native_ollama_tool_call_is_answered() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = Arc::clone(&n);
    let srv = ScriptedServer::start(move |req: &Request| {
        meta(req).unwrap_or_else(|| {
            if n2.fetch_add(1, Ordering::SeqCst) > 0 {
                return Reply::Ollama(text_script(ANSWER));
            }
            let call = json!({"model": "gemma3:270m", "created_at": "2026-01-01T00:00:00Z", "done": false,
                "message": {"role": "assistant", "content": "",
                  "tool_calls": [{"function": {"name": "compare", "arguments": {"metric": "tokens_per_s", "a": "q4", "b": "q8"}}}]}});
            Reply::Ollama(Script::new().at_ms(5, Step::RawLine(call.to_string())).at_ms(10, Step::Done(Final::stop(T))))
        })
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let o = run(&spec(wf(NATIVE)), &srv.url(), dir.path()).await;
    assert!(o.ok, "{:?}", o.error);
    let got = generations(&srv);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].json.as_ref().unwrap()["tools"].as_array().unwrap().len(), 3);
    assert!(got[1].json.as_ref().unwrap().get("tools").is_none());
    let m = messages(&got[1]);
    assert_eq!(m.len(), 4);
    assert_eq!(m[2]["tool_calls"][0]["function"]["arguments"]["b"], "q8");
    let want = tools::run(
        &tools::ToolCall {
            name: "compare".into(),
            args: [("metric", "tokens_per_s"), ("a", "q4"), ("b", "q8")]
                .map(|(k, v)| (k.into(), v.into()))
                .into(),
        },
        &inv().facts,
    );
    assert_eq!(m[3], json!({"role": "tool", "content": want, "tool_name": "compare"}));
    let t = o.steps[0].tool.as_ref().unwrap();
    assert!(t.native && t.fallback.is_none());
    assert_eq!(o.steps[0].calls, [0, 1]);
}

#[tokio::test]
async fn without_a_valid_native_call_the_scripted_one_is_used_and_the_report_says_so() {
    let srv = plain_server().await;
    let dir = tempfile::tempdir().unwrap();
    let o = run(&spec(wf(NATIVE)), &srv.url(), dir.path()).await;
    assert!(o.ok, "{:?}", o.error);
    let got = generations(&srv);
    let m = messages(&got[1]);
    assert_eq!(m[3]["tool_name"], "lookup_metric");
    let note = "step 'ask' turn 1: the model's reply had no tool call; the scripted call lookup_metric(metric=tokens_per_s) was used instead";
    assert!(o.notes.iter().any(|n| n == note), "{:?}", o.notes);
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(report.contains(note), "the report names the fallback");
}

#[tokio::test]
async fn a_native_openai_tool_call_is_answered_with_its_id_and_cached_tokens_are_read() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = Arc::clone(&n);
    let srv = ScriptedServer::start(move |req: &Request| {
        meta(req).unwrap_or_else(|| {
            let usage = json!({"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 60}}});
            let d = |delta: Value, finish: Value| json!({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
            let line = |v: Value| Step::RawLine(format!("data: {v}"));
            let s = if n2.fetch_add(1, Ordering::SeqCst) == 0 {
                Script::new()
                    .at_ms(5, line(d(json!({"tool_calls": [{"index": 0, "id": "call_7", "type": "function", "function": {"name": "lookup_metric", "arguments": "{\"metric\":"}}]}), Value::Null)))
                    .at_ms(6, line(d(json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"ttft_ms\"}"}}]}), Value::Null)))
            } else {
                Script::new().at_ms(5, line(d(json!({"content": ANSWER}), Value::Null)))
            };
            Reply::OpenAi(
                s.at_ms(8, line(d(json!({}), json!("stop"))))
                    .at_ms(9, line(usage))
                    .at_ms(10, Step::RawLine("data: [DONE]".into())),
            )
        })
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(OpenAiClient::new(&srv.url(), None, Timeouts::default()));
    let mut s = spec(wf(NATIVE));
    s.options.num_ctx = None;
    let o = run_with(&s, backend, dir.path()).await;
    assert!(o.ok, "{:?}", o.error);
    let got = generations(&srv);
    let m = messages(&got[1]);
    assert_eq!(
        m[2]["tool_calls"][0],
        json!({"id": "call_7", "type": "function", "function": {"name": "lookup_metric", "arguments": "{\"metric\":\"ttft_ms\"}"}})
    );
    assert_eq!((m[3]["role"].as_str(), m[3]["tool_call_id"].as_str()), (Some("tool"), Some("call_7")));
    assert_eq!(o.steps[0].tool.as_ref().unwrap().args["metric"], "ttft_ms");
    // usage.prompt_tokens counts the cached tokens: 100 − 60 evaluated.
    assert_eq!(
        (o.calls[0].server.prompt_eval_count, o.calls[0].server.prompt_cached_count),
        (Some(40), Some(60))
    );
    assert_eq!(o.session.unwrap().prompt_tokens_cached, Some(120));
}

#[tokio::test]
async fn a_hand_off_prompt_carries_the_other_agents_output() {
    let srv = ScriptedServer::start(|req: &Request| {
        meta(req).unwrap_or_else(|| {
            let body = req.body.as_str();
            let text = if body.contains("Analysis of the data above") {
                ANALYSIS
            } else if body.contains("Technical report on the data above") {
                "HANDED-OVER report text"
            } else {
                ANSWER
            };
            Reply::Ollama(text_script(text))
        })
    })
    .await;
    let b = wf(r#"
[[steps]]
name = "follow-up"
handoff_from = "Agent A"
user = "The collector wrote:\n{handoff}\nWhat should we test next?"
"#);
    let backend: Arc<dyn Backend> = Arc::new(OllamaClient::new(&srv.url(), Timeouts::default()));
    let mut spec_b = spec(b);
    spec_b.label = "Agent B".into();
    let agents = vec![
        WorkflowAgent { spec: spec(workflow::builtin("analyst").unwrap()), backend: Arc::clone(&backend) },
        WorkflowAgent { spec: spec_b.clone(), backend: Arc::clone(&backend) },
    ];
    let job =
        WorkflowJob::new(agents, vec![PathBuf::from(SEED_101)], CollectOptions::default(), Events::none());
    let dir = tempfile::tempdir().unwrap();
    let d = |s: &str| dir.path().join(s);
    // Solo: A, then B alone (A's solo output); concurrent: B waits for A's output of that phase.
    assert!(job.run(0, Phase::Solo, d("sa")).await.ok);
    assert!(job.run(1, Phase::Solo, d("sb")).await.ok);
    let (a, b) = tokio::join!(job.run(0, Phase::Concurrent, d("ca")), job.run(1, Phase::Concurrent, d("cb")));
    assert!(a.ok && b.ok, "{:?} {:?}", a.error, b.error);
    let asks: Vec<Request> =
        generations(&srv).into_iter().filter(|r| r.body.contains("What should we test next?")).collect();
    assert_eq!(asks.len(), 2);
    let wanted = "```text\n**1. Executive Summary**\nHANDED-OVER report text\n```";
    for r in &asks {
        assert!(r.json.as_ref().unwrap()["prompt"].as_str().unwrap().contains(wanted), "{}", r.body);
    }
    // Outside `chimera multi` a hand-off step refuses, saying why.
    let o = run(&spec_b, &srv.url(), &d("alone")).await;
    assert!(!o.ok);
    assert!(o.error.unwrap().contains("only `chimera multi` gives"));
}
