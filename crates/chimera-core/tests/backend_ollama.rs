//! Ollama client against the scripted loopback server: timings, framing, faults, metadata.

use std::sync::Mutex;
use std::time::Duration;

use chimera_core::backend::{
    Backend, BackendError, CallFailure, CallRecord, GenRequest, Input, Message, OllamaClient, Role, Timeouts,
    TokenChunk, no_sink,
};
use chimera_core::options::GenOptions;
use chimera_testkit::{FakeOllama, LatencyProfile, Reply, Script, ScriptedServer, Step, Timings};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn timeouts(first_token_ms: u64, idle_ms: u64) -> Timeouts {
    Timeouts { connect: ms(2000), first_token: ms(first_token_ms), idle: ms(idle_ms) }
}

fn req() -> GenRequest {
    GenRequest::generate("gemma3:270m", Some("be brief"), "hello", GenOptions::default())
}

async fn call(url: &str, t: Timeouts, r: &GenRequest) -> Result<CallRecord, CallFailure> {
    OllamaClient::new(url, t).generate(r, &no_sink).await
}

async fn serve(script: Script) -> ScriptedServer {
    ScriptedServer::start(move |_| Reply::Ollama(script.clone())).await
}

fn timings(eval_count: u64) -> Timings {
    Timings {
        total_duration_ns: 400_000_000,
        load_duration_ns: 50_000_000,
        prompt_eval_count: 12,
        prompt_eval_duration_ns: 100_000_000,
        eval_count,
        eval_duration_ns: 250_000_000,
    }
}

/// Client TTFT within 2 ms of the scripted first-token time; every ITL sample matches the script.
/// Up to ten attempts, stopping at the first within tolerance, so a burst of load from parallel
/// builds on the machine does not decide the result; a client that adds latency fails all ten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttft_and_itl_match_the_script() {
    let (first, itl, n) = (150u64, 20u64, 12usize);
    let script = Script::ollama_tokens(ms(first), ms(itl), n, timings(n as u64));
    let srv = serve(script).await;
    let client = OllamaClient::new(&srv.url(), timeouts(5000, 5000));
    let mut best: Option<(f64, f64)> = None;
    for _ in 0..10 {
        let rec = client.generate(&req(), &no_sink).await.expect("scripted call succeeds");
        assert!(rec.completed);
        assert_eq!(rec.chunks, n as u64);
        assert_eq!(rec.text, (0..n).map(|i| format!("t{i} ")).collect::<String>());
        let ttft_err = (rec.ttft_ms().unwrap() - first as f64).abs();
        let itl_err = rec.itl_ms().iter().map(|d| (d - itl as f64).abs()).fold(0.0, f64::max);
        assert_eq!(rec.itl_ms().len(), n - 1);
        eprintln!("attempt: TTFT error {ttft_err:.3} ms, worst ITL error {itl_err:.3} ms");
        if best.is_none_or(|(t, i)| ttft_err.max(itl_err) < t.max(i)) {
            best = Some((ttft_err, itl_err));
        }
        // Server timings come from the final chunk.
        assert_eq!(rec.server.eval_count, Some(n as u64));
        assert_eq!(rec.server.load_duration_ns, Some(50_000_000));
        assert_eq!(rec.decode_tok_s(), Some(n as f64 / 0.25));
        assert_eq!(rec.done_reason.as_deref(), Some("stop"));
        if ttft_err < 2.0 && itl_err < 2.0 {
            break;
        }
    }
    let (ttft_err, itl_err) = best.unwrap();
    assert!(ttft_err < 2.0, "client TTFT off the scripted {first} ms by {ttft_err:.3} ms");
    assert!(itl_err < 2.0, "an ITL sample is off the scripted {itl} ms by {itl_err:.3} ms");
}

