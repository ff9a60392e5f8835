//! `--workflow` through the real binary against scripted loopback Ollama servers: a bad
//! workflow file fails before any request (exit 2) naming the line; `agent --workflow
//! tool-loop` records its steps and session; `multi` runs per-agent workflows from the agents
//! file, with a hand-off, and refuses a hand-off from an agent listed later.

mod common;

use chimera_testkit::{Final, Reply, Request, Script, ScriptedServer, Step, Timings};
use common::{CORPUS, chimera, json_file, run, text};
use serde_json::json;

fn handler(req: &Request) -> Reply {
    match req.path.as_str() {
        "/api/version" => Reply::Json(json!({"version": "0.12.0-scripted"})),
        "/api/tags" => Reply::Json(json!({"models": [{"name": "gemma3:270m", "digest": "d", "size": 1}]})),
        "/api/generate" | "/api/chat" => {
            let t = Timings {
                eval_count: 3,
                eval_duration_ns: 30_000_000,
                prompt_eval_count: 100,
                ..Default::default()
            };
            let word = if req.body.contains("Technical report on the data above") {
                "REPORT-OF-A "
            } else {
                "answer "
            };
            Reply::Ollama(Script::new().at_ms(2, Step::token(word)).at_ms(4, Step::Done(Final::stop(t))))
        }
        _ => Reply::JsonStatus(404, json!({"error": "not found"})),
    }
}

fn generations(srv: &ScriptedServer) -> Vec<Request> {
    srv.requests().into_iter().filter(|r| r.path == "/api/generate" || r.path == "/api/chat").collect()
}

#[tokio::test]
async fn a_bad_workflow_fails_before_any_request_naming_the_line() {
    let srv = ScriptedServer::start(handler).await;
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join("w.toml");
    std::fs::write(&wf, "[[steps]]\nname = \"a\"\nuser = \"{dta}\"\n").unwrap();
    let mut cmd = chimera();
    cmd.args(["agent", CORPUS, "--backend", "ollama", "--url", &srv.url(), "--workflow"])
        .arg(&wf)
        .arg("--out")
        .arg(dir.path().join("out"));
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("w.toml, line 1: step 'a': unknown placeholder {dta}"), "{}", text(&o));
    assert!(srv.requests().is_empty(), "nothing was sent");
    // A sweep without --agent-data runs no agent: a workflow there would be ignored, so it is refused.
    let mut cmd = chimera();
    cmd.args([
        "sweep",
        "--backend",
        "ollama",
        "--url",
        &srv.url(),
        "--num-ctx",
        "256,512",
        "--workflow",
        "tool-loop",
    ]);
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--workflow tool-loop needs --agent-data DIR"), "{}", text(&o));
    assert!(srv.requests().is_empty(), "nothing was sent");
    let mut cmd = chimera();
    cmd.args(["agent", CORPUS, "--backend", "ollama", "--url", &srv.url(), "--workflow", "tool-lop"]);
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("unknown workflow 'tool-lop'; use analyst, analyst-chat, tool-loop or handoff"),
        "{}",
        text(&o)
    );
}

