//! `typical_p`, the option added in one row of the option table to prove the one definition,
//! end to end through the real binary: its flag (`--typical-p`, `--set typical_p=…`), the
//! prefixed sets of `multi` and per-agent TOML option sets, a sweep axis and its `points.csv`
//! column, the Ollama and OpenAI request bodies, the configuration line, and the embedded
//! engine's sampler (llama.cpp's locally typical sampling) behind `chimera serve`.

mod common;

use std::path::Path;
use std::process::Stdio;

use chimera_testkit::{Final, Reply, Request, Script, ScriptedServer, Step, Timings};
use common::{CORPUS, chimera, run, serve, text};
use serde_json::{Value, json};

fn script() -> Script {
    let t = Timings { eval_count: 2, eval_duration_ns: 20_000_000, ..Default::default() };
    Script::new()
        .at_ms(2, Step::token("- 101 "))
        .at_ms(4, Step::token("files."))
        .at_ms(6, Step::Done(Final::stop(t)))
}

/// A scripted server answering Ollama's and OpenAI's generation endpoints at once.
async fn server() -> ScriptedServer {
    ScriptedServer::start(|req: &Request| match req.path.as_str() {
        "/api/version" => Reply::Json(json!({"version": "0.12.0-scripted"})),
        "/api/generate" | "/api/chat" => Reply::Ollama(script()),
        "/v1/chat/completions" => Reply::OpenAi(script()),
        _ => Reply::JsonStatus(404, json!({"error": "not found"})),
    })
    .await
}

/// The JSON bodies `srv` received on `path`.
fn bodies(srv: &ScriptedServer, path: &str) -> Vec<Value> {
    srv.requests().into_iter().filter(|r| r.path == path).filter_map(|r| r.json).collect()
}

#[tokio::test]
async fn the_flag_reaches_the_ollama_and_openai_bodies_and_the_report() {
    let srv = server().await;
    let dir = tempfile::tempdir().unwrap();
    for (flag, value) in [("--typical-p", "0.7"), ("--set", "typical_p=0.7")] {
        let out = dir.path().join(format!("ollama{flag}"));
        let mut cmd = chimera();
        cmd.args(["agent", CORPUS, "--backend", "ollama", "--url", &srv.url(), "--quiet", flag, value])
            .arg("--out")
            .arg(&out);
        let o = run(cmd).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let md = std::fs::read_to_string(out.join("report.md")).unwrap();
        assert!(md.contains("repeat_penalty=default, typical_p=0.7"), "the configuration line: {md}");
    }
    let ollama = bodies(&srv, "/api/generate");
    assert_eq!(ollama.len(), 4);
    assert!(ollama.iter().all(|b| b["options"]["typical_p"] == 0.7), "{ollama:?}");

    let out = dir.path().join("openai");
    let mut cmd = chimera();
    cmd.args(["agent", CORPUS, "--backend", "openai", "--url", &srv.url(), "--model", "m", "--quiet"])
        .args(["--typical-p", "0.7", "--server-ctx", "2048", "--out"])
        .arg(&out);
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let openai = bodies(&srv, "/v1/chat/completions");
    assert_eq!(openai.len(), 2);
    for b in &openai {
        assert_eq!(b["typical_p"], 0.7, "a top-level field for llama-server / vLLM: {b}");
        assert!(b.get("num_ctx").is_none(), "load-time options are not sent over OpenAI: {b}");
    }

    let o = run({
        let mut c = chimera();
        c.args(["agent", CORPUS, "--backend", "ollama", "--url", &srv.url(), "--typical-p", "1.5"]);
        c
    })
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--typical-p"), "{}", text(&o));
    srv.shutdown().await;
}

