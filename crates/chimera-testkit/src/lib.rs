//! Test support: a scripted loopback HTTP server that streams Ollama NDJSON or OpenAI SSE
//! at chosen times, and injects faults (error lines, HTTP errors, drops, stalls).
//!
//! Everything runs on real TCP at `127.0.0.1:<ephemeral port>` with real chunked HTTP/1.1
//! (keep-alive honoured, concurrent connections), so clients are tested exactly as they run.
//!
//! # Scripted replies
//! The handler sees each [`Request`] (method, path, headers, body, parsed JSON) and returns a
//! [`Reply`]. A [`Script`] is a list of `(offset from request received, Step)`:
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use chimera_testkit::{Final, Reply, Script, ScriptedServer, Step, Timings};
//! let ms = Duration::from_millis;
//! // first token at 50 ms, then one every 10 ms, 20 tokens, then the final chunk:
//! let script = Script::ollama_tokens(ms(50), ms(10), 20, Timings { eval_count: 20, ..Default::default() });
//! let srv = ScriptedServer::start(move |_req| Reply::Ollama(script.clone())).await;
//! // faults: a line split across two HTTP chunks, several lines in one chunk, an error line, a drop
//! let faulty = Script::new()
//!     .at_ms(5, Step::split(Step::token("hel")))
//!     .at_ms(10, Step::Batch(vec![Step::token("lo"), Step::token(" world")]))
//!     .at_ms(15, Step::ErrorLine("out of memory".into()))
//!     .at_ms(20, Step::Drop);
//! let _ = (srv.url(), srv.requests(), faulty);
//! srv.shutdown().await;
//! # }
//! ```
//! `Reply::OpenAi(script)` renders the same steps as SSE (`data: {...}` with `delta.content`,
//! a final `finish_reason` chunk, a `usage` chunk — plus llama-server `timings` when
//! [`Final::llama_server_timings`] is set — and `data: [DONE]`). `Reply::Status`,
//! `Reply::JsonStatus`, `Reply::Json`, `Reply::Delay` and `Reply::Close` cover plain answers.
//! [`ScriptedServer::start_serial`] answers one request at a time (others queue), like a
//! server with one slot. [`ScriptedServer::start_with`] takes [`ServerOptions`]: HTTPS with a
//! certificate from a CA made at test time ([`TestCa`]), and `close_after_response`, a server
//! that closes its connection after every response (the client's next request on the pooled
//! connection gets no answer).
//!
//! # A fake Ollama of known speed
//! [`FakeOllama`] answers `/api/version`, `/api/tags`, `/api/show`, `/api/ps` and streams
//! `/api/generate` + `/api/chat` with a [`LatencyProfile`]: first token after `first_token`,
//! `n_tokens` tokens every `itl`, then a final chunk whose `eval_duration = itl × n_tokens`
//! (so the server decode rate is exactly `1 / itl`). `load` is charged only when the model or
//! a load-time option (num_ctx, num_gpu, num_batch, num_thread) changed, as Ollama reloads.
//! The profile can depend on the request, e.g. speed by `num_ctx`:
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use chimera_testkit::{FakeOllama, LatencyProfile};
//! let ms = Duration::from_millis;
//! let srv = FakeOllama::with_profile(move |req| {
//!     let ctx = req.option_i64("num_ctx").unwrap_or(2048);
//!     LatencyProfile::new(ms(20), if ctx >= 4096 { ms(8) } else { ms(4) }, 16)
//! })
//! .models(&["gemma3:270m"])
//! .start() // or .start_serial() for a one-request-at-a-time server
//! .await;
//! # drop(srv);
//! # }
//! ```
//! Unknown models get Ollama's `404 {"error":"model \"x\" not found, try pulling it first"}`.
//!
//! # Fuzzing
//! [`fuzz`] runs fuzz targets on stable Rust: their corpora as ordinary tests, and timed runs
//! that save what they find (`scripts/fuzz.sh`; RELIABILITY.md).

mod child;
mod fake_ollama;
pub mod fuzz;
mod script;
mod server;
mod timer;
mod tls;

pub use child::{ChildServer, serve_until_stdin_closes};
pub use fake_ollama::{FAKE_DEFAULT_NUM_CTX, FAKE_MODEL_SIZE, FakeOllama, LatencyProfile};
pub use script::{FIRST_SEND_TAG, Final, Script, Step, Timings, first_send_stamp};
pub use server::{Reply, Request, ScriptedServer, ServerOptions};
pub use tls::TestCa;
