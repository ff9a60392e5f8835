//! Deterministic inventory corpora: the generator of `scripts/bench_inventory.sh` (N small
//! CSV/JSON/Markdown files) and helpers that pin modification times, so an inventory of the
//! same files gives the same bytes on any machine. Shared by `tests/inventory_golden.rs` and
//! `examples/bench_inventory.rs` (through `#[path]`).

#![allow(dead_code)] // each includer uses its part

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

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

/// Write `n` files with `scale` times the rows each under `dir` (40 % CSV, 40 % JSON, 20 %
/// Markdown, in `reports/`, `csv_data/`, `artifacts/`), once: a marker file at the top (outside
/// the scanned roots) says the corpus is complete.
pub fn generate(dir: &Path, n: usize, scale: usize) -> std::io::Result<()> {
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

/// Every file under `dir` (following no links), sorted by path.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
}

/// Give the files under `dir` fixed modification times: the i-th file in path order gets
/// 2025-09-27 19:06:40 UTC + i × 3,607 s + (i × 7,919,731 mod 10⁹) ns.
pub fn pin_mtimes(dir: &Path) -> std::io::Result<()> {
    for (i, p) in files_under(dir).iter().enumerate() {
        let i = i as u64;
        let t = SystemTime::UNIX_EPOCH
            + Duration::from_secs(1_759_000_000 + i * 3_607)
            + Duration::from_nanos(i * 7_919_731 % 1_000_000_000);
        std::fs::File::open(p)?.set_modified(t)?;
    }
    Ok(())
}

/// Copy the files under `src` (not links, not empty folders) into `dst`.
pub fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    for p in files_under(src) {
        let to = dst.join(p.strip_prefix(src).unwrap_or(&p));
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&to, std::fs::read(&p)?)?;
    }
    Ok(())
}
