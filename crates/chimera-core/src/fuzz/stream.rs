//! Fuzz target `stream`: NDJSON (Ollama) and SSE (OpenAI) line framing and chunk parsing.
//!
//! Every input is a response body, run through both parsers exactly as `stream_lines` runs a
//! real one ([`feed_chunk`] per received chunk, [`feed_eof`] at the end). Checked: no panic;
//! the outcome (complete or the error, text, thinking, chunks, server timings, done reason,
//! tokens handed to the sink) is the same whether the body arrives whole, one byte per chunk
//! or cut at three pseudo-random points; errors are only the stream kinds (malformed line,
//! server error, truncated) and a malformed line is shown in at most 200 characters; the
//! record's text is the concatenation of the content tokens the sink saw.

use std::sync::Mutex;

use chimera_testkit::fuzz::{self, Rng, StdRng, Target};

use crate::backend::http::{Flow, LineParser, feed_chunk, feed_eof};
use crate::backend::lines::LineBuffer;
use crate::backend::ollama::NdjsonParser;
use crate::backend::openai::SseParser;
use crate::backend::{BackendError, BackendKind, CallRecorder, GenRequest, Input, ServerTimings};

/// What a parsed body amounts to, without the clock readings.
#[derive(Debug, PartialEq)]
struct Outcome {
    result: Result<(), String>,
    text: String,
    thinking: String,
    chunks: u64,
    server: ServerTimings,
    done_reason: Option<String>,
    sunk: Vec<(String, bool)>,
}

fn parse(body: &[u8], cuts: &[usize], mut parser: impl LineParser) -> Result<Outcome, String> {
    let req = GenRequest {
        model: "m".into(),
        input: Input::Generate { system: None, prompt: "p".into() },
        options: Default::default(),
        keep_alive: None,
        tools: Vec::new(),
    };
    let mut rec = CallRecorder::start(BackendKind::Ollama, "http://127.0.0.1:1", &req);
    let sunk = Mutex::new(Vec::new());
    let sink =
        |t: crate::backend::TokenChunk<'_>| sunk.lock().unwrap().push((t.text.to_string(), t.thinking));
    let mut lines = LineBuffer::default();
    let mut result = None;
    let mut from = 0;
    for &to in cuts.iter().chain([&body.len()]) {
        match feed_chunk(&mut lines, &body[from..to], &mut parser, &mut rec, &sink) {
            Ok(Flow::More) => {}
            Ok(Flow::Done) => {
                result = Some(Ok(()));
                break;
            }
            Err(e) => {
                result = Some(Err(e));
                break;
            }
        }
        from = to;
    }
    let result = result.unwrap_or_else(|| feed_eof(&mut lines, &mut parser, &mut rec, &sink));
    let result = match result {
        Ok(()) => Ok(()),
        Err(BackendError::Malformed { line, detail }) if line.chars().count() <= 200 => {
            Err(format!("malformed: {line} / {detail}"))
        }
        Err(e @ (BackendError::Server { .. } | BackendError::Truncated)) => Err(e.to_string()),
        Err(other) => return Err(format!("unexpected error kind: {other:?}")),
    };
    let r = rec.record();
    let sunk = sunk.into_inner().unwrap();
    let content: String = sunk.iter().filter(|(_, th)| !th).map(|(t, _)| t.as_str()).collect();
    if content != r.text {
        return Err(format!("record text {:?} is not the sunk content {content:?}", r.text));
    }
    Ok(Outcome {
        result,
        text: r.text.clone(),
        thinking: r.thinking.clone(),
        chunks: r.chunks,
        server: r.server.clone(),
        done_reason: r.done_reason.clone(),
        sunk,
    })
}

/// Three cut points drawn from the input itself (so a replay cuts where the run did).
fn cuts_of(body: &[u8]) -> Vec<usize> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    let x = h.finish() as usize;
    let n = body.len().max(1);
    let mut c = vec![x % n, (x >> 21) % n, (x >> 42) % n];
    c.sort_unstable();
    c
}

