//! Backend selection (`--backend auto|ollama|openai|embedded`): builds the `Backend` a command uses
//! and says which was chosen (the note is printed and recorded in outputs).
//!
//! `auto`: Ollama at `--url` / `OLLAMA_HOST` (default http://127.0.0.1:11434) when it answers
//! `/api/version` within [`PROBE_TIMEOUT`], otherwise the embedded llama.cpp engine.
//!
//! Also the checks that need the choice, before any run: [`check_sent`] refuses options the
//! chosen backend would not send (a configuration labelled with them would be false), and
//! [`preflight`] ends the command when the server does not answer or lacks the model.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chimera_core::backend::ollama::{OllamaClient, ollama_host_url};
use chimera_core::backend::openai::OpenAiClient;
use chimera_core::backend::{
    Backend, BackendError, BackendKind, HttpClient, Timeouts, TlsOptions, without_userinfo,
};
use chimera_core::options::{Api, GenOptions};
use chimera_engine::EmbeddedBackend;

use crate::args::{BackendChoice, BackendConfig};

/// How long `auto` waits for Ollama's `/api/version` before choosing the embedded engine.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

/// The backend a command will use, and a one-line note saying which and why.
pub struct Selected {
    pub backend: Arc<dyn Backend>,
    /// e.g. "backend: embedded (no Ollama at http://127.0.0.1:11434)".
    pub note: String,
}

impl std::fmt::Debug for Selected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selected")
            .field("endpoint", &self.backend.endpoint())
            .field("note", &self.note)
            .finish()
    }
}

/// Select as the command's settings say.
pub async fn build(cfg: &BackendConfig) -> anyhow::Result<Selected> {
    build_for(cfg.choice, cfg.url.as_deref(), cfg).await
}

/// Select a given kind at a given URL (per-agent backends in `multi` use this), with the other
/// settings (model path, timeouts, key variable) from `cfg`.
pub async fn build_for(
    choice: BackendChoice,
    url: Option<&str>,
    cfg: &BackendConfig,
) -> anyhow::Result<Selected> {
    let timeouts = cfg.timeouts;
    let tls = &cfg.tls;
    let insecure = if tls.insecure { "; TLS certificates NOT verified (--insecure)" } else { "" };
    match choice {
        BackendChoice::Embedded => embedded(cfg, "backend: embedded".to_string()),
        BackendChoice::Ollama => {
            let url = ollama_url(url);
            Ok(Selected {
                backend: ollama_backend(&url, timeouts, tls)?,
                note: format!("backend: ollama at {}{insecure}", without_userinfo(&url)),
            })
        }
        BackendChoice::Openai => {
            let url = url.map(normalize_url).context(
                "--backend openai needs --url (e.g. --url http://127.0.0.1:8080 for llama-server, or http://127.0.0.1:11434 for Ollama's /v1)",
            )?;
            Ok(Selected {
                backend: openai_backend(&url, &cfg.api_key_env, timeouts, tls)?,
                note: format!("backend: openai-compatible at {}{insecure}", without_userinfo(&url)),
            })
        }
        BackendChoice::Auto => {
            let url = ollama_url(url);
            let shown = without_userinfo(&url);
            match probe_ollama(&url, PROBE_TIMEOUT, tls).await {
                Some(version) => Ok(Selected {
                    backend: ollama_backend(&url, timeouts, tls)?,
                    note: format!("backend: ollama at {shown} (version {version}){insecure}"),
                }),
                None => embedded(cfg, format!("backend: embedded (no Ollama at {shown})")),
            }
        }
    }
}

/// Refuse options that `choice` would not send: `--backend openai` has no request field for
/// the load-time options (num_ctx, num_gpu, num_batch, num_thread: an OpenAI-compatible server
/// takes them when it starts) and sends num_predict only as a positive `max_tokens`. `whose`
/// prefixes the message (e.g. "agent 'A': ").
pub fn check_sent(choice: BackendChoice, options: &GenOptions, whose: &str) -> anyhow::Result<()> {
    if choice != BackendChoice::Openai {
        return Ok(());
    }
    let unsent = options.not_sent(Api::Openai);
    if unsent.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "{whose}--backend openai does not send {}: OpenAI-compatible servers take no such request field \
         (load-time options are set when the server starts, e.g. `llama-server -c 4096`; agent and bench budget \
         their prompts for it with --server-ctx 4096; num_predict travels as max_tokens only when positive), so a result \
         labelled with them would be false; leave them out or use --backend ollama",
        unsent.join(", ")
    )
}

/// Before any run: a server that does not answer, or that does not have `model`, ends the
/// command (exit 2) instead of failing every call. Other answers (e.g. a server without
/// `/api/tags`) are left to the calls, which report their own errors. The embedded engine was
/// checked when it was selected.
pub async fn preflight(backend: &dyn Backend, model: &str) -> anyhow::Result<()> {
    if backend.kind() == BackendKind::Embedded {
        return Ok(());
    }
    match backend.info(Some(model)).await {
        Err(
            e @ (BackendError::Connect { .. }
            | BackendError::ConnectTimeout { .. }
            | BackendError::ModelNotFound { .. }),
        ) => Err(anyhow::Error::new(e).context("pre-flight check failed, nothing was run")),
        _ => Ok(()),
    }
}