#[tokio::test]
async fn options_and_keep_alive_are_sent_exactly() {
    let srv = serve(Script::ollama_tokens(ms(0), ms(0), 1, timings(1))).await;
    let mut r = GenRequest::generate(
        "gemma3:270m",
        None,
        "hi",
        GenOptions { temperature: Some(0.8), num_ctx: Some(512), top_p: Some(0.9), ..Default::default() },
    );
    r.keep_alive = Some("5m".into());
    call(&srv.url(), Timeouts::default(), &r).await.unwrap();
    let got = &srv.requests()[0];
    assert_eq!((got.method.as_str(), got.path.as_str()), ("POST", "/api/generate"));
    assert!(got.body.contains(r#""options":{"num_ctx":512,"temperature":0.8,"top_p":0.9}"#), "{}", got.body);
    let j = got.json.as_ref().unwrap();
    assert_eq!(j["keep_alive"], "5m");
    assert_eq!(j["stream"], true);
    assert!(j.get("system").is_none());

    // Server defaults: no options object at all.
    call(&srv.url(), Timeouts::default(), &req()).await.unwrap();
    let got = &srv.requests()[1];
    assert!(got.json.as_ref().unwrap().get("options").is_none(), "{}", got.body);
    assert_eq!(got.json.as_ref().unwrap()["system"], "be brief");
}

#[tokio::test]
async fn chat_input_goes_to_api_chat() {
    let script = Script::new()
        .at_ms(5, Step::Thinking("hmm".into()))
        .at_ms(30, Step::token("Hi"))
        .at_ms(31, Step::token("!"))
        .at_ms(31, Step::Done(chimera_testkit::Final::stop(timings(2))));
    let srv = serve(script).await;
    let r = GenRequest {
        model: "gemma3:270m".into(),
        input: Input::Chat {
            messages: vec![Message::new(Role::System, "sys"), Message::new(Role::User, "hello")],
        },
        options: GenOptions::default(),
        keep_alive: None,
        tools: Vec::new(),
    };
    let seen = Mutex::new(Vec::new());
    let sink = |c: TokenChunk<'_>| seen.lock().unwrap().push((c.index, c.thinking, c.text.to_string()));
    let rec = OllamaClient::new(&srv.url(), Timeouts::default()).generate(&r, &sink).await.unwrap();
    assert_eq!(srv.requests()[0].path, "/api/chat");
    assert_eq!(srv.requests()[0].json.as_ref().unwrap()["messages"][1]["content"], "hello");
    assert_eq!(rec.text, "Hi!");
    assert_eq!(rec.thinking, "hmm");
    // Thinking counts for TTFT; the first visible content is kept separately.
    let (ttft, content) = (rec.first_token_ms.unwrap(), rec.first_content_ms.unwrap());
    assert_eq!((ttft, content), (rec.chunk_arrivals_ms[0], rec.chunk_arrivals_ms[1]));
    assert!(ttft <= content, "ttft {ttft} content {content}");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(0, true, "hmm".to_string()), (1, false, "Hi".to_string()), (2, false, "!".to_string())]
    );
}

#[tokio::test]
async fn a_line_split_across_chunks_and_several_lines_in_one_chunk_both_parse() {
    let script = Script::new()
        .at_ms(0, Step::split(Step::token("hello")))
        .at_ms(10, Step::Batch(vec![Step::token(" big"), Step::token(" wide"), Step::token(" world")]))
        .at_ms(20, Step::split(Step::Done(chimera_testkit::Final::stop(timings(4)))));
    let srv = serve(script).await;
    let rec = call(&srv.url(), Timeouts::default(), &req()).await.unwrap();
    assert_eq!(rec.text, "hello big wide world");
    assert_eq!(rec.chunks, 4);
    assert_eq!(rec.server.eval_count, Some(4));
    assert!(rec.completed);
}

async fn failure(script: Script, t: Timeouts) -> CallFailure {
    let srv = serve(script).await;
    call(&srv.url(), t, &req()).await.expect_err("the scripted fault must fail the call")
}

#[tokio::test]
async fn malformed_line_is_a_typed_error_with_the_partial_record() {
    let f = failure(
        Script::new().at_ms(0, Step::token("a")).at_ms(5, Step::RawLine("{not json".into())),
        Timeouts::default(),
    )
    .await;
    assert!(matches!(&f.error, BackendError::Malformed { line, .. } if line == "{not json"), "{:?}", f.error);
    assert_eq!((f.partial.chunks, f.partial.text.as_str(), f.partial.completed), (1, "a", false));
    assert_eq!(f.partial.error.as_ref(), Some(&f.error));
}

#[tokio::test]
async fn error_line_is_a_server_error_with_the_partial_record() {
    let f = failure(
        Script::new()
            .at_ms(0, Step::token("a"))
            .at_ms(1, Step::token("b"))
            .at_ms(5, Step::ErrorLine("CUDA error: out of memory".into())),
        Timeouts::default(),
    )
    .await;
    assert_eq!(f.error, BackendError::Server { message: "CUDA error: out of memory".into() });
    assert_eq!(f.partial.chunks, 2);
    assert!(f.partial.end_ms.is_some());
}

#[tokio::test]
async fn dropped_connection_and_missing_final_chunk_are_truncated() {
    let f = failure(
        Script::new().at_ms(0, Step::token("a")).at_ms(2, Step::token("b")).at_ms(4, Step::Drop),
        Timeouts::default(),
    )
    .await;
    assert_eq!(f.error, BackendError::Truncated);
    assert_eq!((f.partial.chunks, f.partial.text.as_str()), (2, "ab"));

    // A clean end of the HTTP body without `done: true` is not a call with 0 tok/s either.
    let f = failure(Script::new().at_ms(0, Step::token("a")), Timeouts::default()).await;
    assert_eq!(f.error, BackendError::Truncated);
    assert_eq!(f.partial.chunks, 1);
    assert_eq!(f.partial.decode_tok_s(), None);
}

