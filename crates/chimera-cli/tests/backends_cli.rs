//! `chimera agent` through the real binary against hostile or unusual servers on loopback:
//! HTTPS with a CA made at test time (`--ca-cert`, `--insecure`, and the error without them),
//! an API key and a URL password that servers echo back (never written anywhere: report.md,
//! metrics.json, manifest.json, stdout, stderr), and a server that closes its connection after
//! every response (each call still succeeds; the retry is recorded).

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use chimera_testkit::{
    FakeOllama, Final, LatencyProfile, Reply, Request, Script, ScriptedServer, ServerOptions, Step, TestCa,
    Timings,
};
use serde_json::{Value, json};

mod common;
use common::{chimera, json_file, run, text};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/seed-101");

async fn run_with(args: Vec<String>, env: Vec<(&'static str, String)>) -> Output {
    let mut cmd = chimera();
    cmd.args(args).envs(env);
    run(cmd).await
}

fn agent_args(url: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["agent", CORPUS, "--url", url, "--server-ctx", "2048", "--out"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.push(out.display().to_string());
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// Everything the run wrote or printed.
fn everything(o: &Output, out: &Path) -> String {
    let mut all = text(o);
    for f in ["report.md", "metrics.json", "manifest.json"] {
        all.push_str(&std::fs::read_to_string(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")));
    }
    all
}

/// `secret` as written raw, inside JSON, in HTML, percent-encoded.
fn assert_absent(all: &str, secret: &str) {
    let json = serde_json::to_string(secret).unwrap();
    let html = secret.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
    let pct: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
    for form in [secret, &json[1..json.len() - 1], &html, &pct] {
        assert!(!all.contains(form), "{form:?} was written out:\n{all}");
    }
}

fn fast_ollama() -> FakeOllama {
    FakeOllama::new(LatencyProfile::new(Duration::from_millis(5), Duration::from_millis(1), 8))
        .models(&["gemma3:270m"])
}

#[tokio::test]
async fn https_works_with_the_lab_ca_or_insecure_and_says_tls_failed_without() {
    let ca = Arc::new(TestCa::generate());
    let opts = ServerOptions { tls: Some(ca.clone()), ..Default::default() };
    let srv = ScriptedServer::start_with(opts, fast_ollama().handler()).await;
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("lab-ca.pem");
    ca.write_ca_pem(&pem).unwrap();
    let pem = pem.display().to_string();
    for (name, extra) in [
        ("ca", vec!["--backend", "ollama", "--ca-cert", &pem]),
        ("insecure", vec!["--backend", "ollama", "--insecure"]),
        ("auto", vec!["--ca-cert", &pem]),
    ] {
        let out = dir.path().join(name);
        let o = run_with(agent_args(&srv.url(), &out, &extra), vec![]).await;
        assert_eq!(o.status.code(), Some(0), "{name}: {}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains(&format!("backend: ollama at {}", srv.url())), "{name}: {}", text(&o));
        assert_eq!(stderr.contains("NOT verified (--insecure)"), name == "insecure", "{}", text(&o));
    }

    let out = dir.path().join("untrusted");
    let o = run_with(agent_args(&srv.url(), &out, &["--backend", "ollama"]), vec![]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let all = everything(&o, &out);
    assert!(all.contains("TLS with https://127.0.0.1:") && all.contains("--ca-cert FILE"), "{all}");
    assert!(!all.contains("Is the server running"), "{all}");
    srv.shutdown().await;
}

const KEY: &str = r#"sk-"k\e<y&9"#;
const PASS: &str = "pa:ss@w0rd";

/// Echoes every credential it is given: the bearer key streamed back as content and in a 401
/// body (JSON-escaped), the password in content and in an error.
fn echo(req: &Request) -> Reply {
    let auth = req.header("authorization").unwrap_or_default();
    let key = auth.strip_prefix("Bearer ").unwrap_or_default().to_string();
    let t =
        Timings { eval_count: 6, eval_duration_ns: 6_000_000, prompt_eval_count: 50, ..Default::default() };
    let prompt = req.json.as_ref().map(Value::to_string).unwrap_or_default();
    let content = Script::new()
        .at_ms(2, Step::token("Findings: key "))
        .at_ms(3, Step::token(key.clone()))
        .at_ms(4, Step::token(format!(" password {PASS} ")))
        .at_ms(5, Step::token("76.59 tok/s."))
        .at_ms(6, Step::Done(Final::stop(t)));
    match req.path.as_str() {
        "/v1/models" => Reply::Json(json!({"data": [{"id": "gemma3:270m"}]})),
        "/v1/chat/completions" if prompt.contains("Technical report") => Reply::JsonStatus(
            401,
            json!({"error": {"message": format!("invalid key {key} (password {PASS})")}}),
        ),
        "/v1/chat/completions" => Reply::OpenAi(content),
        "/api/version" => Reply::Json(json!({"version": format!("0.12.0 {PASS}")})),
        "/api/generate" if prompt.contains("Technical report") => {
            Reply::JsonStatus(500, json!({"error": format!("denied {auth}, password {PASS}")}))
        }
        "/api/generate" => Reply::Ollama(content),
        _ => Reply::JsonStatus(404, json!({"error": format!("not found; password {PASS}")})),
    }
}

#[tokio::test]
async fn an_api_key_and_a_url_password_are_never_written_anywhere() {
    let srv = ScriptedServer::start(echo).await;
    let port = srv.addr().port();
    let dir = tempfile::tempdir().unwrap();

    // OpenAI-compatible with a key (bearer) and a URL password (not sent: the key wins).
    let out = dir.path().join("openai");
    let url = format!("http://user:pa%3Ass%40w0rd@127.0.0.1:{port}/v1");
    let args = agent_args(&url, &out, &["--backend", "openai", "--api-key-env", "CHIMERA_TEST_KEY"]);
    let o = run_with(args, vec![("CHIMERA_TEST_KEY", KEY.to_string())]).await;
    assert_eq!(o.status.code(), Some(1), "the report call gets a 401: {}", text(&o));
    let all = everything(&o, &out);
    assert!(all.contains("Findings: key [redacted] password [redacted]"), "{all}");
    assert!(all.contains("invalid key [redacted]"), "{all}");
    assert_absent(&all, KEY);
    assert_absent(&all, PASS);
    assert_absent(&all, "pa%3Ass%40w0rd");
    let reqs = srv.requests();
    assert!(reqs.iter().all(|r| r.header("authorization") == Some(format!("Bearer {KEY}").as_str())));

    // Ollama with the password in the URL: sent as basic auth, echoed back, never written.
    let out = dir.path().join("ollama");
    let url = format!("http://user:pa%3Ass%40w0rd@127.0.0.1:{port}");
    let o = run_with(agent_args(&url, &out, &["--backend", "ollama"]), vec![]).await;
    assert_eq!(o.status.code(), Some(1), "the report call gets a 500: {}", text(&o));
    let all = everything(&o, &out);
    assert!(
        all.contains(&format!("http://127.0.0.1:{port}")),
        "the endpoint is recorded without credentials"
    );
    assert_absent(&all, PASS);
    assert_absent(&all, "pa%3Ass%40w0rd");
    let last = srv.requests().last().unwrap().header("authorization").unwrap_or_default().to_string();
    assert!(last.starts_with("Basic "), "{last}");
    srv.shutdown().await;
}

/// llama-server's behaviour: the connection is closed after every response. Before, every other
/// call failed with "the stream ended before its final chunk".
#[tokio::test]
async fn a_server_that_closes_after_every_response_costs_a_recorded_retry_not_a_call() {
    let opts = ServerOptions { close_after_response: true, ..Default::default() };
    let srv = ScriptedServer::start_with(opts, |r| {
        let t = Timings { eval_count: 4, eval_duration_ns: 4_000_000, ..Default::default() };
        match r.path.as_str() {
            "/v1/models" => Reply::Json(json!({"data": [{"id": "gemma3:270m"}]})),
            _ => Reply::OpenAi(Script::tokens(
                Duration::from_millis(3),
                Duration::from_millis(1),
                4,
                Final::stop(t),
            )),
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("agent");
    let o = run_with(agent_args(&srv.url(), &out, &["--backend", "openai"]), vec![]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = json_file(&out.join("metrics.json"));
    let calls = m["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    // A call that found its pooled connection closed was retried on a fresh one and says so.
    // Which call that is depends on what ran before it (the pre-flight and info calls retry on
    // their own connections), so every retry is counted against the requests the server saw.
    let retried: Vec<&serde_json::Value> = calls.iter().filter(|c| !c["retry"].is_null()).collect();
    assert!(!retried.is_empty(), "no call was retried: {calls:?}");
    for c in &retried {
        assert_eq!(c["retry"]["error"]["kind"], "truncated", "{c}");
    }
    let posts = srv.requests().iter().filter(|r| r.method == "POST").count();
    assert_eq!(posts, calls.len() + retried.len(), "one request per call plus one per retry");
    assert!(calls.iter().all(|c| c["completed"] == true));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("retried once on a fresh connection"), "{md}");
    srv.shutdown().await;
}
