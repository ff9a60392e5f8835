//! Benchmark of the DataCollector against the I/O floor (issue 2), run by scripts/bench_inventory.sh.
//!
//! `bench_inventory DIR [--files N] [--scale K] [--rounds R]` generates a synthetic corpus of N
//! small CSV/JSON/Markdown files under DIR (once; K multiplies the rows per file), warms the page
//! cache by reading every byte, then runs R interleaved rounds, each measurement in a fresh child
//! process (so peak RSS is per measurement, read from /proc/self/status VmHWM):
//!   floor-par  walk + read every byte on all cores (rayon)  — the I/O floor
//!   floor-seq  walk + read every byte on one thread
//!   inventory     `collect` + JSON + Markdown, in parallel (what `chimera inventory --json F` does)
//!   inventory-md  `collect` + Markdown (what `chimera inventory DIR` does by default)
//! and prints the medians and the inventory / floor ratio.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use chimera_core::inventory::{CollectOptions, collect};

/// The allocator of the `chimera` binary, so the figures are the CLI's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use rayon::prelude::*;

fn files_under(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && !e.file_name().to_string_lossy().starts_with(".bench"))
        .map(|e| e.into_path())
        .collect()
}

fn read_all(p: &Path) -> u64 {
    let mut buf = Vec::new();
    std::fs::File::open(p).and_then(|mut f| f.read_to_end(&mut buf)).map(|n| n as u64).unwrap_or(0)
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Bytes written, nothing kept (the JSON goes nowhere, as to /dev/null).
struct CountingSink(usize);
impl std::io::Write for CountingSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// User + system CPU seconds of this process (robust when other jobs load the machine).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(f64::NAN);
    // Fields after the command: state is index 0, utime 11, stime 12 (clock ticks, 100 Hz).
    (ticks(11) + ticks(12)) / 100.0
}

/// Deterministic xorshift so the corpus is the same every time.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn f(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() % 1_000_000) as f64 / 1_000_000.0 * (hi - lo)
    }
}

const MODELS: [&str; 4] = ["gemma3:270m", "gemma3:1b-it-qat", "llama3.1:8b-instruct-q4_0", "qwen2.5:0.5b"];

fn gen_file(r: &mut Rng, i: usize, scale: usize) -> (String, String) {
    let model = MODELS[r.below(4) as usize];
    let stamp = format!("202510{:02}-{:02}{:02}{:02}", 1 + i % 28, i % 24, (i / 24) % 60, i % 60);
    let root = ["reports", "reports", "csv_data", "artifacts"][i % 4];
    let folder = format!("{root}/d{:03}", i % 1000);
    match r.below(10) {
        0..=3 => {
            let mut s = String::from(
                "timestamp,model,num_gpu,num_ctx,temperature,ttft_s,tokens_s,load_s,prompt_eval_s,eval_s,eval_count,error\n",
            );
            // One file in four is a parameter sweep (a configuration per row, as the seed's
            // *_param_tuning.csv); the others repeat one configuration (as *_baseline.csv).
            let sweep = i % 4 == 0;
            let fixed = (r.below(4) as usize, r.below(3) as usize, r.f(0.1, 1.0));
            for row in 0..(5 + r.below(15) as usize) * scale {
                let err = if r.below(20) == 0 { "timed out" } else { "" };
                let (g, c, t) =
                    if sweep { (r.below(4) as usize, r.below(3) as usize, r.f(0.1, 1.0)) } else { fixed };
                s.push_str(&format!(
                    "2025-10-01T12:{:02}:00,{model},{},{},{:.1},{:.4},{:.3},{:.4},{:.4},{:.4},{},{err}\n",
                    row % 60,
                    [40, 60, 80, 999][g],
                    [1024, 2048, 4096][c],
                    t,
                    r.f(0.05, 3.0),
                    r.f(50.0, 300.0),
                    r.f(0.02, 2.0),
                    r.f(0.01, 0.5),
                    r.f(0.5, 9.0),
                    r.below(900) + 20,
                ));
            }
            (format!("{folder}/bench_{i}_{stamp}.csv"), s)
        }
        4..=7 => {
            let runs: Vec<String> = (0..(5 + r.below(15) as usize) * scale)
                .map(|k| {
                    format!(
                        "{{\"run\": {k}, \"ttft_ms\": {:.3}, \"tokens_per_second\": {:.3}, \"eval_count\": {}, \"load_duration\": {}, \"eval_duration\": {}, \"memory_used_mb\": {:.1}}}",
                        r.f(40.0, 3000.0),
                        r.f(50.0, 300.0),
                        r.below(900) + 20,
                        r.below(900_000_000),
                        r.below(9_000_000_000),
                        r.f(300.0, 9000.0)
                    )
                })
                .collect();
            let s = format!(
                "{{\n  \"generated_at\": \"2025-10-01T12:00:00Z\",\n  \"model\": \"{model}\",\n  \"options\": {{\"num_ctx\": 2048, \"temperature\": 0.7}},\n  \"runs\": [\n    {}\n  ]\n}}\n",
                runs.join(",\n    ")
            );
            (format!("{folder}/bench_{i}_{stamp}.json"), s)
        }
        _ => {
            let mut s = format!(
                "# Benchmark {i}: {model}\n\nGenerated for the inventory benchmark.\n\n| run | tok/s | ttft ms |\n|---|---:|---:|\n"
            );
            for k in 0..(5 + r.below(15) as usize) * scale {
                s.push_str(&format!("| {k} | {:.2} | {:.1} |\n", r.f(50.0, 300.0), r.f(40.0, 3000.0)));
            }
            s.push_str("\n## Notes\n\nThroughput was stable; the first run includes model load.\n");
            (format!("{folder}/Bench_Report_{i}.md"), s)
        }
    }
}