#[tokio::test]
async fn prefixed_and_per_agent_option_sets_carry_it() {
    let (a, b) = (server().await, server().await);
    let dir = tempfile::tempdir().unwrap();
    // chimera_hetero: agent A (collector) on server a with --chimera, agent B (insight) on b
    // with the old prefixed spelling.
    let mut cmd = chimera();
    cmd.args(["multi", CORPUS, "--backend", "ollama", "--no-solo", "--no-warmup", "--quiet"])
        .args([
            "--url",
            &a.url(),
            "--url2",
            &b.url(),
            "--chimera",
            "typical_p=0.4",
            "--chimera2-typical-p",
            "0.6",
        ])
        .arg("--out")
        .arg(dir.path().join("hetero"));
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (ga, gb) = (bodies(&a, "/api/generate"), bodies(&b, "/api/generate"));
    assert_eq!((ga.len(), gb.len()), (2, 2));
    assert!(ga.iter().all(|g| g["options"]["typical_p"] == 0.4), "{ga:?}");
    assert!(gb.iter().all(|g| g["options"]["typical_p"] == 0.6), "{gb:?}");

    // An agents file: only the agent that sets it sends it.
    let file = dir.path().join("agents.toml");
    let toml = format!(
        "[[agents]]\nlabel = \"Typical\"\nurl = \"{}\"\n[agents.options]\ntypical_p = 0.5\n\n\
         [[agents]]\nlabel = \"Plain\"\nurl = \"{}\"\n",
        a.url(),
        b.url()
    );
    std::fs::write(&file, toml).unwrap();
    let mut cmd = chimera();
    cmd.args([
        "multi",
        CORPUS,
        "--backend",
        "ollama",
        "--no-solo",
        "--no-warmup",
        "--quiet",
        "--agents-file",
    ])
    .arg(&file)
    .arg("--out")
    .arg(dir.path().join("file"));
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (ga, gb) = (bodies(&a, "/api/generate"), bodies(&b, "/api/generate"));
    assert!(ga[2..].iter().all(|g| g["options"]["typical_p"] == 0.5), "{ga:?}");
    assert!(gb[2..].iter().all(|g| g["options"].get("typical_p").is_none()), "{gb:?}");
    a.shutdown().await;
    b.shutdown().await;
}

fn csv_column(out: &Path, name: &str) -> (usize, Vec<String>) {
    let mut r = csv::Reader::from_path(out.join("points.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let i = header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no {name} column: {header:?}"));
    let values = r.records().map(|rec| rec.unwrap()[i].to_string()).collect();
    (i, values)
}

#[tokio::test]
async fn a_sweep_axis_with_its_points_csv_column() {
    let srv = server().await;
    let dir = tempfile::tempdir().unwrap();
    for (i, axis) in [["--typical-p", "0.5,0.9"], ["--set", "typical_p=0.5,0.9"]].iter().enumerate() {
        let out = dir.path().join(format!("sweep{i}"));
        let mut cmd = chimera();
        cmd.args(["sweep", "--backend", "ollama", "--url", &srv.url(), "--num-predict", "4", "--runs", "1"])
            .args(["--quiet", "--warmup", "never"])
            .args(axis)
            .arg("--out")
            .arg(&out);
        let o = run(cmd).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let (col, values) = csv_column(&out, "typical_p");
        assert_eq!(values, ["", "0.5", "0.9"], "baseline, then the axis");
        assert_eq!(csv_column(&out, "min_p").0 + 1, col, "the table's order");
        let labels: Vec<String> = std::fs::read_to_string(out.join("points.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["label"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(labels, ["baseline", "typical_p=0.5", "typical_p=0.9"]);
    }
    let sent: Vec<Option<f64>> =
        bodies(&srv, "/api/generate").iter().map(|b| b["options"]["typical_p"].as_f64()).collect();
    assert_eq!(sent, [None, Some(0.5), Some(0.9), None, Some(0.5), Some(0.9)]);
    srv.shutdown().await;
}

#[tokio::test]
async fn the_embedded_engine_samples_with_it() {
    let srv = serve(&[], Stdio::null());
    let http = reqwest::Client::new();
    let generate = |seed: u64, typical_p: Option<f64>| {
        let mut options = json!({"temperature": 1.5, "top_k": 40, "seed": seed, "num_predict": 16});
        if let Some(p) = typical_p {
            options["typical_p"] = json!(p);
        }
        let body = json!({"model": "gemma3:270m", "prompt": "The benchmark showed", "stream": false, "options": options});
        let req = http.post(format!("{}/api/generate", srv.url)).json(&body).send();
        async move { req.await.unwrap().json::<Value>().await.unwrap()["response"].as_str().unwrap().to_string() }
    };
    // Without it, hot sampling (temperature 1.5 over the top 40) follows the seed.
    let (a, b) = (generate(1, None).await, generate(2, None).await);
    assert_ne!(a, b, "different seeds must give different text at temperature 1.5");
    // A tiny typical_p keeps the one token whose surprisal is closest to the entropy (with the
    // top 40 kept first, its probability is at least e^(-2·ln 40) = 1/1600 > 0.0005), so the seed
    // no longer matters.
    let (a, b) = (generate(1, Some(0.0005)).await, generate(2, Some(0.0005)).await);
    assert!(!a.is_empty());
    assert_eq!(a, b, "typical sampling with p → 0 is deterministic");
}
