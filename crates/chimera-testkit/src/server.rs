//! The scripted loopback HTTP/1.1 server: real TCP on 127.0.0.1, keep-alive, chunked streaming,
//! concurrent or serial request handling, optional TLS, a mode that closes connections after
//! every response, and a log of every request received.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::script::{FIRST_SEND_TAG, Format, Renderer, Script, Step};
use crate::timer::PreciseTimer;
use crate::tls::TestCa;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path including any query string, e.g. `/api/generate`.
    pub path: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<Value>,
    /// When the request was fully read (server clock).
    pub received_at: std::time::Instant,
    /// The same moment on the system clock (comparable across processes).
    pub received_wall: std::time::SystemTime,
}

impl Request {
    /// First header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
    /// The JSON body's `model` field.
    pub fn model(&self) -> Option<&str> {
        self.json.as_ref()?.get("model")?.as_str()
    }
    /// The JSON body's `options` object (Ollama), when present.
    pub fn options(&self) -> Option<&serde_json::Map<String, Value>> {
        self.json.as_ref()?.get("options")?.as_object()
    }
    /// `options.<name>` as an integer (e.g. `num_ctx`).
    pub fn option_i64(&self, name: &str) -> Option<i64> {
        self.options()?.get(name)?.as_i64()
    }
    /// `options.<name>` as a float (e.g. `temperature`).
    pub fn option_f64(&self, name: &str) -> Option<f64> {
        self.options()?.get(name)?.as_f64()
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Stream the script as Ollama NDJSON (`/api/chat` paths render `message.content`,
    /// everything else renders `response`).
    Ollama(Script),
    /// Stream the script as OpenAI SSE (`data: {...}` events).
    OpenAi(Script),
    /// Status with this body (sent as JSON content type when the body parses as JSON).
    Status(u16, String),
    /// 200 with this JSON body.
    Json(Value),
    /// Any status with a JSON body (e.g. `404 {"error": "model \"x\" not found"}`).
    JsonStatus(u16, Value),
    /// Wait, then answer with the inner reply (headers are only sent after the wait).
    Delay(Duration, Box<Reply>),
    /// Close the connection without answering.
    Close,
}

type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync + 'static>;

/// How a [`ScriptedServer`] treats its connections.
#[derive(Clone, Default)]
pub struct ServerOptions {
    /// Answer ONE request at a time (others wait, as on a server with a single slot).
    pub serial: bool,
    /// After each response, keep the connection until the client sends its next request on it,
    /// read that request, then close without answering: a server that closes its connection
    /// after every response, with the client always losing the race against the close (the
    /// request it sent on the pooled connection gets no response byte). The request is logged.
    pub close_after_response: bool,
    /// Serve HTTPS with a certificate signed by this CA (`url()` then says `https://`).
    pub tls: Option<Arc<TestCa>>,
}

/// A scripted HTTP server on `127.0.0.1:<ephemeral port>`. Stops on [`ScriptedServer::shutdown`]
/// or when dropped (every connection task is aborted).
pub struct ScriptedServer {
    addr: SocketAddr,
    tls: bool,
    log: Arc<Mutex<Vec<Request>>>,
    task: Option<JoinHandle<()>>,
}

/// What the server does with one connection.
#[derive(Clone)]
struct ConnCtx {
    handler: Handler,
    log: Arc<Mutex<Vec<Request>>>,
    gate: Option<Arc<tokio::sync::Mutex<()>>>,
    close_after_response: bool,
}

impl ScriptedServer {
    /// Serve requests concurrently (one task per connection, keep-alive honoured).
    pub async fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> ScriptedServer {
        Self::start_with(ServerOptions::default(), handler).await
    }

    /// Serve ONE request at a time: others wait (connections are accepted, requests queue) like a
    /// server with a single slot. Script offsets count from when processing starts.
    pub async fn start_serial(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> ScriptedServer {
        Self::start_with(ServerOptions { serial: true, ..Default::default() }, handler).await
    }

    /// Serve with the given [`ServerOptions`].
    pub async fn start_with(
        opts: ServerOptions,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> ScriptedServer {
        let listener =
            TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0 for the scripted server");
        let addr = listener.local_addr().expect("local address of the scripted server");
        let log = Arc::new(Mutex::new(Vec::new()));
        let ctx = ConnCtx {
            handler: Arc::new(handler),
            log: log.clone(),
            gate: opts.serial.then(|| Arc::new(tokio::sync::Mutex::new(()))),
            close_after_response: opts.close_after_response,
        };
        let acceptor = opts.tls.as_ref().map(|ca| tokio_rustls::TlsAcceptor::from(ca.server_config()));
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    acc = listener.accept() => {
                        let Ok((stream, _)) = acc else { continue };
                        let (ctx, acceptor) = (ctx.clone(), acceptor.clone());
                        conns.spawn(async move {
                            if stream.set_nodelay(true).is_err() {
                                return;
                            }
                            let _ = match acceptor {
                                Some(a) => match a.accept(stream).await {
                                    Ok(tls) => serve_conn(tls, ctx).await,
                                    Err(_) => Ok(()),
                                },
                                None => serve_conn(stream, ctx).await,
                            };
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        ScriptedServer { addr, tls: opts.tls.is_some(), log, task: Some(task) }
    }

    /// `http://127.0.0.1:PORT`, or `https://` with TLS (no trailing slash).
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Stop accepting and abort every connection.
    pub async fn shutdown(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

const MAX_HEAD: usize = 1 << 20;

/// A connection: plain TCP or TLS over it.
trait Conn: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Conn for T {}

async fn serve_conn(mut stream: impl Conn, ctx: ConnCtx) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut answered = false;
    loop {
        let Some(req) = read_request(&mut stream, &mut buf).await? else { return Ok(()) };
        if let Ok(mut l) = ctx.log.lock() {
            l.push(req.clone());
        }
        if answered && ctx.close_after_response {
            // The client reused the connection this server meant to close: no answer.
            return stream.shutdown().await;
        }
        let _slot = match &ctx.gate {
            Some(g) => Some(g.clone().lock_owned().await),
            None => None,
        };
        let t0 = Instant::now();
        let reply = (ctx.handler)(&req);
        if !write_reply(&mut stream, &req, reply, t0).await? {
            return Ok(());
        }
        answered = true;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Read one request (head + Content-Length body). `None` on a clean close between requests.
async fn read_request(stream: &mut impl Conn, buf: &mut Vec<u8>) -> std::io::Result<Option<Request>> {
    let mut tmp = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(p) = find(buf, b"\r\n\r\n") {
            break p;
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("request head too large"));
        }
        let n = stream.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize =
        headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let body_start = head_end + 4;
    while buf.len() < body_start + len {
        let n = stream.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = String::from_utf8_lossy(&buf[body_start..body_start + len]).into_owned();
    buf.drain(..body_start + len);
    let json = serde_json::from_str(&body).ok();
    let (received_at, received_wall) = (std::time::Instant::now(), std::time::SystemTime::now());
    Ok(Some(Request { method, path, headers, body, json, received_at, received_wall }))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

async fn write_full(stream: &mut impl Conn, status: u16, ctype: &str, body: &[u8]) -> std::io::Result<bool> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        reason(status),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    stream.write_all(&out).await?;
    Ok(true)
}

async fn write_chunk(stream: &mut impl Conn, data: &[u8]) -> std::io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    stream.write_all(&out).await
}

/// Returns whether the connection stays open.
async fn write_reply(
    stream: &mut impl Conn,
    req: &Request,
    reply: Reply,
    t0: Instant,
) -> std::io::Result<bool> {
    match reply {
        Reply::Status(code, body) => {
            let ctype =
                if serde_json::from_str::<Value>(&body).is_ok() { "application/json" } else { "text/plain" };
            write_full(stream, code, ctype, body.as_bytes()).await
        }
        Reply::Json(v) => write_full(stream, 200, "application/json", v.to_string().as_bytes()).await,
        Reply::JsonStatus(code, v) => {
            write_full(stream, code, "application/json", v.to_string().as_bytes()).await
        }
        Reply::Delay(d, inner) => {
            tokio::time::sleep(d).await;
            Box::pin(write_reply(stream, req, *inner, t0)).await
        }
        Reply::Close => Ok(false),
        Reply::Ollama(script) => {
            let format =
                if req.path.starts_with("/api/chat") { Format::OllamaChat } else { Format::OllamaGenerate };
            stream_script(stream, req, script, format, t0).await
        }
        Reply::OpenAi(script) => stream_script(stream, req, script, Format::OpenAi, t0).await,
    }
}

async fn stream_script(
    stream: &mut impl Conn,
    req: &Request,
    script: Script,
    format: Format,
    t0: Instant,
) -> std::io::Result<bool> {
    let r = Renderer { format, model: req.model().unwrap_or("scripted").to_string() };
    let mut head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nTransfer-Encoding: chunked\r\n",
        format.content_type()
    );
    if format == Format::OpenAi {
        head.push_str("Cache-Control: no-cache\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    // When the first token's bytes went out (system clock, read just before the write).
    let mut first_sent: Option<SystemTime> = None;
    let mut timer = PreciseTimer::new();
    for (offset, step) in script.events {
        timer.wait_until(t0 + offset).await;
        match step {
            Step::Drop => {
                stream.flush().await?;
                return Ok(false);
            }
            Step::Stall(d) => tokio::time::sleep(d).await,
            Step::Split(inner) => {
                let bytes = r.render(&inner);
                let cut = (bytes.len() / 2).max(1).min(bytes.len());
                note_first_send(&mut first_sent, &inner);
                write_chunk(stream, &bytes[..cut]).await?;
                stream.flush().await?;
                tokio::time::sleep(Duration::from_millis(5)).await;
                write_chunk(stream, &bytes[cut..]).await?;
            }
            Step::FirstSendStamp => {
                let ns = |t: Option<SystemTime>| {
                    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos())
                };
                let text = format!("{FIRST_SEND_TAG}{} {}]", ns(first_sent), ns(Some(req.received_wall)));
                write_chunk(stream, &r.render(&Step::Token(text))).await?;
            }
            other => {
                let bytes = r.render(&other);
                note_first_send(&mut first_sent, &other);
                write_chunk(stream, &bytes).await?;
            }
        }
        stream.flush().await?;
    }
    stream.write_all(b"0\r\n\r\n").await?;
    stream.flush().await?;
    Ok(true)
}

/// Stamp `first` (once) when `step`, about to be written, sends a token.
fn note_first_send(first: &mut Option<SystemTime>, step: &Step) {
    if first.is_none() && has_token(step) {
        *first = Some(SystemTime::now());
    }
}

/// Whether `step` sends a non-empty token.
fn has_token(step: &Step) -> bool {
    match step {
        Step::Token(t) | Step::Thinking(t) => !t.is_empty(),
        Step::Split(s) => has_token(s),
        Step::Batch(v) => v.iter().any(has_token),
        _ => false,
    }
}