#[tokio::test]
async fn stall_past_the_idle_timeout_and_slow_first_token_time_out() {
    let f = failure(
        Script::new()
            .at_ms(0, Step::token("a"))
            .at_ms(1, Step::Stall(ms(3000)))
            .at_ms(3001, Step::token("late")),
        timeouts(5000, 200),
    )
    .await;
    assert_eq!(f.error, BackendError::IdleTimeout { timeout_ms: 200 });
    assert_eq!(f.partial.chunks, 1);
    let end = f.partial.end_ms.unwrap();
    assert!((200.0..3000.0).contains(&end), "gave up at {end} ms, not before the stalled token");
    assert!(f.error.to_string().contains("--idle-timeout"));

    let f = failure(Script::new().at_ms(3000, Step::token("late")), timeouts(200, 5000)).await;
    assert_eq!(f.error, BackendError::FirstTokenTimeout { timeout_ms: 200 });
    assert_eq!(f.partial.chunks, 0);

    // A long stream that keeps moving is fine: no whole-stream timeout.
    let srv = serve(Script::ollama_tokens(ms(0), ms(40), 15, timings(15))).await;
    let rec = call(&srv.url(), timeouts(200, 200), &req()).await.unwrap();
    assert!(rec.e2e_ms().unwrap() > 400.0 && rec.completed);
}

#[tokio::test]
async fn http_errors_are_typed_and_say_what_to_do() {
    let srv = ScriptedServer::start(|r| match r.model() {
        Some("missing") => Reply::JsonStatus(
            404,
            serde_json::json!({"error": "model \"missing\" not found, try pulling it first"}),
        ),
        Some("boom") => {
            Reply::JsonStatus(500, serde_json::json!({"error": "llama runner process has terminated"}))
        }
        _ => Reply::JsonStatus(503, serde_json::json!({"error": "server busy, please try again"})),
    })
    .await;
    let c = OllamaClient::new(&srv.url(), Timeouts::default());
    let mut r = req();
    r.model = "missing".into();
    let f = c.generate(&r, &no_sink).await.unwrap_err();
    assert!(matches!(&f.error, BackendError::ModelNotFound { model, .. } if model == "missing"));
    assert!(f.error.to_string().contains("ollama pull missing"), "{}", f.error);
    assert_eq!((f.partial.chunks, f.partial.completed), (0, false));

    r.model = "boom".into();
    let f = c.generate(&r, &no_sink).await.unwrap_err();
    assert!(
        matches!(&f.error, BackendError::Http { status: 500, body, .. } if body.contains("llama runner"))
    );

    r.model = "busy".into();
    let f = c.generate(&r, &no_sink).await.unwrap_err();
    assert!(matches!(&f.error, BackendError::Http { status: 503, body, .. } if body.contains("server busy")));
    assert!(f.partial.end_ms.is_some());
}

#[tokio::test]
async fn connection_refused_names_the_url_and_how_to_start_a_server() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let f = call(&url, Timeouts::default(), &req()).await.unwrap_err();
    assert!(matches!(&f.error, BackendError::Connect { url: u, .. } if u.contains(&url)), "{:?}", f.error);
    let msg = f.error.to_string();
    assert!(msg.contains(&url) && msg.contains("ollama serve"), "{msg}");
    let e = OllamaClient::new(&url, Timeouts::default()).version().await.unwrap_err();
    assert!(matches!(e, BackendError::Connect { .. }));
}

#[tokio::test]
async fn server_closing_without_an_answer_is_truncated() {
    let srv = ScriptedServer::start(|_| Reply::Close).await;
    let f = call(&srv.url(), Timeouts::default(), &req()).await.unwrap_err();
    assert_eq!(f.error, BackendError::Truncated);
}

