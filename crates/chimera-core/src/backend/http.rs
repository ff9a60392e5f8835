//! HTTP plumbing shared by the Ollama and OpenAI clients: the `reqwest` clients (pooled, plus a
//! fresh one for the single retry of a request that died on a reused connection), TLS options,
//! credentials in server URLs, the streaming loop with connect / first-token / idle timeouts, and
//! error mapping.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::{Instant, timeout, timeout_at};

use super::lines::{LineBuffer, MAX_LINE};
use super::{BackendError, CallFailure, CallRecord, CallRecorder, Timeouts, TokenSink};
use crate::secret::{self, Redactor};

/// TLS settings for `https://` servers. The platform's root certificates are always trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsOptions {
    /// Also trust the CA certificate(s) in this PEM file (a lab's own CA).
    pub ca_cert: Option<PathBuf>,
    /// Accept any server certificate without verifying it (self-signed lab servers only).
    pub insecure: bool,
}

/// The HTTP clients for one server (or several that share a pool): `pooled` (keep-alive) sends
/// every request; `fresh` (no pool, so a new connection each time) sends the one retry of a
/// request that failed before any response on a reused connection. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpClient {
    pooled: reqwest::Client,
    fresh: reqwest::Client,
}

tokio::task_local! {
    /// Set by the connector when the request being sent in this task opens a new connection.
    static NEW_CONNECTION: Cell<bool>;
}

/// Connector layer: notes in the sending task that a new connection is being opened for it.
fn mark_new_connection<R>(req: R) -> R {
    let _ = NEW_CONNECTION.try_with(|c| c.set(true));
    req
}

fn read_ca(path: &Path) -> Result<Vec<reqwest::Certificate>, BackendError> {
    let bad = |detail: String| {
        BackendError::InvalidRequest(format!(
            "cannot use the CA certificate file {} (--ca-cert): {detail}; give a PEM file holding the CA certificate(s)",
            path.display()
        ))
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(root_cause(&e)))?;
    if certs.is_empty() {
        return Err(bad("no certificate found in it".into()));
    }
    Ok(certs)
}

impl HttpClient {
    /// Clients set up for streaming: connect timeout from `t`, TCP_NODELAY, no whole-request
    /// timeout, TLS as `tls` says. Fails when the CA file cannot be read.
    pub fn new(t: &Timeouts, tls: &TlsOptions) -> Result<HttpClient, BackendError> {
        let certs = match &tls.ca_cert {
            Some(p) => read_ca(p)?,
            None => Vec::new(),
        };
        let build = |pooled: bool| {
            let mut b = reqwest::Client::builder()
                .connect_timeout(t.connect)
                .tcp_nodelay(true)
                .connector_layer(tower::util::MapRequestLayer::new(mark_new_connection))
                .danger_accept_invalid_certs(tls.insecure);
            if !pooled {
                b = b.pool_max_idle_per_host(0);
            }
            for c in &certs {
                b = b.add_root_certificate(c.clone());
            }
            b.build().map_err(|e| {
                BackendError::InvalidRequest(format!("cannot set up the HTTP client: {}", root_cause(&e)))
            })
        };
        Ok(HttpClient { pooled: build(true)?, fresh: build(false)? })
    }

    /// The pooled client (e.g. to read a body without Chimera's parsing, in benchmarks).
    pub fn pooled(&self) -> &reqwest::Client {
        &self.pooled
    }
}

/// [`HttpClient::new`] with default TLS (the platform's roots). Build one per server and share
/// it (`with_http`) to share its pool.
pub fn http_client(t: &Timeouts) -> HttpClient {
    HttpClient::new(t, &TlsOptions::default())
        .unwrap_or_else(|_| HttpClient { pooled: reqwest::Client::new(), fresh: reqwest::Client::new() })
}

/// Where `url` splits into scheme, userinfo (without `@`), and the rest.
fn userinfo_span(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (userinfo, _) = rest[..authority_end].rsplit_once('@')?;
    Some((scheme, userinfo, &rest[userinfo.len() + 1..]))
}

/// `url` without its `user:password@` part (for display and records).
pub fn without_userinfo(url: &str) -> String {
    match userinfo_span(url) {
        Some((scheme, _, rest)) => format!("{scheme}://{rest}"),
        None => url.to_string(),
    }
}