fn generate(dir: &Path, n: usize, scale: usize) -> std::io::Result<()> {
    let marker = dir.join(format!(".bench-done-v2-{n}-{scale}"));
    if marker.exists() {
        return Ok(());
    }
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let mut made = std::collections::BTreeSet::new();
    for i in 0..n {
        let (rel, text) = gen_file(&mut r, i, scale);
        let p = dir.join(&rel);
        let parent = p.parent().unwrap_or(dir).to_path_buf();
        if made.insert(parent.clone()) {
            std::fs::create_dir_all(&parent)?;
        }
        std::fs::write(p, text)?;
    }
    std::fs::write(marker, b"")
}

fn child(mode: &str, dir: &Path) {
    // Every measurement in the same process conditions as `chimera inventory` (mimalloc, no
    // transparent huge pages, freed memory purged after 100 ms: chimera-cli's `alloc.rs`), so
    // the floor is not slowed by page zeroing the inventory avoids.
    chimera_core::inventory::disable_transparent_huge_pages();
    // SAFETY: a plain store into mimalloc's option table (15 = `mi_option_purge_delay`).
    unsafe { libmimalloc_sys::mi_option_set(15, 100) };
    let t = Instant::now();
    let (files, bytes) = match mode {
        "floor-par" => {
            let fs = files_under(dir);
            (fs.len(), fs.par_iter().map(|p| read_all(p)).sum::<u64>())
        }
        "floor-seq" => {
            let fs = files_under(dir);
            (fs.len(), fs.iter().map(|p| read_all(p)).sum::<u64>())
        }
        "inventory-md" => {
            // As `chimera inventory DIR` (the default: Markdown to stdout, no JSON).
            let inv = collect(&[dir.to_path_buf()], &CollectOptions::default()).expect("collect");
            std::hint::black_box(inv.to_markdown());
            let counts = (inv.analysed_files(), inv.files.iter().map(|f| f.bytes).sum());
            std::mem::forget(inv); // as the CLI, which exits without freeing it
            counts
        }
        _ => {
            // As `chimera inventory DIR --json FILE`: the JSON streamed on a second thread while
            // the Markdown is rendered.
            let inv = collect(&[dir.to_path_buf()], &CollectOptions::default()).expect("collect");
            let t1 = t.elapsed().as_secs_f64();
            let (json_bytes, md) = std::thread::scope(|s| {
                let json = s.spawn(|| {
                    let mut sink = CountingSink(0);
                    inv.write_json(&mut sink).expect("json");
                    sink.0
                });
                let md = inv.to_markdown();
                (json.join().expect("json thread"), md)
            });
            let t2 = t.elapsed().as_secs_f64();
            eprintln!("collect {t1:.3}s json+markdown {:.3}s ({} MB JSON)", t2 - t1, json_bytes >> 20);
            std::hint::black_box(&md);
            let counts = (inv.analysed_files(), inv.files.iter().map(|f| f.bytes).sum());
            std::mem::forget(inv); // as the CLI, which exits without freeing it
            counts
        }
    };
    println!(
        "secs={:.4} cpu={:.4} hwm_kb={} files={files} bytes={bytes}",
        t.elapsed().as_secs_f64(),
        cpu_secs(),
        vm_hwm_kb()
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn field(line: &str, key: &str) -> f64 {
    line.split_whitespace().find_map(|kv| kv.strip_prefix(key)?.parse().ok()).unwrap_or(f64::NAN)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        child(&args[2], Path::new(&args[3]));
        return;
    }
    let Some(dir) = args.get(1).map(PathBuf::from) else {
        eprintln!("usage: bench_inventory DIR [--files N] [--scale K] [--rounds R]");
        std::process::exit(2);
    };
    let opt = |name: &str, default: usize| {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(default)
    };
    let (n, scale, rounds) = (opt("--files", 100_000), opt("--scale", 1), opt("--rounds", 3));
    let t = Instant::now();
    if let Err(e) = generate(&dir, n, scale) {
        eprintln!("cannot generate the corpus in {}: {e}", dir.display());
        std::process::exit(2);
    }
    println!("corpus: {} files, scale {scale}, ready in {:.1}s", n, t.elapsed().as_secs_f64());
    let exe = std::env::current_exe().expect("own path");
    let run = |mode: &str| -> String {
        let out = Command::new(&exe).args(["--child", mode]).arg(&dir).output().expect("child runs");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    println!("warm-up (page cache): {}", run("floor-seq"));
    let modes = ["floor-par", "floor-seq", "inventory", "inventory-md"];
    let mut res: Vec<Vec<String>> = vec![Vec::new(); modes.len()];
    for round in 0..rounds {
        for (i, m) in modes.iter().enumerate() {
            let line = run(m);
            println!("round {} {m:<10} {line}", round + 1);
            res[i].push(line);
        }
    }
    let med: Vec<(f64, f64)> = res
        .iter()
        .map(|lines| {
            (
                median(lines.iter().map(|l| field(l, "secs=")).collect()),
                median(lines.iter().map(|l| field(l, "hwm_kb=")).collect()),
            )
        })
        .collect();
    println!("\n| measurement | median s | peak RSS MiB |\n|---|---:|---:|");
    for (m, (s, kb)) in modes.iter().zip(&med) {
        println!("| {m} | {s:.3} | {:.1} |", kb / 1024.0);
    }
    println!(
        "\ninventory / floor-par = {:.2}x ; inventory / floor-seq = {:.2}x ; inventory-md / floor-par = {:.2}x",
        med[2].0 / med[0].0,
        med[2].0 / med[1].0,
        med[3].0 / med[0].0
    );
}
