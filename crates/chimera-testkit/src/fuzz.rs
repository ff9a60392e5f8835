//! Fuzzing on stable Rust: a target is a check over raw bytes; [`replay`] runs its saved corpus
//! (`testdata/fuzz/<target>/`) as an ordinary test, [`run`] feeds it generated and mutated
//! inputs until a deadline (`CHIMERA_FUZZ_SECS`, set by `scripts/fuzz.sh`) and saves every
//! input that fails, panics or runs too long into the corpus.
//!
//! Inputs come from the target's generator, from byte mutations (flip, insert, delete, repeat,
//! splice, dictionary tokens) of corpus entries and earlier cases, capped at the target's
//! `max_len` so a case can never hang on size. There is no coverage feedback (that needs
//! nightly's sanitizer coverage): the generators are structure-aware instead.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use rand::Rng;
use rand::SeedableRng;
pub use rand::rngs::StdRng;

/// The environment variable holding the seconds to fuzz a target for.
pub const SECS_VAR: &str = "CHIMERA_FUZZ_SECS";

/// A case slower than this is saved as a finding (a parser must stay linear on capped input).
pub const SLOW_CASE: Duration = Duration::from_secs(2);

/// A run stops after this many findings (they are usually one bug many times).
pub const MAX_FINDINGS: usize = 10;

/// One fuzz target.
pub struct Target {
    /// The corpus folder's name under `testdata/fuzz/`.
    pub name: &'static str,
    /// Checks one input: `Err` (or a panic) is a finding, with its reason.
    pub check: fn(&[u8]) -> Result<(), String>,
    /// A fresh structure-aware input.
    pub generate: fn(&mut StdRng) -> Vec<u8>,
    /// Tokens the mutator inserts (field names, delimiters, markup).
    pub dict: &'static [&'static str],
    /// Inputs are cut to this many bytes.
    pub max_len: usize,
}

/// A target's two tests: `replay` runs its corpus on every `cargo test`; the ignored `fuzz` is
/// the timed run `scripts/fuzz.sh` starts (`cargo test … -- --ignored --exact <path>::fuzz`).
#[macro_export]
macro_rules! fuzz_tests {
    ($target:expr) => {
        #[test]
        fn replay() {
            $crate::fuzz::replay(&$target);
        }

        #[test]
        #[ignore = "a timed fuzz run: scripts/fuzz.sh"]
        fn fuzz() {
            $crate::fuzz::run(&$target);
        }
    };
}

/// `testdata/fuzz/<name>/` at the workspace root.
pub fn corpus_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fuzz").join(name)
}

fn corpus(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(name);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}

/// The check's verdict, a panic turned into an error.
fn verdict(t: &Target, input: &[u8]) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| (t.check)(input))) {
        Ok(r) => r,
        Err(p) => Err(format!(
            "panic: {}",
            p.downcast_ref::<String>()
                .map(String::as_str)
                .or(p.downcast_ref::<&str>().copied())
                .unwrap_or("?")
        )),
    }
}

/// Run every saved input of `t` (a test: fails naming each failing file; an empty corpus fails).
pub fn replay(t: &Target) {
    let files = corpus(t.name);
    assert!(!files.is_empty(), "no corpus in {}", corpus_dir(t.name).display());
    let failed: Vec<String> =
        files.iter().filter_map(|(n, b)| verdict(t, b).err().map(|e| format!("{n}: {e}"))).collect();
    assert!(failed.is_empty(), "{} corpus inputs fail:\n{}", t.name, failed.join("\n"));
}

/// Mutate `input` in place with 1–4 random edits, splicing from `other` and the dictionary.
fn mutate(rng: &mut StdRng, input: &mut Vec<u8>, other: &[u8], dict: &[&str], max_len: usize) {
    for _ in 0..rng.random_range(1..=4) {
        let len = input.len();
        let at = rng.random_range(0..=len);
        match rng.random_range(0..7) {
            0 if len > 0 => input[at.min(len - 1)] ^= 1 << rng.random_range(0..8),
            1 => input.insert(at, rng.random()),
            2 if len > 0 => {
                let end = (at + rng.random_range(1..=16)).min(len);
                input.drain(at.min(end)..end);
            }
            3 if len > 0 => {
                let start = rng.random_range(0..len);
                let end = (start + rng.random_range(1..=64)).min(len);
                let piece = input[start..end].to_vec();
                for _ in 0..rng.random_range(1..=8) {
                    input.splice(at..at, piece.iter().copied());
                }
            }
            4 if !other.is_empty() => {
                let start = rng.random_range(0..other.len());
                let end = (start + rng.random_range(1..=256)).min(other.len());
                input.splice(at..at, other[start..end].iter().copied());
            }
            _ if !dict.is_empty() => {
                let tok = dict[rng.random_range(0..dict.len())].as_bytes();
                input.splice(at..at, tok.iter().copied());
            }
            _ => input.push(rng.random()),
        }
    }
    input.truncate(max_len);
}