/// A server address as given by the user, split: the URL recorded and shown (no credentials),
/// the `user:password` sent as HTTP basic auth, and a redactor for the password.
#[derive(Clone, Default)]
pub(crate) struct ServerUrl {
    pub base: String,
    pub basic_auth: Option<(String, String)>,
    pub redactor: Redactor,
}

impl std::fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerUrl")
            .field("base", &self.base)
            .field("basic_auth", &self.basic_auth.as_ref().map(|_| secret::REDACTED))
            .finish()
    }
}

impl ServerUrl {
    /// Split `url` (trailing slashes dropped). The password, as written and percent-decoded, is
    /// registered for redaction process-wide ([`secret::register`]).
    pub fn parse(url: &str) -> ServerUrl {
        let url = url.trim().trim_end_matches('/');
        let Some((_, userinfo, _)) = userinfo_span(url) else {
            return ServerUrl { base: url.to_string(), ..Default::default() };
        };
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let mut redactor = Redactor::default();
        for s in [pass.to_string(), decode(pass)] {
            secret::register(&s);
            redactor.add(&s);
        }
        ServerUrl { base: without_userinfo(url), basic_auth: Some((decode(user), decode(pass))), redactor }
    }

    /// Add the basic-auth header when the URL carried credentials.
    pub fn authorize(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.basic_auth {
            Some((user, pass)) => rb.basic_auth(user, (!pass.is_empty()).then_some(pass)),
            None => rb,
        }
    }
}

/// The innermost cause of an error (e.g. "Connection refused (os error 111)").
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// The TLS error in `e`'s chain, if TLS is what failed. rustls errors reach us wrapped in
/// `io::Error`s (two deep), whose `source()` skips their payload, so payloads are opened too.
fn tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur = Some(e);
    while let Some(x) = cur {
        if let Some(t) = x.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        let mut payload = x.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref());
        while let Some(p) = payload {
            if let Some(t) = p.downcast_ref::<rustls::Error>() {
                return Some(t);
            }
            payload = p.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref());
        }
        cur = x.source();
    }
    None
}