#[tokio::test]
async fn agent_runs_the_tool_loop_and_records_steps_and_session() {
    let srv = ScriptedServer::start(handler).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut cmd = chimera();
    cmd.args([
        "agent",
        CORPUS,
        "--backend",
        "ollama",
        "--url",
        &srv.url(),
        "--workflow",
        "tool-loop",
        "--out",
    ])
    .arg(&out);
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = json_file(&out.join("metrics.json"));
    assert_eq!(m["workflow"], "tool-loop");
    let steps: Vec<(String, u64)> = m["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap().to_string(), s["messages"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [("overview".into(), 2), ("lookup".into(), 6), ("lookup".into(), 10), ("lookup".into(), 14)]
    );
    assert_eq!(m["session"]["llm_calls"], 4);
    assert_eq!(m["session"]["tokens_out"], 12);
    assert!(m["session"]["think_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(generations(&srv).len(), 4);
    // The report renders the steps and the session; the server gave no cache figure.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for want in [
        "## Workflow Steps",
        "Workflow `tool-loop`, measured in this run",
        "| overview | 0.00 |",
        "| lookup #2 | ",
        "| 1 | 10 | ",
        "| lookup_metric(metric=tokens_per_s) — scripted | – |",
        "| session | sessions | session wall ms | think ms | turns | LLM calls | tokens out | prompt tokens new | prompt tokens cached | cached share |",
        "| 4 | 4 | 12 | 400 | not reported | not reported |",
        "| lookup #3 | ",
        "kept for the conversation's 3 later turn(s)",
    ] {
        assert!(report.contains(want), "{want:?} missing from:\n{report}");
    }
}

#[tokio::test]
async fn multi_runs_per_agent_workflows_with_a_hand_off() {
    let srv = ScriptedServer::start(handler).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("follow.toml"),
        "[[steps]]\nname = \"next\"\nhandoff_from = \"Agent A\"\nuser = \"A wrote:\\n{handoff}\\nWhat next?\"\n",
    )
    .unwrap();
    let agents = format!(
        "[[agents]]\nlabel = \"Agent A\"\nbackend = \"ollama\"\nurl = \"{0}\"\n\n[[agents]]\nlabel = \"Agent B\"\npersona = \"insight\"\nbackend = \"ollama\"\nurl = \"{0}\"\nworkflow = \"follow.toml\"\n",
        srv.url()
    );
    let file = dir.path().join("agents.toml");
    std::fs::write(&file, &agents).unwrap();
    let out = dir.path().join("multi");
    let mut cmd = chimera();
    cmd.args(["multi", CORPUS, "--agents-file"])
        .arg(&file)
        .args(["--no-warmup", "--quiet", "--out"])
        .arg(&out);
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let asks: Vec<Request> =
        generations(&srv).into_iter().filter(|r| r.body.contains("What next?")).collect();
    assert_eq!(asks.len(), 2, "solo and concurrent");
    for r in &asks {
        assert!(r.body.contains("```text\\n**1. Executive Summary**\\nREPORT-OF-A\\n```"), "{}", r.body);
    }
    let m = json_file(&out.join("run_1").join("agent-b").join("metrics.json"));
    assert_eq!(m["workflow"], "follow");
    assert_eq!(m["steps"][0]["handoff_from"], "Agent A");

    // B listed first: its hand-off would wait for ever; refused before any request.
    let n = srv.requests().len();
    let swapped = agents
        .replacen("Agent A", "Agent X", 1)
        .replace("\"Agent B\"", "\"Agent A\"")
        .replace("Agent X", "Agent B");
    std::fs::write(&file, swapped).unwrap();
    let mut cmd = chimera();
    cmd.args(["multi", CORPUS, "--agents-file"]).arg(&file).arg("--out").arg(dir.path().join("m2"));
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("takes a hand-off from 'Agent A', which is not an agent listed before it"),
        "{}",
        text(&o)
    );
    assert_eq!(srv.requests().len(), n);
}

