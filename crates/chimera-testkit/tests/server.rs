//! The scripted server on the wire, read with a raw TCP socket: chunked framing, split lines,
//! batches, drops, keep-alive, serial queueing and the request log.

use std::time::{Duration, Instant};

use chimera_testkit::{FakeOllama, LatencyProfile, Reply, Script, ScriptedServer, Step, first_send_stamp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Read until the connection closes or the terminating zero chunk arrives; returns every read.
async fn read_reads(s: &mut TcpStream) -> Vec<Vec<u8>> {
    let mut reads = Vec::new();
    let mut all = Vec::new();
    let mut buf = [0u8; 65536];
    for _ in 0..1000 {
        let n = tokio::time::timeout(ms(5000), s.read(&mut buf)).await.expect("server answers").unwrap();
        if n == 0 {
            break;
        }
        reads.push(buf[..n].to_vec());
        all.extend_from_slice(&buf[..n]);
        if all.ends_with(b"\r\n0\r\n\r\n") {
            break;
        }
    }
    reads
}

/// Decode a chunked body into its chunks.
fn chunks(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (_, mut rest) = text.split_once("\r\n\r\n").unwrap();
    let mut out = Vec::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size, 16).unwrap();
        if n == 0 {
            break;
        }
        out.push(tail[..n].to_string());
        rest = &tail[n + 2..];
    }
    out
}

#[tokio::test]
async fn chunked_ndjson_with_split_and_batch_and_the_request_log() {
    let script = Script::new()
        .at_ms(0, Step::token("a"))
        .at_ms(1, Step::split(Step::token("bb")))
        .at_ms(2, Step::Batch(vec![Step::token("c"), Step::ErrorLine("x".into())]));
    let srv = ScriptedServer::start(move |_| Reply::Ollama(script.clone())).await;
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(post("/api/generate", r#"{"model":"m","options":{"num_ctx":64}}"#).as_bytes()).await.unwrap();
    let raw: Vec<u8> = read_reads(&mut s).await.concat();
    let head = String::from_utf8_lossy(&raw);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.contains("Transfer-Encoding: chunked"));
    let c = chunks(&raw);
    assert_eq!(c.len(), 4, "token, two halves of the split line, one batch: {c:?}");
    assert!(c[0].ends_with("\n") && c[0].contains(r#""response":"a""#));
    assert!(!c[1].ends_with('\n') && (c[1].clone() + &c[2]).contains(r#""response":"bb""#));
    assert_eq!(c[3].matches('\n').count(), 2);
    assert!(c[3].contains(r#"{"error":"x"}"#));
    let r = &srv.requests()[0];
    assert_eq!((r.method.as_str(), r.path.as_str(), r.model()), ("POST", "/api/generate", Some("m")));
    assert_eq!(r.option_i64("num_ctx"), Some(64));
    assert_eq!(r.header("Content-Type"), Some("application/json"));
}

#[tokio::test]
async fn drop_closes_mid_stream_and_keep_alive_serves_the_next_request() {
    let srv = ScriptedServer::start(|r| {
        if r.path == "/drop" {
            Reply::Ollama(Script::new().at_ms(0, Step::token("a")).at_ms(1, Step::Drop))
        } else {
            Reply::Json(serde_json::json!({"ok": true}))
        }
    })
    .await;
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    for _ in 0..2 {
        s.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 200") && text.ends_with(r#"{"ok":true}"#), "{text}");
    }
    s.write_all(post("/drop", "{}").as_bytes()).await.unwrap();
    let raw = read_reads(&mut s).await.concat();
    assert!(!raw.ends_with(b"0\r\n\r\n"), "no terminating chunk after a drop");
    let mut buf = [0u8; 16];
    assert_eq!(s.read(&mut buf).await.unwrap(), 0, "connection closed");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_steps_and_serial_queueing() {
    let srv = FakeOllama::new(LatencyProfile::new(ms(60), ms(10), 3)).start_serial().await;
    let body = r#"{"model":"gemma3:270m","prompt":"x"}"#;
    let t0 = Instant::now();
    let mut a = TcpStream::connect(srv.addr()).await.unwrap();
    let mut b = TcpStream::connect(srv.addr()).await.unwrap();
    a.write_all(post("/api/generate", body).as_bytes()).await.unwrap();
    tokio::time::sleep(ms(5)).await;
    b.write_all(post("/api/generate", body).as_bytes()).await.unwrap();
    let (ra, rb) = tokio::join!(read_reads(&mut a), read_reads(&mut b));
    let _ = (ra, rb);
    let total = t0.elapsed();
    // a: first token at 60 ms, last at 80 ms; b waits for a, then 60 + 20 ms more.
    assert!(total >= ms(160), "serial server answered both in {total:?}");
    assert_eq!(srv.requests().len(), 2);

    let srv = FakeOllama::new(LatencyProfile::new(ms(60), ms(10), 3)).models(&["other"]).start().await;
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(post("/api/generate", body).as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 404") && text.contains("try pulling it first"), "{text}");
}

/// The first-send stamp: a last token carrying when the first token was really written and when
/// the request was read (system clock, ns): read ≤ sent, sent at least the script's 20 ms after
/// the read, and both within the test's own clock readings around the request.
#[tokio::test]
async fn first_send_stamp_says_when_the_first_token_went_out() {
    let script = Script::new()
        .at_ms(0, Step::Thinking(String::new()))
        .at_ms(20, Step::token("a"))
        .at_ms(21, Step::token("b"))
        .then(Step::FirstSendStamp);
    let srv = ScriptedServer::start(move |_| Reply::Ollama(script.clone())).await;
    let wall = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let before = wall();
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(post("/api/generate", r#"{"model":"m"}"#).as_bytes()).await.unwrap();
    let raw = read_reads(&mut s).await.concat();
    let after = wall();
    let c = chunks(&raw);
    assert_eq!(c.len(), 4, "{c:?}");
    let last: serde_json::Value = serde_json::from_str(c[3].trim_end()).unwrap();
    let text = last["response"].as_str().unwrap();
    let (sent, read) = first_send_stamp(text).expect("a stamp");
    assert!(before <= read && read <= sent && sent <= after, "{before} {read} {sent} {after}");
    assert!(sent - read >= 20_000_000, "the first token (not the empty thinking step) is stamped: {text}");
    assert_eq!(first_send_stamp("no stamp here"), None);
}
