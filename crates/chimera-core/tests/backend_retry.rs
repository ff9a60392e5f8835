//! A server that closes its connection after every response (as llama-server does): a request
//! sent on the pooled connection it closed gets no response byte, and is sent once more on a
//! fresh connection, recorded in the call record, its clock restarted; a request that fails on
//! a fresh connection is not retried.

use std::time::Duration;

use chimera_core::backend::{
    Backend, BackendError, GenRequest, OllamaClient, OpenAiClient, Timeouts, no_sink,
};
use chimera_core::options::GenOptions;
use chimera_testkit::{
    FakeOllama, Final, LatencyProfile, Reply, Script, ScriptedServer, ServerOptions, Timings,
};

fn req() -> GenRequest {
    GenRequest::generate("gemma3:270m", None, "hello", GenOptions::default())
}

fn script() -> Script {
    let t = Timings { eval_count: 3, eval_duration_ns: 3_000_000, ..Default::default() };
    Script::tokens(Duration::from_millis(20), Duration::from_millis(1), 3, Final::stop(t))
}

fn closing() -> ServerOptions {
    ServerOptions { close_after_response: true, ..Default::default() }
}

#[tokio::test]
async fn a_call_on_a_connection_the_server_closed_is_retried_once_on_a_fresh_one() {
    let srv = ScriptedServer::start_with(closing(), |r| {
        if r.path.starts_with("/v1/") { Reply::OpenAi(script()) } else { Reply::Ollama(script()) }
    })
    .await;
    let ollama: Box<dyn Backend> = Box::new(OllamaClient::new(&srv.url(), Timeouts::default()));
    let openai: Box<dyn Backend> = Box::new(OpenAiClient::new(&srv.url(), None, Timeouts::default()));
    for client in [ollama, openai] {
        let mut retried = Vec::new();
        for i in 0..4 {
            let rec = client.generate(&req(), &no_sink).await;
            let rec = rec.unwrap_or_else(|f| panic!("call {i}: {} ({:?})", f.error, f.partial.retry));
            assert!(rec.completed && rec.chunks == 3, "{rec:?}");
            if let Some(retry) = &rec.retry {
                assert_eq!(retry.error, BackendError::Truncated);
                assert!(retry.first_started_at <= rec.started_at);
                assert!(rec.ttft_ms().unwrap() >= 20.0, "TTFT counts from the retried send");
            }
            retried.push(rec.retry.is_some());
        }
        // A new connection is pooled, closed by the server after its response, found dead by the
        // next call (retried on a fresh, unpooled connection); the call after that connects anew.
        assert_eq!(retried, [false, true, false, true], "{}", client.endpoint());
    }
    // Each retried request reached the server twice (read, then the connection closed).
    assert_eq!(
        srv.requests().len(),
        2 * (4 + 2),
        "{:?}",
        srv.requests().iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    srv.shutdown().await;
}

/// The clock restarts at the retry: the first attempt waited for the close, the call's offsets
/// do not include that wait.
#[tokio::test]
async fn ttft_is_counted_from_the_retried_send() {
    let srv = ScriptedServer::start_with(closing(), |_| Reply::Ollama(script())).await;
    let c = OllamaClient::new(&srv.url(), Timeouts::default());
    c.generate(&req(), &no_sink).await.unwrap();
    let rec = c.generate(&req(), &no_sink).await.unwrap();
    let retry = rec.retry.clone().expect("retried");
    let gap_ms = (rec.started_at - retry.first_started_at).num_microseconds().unwrap() as f64 / 1000.0;
    assert!(
        gap_ms >= retry.first_attempt_ms - 1.0,
        "started_at moved to the retry ({gap_ms} ms vs {retry:?})"
    );
    assert!(rec.chunk_arrivals_ms.iter().all(|&t| t >= 20.0));
    srv.shutdown().await;
}

/// Metadata calls (version, tags, show) ride the same pool and are retried the same way, so
/// `info` works against such a server.
#[tokio::test]
async fn info_calls_are_retried_too() {
    let profile = LatencyProfile::new(Duration::from_millis(5), Duration::from_millis(1), 3);
    let fake = FakeOllama::new(profile).models(&["gemma3:270m"]);
    let srv = ScriptedServer::start_with(closing(), fake.handler()).await;
    let info = OllamaClient::new(&srv.url(), Timeouts::default()).info(Some("gemma3:270m")).await.unwrap();
    assert_eq!(info.model.as_deref(), Some("gemma3:270m"));
    assert!(info.context_length.is_some(), "/api/show answered");
    srv.shutdown().await;
}

/// A server that closes a FRESH connection without answering is not asked twice.
#[tokio::test]
async fn a_failure_on_a_fresh_connection_is_not_retried() {
    let srv = ScriptedServer::start(|_| Reply::Close).await;
    let f = OllamaClient::new(&srv.url(), Timeouts::default()).generate(&req(), &no_sink).await.unwrap_err();
    assert_eq!(f.error, BackendError::Truncated);
    assert!(f.partial.retry.is_none());
    assert_eq!(srv.requests().len(), 1);
    srv.shutdown().await;
}