/// `sweep --resume` continues only the workflow the finished points ran: another built-in, or the
/// same workflow file with other contents, is refused before any request (exit 2), saying what
/// differs and what to do; the same one resumes.
#[tokio::test]
async fn sweep_resume_refuses_another_workflow() {
    let srv = ScriptedServer::start(handler).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let wf = dir.path().join("mine.toml");
    std::fs::write(&wf, "[[steps]]\nname = \"ask\"\nuser = \"Data:\\n{data}\\nSay one thing.\"\n").unwrap();
    let sweep = |workflow: &str, extra: &[&str]| {
        let mut c = chimera();
        c.args(["sweep", "--backend", "ollama", "--url", &srv.url(), "--agent-data", CORPUS])
            .args([
                "--num-ctx",
                "512,1024",
                "--runs",
                "1",
                "--no-baseline",
                "--quiet",
                "--workflow",
                workflow,
            ])
            .args(extra)
            .arg("--out")
            .arg(&out);
        c
    };
    let path = wf.to_str().unwrap();
    let o = run(sweep(path, &[])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = std::fs::read_to_string(out.join("points.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["workflow"]["name"], "mine");
    assert_eq!(first["workflow"]["sha256"].as_str().unwrap().len(), 64);
    let n = generations(&srv).len();
    assert!(n >= 2, "one single-call workflow per point (and warm-ups): {n}");

    let o = run(sweep("tool-loop", &["--resume"])).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = text(&o);
    assert!(err.contains("ran the workflow 'mine' (TOML sha256 "), "{err}");
    assert!(err.contains("but this command runs 'tool-loop' (TOML sha256 "), "{err}");
    assert!(err.contains("pass the same --workflow (with the same file contents)"), "{err}");

    // The same file, edited: another hash.
    std::fs::write(&wf, "[[steps]]\nname = \"ask\"\nuser = \"Data:\\n{data}\\nSay two things.\"\n").unwrap();
    let o = run(sweep(path, &["--resume"])).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(generations(&srv).len(), n, "nothing was sent");

    // Unchanged: resumes (nothing left to measure).
    std::fs::write(&wf, "[[steps]]\nname = \"ask\"\nuser = \"Data:\\n{data}\\nSay one thing.\"\n").unwrap();
    let o = run(sweep(path, &["--resume"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(generations(&srv).len(), n);
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("## Workflow sessions per point"), "{summary}");
}

/// The OpenAI-compatible server's side: every step is a chat completion.
fn openai(req: &Request) -> Reply {
    match req.path.as_str() {
        "/v1/models" => Reply::Json(json!({"data": [{"id": "gemma3:270m"}]})),
        "/v1/chat/completions" => {
            let t = Timings {
                eval_count: 3,
                eval_duration_ns: 3_000_000,
                prompt_eval_count: 100,
                ..Default::default()
            };
            Reply::OpenAi(Script::new().at_ms(2, Step::token("answer ")).at_ms(4, Step::Done(Final::stop(t))))
        }
        _ => Reply::JsonStatus(404, json!({"error": "not found"})),
    }
}

/// The built-ins and a user-written workflow (a continued conversation, a tool step, a think time)
/// run end to end through the binary with `--backend openai`: each request carries the message
/// list the workflow implies, tool results as `tool` messages answering the assistant's call.
#[tokio::test]
async fn workflows_run_on_an_openai_compatible_server() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.toml");
    std::fs::write(
        &file,
        "name = \"mine\"\n\n[[steps]]\nname = \"ask\"\nuser = \"Data:\\n{data}\\nWhich model is fastest?\"\n\n\
         [[steps]]\nname = \"check\"\nconversation = \"continue\"\ntool = \"lookup_metric\"\nargs = { metric = \"ttft_ms\" }\n\
         think = { dist = \"fixed\", ms = 30 }\nuser = \"Does the tool result agree?\"\n\n\
         [[steps]]\nname = \"close\"\nconversation = \"continue\"\nuser = \"One sentence of advice.\"\n",
    )
    .unwrap();
    let cases: [(&str, &[usize]); 3] =
        [("tool-loop", &[2, 6, 10, 14]), ("handoff", &[2, 2]), (file.to_str().unwrap(), &[2, 6, 8])];
    for (workflow, counts) in cases {
        let srv = ScriptedServer::start(openai).await;
        let out = dir.path().join(format!("out-{}", counts.len()));
        let mut cmd = chimera();
        cmd.args(["agent", CORPUS, "--backend", "openai", "--url", &srv.url(), "--workflow", workflow])
            .arg("--out")
            .arg(&out);
        let o = run(cmd).await;
        assert_eq!(o.status.code(), Some(0), "{workflow}: {}", text(&o));
        let bodies: Vec<serde_json::Value> = srv
            .requests()
            .into_iter()
            .filter(|r| r.path == "/v1/chat/completions")
            .filter_map(|r| r.json)
            .collect();
        let sent: Vec<usize> = bodies.iter().map(|b| b["messages"].as_array().unwrap().len()).collect();
        assert_eq!(sent, counts, "{workflow}");
        let m = json_file(&out.join("metrics.json"));
        let recorded: Vec<u64> =
            m["steps"].as_array().unwrap().iter().map(|s| s["messages"].as_u64().unwrap()).collect();
        assert_eq!(recorded, counts.iter().map(|&c| c as u64).collect::<Vec<_>>(), "{workflow}");
        if counts.len() == 3 {
            // The tool turn: the assistant's call, then the result answering it by id.
            let msgs = bodies[1]["messages"].as_array().unwrap();
            let call = &msgs[4]["tool_calls"][0];
            assert_eq!(
                (msgs[4]["role"].as_str(), call["function"]["name"].as_str()),
                (Some("assistant"), Some("lookup_metric"))
            );
            assert_eq!(msgs[5]["role"], "tool");
            assert_eq!(msgs[5]["tool_call_id"], call["id"]);
            assert!(msgs[5]["content"].as_str().unwrap().contains(" n="), "{}", msgs[5]);
            assert_eq!(m["session"]["think_ms"], 30.0);
            assert_eq!(m["workflow"], "mine");
        }
        srv.shutdown().await;
    }
}

/// `multi --agents-file`: the plain options of the command line apply to every agent underneath
/// its own `[agents.options]` (README), as they do for the built-in scenarios.
#[tokio::test]
async fn multi_agents_file_takes_the_command_lines_options_underneath() {
    let srv = ScriptedServer::start(handler).await;
    let dir = tempfile::tempdir().unwrap();
    let agents = format!(
        "[[agents]]\nlabel = \"Agent A\"\nbackend = \"ollama\"\nurl = \"{0}\"\n[agents.options]\nnum_predict = 5\n\n\
         [[agents]]\nlabel = \"Agent B\"\nbackend = \"ollama\"\nurl = \"{0}\"\n",
        srv.url()
    );
    let file = dir.path().join("agents.toml");
    std::fs::write(&file, agents).unwrap();
    let mut cmd = chimera();
    cmd.args(["multi", CORPUS, "--agents-file"])
        .arg(&file)
        .args(["--no-warmup", "--no-solo", "--quiet", "--num-predict", "7", "--temperature", "0.25", "--out"])
        .arg(dir.path().join("multi"));
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut seen: Vec<(i64, f64)> = generations(&srv)
        .iter()
        .filter_map(|r| r.json.as_ref())
        .map(|j| {
            (
                j["options"]["num_predict"].as_i64().unwrap_or(-1),
                j["options"]["temperature"].as_f64().unwrap_or(-1.0),
            )
        })
        .collect();
    seen.sort_by(|a, b| a.partial_cmp(b).unwrap());
    seen.dedup();
    // A keeps its own num_predict; both take the command line's temperature; B its num_predict.
    assert_eq!(seen, [(5, 0.25), (7, 0.25)]);
}
