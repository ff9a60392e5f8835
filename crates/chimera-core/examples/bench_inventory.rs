//! Benchmark of `chimera inventory`, run by scripts/bench_inventory.sh.
//!
//! `bench_inventory DIR --bin CHIMERA [--ref CHIMERA] [--files N] [--scale K] [--rounds R]`
//! generates a corpus of N small CSV/JSON/Markdown files under DIR (once; K multiplies the rows
//! per file; `tests/support/inventory_corpus.rs`), warms the page cache by reading every byte,
//! then runs R interleaved rounds of each binary in each output mode, each run a fresh process
//! timed on the wall clock with its peak RSS from GNU time (`/usr/bin/time -f %M`):
//!   md    `chimera inventory DIR > /dev/null` (the default Markdown)
//!   json  `chimera inventory DIR --json FILE > /dev/null` (JSON file and Markdown)
//! and prints the medians and the ratios of `--bin` to `--ref`.

#[path = "../tests/support/inventory_corpus.rs"]
mod corpus;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Read every file under `dir` once (warm page cache); returns (files, bytes).
fn warm(dir: &Path) -> (usize, u64) {
    let mut n = (0, 0);
    for e in walkdir::WalkDir::new(dir).into_iter().filter_map(Result::ok).filter(|e| e.file_type().is_file())
    {
        let mut buf = Vec::new();
        if let Ok(b) = std::fs::File::open(e.path()).and_then(|mut f| f.read_to_end(&mut buf)) {
            n = (n.0 + 1, n.1 + b as u64);
        }
    }
    n
}

/// One run: wall seconds and peak RSS in KiB.
fn run(bin: &Path, dir: &Path, json: Option<&Path>) -> (f64, u64) {
    let rss_file = std::env::temp_dir().join(format!("bench-inventory-rss-{}", std::process::id()));
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(bin).arg("inventory").arg(dir);
    if let Some(j) = json {
        cmd.arg("--json").arg(j);
    }
    let t = Instant::now();
    let status = cmd.stdout(Stdio::null()).status().expect("run /usr/bin/time (apt-get install time)");
    let secs = t.elapsed().as_secs_f64();
    assert!(status.success(), "{} inventory {} failed: {status}", bin.display(), dir.display());
    let kb = std::fs::read_to_string(&rss_file).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    (secs, kb)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let num = |name: &str, default: usize| opt(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (Some(dir), Some(bin)) = (args.get(1).filter(|a| !a.starts_with("--")), opt("--bin")) else {
        eprintln!(
            "usage: bench_inventory DIR --bin CHIMERA [--ref CHIMERA] [--files N] [--scale K] [--rounds R]"
        );
        std::process::exit(2);
    };
    let dir = PathBuf::from(dir);
    let (n, scale, rounds) = (num("--files", 100_000), num("--scale", 1), num("--rounds", 5).max(1));
    let t = Instant::now();
    if let Err(e) = corpus::generate(&dir, n, scale) {
        eprintln!("cannot generate the corpus in {}: {e}", dir.display());
        std::process::exit(2);
    }
    let (files, bytes) = warm(&dir);
    println!(
        "corpus: {files} files, {bytes} bytes, scale {scale}, ready in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let mut bins = vec![("new", PathBuf::from(bin))];
    if let Some(r) = opt("--ref") {
        bins.push(("ref", PathBuf::from(r)));
    }
    let json_out = std::env::temp_dir().join(format!("bench-inventory-{}.json", std::process::id()));
    let modes: [(&str, Option<&Path>); 2] = [("md", None), ("json", Some(&json_out))];
    // results[bin][mode] = [(secs, kb)]
    let mut results = vec![vec![Vec::new(); modes.len()]; bins.len()];
    for round in 1..=rounds {
        for (m, (mode, json)) in modes.iter().enumerate() {
            for (b, (label, path)) in bins.iter().enumerate() {
                let (secs, kb) = run(path, &dir, *json);
                println!("round {round} {label} {mode:<4} {secs:.3} s {:.1} MiB", kb as f64 / 1024.0);
                results[b][m].push((secs, kb as f64));
            }
        }
    }
    let _ = std::fs::remove_file(&json_out);
    println!(
        "\n| binary | output | median wall s | min–max s | median peak RSS MiB |\n|---|---|---:|---|---:|"
    );
    let mut med = vec![vec![(0.0, 0.0); modes.len()]; bins.len()];
    for (b, (label, _)) in bins.iter().enumerate() {
        for (m, (mode, _)) in modes.iter().enumerate() {
            let r = &results[b][m];
            let secs: Vec<f64> = r.iter().map(|x| x.0).collect();
            let (lo, hi) = secs.iter().fold((f64::MAX, 0.0f64), |(lo, hi), &s| (lo.min(s), hi.max(s)));
            med[b][m] = (median(secs), median(r.iter().map(|x| x.1).collect()) / 1024.0);
            println!("| {label} | {mode} | {:.3} | {lo:.3}–{hi:.3} | {:.1} |", med[b][m].0, med[b][m].1);
        }
    }
    if bins.len() == 2 {
        for (m, (mode, _)) in modes.iter().enumerate() {
            println!(
                "{mode}: new / ref wall = {:.2}x, peak RSS = {:.2}x",
                med[0][m].0 / med[1][m].0,
                med[0][m].1 / med[1][m].1
            );
        }
    }
}
