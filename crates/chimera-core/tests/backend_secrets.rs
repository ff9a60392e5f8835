//! Secrets against hostile servers: an API key holding `"` and `\` echoed in a 401 (raw and
//! JSON-escaped) or streamed back as content, and a password in the server URL
//! (`http://user:pass@host`) echoed in an error. Each is sent where it belongs (bearer token,
//! basic auth) and appears in no record, error or Debug output, in any written form.

use std::time::Duration;

use chimera_core::backend::{
    Backend, GenRequest, OllamaClient, OpenAiClient, Timeouts, no_sink, without_userinfo,
};
use chimera_core::options::GenOptions;
use chimera_testkit::{Final, Reply, Script, ScriptedServer, Step, Timings};
use serde_json::json;

fn req(model: &str) -> GenRequest {
    GenRequest::generate(model, None, "hello", GenOptions::default())
}

/// Every form in which `secret` could be written: raw, inside JSON, percent-encoded.
fn forms(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).unwrap();
    let pct: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
    vec![secret.to_string(), json[1..json.len() - 1].to_string(), pct]
}

fn assert_clean(outputs: &[String], secret: &str) {
    for o in outputs {
        for f in forms(secret) {
            assert!(!o.contains(&f), "the secret leaked (as {f:?}) into: {o}");
        }
    }
}

#[tokio::test]
async fn an_api_key_with_quotes_and_backslashes_is_redacted_from_echoes_and_content() {
    const KEY: &str = r#"sk-"q\u0041ote\"x"#;
    let srv = ScriptedServer::start(|r| {
        let auth = r.header("authorization").unwrap_or_default().to_string();
        let key = auth.trim_start_matches("Bearer ").to_string();
        let t = Timings { eval_count: 4, eval_duration_ns: 4_000_000, ..Default::default() };
        match (r.path.as_str(), r.model()) {
            ("/v1/models", _) => Reply::JsonStatus(401, json!({"error": {"detail": {"rejected": auth}}})),
            (_, Some("echo")) => {
                Reply::JsonStatus(401, json!({"error": {"message": format!("bad key {key}")}}))
            }
            // The key streamed back as content, cut in the middle of its escapes.
            _ => Reply::OpenAi(
                Script::new()
                    .at_ms(1, Step::token("your key: "))
                    .at_ms(2, Step::token(&key[..5]))
                    .at_ms(3, Step::token(&key[5..]))
                    .at_ms(4, Step::token(" ok"))
                    .at_ms(5, Step::Done(Final::stop(t))),
            ),
        }
    })
    .await;
    let c = OpenAiClient::new(&srv.url(), Some(KEY.into()), Timeouts::default());
    let rec = c.generate(&req("stream"), &no_sink).await.unwrap();
    assert_eq!(rec.text, "your key: [redacted] ok");
    let f = c.generate(&req("echo"), &no_sink).await.unwrap_err();
    assert!(f.error.to_string().contains("bad key [redacted]"), "{}", f.error);
    let e = c.info(Some("m")).await.unwrap_err();
    assert!(e.to_string().contains("[redacted]"), "{e}");
    assert_eq!(srv.requests()[0].header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    let outputs = [
        serde_json::to_string(&rec).unwrap(),
        serde_json::to_string(&*f.partial).unwrap(),
        serde_json::to_string(&f.error).unwrap(),
        f.error.to_string(),
        e.to_string(),
        serde_json::to_string(&e).unwrap(),
        format!("{rec:?} {f:?} {e:?} {c:?}"),
    ];
    assert_clean(&outputs, KEY);
    srv.shutdown().await;
}

#[tokio::test]
async fn a_password_in_the_url_is_sent_as_basic_auth_and_never_written() {
    const PASS: &str = "p@ss:w/0rd";
    let srv = ScriptedServer::start(|r| {
        let auth = r.header("authorization").unwrap_or_default().to_string();
        match r.model() {
            Some("echo") => Reply::JsonStatus(500, json!({"error": format!("denied {auth} for p@ss:w/0rd")})),
            _ => Reply::Ollama(Script::tokens(
                Duration::ZERO,
                Duration::from_millis(1),
                2,
                Final::stop(Timings { eval_count: 2, ..Default::default() }),
            )),
        }
    })
    .await;
    let port = srv.addr().port();
    let url = format!("http://us%65r:p%40ss%3Aw%2F0rd@127.0.0.1:{port}/");
    assert_eq!(without_userinfo(&url), format!("http://127.0.0.1:{port}/"));
    let c = OllamaClient::new(&url, Timeouts::default());
    assert_eq!(c.endpoint(), format!("http://127.0.0.1:{port}"));
    let rec = c.generate(&req("m"), &no_sink).await.unwrap();
    let expected = reqwest::Client::new().get("http://x/").basic_auth("user", Some(PASS)).build().unwrap();
    assert_eq!(
        srv.requests()[0].header("authorization"),
        expected.headers()["authorization"].to_str().ok(),
        "the URL's credentials are sent, percent-decoded, as basic auth"
    );
    let f = c.generate(&req("echo"), &no_sink).await.unwrap_err();
    let basic = srv.requests()[1].header("authorization").unwrap().to_string();
    let outputs = [
        serde_json::to_string(&rec).unwrap(),
        serde_json::to_string(&*f.partial).unwrap(),
        f.error.to_string(),
        format!("{rec:?} {f:?} {c:?}"),
    ];
    assert_clean(&outputs, PASS);
    assert_clean(&outputs, "p%40ss%3Aw%2F0rd");
    assert!(f.error.to_string().contains("[redacted]"), "{}", f.error);
    // The header itself (base64 of user:password) is the server's echo, not ours to hide; but
    // the password is nowhere in clear.
    assert!(!basic.contains(PASS));
    srv.shutdown().await;
}