#[tokio::test]
async fn metadata_endpoints_and_info() {
    let srv = FakeOllama::new(LatencyProfile::new(ms(5), ms(1), 3)).version("0.12.3").start().await;
    let c = OllamaClient::new(&format!("{}/", srv.url()), Timeouts::default());
    assert_eq!(c.version().await.unwrap(), "0.12.3");
    let tags = c.tags().await.unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0].name, "gemma3:270m");
    assert_eq!(tags[0].size, chimera_testkit::FAKE_MODEL_SIZE);
    assert_eq!(c.show("gemma3:270m").await.unwrap().context_length(), Some(32768));
    assert!(matches!(c.show("nope").await, Err(BackendError::ModelNotFound { .. })));
    assert!(c.ps().await.unwrap().is_empty());

    let r = GenRequest::generate(
        "gemma3:270m",
        None,
        "x",
        GenOptions { num_ctx: Some(1024), ..Default::default() },
    );
    c.generate(&r, &no_sink).await.unwrap();
    let ps = c.ps().await.unwrap();
    assert_eq!(
        (ps[0].context_length, ps[0].size, ps[0].size_vram),
        (Some(1024), chimera_testkit::FAKE_MODEL_SIZE, 0)
    );

    let info = c.info(Some("gemma3:270m")).await.unwrap();
    assert_eq!(info.version.as_deref(), Some("0.12.3"));
    assert_eq!(info.endpoint, srv.url());
    assert_eq!(info.context_length, Some(32768));
    assert_eq!(info.model_digest.as_ref().map(String::len), Some(64));
    assert!(matches!(c.info(Some("llama3")).await, Err(BackendError::ModelNotFound { .. })));
    let paths: Vec<String> = srv.requests().iter().map(|r| r.path.clone()).collect();
    assert!(paths.contains(&"/api/ps".to_string()) && paths.contains(&"/api/show".to_string()));
}

#[tokio::test]
async fn fake_ollama_speed_is_known_and_prompt_truncation_is_flagged() {
    let srv = FakeOllama::with_profile(|r| {
        let itl = if r.option_i64("num_ctx") == Some(64) { 2 } else { 4 };
        LatencyProfile::new(ms(30), ms(itl), 5).with_load(ms(20)).with_prompt_eval_count(64)
    })
    .start()
    .await;
    let c = OllamaClient::new(&srv.url(), Timeouts::default());
    let small = GenRequest::generate(
        "gemma3:270m",
        None,
        "x",
        GenOptions { num_ctx: Some(64), ..Default::default() },
    );
    let cold = c.generate(&small, &no_sink).await.unwrap();
    let warm = c.generate(&small, &no_sink).await.unwrap();
    assert_eq!(cold.decode_tok_s(), Some(500.0));
    assert_eq!(cold.server.load_duration_ns, Some(20_000_000));
    assert_eq!(warm.server.load_duration_ns, Some(0));
    assert_eq!(cold.prompt_truncated, Some(true), "64 prompt tokens fill num_ctx=64");
    assert!(cold.ttft_ms().unwrap() > warm.ttft_ms().unwrap());
    let big = GenRequest::generate(
        "gemma3:270m",
        None,
        "x",
        GenOptions { num_ctx: Some(4096), ..Default::default() },
    );
    let rec = c.generate(&big, &no_sink).await.unwrap();
    assert_eq!(rec.decode_tok_s(), Some(250.0));
    assert_eq!(rec.prompt_truncated, Some(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_server_queues_concurrent_calls_and_clients_share_a_pool() {
    let srv = FakeOllama::new(LatencyProfile::new(ms(100), ms(1), 2)).start_serial().await;
    let http = chimera_core::backend::http_client(&Timeouts::default());
    let a = OllamaClient::with_http(http.clone(), &srv.url(), Timeouts::default());
    let b = OllamaClient::with_http(http, &srv.url(), Timeouts::default());
    let r = req();
    let (ra, rb) = tokio::join!(a.generate(&r, &no_sink), b.generate(&r, &no_sink));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let (fast, slow) = if ra.ttft_ms() < rb.ttft_ms() { (ra, rb) } else { (rb, ra) };
    assert!(fast.ttft_ms().unwrap() >= 100.0);
    // The second waits for the first to finish (~101 ms), then its own first token (100 ms).
    assert!(slow.ttft_ms().unwrap() >= 195.0, "queued call TTFT {:?}", slow.ttft_ms());
}

/// Tokens are stamped when their bytes were read, not when their line was parsed: two lines in
/// one network read get the same stamp even when the sink spends 5 ms on the first one (before,
/// the second token was stamped after the sink's 5 ms, a made-up inter-token gap).
#[tokio::test]
async fn tokens_are_stamped_at_arrival_not_after_earlier_lines_work() {
    let script = Script::new()
        .at_ms(5, Step::Batch(vec![Step::token("a"), Step::token("b")]))
        .then(Step::Done(chimera_testkit::Final::stop(timings(2))));
    let srv = serve(script).await;
    let slow_sink = |c: TokenChunk<'_>| {
        if c.index == 0 {
            std::thread::sleep(ms(5));
        }
    };
    let rec = OllamaClient::new(&srv.url(), timeouts(5000, 5000)).generate(&req(), &slow_sink).await.unwrap();
    assert_eq!(rec.text, "ab");
    let a = &rec.chunk_arrivals_ms;
    assert_eq!(a.len(), 2);
    assert_eq!(a[0], a[1], "both lines arrived in one read: {a:?}");
}
