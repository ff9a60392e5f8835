//! HTTP plumbing shared by the Ollama and OpenAI clients: the pooled `reqwest` client, the
//! streaming loop with connect / first-token / idle timeouts, and error mapping.

use std::time::Duration;

use tokio::time::{Instant, timeout, timeout_at};

use super::lines::{LineBuffer, MAX_LINE};
use super::{BackendError, CallFailure, CallRecord, CallRecorder, Timeouts, TokenSink};

/// A `reqwest` client set up for streaming: connect timeout from `t`, TCP_NODELAY, no
/// whole-request timeout. Build one per server and share it (`with_http`) to share its pool.
pub fn http_client(t: &Timeouts) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(t.connect)
        .tcp_nodelay(true)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// `url` without trailing slashes.
pub(crate) fn trim_base(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

/// The innermost cause of an error (e.g. "Connection refused (os error 111)").
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Map a failed send (no response) to a typed error.
pub(crate) fn send_error(e: &reqwest::Error, url: &str, t: &Timeouts) -> BackendError {
    if e.is_connect() {
        if e.is_timeout() {
            BackendError::ConnectTimeout { url: url.to_string(), timeout_ms: t.connect.as_millis() as u64 }
        } else {
            BackendError::Connect { url: url.to_string(), detail: root_cause(e) }
        }
    } else if e.is_timeout() {
        BackendError::ConnectTimeout { url: url.to_string(), timeout_ms: t.connect.as_millis() as u64 }
    } else {
        // The server accepted the connection and closed it without an answer.
        BackendError::Truncated
    }
}

/// Read an error response body (bounded in time and size).
pub(crate) async fn error_body(resp: reqwest::Response, idle: Duration) -> String {
    let text = timeout(idle, resp.text()).await.ok().and_then(Result::ok).unwrap_or_default();
    let mut s = text.trim().to_string();
    if s.len() > 2000 {
        let mut cut = 2000;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Send `req` (the recorder's clock is already running) and wait for the response head, within
/// the first-token timeout. Non-2xx statuses are mapped by `on_status(status, body)`.
pub(crate) async fn execute(
    http: &reqwest::Client,
    req: reqwest::Request,
    rec: CallRecorder,
    t: &Timeouts,
    on_status: impl FnOnce(u16, String) -> BackendError,
) -> Result<(reqwest::Response, CallRecorder, Instant), CallFailure> {
    let sent = Instant::now();
    let url = req.url().to_string();
    let resp = match timeout_at(sent + t.first_token, http.execute(req)).await {
        Err(_) => {
            return Err(
                rec.fail(BackendError::FirstTokenTimeout { timeout_ms: t.first_token.as_millis() as u64 })
            );
        }
        Ok(Err(e)) => return Err(rec.fail(send_error(&e, &url, t))),
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    if !status.is_success() {
        let body = error_body(resp, t.idle).await;
        return Err(rec.fail(on_status(status.as_u16(), body)));
    }
    Ok((resp, rec, sent))
}

/// What a parsed line means for the stream.
pub(crate) enum Flow {
    More,
    Done,
}

/// A wire format: turns complete lines into recorder updates.
pub(crate) trait LineParser {
    /// Handle one non-empty line.
    fn line(
        &mut self,
        line: &[u8],
        rec: &mut CallRecorder,
        sink: TokenSink<'_>,
    ) -> Result<Flow, BackendError>;
    /// At a clean end of stream without `Flow::Done`: does the call count as complete?
    fn complete_at_eof(&self) -> bool {
        false
    }
}

/// Read the body chunk by chunk, framing lines across chunk boundaries, until the parser says
/// done. Before the first token the first-token deadline applies; after it, the idle gap.
pub(crate) async fn stream_lines(
    mut resp: reqwest::Response,
    mut rec: CallRecorder,
    sent: Instant,
    t: &Timeouts,
    parser: &mut impl LineParser,
    sink: TokenSink<'_>,
) -> Result<CallRecord, CallFailure> {
    let mut lines = LineBuffer::default();
    // One timer for the whole stream, moved lazily: chunks only update `last`, and the timer is
    // re-armed when it fires early (registering a timer per chunk costs more than the parsing).
    let timer = tokio::time::sleep_until(sent + t.first_token);
    tokio::pin!(timer);
    let mut last = Instant::now();
    let mut armed_for_idle = false;
    loop {
        let chunk = tokio::select! {
            biased;
            c = resp.chunk() => c,
            () = &mut timer => {
                if rec.record().chunks == 0 {
                    let e = BackendError::FirstTokenTimeout { timeout_ms: t.first_token.as_millis() as u64 };
                    return Err(rec.fail(e));
                }
                let due = last + t.idle;
                if Instant::now() >= due {
                    return Err(rec.fail(BackendError::IdleTimeout { timeout_ms: t.idle.as_millis() as u64 }));
                }
                timer.as_mut().reset(due);
                continue;
            }
        };
        let chunk = match chunk {
            Err(_) => return Err(rec.fail(BackendError::Truncated)),
            Ok(None) => break,
            Ok(Some(b)) => b,
        };
        last = Instant::now();
        lines.push(&chunk);
        while let Some(line) = lines.next_line() {
            if line.is_empty() {
                continue;
            }
            match parser.line(line, &mut rec, sink) {
                Err(e) => return Err(rec.fail(e)),
                Ok(Flow::More) => {}
                Ok(Flow::Done) => {
                    let record = rec.finish();
                    // Let the connection return to the pool when the terminator is already here.
                    let _ = timeout(Duration::from_millis(50), async {
                        while let Ok(Some(_)) = resp.chunk().await {}
                    })
                    .await;
                    return Ok(record);
                }
            }
        }
        if lines.pending() > MAX_LINE {
            let e = BackendError::Malformed {
                line: format!("<{} bytes without a newline>", lines.pending()),
                detail: "line too long".into(),
            };
            return Err(rec.fail(e));
        }
        if !armed_for_idle && rec.record().chunks > 0 {
            armed_for_idle = true;
            timer.as_mut().reset(last + t.idle);
        }
    }
    if let Some(rest) = lines.take_rest() {
        match parser.line(&rest, &mut rec, sink) {
            Err(e) => return Err(rec.fail(e)),
            Ok(Flow::Done) => return Ok(rec.finish()),
            Ok(Flow::More) => {}
        }
    }
    if parser.complete_at_eof() { Ok(rec.finish()) } else { Err(rec.fail(BackendError::Truncated)) }
}

/// A malformed-line error showing at most 200 characters of the line.
pub(crate) fn malformed(line: &[u8], detail: impl ToString) -> BackendError {
    let s = String::from_utf8_lossy(line);
    let shown: String = s.chars().take(200).collect();
    BackendError::Malformed { line: shown, detail: detail.to_string() }
}
