//! Fuzz target `inventory`: the inventory's CSV, JSON (and JSON lines) and Markdown parsers,
//! through [`crate::inventory::collect`] on real files.
//!
//! Every input is written as `a.csv`, `b.json`, `c.jsonl` and `d.md` in a fresh folder and
//! collected. Checked: no panic; the four files are listed, each with a parse status and the
//! input's size; the JSON document parses back to the same inventory; the Markdown report has
//! no control character but newlines and every table in it keeps its header's column count
//! (an input `|` or newline cannot add or move a cell); every number a report may cite is finite.

use chimera_testkit::fuzz::{self, Rng, StdRng, Target};

use crate::inventory::{CollectOptions, Inventory, collect};

const NAMES: [&str; 4] = ["a.csv", "b.json", "c.jsonl", "d.md"];

/// Cells of a Markdown table row (`|` escaped as `\|` stays inside its cell).
fn cells(row: &str) -> usize {
    let mut n = 0;
    let mut escaped = false;
    for c in row.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '|' if !escaped => n += 1,
            _ => escaped = false,
        }
    }
    n
}

fn check_markdown(md: &str) -> Result<(), String> {
    if let Some(c) = md.chars().find(|c| c.is_control() && *c != '\n') {
        return Err(format!("control character {c:?} in the Markdown report"));
    }
    let mut header: Option<(usize, &str)> = None;
    for line in md.lines() {
        if !line.starts_with('|') {
            header = None;
            continue;
        }
        match header {
            None => header = Some((cells(line), line)),
            Some((n, h)) if cells(line) != n => {
                return Err(format!("table row {line:?} has {} bars, its header {h:?} has {n}", cells(line)));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn check(input: &[u8]) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    for n in NAMES {
        std::fs::write(dir.path().join(n), input).map_err(|e| e.to_string())?;
    }
    let opts = CollectOptions { max_file_bytes: 1 << 20, ..CollectOptions::default() };
    let inv = collect(&[dir.path().to_path_buf()], &opts).map_err(|e| format!("collect: {e}"))?;
    for n in NAMES {
        let f = inv.files.iter().find(|f| f.rel_path.ends_with(n)).ok_or(format!("{n} not listed"))?;
        if f.bytes != input.len() as u64 {
            return Err(format!("{n}: {} bytes listed, {} written", f.bytes, input.len()));
        }
    }
    let json = inv.to_json();
    let back: Inventory =
        serde_json::from_str(&json).map_err(|e| format!("JSON does not parse back: {e}"))?;
    if back != inv {
        return Err("JSON parses back to a different inventory".into());
    }
    check_markdown(&inv.to_markdown())?;
    if let Some((v, s)) = inv.known_numbers().into_iter().find(|(v, _)| !v.is_finite()) {
        return Err(format!("non-finite known number {v} ({s})"));
    }
    Ok(())
}

const DICT: &[&str] = &[
    ",",
    "\n",
    "\r\n",
    "\"",
    "|",
    "\\|",
    "---",
    "| --- |",
    ":---:",
    "# ",
    "```",
    "{",
    "}",
    "[",
    "]",
    ":",
    "\"model\"",
    "\"tokens_per_second\"",
    "\"ttft_ms\"",
    "model,tok_s,ttft_ms\n",
    "1e308",
    "-0",
    "NaN",
    "inf",
    "1.5e-7",
    "\u{feff}",
    "\u{0}",
    "\u{1b}[31m",
    "\t",
    "<script>",
    "2026-01-02 03:04:05",
    "%",
    "ms",
    "tok/s",
];

fn generate(rng: &mut StdRng) -> Vec<u8> {
    let num = |rng: &mut StdRng| match rng.random_range(0..4) {
        0 => rng.random::<u32>().to_string(),
        1 => format!("{:.3}", rng.random::<f64>() * 1000.0),
        2 => ["1e308", "-1e308", "NaN", "inf", "-0", "1e-320"][rng.random_range(0..6)].to_string(),
        _ => fuzz::words(rng, DICT, 2),
    };
    let rows = rng.random_range(0..8);
    let cols: usize = rng.random_range(1..6);
    let mut s = String::new();
    match rng.random_range(0..3) {
        0 => {
            let head: Vec<String> =
                (0..cols).map(|_| fuzz::words(rng, &["model", "tok_s", "ttft_ms", "ctx"], 1)).collect();
            s += &head.join(",");
            for _ in 0..rows {
                s.push('\n');
                let row: Vec<String> =
                    (0..rng.random_range(cols.saturating_sub(1)..cols + 2)).map(|_| num(rng)).collect();
                s += &row.join(",");
            }
        }
        1 => {
            let recs: Vec<serde_json::Value> = (0..rows)
                .map(|_| {
                    serde_json::json!({"model": fuzz::words(rng, DICT, 2), "tokens_per_second": rng.random::<f64>() * 100.0,
                        "ttft_ms": rng.random::<u16>(), "nested": {"x": [1, 2.5, num(rng)]}})
                })
                .collect();
            s = if rng.random_bool(0.5) {
                serde_json::to_string(&recs).unwrap()
            } else {
                recs.iter().map(|r| r.to_string() + "\n").collect()
            };
        }
        _ => {
            s += &format!("# {}\n\n", fuzz::words(rng, DICT, 3));
            let head: Vec<String> = (0..cols).map(|_| fuzz::words(rng, DICT, 1)).collect();
            s += &format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(cols));
            for _ in 0..rows {
                let row: Vec<String> = (0..cols).map(|_| num(rng)).collect();
                s += &format!("| {} |\n", row.join(" | "));
            }
            s += &fuzz::words(rng, DICT, 6);
        }
    }
    s.into_bytes()
}

const TARGET: Target = Target { name: "inventory", check, generate, dict: DICT, max_len: 16 << 10 };

chimera_testkit::fuzz_tests!(TARGET);
