//! Grounding cost benchmark (issue 18, item 16): CPU time of [`grounding::check`] per token of
//! model text, against the real known numbers of a corpus (`agent::known_numbers` over the
//! inventory of DIR, as `chimera agent` builds them).
//!
//! The model text is generated deterministically: prose sentences of the seed report mixed with
//! claims whose numbers are known values (exact, rounded, in seconds instead of ms), invented
//! values, identifiers, dates, code spans and list markers. A token is one streamed piece: a
//! word, a number or one punctuation character. (Gemma's tokenizer splits numbers into single
//! digits, so a real text of the same token count is shorter: this count is conservative.)
//!
//! Reference measured in the same run, interleaved: `number-scan`, one pass of a plain number
//! regular expression over the same text (the least any number check has to do).
//!
//! Run: `cargo run --release -p chimera-core --example grounding_cost -- [DIR] [TOKENS,...] [RUNS]`
//! (defaults: ../shared/corpus/seed-101, 5000,20000,80000, 5).

use std::path::PathBuf;

use chimera_core::agent::{AgentSpec, known_numbers};
use chimera_core::grounding::{self, KnownNumber};
use chimera_core::inventory::{CollectOptions, collect};
use chimera_core::options::GenOptions;
use chimera_core::persona::Persona;
use chimera_core::stats;

/// CPU time of the calling thread, ns.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we pass; CLOCK_THREAD_CPUTIME_ID is valid.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

// The xorshift generator of core's randomised tests (same sequence, so the same text every run).
#[allow(dead_code)]
#[path = "../src/testrng.rs"]
mod testrng;
use testrng::Rng;

const PROSE: &str = "This report analyzes a dataset of benchmark files generated during a large language model \
benchmark testing effort. The analysis reveals a focused and rigorous testing strategy involving compilation, \
parameter tuning, and detailed performance measurements. Despite redundancy in file naming, the data provides \
valuable insights into the performance characteristics and suggests areas for optimization, particularly \
concerning naming conventions and the potential for more targeted benchmarking.";

/// Model text of about `tokens` tokens; returns the text and its exact token count.
fn model_text(tokens: usize, known: &[KnownNumber], rng: &mut Rng) -> (String, usize) {
    let prose: Vec<&str> = PROSE.split_whitespace().collect();
    let mut out = String::new();
    let mut n = 0;
    while n < tokens {
        let k = &known[rng.below(known.len() as u64) as usize];
        let v = k.value;
        let (piece, count) = match rng.below(10) {
            0..=3 => {
                let start = rng.below((prose.len() - 12) as u64) as usize;
                (format!("{} ", prose[start..start + 12].join(" ")), 12 + 1)
            }
            4 => (format!("Throughput reached {v} tok/s in that run. "), 8),
            5 => (format!("The mean was {v:.1} ms, about {:.2} s overall. ", v / 1000.0), 13),
            6 => (format!("We also saw {}.{} tok/s, which is new. ", rng.below(900), rng.below(99)), 10),
            7 => (
                format!(
                    "\n{}. **gemma3_270m** on 2025-10-{:02} at 17:08 ran {} tokens. ",
                    1 + rng.below(9),
                    1 + rng.below(28),
                    v.round()
                ),
                16,
            ),
            8 => (
                format!(
                    "See `conv_bench_20251002-170837.json` (version 0.1.{}): {v:.0}% CV. ",
                    rng.below(200)
                ),
                14,
            ),
            _ => (format!("| {v} | {:.3} | {} |\n", v / 1000.0, rng.below(5000)), 7),
        };
        out.push_str(&piece);
        n += count;
    }
    (out, n)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/seed-101")),
        PathBuf::from,
    );
    let sizes: Vec<usize> = args
        .get(2)
        .map_or("5000,20000,80000", String::as_str)
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let runs: usize = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(5);

    let inv = collect(std::slice::from_ref(&dir), &CollectOptions::default()).expect("collect the corpus");
    let spec = AgentSpec::new(
        "Bench",
        Persona::collector(),
        "m",
        GenOptions { num_ctx: Some(2048), temperature: Some(0.7), ..Default::default() },
    );
    let known = known_numbers(&inv, &spec);
    let scan = regex::Regex::new(r"[-+]?\d+(?:[.,]\d+)*").expect("number regex");
    println!(
        "corpus: {} ({} files analysed, {} known numbers); {runs} measured runs per size after 1 warm-up",
        dir.display(),
        inv.analysed_files(),
        known.len()
    );
    println!(
        "| tokens | bytes | numbers checked | check µs/token (median) | min…max | number-scan µs/token (median) | check / scan |"
    );
    println!("|---:|---:|---:|---:|---|---:|---:|");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for &size in &sizes {
        let (text, tokens) = model_text(size, &known, &mut rng);
        let (mut check_ns, mut scan_ns) = (Vec::new(), Vec::new());
        let mut checked = 0;
        for run in 0..=runs {
            let c0 = thread_cpu_ns();
            let g = grounding::check(&text, &known);
            let c1 = thread_cpu_ns();
            let found = scan.find_iter(&text).count();
            let c2 = thread_cpu_ns();
            checked = g.checked;
            assert!(found >= g.checked, "the scan finds every checked number");
            if run > 0 {
                check_ns.push((c1 - c0) as f64 / tokens as f64);
                scan_ns.push((c2 - c1) as f64 / tokens as f64);
            }
        }
        let (Some(c), Some(s)) = (stats::summarize(&check_ns), stats::summarize(&scan_ns)) else { continue };
        println!(
            "| {tokens} | {} | {checked} | {:.3} | {:.3}…{:.3} | {:.3} | {:.1}× |",
            text.len(),
            c.median / 1000.0,
            c.min / 1000.0,
            c.max / 1000.0,
            s.median / 1000.0,
            c.median / s.median
        );
    }
}
