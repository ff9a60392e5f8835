//! Fuzz target `serve`: `chimera serve`'s request bodies (`/api/generate`, `/api/chat`,
//! `/v1/chat/completions`, `/v1/completions`), their generation options and keep_alive (stable Rust, driven by `chimera_testkit::fuzz`; the
//! `replay` test runs `testdata/fuzz/serve/` on every `cargo test`, `fuzz` is the timed run of
//! `scripts/fuzz.sh`).
//!
//! Every input is parsed as both bodies. Checked: no panic; a refusal is a `BadRequest` with a
//! reason (HTTP 400), never a crash; a parsed call has a model, is "load only" exactly when it
//! has no prompt or messages, lists as ignored exactly the option names outside chimera's
//! table, and sent back as a body in canonical form (its options as Ollama's wire names) it
//! parses to the same request; its keep_alive parses (or is refused) without a panic, as the
//! server does before loading the model. As OpenAI bodies: a refusal has a reason, an accepted
//! call has a model, an input (messages or a prompt), options within the table's rules, and
//! asks for usage only when it streams.

use chimera_core::backend::{GenRequest, Input, Role};
use chimera_core::options::{self, Api};
use chimera_engine::engine::parse_keep_alive;
use chimera_engine::serve::{
    BadRequest, OpenAiCall, parse_chat, parse_chat_completion, parse_completion, parse_generate,
};
use chimera_testkit::fuzz::{self, Rng, StdRng, Target};
use serde_json::{Value, json};

/// The request sent back as a body, options under Ollama's wire names.
fn canonical(r: &GenRequest, stream: bool) -> Value {
    let mut b = json!({"model": r.model, "stream": stream, "options": r.options.wire(Api::Ollama)});
    if let Some(k) = &r.keep_alive {
        b["keep_alive"] = json!(k);
    }
    match &r.input {
        Input::Generate { system, prompt } => {
            b["prompt"] = json!(prompt);
            if let Some(s) = system {
                b["system"] = json!(s);
            }
        }
        Input::Chat { messages } => {
            let m: Vec<Value> = messages
                .iter()
                .map(|m| {
                    let role = match m.role {
                        Role::System => "system",
                        Role::User => "user",
                        Role::Assistant => "assistant",
                        Role::Tool => "tool",
                    };
                    json!({"role": role, "content": m.content})
                })
                .collect();
            b["messages"] = json!(m);
        }
    }
    b
}

/// The checks of one parse (a macro: the serve crate does not name its parsed call's type).
macro_rules! check_one {
    ($body:expr, $what:expr, $parse:expr) => {{
        let (body, what): (&[u8], &str) = ($body, $what);
        match $parse(body) {
            Err(BadRequest(reason)) if reason.trim().is_empty() => Err(format!("{what}: empty 400 reason")),
            Err(_) => Ok(()),
            Ok(call) => {
                let again = serde_json::to_vec(&canonical(&call.req, call.stream)).unwrap();
                let back = $parse(&again).map(|c| (c.req, c.stream, c.ignored_options));
                check_call(what, &call.req, call.load_only, &call.ignored_options, (call.stream, back))
            }
        }
    }};
}

type Reparsed = Result<(GenRequest, bool, Vec<String>), BadRequest>;

fn check_call(
    what: &str,
    r: &GenRequest,
    load_only: bool,
    ignored: &[String],
    (stream, back): (bool, Reparsed),
) -> Result<(), String> {
    if r.model.trim().is_empty() {
        return Err(format!("{what}: accepted without a model"));
    }
    let empty = match &r.input {
        Input::Generate { prompt, .. } => prompt.is_empty(),
        Input::Chat { messages } => messages.is_empty(),
    };
    if empty != load_only {
        return Err(format!("{what}: load_only {load_only} for an input that is empty: {empty}"));
    }
    if let Some(bad) = ignored.iter().find(|n| options::spec(n).is_some()) {
        return Err(format!("{what}: table option {bad} listed as ignored"));
    }
    match back {
        Ok((r2, s2, ig2)) if r2 == *r && s2 == stream && ig2.is_empty() => {}
        Ok((r2, ..)) => return Err(format!("{what}: canonical body parses to {r2:?}, first parse {r:?}")),
        Err(e) => return Err(format!("{what}: canonical body refused: {e:?}")),
    }
    if let Some(k) = &r.keep_alive {
        let _ = parse_keep_alive(k);
    }
    Ok(())
}