/// Map a failed send (no response) to a typed error.
pub(crate) fn send_error(e: &reqwest::Error, url: &str, t: &Timeouts) -> BackendError {
    if let Some(tls) = tls_error(e) {
        BackendError::Tls { url: url.to_string(), detail: tls.to_string() }
    } else if e.is_connect() {
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

fn first_token_timeout(t: &Timeouts) -> BackendError {
    BackendError::FirstTokenTimeout { timeout_ms: t.first_token.as_millis() as u64 }
}

/// Send on `client`; also says whether the request went out on a reused (pooled) connection
/// (the connector saw no new connection opened for it).
async fn send_marked(
    client: &reqwest::Client,
    req: reqwest::Request,
) -> (reqwest::Result<reqwest::Response>, bool) {
    NEW_CONNECTION
        .scope(Cell::new(false), async {
            let r = client.execute(req).await;
            (r, !NEW_CONNECTION.with(Cell::get))
        })
        .await
}

/// Send `req` and wait for the response head within the first-token timeout. A request that
/// failed before any response on a REUSED connection (the server closed its keep-alive
/// connection as the request went out) is sent once more on a fresh connection; `on_retry` gets
/// the first attempt's error just before. Returns the response and when its request was sent.
pub(crate) async fn send(
    http: &HttpClient,
    req: reqwest::Request,
    t: &Timeouts,
    on_retry: impl FnOnce(BackendError),
) -> Result<(reqwest::Response, Instant), BackendError> {
    let url = req.url().to_string();
    let spare = req.try_clone();
    let sent = Instant::now();
    let (e, reused) = match timeout_at(sent + t.first_token, send_marked(&http.pooled, req)).await {
        Err(_) => return Err(first_token_timeout(t)),
        Ok((Ok(resp), _)) => return Ok((resp, sent)),
        Ok((Err(e), reused)) => (e, reused),
    };
    let stale = reused && e.is_request() && !e.is_connect() && !e.is_timeout() && tls_error(&e).is_none();
    let Some(again) = spare.filter(|_| stale) else { return Err(send_error(&e, &url, t)) };
    on_retry(send_error(&e, &url, t));
    let sent = Instant::now();
    match timeout_at(sent + t.first_token, http.fresh.execute(again)).await {
        Err(_) => Err(first_token_timeout(t)),
        Ok(Ok(resp)) => Ok((resp, sent)),
        Ok(Err(e)) => Err(send_error(&e, &url, t)),
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
/// the first-token timeout; a retry on a fresh connection ([`send`]) is recorded and restarts the
/// clock. Non-2xx statuses are mapped by `on_status(status, body)`.
pub(crate) async fn execute(
    http: &HttpClient,
    req: reqwest::Request,
    mut rec: CallRecorder,
    t: &Timeouts,
    on_status: impl FnOnce(u16, String) -> BackendError,
) -> Result<(reqwest::Response, CallRecorder, Instant), CallFailure> {
    let (resp, sent) = match send(http, req, t, |e| rec.retry(e)).await {
        Ok(r) => r,
        Err(e) => return Err(rec.fail(e)),
    };
    let status = resp.status();
    if !status.is_success() {
        let body = error_body(resp, t.idle).await;
        return Err(rec.fail(on_status(status.as_u16(), body)));
    }
    Ok((resp, rec, sent))
}

/// A call's result with every secret of `r` redacted (streamed text, errors, partial records).
pub(crate) fn redact_result(
    r: &Redactor,
    res: Result<CallRecord, CallFailure>,
) -> Result<CallRecord, CallFailure> {
    if r.is_empty() {
        return res;
    }
    match res {
        Ok(mut rec) => {
            rec.redact(r);
            Ok(rec)
        }
        Err(mut f) => {
            f.error.redact(r);
            f.partial.redact(r);
            Err(f)
        }
    }
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
        // Stamped before anything else is done with the bytes: their tokens arrived now.
        rec.arrived(std::time::Instant::now());
        let chunk = match chunk {
            Err(_) => return Err(rec.fail(BackendError::Truncated)),
            Ok(None) => break,
            Ok(Some(b)) => b,
        };
        last = Instant::now();
        match feed_chunk(&mut lines, &chunk, parser, &mut rec, sink) {
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
        if !armed_for_idle && rec.record().chunks > 0 {
            armed_for_idle = true;
            timer.as_mut().reset(last + t.idle);
        }
    }
    match feed_eof(&mut lines, parser, &mut rec, sink) {
        Ok(()) => Ok(rec.finish()),
        Err(e) => Err(rec.fail(e)),
    }
}

/// One received chunk through the line buffer and the parser: `Flow::Done` as soon as a line
/// says so (later lines are left unread), an error for a bad line or one over [`MAX_LINE`].
/// Free of I/O and timing so the fuzz targets drive the same framing as a real stream.
pub(crate) fn feed_chunk(
    lines: &mut LineBuffer,
    chunk: &[u8],
    parser: &mut impl LineParser,
    rec: &mut CallRecorder,
    sink: TokenSink<'_>,
) -> Result<Flow, BackendError> {
    lines.push(chunk);
    while let Some(line) = lines.next_line() {
        if line.is_empty() {
            continue;
        }
        if let Flow::Done = parser.line(line, rec, sink)? {
            return Ok(Flow::Done);
        }
    }
    if lines.pending() > MAX_LINE {
        return Err(BackendError::Malformed {
            line: format!("<{} bytes without a newline>", lines.pending()),
            detail: "line too long".into(),
        });
    }
    Ok(Flow::More)
}

/// A clean end of stream before `Flow::Done`: the unterminated last line is parsed, then the
/// call is complete if that line said done or the parser accepts an end here, else truncated.
pub(crate) fn feed_eof(
    lines: &mut LineBuffer,
    parser: &mut impl LineParser,
    rec: &mut CallRecorder,
    sink: TokenSink<'_>,
) -> Result<(), BackendError> {
    if let Some(rest) = lines.take_rest() {
        if let Flow::Done = parser.line(&rest, rec, sink)? {
            return Ok(());
        }
    }
    if parser.complete_at_eof() { Ok(()) } else { Err(BackendError::Truncated) }
}

/// A malformed-line error showing at most 200 characters of the line.
pub(crate) fn malformed(line: &[u8], detail: impl ToString) -> BackendError {
    let s = String::from_utf8_lossy(line);
    let shown: String = s.chars().take(200).collect();
    BackendError::Malformed { line: shown, detail: detail.to_string() }
}