/// What a timed run did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub cases: u64,
    pub findings: Vec<PathBuf>,
    pub slowest: Duration,
}

/// Fuzz `t` for `CHIMERA_FUZZ_SECS` seconds (nothing when unset): every failing, panicking or
/// slow input is written to the corpus as `finding-<n>-<hash>`; prints the cases run. Panics at
/// the end when anything was found, so the run's exit status says so.
pub fn run(t: &Target) -> Outcome {
    let Some(secs) = std::env::var(SECS_VAR).ok().and_then(|s| s.parse::<f64>().ok()) else {
        eprintln!("{}: {SECS_VAR} unset, nothing to do", t.name);
        return Outcome::default();
    };
    let seed =
        std::env::var("CHIMERA_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pool: Vec<Vec<u8>> = corpus(t.name).into_iter().map(|(_, b)| b).collect();
    let seeds = pool.len();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut out = Outcome::default();
    while Instant::now() < deadline {
        let mut input = if pool.is_empty() || rng.random_bool(0.25) {
            (t.generate)(&mut rng)
        } else {
            pool[rng.random_range(0..pool.len())].clone()
        };
        let other = if pool.is_empty() { Vec::new() } else { pool[rng.random_range(0..pool.len())].clone() };
        if rng.random_bool(0.8) {
            mutate(&mut rng, &mut input, &other, t.dict, t.max_len);
        }
        input.truncate(t.max_len);
        let started = Instant::now();
        let verdict = verdict(t, &input);
        let took = started.elapsed();
        out.slowest = out.slowest.max(took);
        out.cases += 1;
        let reason = match verdict {
            Err(e) => Some(e),
            Ok(()) if took > SLOW_CASE => Some(format!("slow case: {took:?}")),
            Ok(()) => None,
        };
        if let Some(reason) = reason {
            let path = save(t.name, out.findings.len(), &input);
            eprintln!("{}: FINDING {} — {reason}", t.name, path.display());
            out.findings.push(path);
            if out.findings.len() >= MAX_FINDINGS {
                eprintln!("{}: {MAX_FINDINGS} findings, stopping", t.name);
                break;
            }
        } else if pool.len() < seeds + 256 && rng.random_bool(0.01) {
            // A small rotating pool of earlier cases feeds the splicer beyond the saved corpus.
            pool.push(input);
        } else if pool.len() >= seeds + 256 {
            let i = rng.random_range(seeds..pool.len());
            pool[i] = input;
        }
    }
    std::panic::set_hook(quiet);
    println!(
        "fuzz {}: {} cases in {secs} s (seed {seed}), slowest case {:?}, {} findings",
        t.name,
        out.cases,
        out.slowest,
        out.findings.len()
    );
    assert!(out.findings.is_empty(), "{} findings saved: {:?}", t.name, out.findings);
    out
}

fn save(name: &str, n: usize, input: &[u8]) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    input.hash(&mut h);
    let path = corpus_dir(name).join(format!("finding-{n}-{:016x}", h.finish()));
    std::fs::write(&path, input).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

/// Up to `n` pieces of text, each a dictionary entry or a few random characters (generators).
pub fn words(rng: &mut StdRng, dict: &[&str], n: usize) -> String {
    let mut s = String::new();
    for _ in 0..rng.random_range(0..=n) {
        if !dict.is_empty() && rng.random_bool(0.6) {
            s.push_str(dict[rng.random_range(0..dict.len())]);
        } else {
            let len = rng.random_range(0..8);
            s.extend((0..len).map(|_| rng.random_range(' '..='~')));
            if rng.random_bool(0.05) {
                s.push(['é', '\u{0}', '\u{202e}', '😀', '\t'][rng.random_range(0..5)]);
            }
        }
    }
    s
}