fn check_with<P: LineParser>(body: &[u8], name: &str, new: impl Fn() -> P) -> Result<(), String> {
    let whole = parse(body, &[], new()).map_err(|e| format!("{name} whole: {e}"))?;
    let bytewise: Vec<usize> = (1..body.len()).collect();
    for (how, cuts) in [("byte by byte", bytewise), ("cut", cuts_of(body))] {
        let split = parse(body, &cuts, new()).map_err(|e| format!("{name} {how}: {e}"))?;
        if split != whole {
            return Err(format!("{name}: {how} gives {split:?}, whole gives {whole:?}"));
        }
    }
    Ok(())
}

fn check(body: &[u8]) -> Result<(), String> {
    check_with(body, "ndjson", || NdjsonParser)?;
    check_with(body, "sse", SseParser::default)
}

const DICT: &[&str] = &[
    "\n",
    "\r\n",
    "data:",
    "data: ",
    "[DONE]",
    ": comment",
    "event: x",
    "{\"response\":\"",
    "{\"message\":{\"content\":\"",
    "\"thinking\":\"",
    "\"done\":true",
    "\"done\":false",
    "\"done_reason\":\"stop\"",
    "\"eval_count\":",
    "\"prompt_eval_count\":",
    "\"error\":",
    "{\"choices\":[{\"delta\":{\"content\":\"",
    "\"reasoning_content\":\"",
    "\"finish_reason\":\"length\"",
    "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":",
    "\"timings\":{\"prompt_ms\":",
    "\"}",
    "}}]}",
    "\\u00e9",
    "\\ud800",
    "1e308",
    "-1",
    "null",
];

fn generate(rng: &mut StdRng) -> Vec<u8> {
    let sse = rng.random_bool(0.5);
    let nl = if rng.random_bool(0.2) { "\r\n" } else { "\n" };
    let mut out = String::new();
    for _ in 0..rng.random_range(0..12) {
        let tok = serde_json::to_string(&fuzz::words(rng, &["a", " b", "é", "\"", "\\", "\n"], 4)).unwrap();
        let line = match (sse, rng.random_range(0..6)) {
            (false, 0) => format!("{{\"response\":{tok},\"done\":false}}"),
            (false, 1) => {
                format!("{{\"message\":{{\"role\":\"assistant\",\"content\":{tok}}},\"done\":false}}")
            }
            (false, 2) => format!("{{\"thinking\":{tok},\"done\":false}}"),
            (false, 3) => "{\"error\":\"out of memory\"}".into(),
            (false, _) => format!(
                "{{\"response\":\"\",\"done\":true,\"done_reason\":\"stop\",\"eval_count\":{},\"eval_duration\":{}}}",
                rng.random::<u32>(),
                rng.random::<u64>()
            ),
            (true, 0 | 1) => format!("data: {{\"choices\":[{{\"delta\":{{\"content\":{tok}}}}}]}}"),
            (true, 2) => format!("data: {{\"choices\":[{{\"delta\":{{\"reasoning_content\":{tok}}}}}]}}"),
            (true, 3) => format!(
                "data: {{\"choices\":[{{\"delta\":{{}},\"finish_reason\":\"stop\"}}],\"usage\":{{\"prompt_tokens\":{},\"completion_tokens\":2}}}}",
                rng.random::<u16>()
            ),
            (true, 4) => ": keep-alive".into(),
            (true, _) => "data: [DONE]".into(),
        };
        out.push_str(&line);
        out.push_str(nl);
        if rng.random_bool(0.1) {
            out.push_str(nl);
        }
    }
    if rng.random_bool(0.3) {
        out.pop();
    }
    out.into_bytes()
}

const TARGET: Target = Target { name: "stream", check, generate, dict: DICT, max_len: 8 << 10 };

chimera_testkit::fuzz_tests!(TARGET);