fn check_openai(what: &str, parsed: Result<OpenAiCall, BadRequest>) -> Result<(), String> {
    let c = match parsed {
        Err(BadRequest(reason)) if reason.trim().is_empty() => {
            return Err(format!("{what}: empty 400 reason"));
        }
        Err(_) => return Ok(()),
        Ok(c) => c,
    };
    let empty = match &c.req.input {
        Input::Generate { .. } => false,
        Input::Chat { messages } => messages.is_empty(),
    };
    if c.req.model.trim().is_empty() || empty {
        return Err(format!("{what}: accepted without a model or messages: {:?}", c.req));
    }
    if c.include_usage && !c.stream {
        return Err(format!("{what}: include_usage without streaming"));
    }
    c.req.options.validate().map_err(|e| format!("{what}: accepted an invalid option: {e}"))
}

fn check(body: &[u8]) -> Result<(), String> {
    check_one!(body, "generate", parse_generate)?;
    check_one!(body, "chat", parse_chat)?;
    check_openai("chat.completions", parse_chat_completion(body))?;
    check_openai("completions", parse_completion(body))
}

const DICT: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e300",
    "1e-300",
    "42.0",
    "4294967296",
    "18446744073709551616",
    "-9223372036854775809",
    "\"model\"",
    "\"prompt\"",
    "\"system\"",
    "\"messages\"",
    "\"role\"",
    "\"content\"",
    "\"user\"",
    "\"tool\"",
    "\"stream\"",
    "\"options\"",
    "\"keep_alive\"",
    "\"num_ctx\"",
    "\"num_predict\"",
    "\"temperature\"",
    "\"top_k\"",
    "\"top_p\"",
    "\"min_p\"",
    "\"seed\"",
    "\"stop\"",
    "\"num_thread\"",
    "\"repeat_penalty\"",
    "\"max_tokens\"",
    "\"max_completion_tokens\"",
    "\"stream_options\"",
    "\"include_usage\"",
    "\"developer\"",
    "\"type\"",
    "\"text\"",
    "\"n\"",
    "\"tools\"",
    "\"5m\"",
    "\"1h30m\"",
    "\"500ms\"",
    "\"-1\"",
    "\"1e300\"",
    "\"9999999999999h\"",
    "\"µs\"",
    "\\u0000",
    "\\ud800",
];

fn value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..if depth > 2 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.random_bool(0.5)),
        2 => json!(rng.random::<i64>() >> rng.random_range(0..64)),
        3 => json!(rng.random::<f64>() * 10f64.powi(rng.random_range(-5..20))),
        4 => json!(
            ["5m", "0", "-1", "1h30m", "1e300", "1e300h", "18446744073709551616s", "10s", "0.5", ""]
                [rng.random_range(0..10)]
        ),
        5 => json!(fuzz::words(rng, &["<|im_end|>", "\n", "stop", "é"], 3)),
        6 => Value::Array((0..rng.random_range(0..3)).map(|_| value(rng, depth + 1)).collect()),
        _ => Value::Object(
            (0..rng.random_range(0..3))
                .map(|_| (fuzz::words(rng, &["a"], 1), value(rng, depth + 1)))
                .collect(),
        ),
    }
}

fn generate(rng: &mut StdRng) -> Vec<u8> {
    let mut opts = serde_json::Map::new();
    for _ in 0..rng.random_range(0..5) {
        let name = if rng.random_bool(0.8) {
            options::OPTIONS[rng.random_range(0..options::OPTIONS.len())].name.to_string()
        } else {
            fuzz::words(rng, &["mirostat", "num_keep"], 1)
        };
        opts.insert(name, value(rng, 0));
    }
    let model = ["gemma", "", " ", "m:latest"][rng.random_range(0..4)];
    let mut b = json!({"model": model, "options": opts});
    if rng.random_bool(0.5) {
        b["prompt"] = json!(fuzz::words(rng, &["hi", ""], 2));
    } else {
        let roles = ["system", "user", "assistant", "tool"];
        let m: Vec<Value> = (0..rng.random_range(0..3))
            .map(|_| json!({"role": roles[rng.random_range(0..4)], "content": fuzz::words(rng, &["x"], 2)}))
            .collect();
        b["messages"] = json!(m);
    }
    // OpenAI's fields too: options at the top level under its names, and content parts.
    for key in ["max_tokens", "temperature", "top_p", "stop", "seed", "n"] {
        if rng.random_bool(0.2) {
            b[key] = value(rng, 0);
        }
    }
    if rng.random_bool(0.2) {
        b["stream_options"] = json!({"include_usage": value(rng, 1)});
    }
    if rng.random_bool(0.2) {
        b["messages"] =
            json!([{"role": "user", "content": [{"type": "text", "text": fuzz::words(rng, &["x"], 2)}]}]);
    }
    for key in ["stream", "keep_alive", "system"] {
        if rng.random_bool(0.4) {
            b[key] = value(rng, 0);
        }
    }
    serde_json::to_vec(&b).unwrap()
}

const TARGET: Target = Target { name: "serve", check, generate, dict: DICT, max_len: 4 << 10 };

chimera_testkit::fuzz_tests!(TARGET);
