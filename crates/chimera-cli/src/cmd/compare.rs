//! `chimera compare OLD NEW`: the regression gate over two outputs of the same command
//! (sweep, multi or bench). Prints the Markdown table, optionally writes JSON, and exits 1
//! when a threshold is crossed, 0 otherwise.

use std::path::PathBuf;

use anyhow::Context;
use chimera_core::compare::{Thresholds, compare, extract, parse_pct};

use crate::args::JsonOut;
use crate::exit::Exit;

/// Arguments of `chimera compare`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The reference output folder (or its summary.json).
    pub old: PathBuf,
    /// The output folder to judge (or its summary.json).
    pub new: PathBuf,
    /// Fail when a throughput drops by more than this, e.g. 5%.
    #[arg(long, default_value = "5%", value_parser = parse_pct)]
    pub max_throughput_drop: f64,
    /// Fail when a TTFT rises by more than this, e.g. 10%.
    #[arg(long, default_value = "10%", value_parser = parse_pct)]
    pub max_ttft_rise: f64,
    /// Write the comparison as JSON to FILE (`-` = stdout, the Markdown then goes to stderr).
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<String>,
    /// Write the Markdown to FILE as well.
    #[arg(long, value_name = "FILE")]
    pub md: Option<PathBuf>,
}

/// Run `chimera compare`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let json = args.json.as_deref().map(|j| JsonOut::parse("--json", j)).transpose()?;
    let old = extract(&args.old).with_context(|| format!("reading OLD {}", args.old.display()))?;
    let new = extract(&args.new).with_context(|| format!("reading NEW {}", args.new.display()))?;
    let th = Thresholds {
        max_throughput_drop_pct: args.max_throughput_drop,
        max_ttft_rise_pct: args.max_ttft_rise,
    };
    let c = compare(&old, &new, th)?;
    let md = c.to_markdown()?;
    if let Some(p) = &args.md {
        chimera_core::fsutil::write_atomic(p, md.as_bytes())
            .with_context(|| format!("writing --md {}", p.display()))?;
    }
    match &json {
        // JSON on stdout: the Markdown goes to stderr.
        Some(j) if j.is_stdout() => eprint!("{md}"),
        _ => print!("{md}"),
    }
    if let Some(j) = &json {
        j.write(&c)?;
    }
    Ok(c.status().into())
}