fn embedded(cfg: &BackendConfig, note: String) -> anyhow::Result<Selected> {
    let mut b = EmbeddedBackend::discover(cfg.model_path.as_deref())?;
    if let Some(n) = cfg.parallel {
        b = b.with_parallel(usize::from(n));
    }
    if !b.serves(&cfg.model) {
        anyhow::bail!(
            "model '{}' is not available in the embedded engine, which runs {} from {}; use --model {} \
             (or --backend ollama for other models)",
            cfg.model,
            chimera_engine::model::DEFAULT_MODEL_NAME,
            b.model_path().display(),
            chimera_engine::model::DEFAULT_MODEL_NAME
        );
    }
    let note = format!("{note}; model {} ({})", b.model_path().display(), "CPU only, no GPU in this build");
    Ok(Selected { backend: Arc::new(b), note })
}

fn ollama_backend(url: &str, timeouts: Timeouts, tls: &TlsOptions) -> anyhow::Result<Arc<dyn Backend>> {
    let http = HttpClient::new(&timeouts, tls)?;
    Ok(Arc::new(OllamaClient::with_http(http, url, timeouts)))
}

fn openai_backend(
    url: &str,
    key_env: &str,
    timeouts: Timeouts,
    tls: &TlsOptions,
) -> anyhow::Result<Arc<dyn Backend>> {
    let http = HttpClient::new(&timeouts, tls)?;
    Ok(Arc::new(OpenAiClient::from_env_key_with_http(http, url, key_env, timeouts)))
}

/// `--url`, else `OLLAMA_HOST`, else http://127.0.0.1:11434, read as Ollama's CLI reads
/// OLLAMA_HOST; a wildcard bind address (0.0.0.0) is reached on loopback.
pub fn ollama_url(url: Option<&str>) -> String {
    let env = std::env::var("OLLAMA_HOST").ok();
    normalize_url(url.or(env.as_deref()).unwrap_or(""))
}

/// `host`, `host:port`, `http://host[:port]` → a base URL (see `ollama_host_url`).
pub fn normalize_url(raw: &str) -> String {
    let u = ollama_host_url(Some(raw));
    u.replacen("://0.0.0.0:", "://127.0.0.1:", 1).replacen("://[::]:", "://[::1]:", 1)
}

/// Ollama's version when `GET {url}/api/version` answers within `timeout` (`tls` for https://).
pub async fn probe_ollama(url: &str, timeout: Duration, tls: &TlsOptions) -> Option<String> {
    let t = Timeouts { connect: timeout, first_token: timeout, idle: timeout };
    let http = HttpClient::new(&t, tls).ok()?;
    OllamaClient::with_http(http, url, t).version().await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised_like_ollama_host() {
        assert_eq!(normalize_url("127.0.0.1"), "http://127.0.0.1:11434");
        assert_eq!(normalize_url("0.0.0.0:11435"), "http://127.0.0.1:11435");
        assert_eq!(normalize_url("http://localhost:8080/"), "http://localhost:8080");
        assert_eq!(normalize_url("https://example.org"), "https://example.org:443");
        assert_eq!(normalize_url(""), "http://127.0.0.1:11434");
        assert_eq!(normalize_url("[::1]"), "http://[::1]:11434");
        assert_eq!(normalize_url("http://h:1/v1"), "http://h:1/v1");
    }

    fn args(choice: BackendChoice, model: &str) -> BackendConfig {
        BackendConfig {
            choice,
            url: None,
            model: model.into(),
            model_path: None,
            api_key_env: "CHIMERA_TEST_NO_KEY".into(),
            timeouts: Timeouts {
                connect: Duration::from_secs(1),
                first_token: Duration::from_secs(5),
                idle: Duration::from_secs(5),
            },
            parallel: None,
            tls: TlsOptions::default(),
        }
    }

    fn closed_port_url() -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://127.0.0.1:{port}")
    }

    #[tokio::test]
    async fn auto_falls_back_to_embedded_and_says_why() {
        let url = closed_port_url();
        let a = args(BackendChoice::Auto, "gemma3:270m");
        let s = build_for(BackendChoice::Auto, Some(&url), &a).await.expect("the model is installed");
        assert_eq!(s.backend.kind(), chimera_core::backend::BackendKind::Embedded);
        assert!(s.note.starts_with(&format!("backend: embedded (no Ollama at {url})")), "{}", s.note);
        let e = build_for(BackendChoice::Embedded, None, &args(BackendChoice::Embedded, "llama3:8b"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not available in the embedded engine"), "{e}");
    }

    #[tokio::test]
    async fn explicit_kinds() {
        let a = args(BackendChoice::Ollama, "gemma3:270m");
        let s = build_for(BackendChoice::Ollama, Some("127.0.0.1:11999"), &a).await.unwrap();
        assert_eq!(s.backend.endpoint(), "http://127.0.0.1:11999");
        assert!(build_for(BackendChoice::Openai, None, &a).await.unwrap_err().to_string().contains("--url"));
        let s = build_for(BackendChoice::Openai, Some("http://127.0.0.1:8080/v1"), &a).await.unwrap();
        assert_eq!(s.backend.kind(), chimera_core::backend::BackendKind::Openai);
    }

    #[tokio::test]
    async fn probe_fails_fast_on_a_closed_port() {
        // Bind then drop to get a port nobody listens on.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let url = format!("http://127.0.0.1:{port}");
        assert_eq!(probe_ollama(&url, Duration::from_millis(500), &TlsOptions::default()).await, None);
    }

    #[tokio::test]
    async fn probe_reads_the_version_from_a_real_server() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).await.unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("GET /api/version "));
            let body = r#"{"version":"0.9.1"}"#;
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(resp.as_bytes()).await.unwrap();
        });
        assert_eq!(
            probe_ollama(&url, Duration::from_secs(5), &TlsOptions::default()).await.as_deref(),
            Some("0.9.1")
        );
        server.await.unwrap();
    }
}
