//! `chimera inventory`: ingest artifact folders and print the inventory (Markdown or JSON), no LLM.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use chimera_core::inventory::{CollectOptions, collect};

use crate::exit::Exit;

/// Arguments of `chimera inventory`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Folders holding `reports/`, `csv_data/`, `artifacts/` (a folder with none of them is
    /// scanned whole). Default: the current folder.
    #[arg(value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Scan exactly this folder (repeatable) instead of the default roots.
    #[arg(long = "root", value_name = "PATH")]
    pub roots: Vec<PathBuf>,
    /// Write the inventory as JSON to FILE (`-` for stdout; then no Markdown is printed).
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<String>,
    /// Files larger than this many bytes are listed as skipped, not read.
    #[arg(long, value_name = "N", default_value_t = CollectOptions::default().max_file_bytes)]
    pub max_file_bytes: u64,
    /// JSON nested deeper than this is listed as a failure (1 to 127: the JSON parser stops at
    /// 128 levels, so a larger value is refused rather than silently lowered).
    #[arg(long, value_name = "N", default_value_t = CollectOptions::default().max_json_depth,
          value_parser = json_depth)]
    pub max_json_depth: usize,
    /// Keep at most N individual facts in the output (all are counted and summarised).
    #[arg(long, value_name = "N", default_value_t = CollectOptions::default().max_facts)]
    pub max_facts: usize,
    /// Print only the short "Data summary" block instead of the full Markdown inventory.
    #[arg(long)]
    pub summary: bool,
}

/// The most `--max-json-depth` can be: serde_json refuses documents nested 128 levels deep.
pub const MAX_JSON_DEPTH: usize = 127;

fn json_depth(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_JSON_DEPTH).contains(&n) => Ok(n),
        Ok(n) => Err(format!(
            "{n} is out of range: JSON nesting can be checked up to {MAX_JSON_DEPTH} levels (give 1 to {MAX_JSON_DEPTH})"
        )),
        Err(_) => Err(format!("`{s}` is not a whole number (give 1 to {MAX_JSON_DEPTH})")),
    }
}

/// Run `chimera inventory`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let dirs =
        if args.dirs.is_empty() && args.roots.is_empty() { vec![PathBuf::from(".")] } else { args.dirs };
    let opts = CollectOptions {
        roots: args.roots,
        max_file_bytes: args.max_file_bytes,
        max_json_depth: args.max_json_depth,
        max_facts: args.max_facts,
        ..CollectOptions::default()
    };
    let inv =
        tokio::task::spawn_blocking(move || collect(&dirs, &opts)).await.context("inventory worker")??;
    let mut stdout = std::io::stdout().lock();
    if let Some(path) = args.json.as_deref() {
        if path == "-" {
            inv.write_json(&mut stdout)?;
            return Ok(Exit::Ok);
        }
        chimera_core::fsutil::write_atomic_with(std::path::Path::new(path), |w| inv.write_json(w))
            .with_context(|| format!("cannot write the JSON inventory to `{path}`"))?;
    }
    let text = if args.summary { inv.data_summary() } else { inv.to_markdown() };
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(Exit::Ok)
}
