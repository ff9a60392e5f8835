//! Golden outputs: the Markdown, JSON and CSV files that `chimera agent`, `bench`, `multi` and
//! `sweep` write against scripted loopback servers (fixed model texts, fixed server timings,
//! fixed seeds, a small artifact folder with fixed modification times) are compared with the
//! files under `testdata/golden/<case>/`, which were produced by the code of commit "golden
//! outputs" (before the result-model redesign of issue 13).
//!
//! What may differ between two runs is normalised explicitly by the rules in `golden/norm.rs`
//! and listed there: wall-clock timestamps, client-measured durations and the figures derived
//! from them, host facts, temporary paths and server ports. Everything else must match.
//!
//! `CHIMERA_BLESS=1 cargo test -p chimera-cli --test golden` rewrites the goldens from the
//! current code (review the diff before committing it).

#[path = "golden/cases.rs"]
mod cases;
#[path = "golden/norm.rs"]
mod norm;

use std::path::{Path, PathBuf};

use cases::Case;

/// Only one case at a time: their timings (contention, TTFT order) assume an otherwise idle
/// test binary.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn golden_dir(case: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/golden")).join(case)
}

/// Output files compared (relative, sorted): Markdown, JSON, JSON lines and CSV.
fn output_files(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().map(Result::unwrap) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| ["md", "json", "jsonl", "csv"].iter().any(|k| x == *k)) {
                v.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    v.sort();
    v
}

/// First differing line of two texts, with a little context.
fn first_difference(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let i = w.iter().zip(&g).position(|(a, b)| a != b).unwrap_or(w.len().min(g.len()));
    let show = |v: &[&str]| v[i.saturating_sub(2)..(i + 3).min(v.len())].join("\n");
    format!("line {}:\n--- golden\n{}\n--- now\n{}", i + 1, show(&w), show(&g))
}

async fn check(case: Case) {
    let _one = SERIAL.lock().await;
    let run = cases::run(case).await;
    let golden = golden_dir(case.name());
    let files = output_files(&run.out);
    let normalised: Vec<(String, String)> =
        files.iter().map(|f| (f.clone(), norm::normalise(case, f, &run.read(f), &run.subst))).collect();
    if std::env::var_os("CHIMERA_BLESS").is_some() {
        let _ = std::fs::remove_dir_all(&golden);
        for (f, text) in &normalised {
            let p = golden.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        return;
    }
    for f in files.iter().filter(|f| f.ends_with(".json") || f.ends_with(".jsonl")) {
        for doc in run
            .read(f)
            .lines()
            .filter(|l| f.ends_with(".jsonl") && !l.is_empty())
            .map(str::to_string)
            .chain(f.ends_with(".json").then(|| run.read(f)))
        {
            let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
            let kind = v["kind"].as_str().unwrap_or_default();
            assert!(
                kind.starts_with("chimera.") && v["schema_version"].is_u64(),
                "{}/{f}: every result JSON names its kind and schema version",
                case.name()
            );
        }
    }
    let want_files = output_files(&golden);
    assert_eq!(files, want_files, "{}: the set of output files changed", case.name());
    let mut failures = Vec::new();
    for (f, got) in &normalised {
        let want = std::fs::read_to_string(golden.join(f)).unwrap();
        let got = norm::accept_added(f, &want, got);
        if want != got {
            failures.push(format!("{}/{f}: {}", case.name(), first_difference(&want, &got)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} file(s) differ from the goldens:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent() {
    check(Case::Agent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_failed_report_call() {
    check(Case::AgentFailed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench() {
    check(Case::Bench).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi() {
    check(Case::Multi).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep() {
    check(Case::Sweep).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_scenario() {
    check(Case::SweepScenario).await;
}
