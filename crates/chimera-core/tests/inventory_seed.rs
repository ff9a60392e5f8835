//! The DataCollector on the real seed-101 corpus: counts, and facts checked by hand.
//! Expected values were computed with python3 (csv + statistics modules) from the files.

use std::path::PathBuf;

use chimera_core::facts::{Fact, FactGroup};
use chimera_core::inventory::{CollectOptions, FileKind, Inventory, ParseStatus, collect};

fn seed() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/seed-101"))
}

fn inventory() -> Inventory {
    collect(&[seed()], &CollectOptions::default()).expect("seed-101 collects")
}

fn group<'a>(inv: &'a Inventory, file: &str, metric: &str) -> Vec<&'a FactGroup> {
    inv.facts.groups.iter().filter(|g| g.files == [file] && g.metric == metric && g.stat == "value").collect()
}

/// The fact of `file` at `location` (panics with both when there is none).
fn fact_at<'a>(inv: &'a Inventory, file: &str, location: &str) -> &'a Fact {
    inv.facts
        .facts
        .iter()
        .find(|f| f.file == file && f.location == location)
        .unwrap_or_else(|| panic!("no fact at {file} {location}"))
}

/// A fact's configuration as (key, value) pairs.
fn group_pairs(f: &Fact) -> Vec<(&str, &str)> {
    f.group.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn seed_101_counts_exactly() {
    let inv = inventory();
    assert_eq!(inv.analysed_files(), 101);
    assert_eq!(inv.count(FileKind::Csv), 28);
    assert_eq!(inv.count(FileKind::Json), 44);
    assert_eq!(inv.count(FileKind::Markdown), 29);
    assert_eq!(inv.count(FileKind::Ignored), 0);
    assert_eq!(inv.files.len(), 101);
    // No file of seed-101 fails to parse (the UTF-16 one is decoded).
    assert!(inv.files.iter().all(|f| f.status == ParseStatus::Ok), "{:?}", inv.problems);
    let cov: Vec<(&str, bool, usize)> =
        inv.coverage.iter().map(|c| (c.root.as_str(), c.present, c.files)).collect();
    assert_eq!(cov, vec![("reports", true, 83), ("csv_data", true, 18), ("artifacts", false, 0)]);
    let summary = inv.data_summary();
    assert!(summary.starts_with("Total files analyzed: 101\n"), "{summary}");
    assert!(summary.contains("CSV Files (28)") && summary.contains("... and 23 more"), "{summary}");
    assert!(summary.contains("JSON Files (44)") && summary.contains("MARKDOWN Files (29)"), "{summary}");
}

#[test]
fn seed_101_gemma3_baseline_tokens_per_s_by_hand() {
    let inv = inventory();
    // (file, n, mean tokens_s, mean ttft in ms = mean(ttft_s) * 1000)
    let expected = [
        ("reports/gemma3/gemma3_1b-it-qat_baseline.csv", 5, 182.87119781352473, 548.4441400000001),
        ("reports/gemma3/gemma3_270m_baseline.csv", 5, 283.55815019892515, 1620.86772),
        ("reports/gemma3/gemma3_baseline.csv", 5, 102.20091037789203, 566.69218),
    ];
    for (file, n, tps, ttft) in expected {
        let g = group(&inv, file, "tokens_per_s");
        assert_eq!(g.len(), 1, "{file}: {g:?}");
        assert_eq!(g[0].summary.n, n, "{file}");
        assert!(close(g[0].summary.mean, tps), "{file}: {} vs {tps}", g[0].summary.mean);
        assert_eq!(g[0].unit, "tok/s");
        let t = group(&inv, file, "ttft_ms");
        assert_eq!(t[0].summary.n, n);
        assert!(close(t[0].summary.mean, ttft), "{file}: {} vs {ttft}", t[0].summary.mean);
    }
    // 270m: median 294.9590366184081, min 238.23929187638413, max 299.1941610721553.
    let g = group(&inv, "reports/gemma3/gemma3_270m_baseline.csv", "tokens_per_s")[0];
    assert!(close(g.summary.median, 294.9590366184081));
    assert!(close(g.summary.min, 238.23929187638413) && close(g.summary.max, 299.1941610721553));
}

#[test]
fn seed_101_facts_carry_provenance_groups_and_units() {
    let inv = inventory();
    // The JSON twin names the model: $.results[0].tokens_s = 238.23929187638413.
    let f = fact_at(&inv, "reports/gemma3/gemma3_270m_baseline.json", "$.results[0].tokens_s");
    assert_eq!(f.value, 238.23929187638413);
    assert_eq!(f.group.get("model").map(String::as_str), Some("gemma3:270m"));
    // CSV row 1 ttft_s = 7.8366299 s → 7836.6299 ms.
    let f = fact_at(&inv, "reports/gemma3/gemma3_270m_baseline.csv", "column ttft_s, row 1");
    assert!(close(f.value, 7836.6299) && f.unit == "ms" && f.metric == "ttft_ms");
    // Rows with a filled error column are left out: gemma3_270m_param_tuning.csv rows 19 and 20
    // ("timed out") have no tokens_s facts; the other 34 rows do.
    let n: usize = group(&inv, "reports/gemma3/gemma3_270m_param_tuning.csv", "tokens_per_s")
        .iter()
        .map(|g| g.summary.n)
        .sum();
    assert_eq!(n, 34);
    // A run CSV with a model column groups by it: 5 gemma3:latest runs, mean 88.904 tok/s.
    let g = group(&inv, "reports/ollama/20251008-122911/gemma3_benchmark_fixed_runs.csv", "tokens_per_s");
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].group.get("model").map(String::as_str), Some("gemma3:latest"));
    assert_eq!(g[0].summary.n, 5);
    assert!(close(g[0].summary.mean, 88.904));
}

#[test]
fn seed_101_decodes_the_utf16_file_and_finds_redundancy() {
    let inv = inventory();
    let ncu = inv.files.iter().find(|f| f.rel_path == "reports/profiling/ncu_summary.csv").unwrap();
    assert_eq!(ncu.encoding.as_deref(), Some("utf-16le (BOM re-encoded as UTF-8)"));
    assert!(ncu.notes.iter().any(|n| n.contains("UTF-16")), "{:?}", ncu.notes);
    let stems: Vec<&str> = inv.redundancy.same_stem.iter().map(|s| s.key.as_str()).collect();
    assert!(stems.contains(&"reports/compilation/conv_bench_20251002-170837"));
    assert_eq!(inv.redundancy.identical_content.len(), 4);
    assert_eq!(inv.timeline.busiest_day.as_deref(), Some("2025-10-02"));
    assert!(inv.naming.outliers.iter().any(|o| o.file == "reports/gemma3/Analysis_Summary.md"));
    assert!(inv.gaps.missing_families.iter().any(|(f, _)| f == "total_duration"));
}

#[test]
fn seed_101_output_is_deterministic() {
    let a = inventory();
    // Fixed batches of 7 files, then batches sized by bytes (2 KiB: from 8 files up, varying).
    for (batch_files, batch_bytes) in [(7, u64::MAX), (256, 2048)] {
        let opts = CollectOptions { batch_files, batch_bytes, ..CollectOptions::default() };
        let b = collect(&[seed()], &opts).unwrap();
        assert!(a.to_json() == b.to_json(), "JSON differs with batches {batch_files}/{batch_bytes}");
        assert!(
            a.to_markdown() == b.to_markdown(),
            "Markdown differs with batches {batch_files}/{batch_bytes}"
        );
    }
    let known = a.known_numbers();
    assert!(known.iter().any(|(v, l)| *v == 101.0 && l == "analysed files"));
    assert!(
        known.iter().any(|(v, l)| close(*v, 283.55815019892515) && l.starts_with("mean of tokens_per_s"))
    );
}

#[test]
fn seed_101_caps_keep_a_prefix_and_every_count() {
    // Small caps force the collector's counting mode (facts, then summaries, no longer built)
    // early; every count, every file entry and the kept prefix must not change.
    let full = inventory();
    assert!(full.facts.facts_total > 2000 && full.facts.groups_total > 1000, "the caps below must bite");
    for (max_facts, max_groups) in [(5, 3), (0, 0), (300, 20_000), (20_000, 40)] {
        let opts = CollectOptions { max_facts, max_groups, batch_files: 3, ..CollectOptions::default() };
        let capped = collect(&[seed()], &opts).unwrap();
        let at = format!("caps {max_facts}/{max_groups}");
        assert_eq!(capped.facts.facts_total, full.facts.facts_total, "{at}");
        assert_eq!(capped.facts.groups_total, full.facts.groups_total, "{at}");
        assert_eq!(capped.facts.facts[..], full.facts.facts[..max_facts.min(full.facts.facts.len())], "{at}");
        assert_eq!(
            capped.facts.groups[..],
            full.facts.groups[..max_groups.min(full.facts.groups.len())],
            "{at}"
        );
        assert!(capped.files == full.files, "{at}: file entries differ");
        assert_eq!(capped.gaps, full.gaps, "{at}");
    }
}

#[test]
fn seed_101_markdown_tables_give_facts_with_line_provenance() {
    let inv = inventory();
    let file = "reports/gemma3/SUMMARY.md";
    let of = |metric: &str| {
        inv.facts
            .facts
            .iter()
            .find(|f| f.file == file && f.metric == metric)
            .unwrap_or_else(|| panic!("{metric}"))
    };
    // `| **Mean Throughput** | 102.85 tokens/s |` on line 11 of the file.
    let tps = of("tokens_per_s");
    assert_eq!(
        (tps.value, tps.stat.as_str(), tps.location.as_str()),
        (102.85, "mean", "line 11, Mean Throughput")
    );
    // `| **Mean TTFT** | 0.165 s (warm) |`: seconds normalised to ms.
    let ttft = of("ttft_ms");
    assert!(close(ttft.value, 165.0) && ttft.unit == "ms" && ttft.stat == "mean", "{ttft:?}");
    // `| **GPU Memory** | 5.3 GB |`.
    assert!(close(of("gpu_memory_mb").value, 5.3 * 1024.0));
    // Column tables: the configuration columns group the rows (Gemma3_Benchmark_Report.md,
    // `| Config | num_gpu | num_ctx | temp | Tokens/s | TTFT (s) |`).
    let f = fact_at(&inv, "reports/gemma3/Gemma3_Benchmark_Report.md", "line 57, TTFT (s)");
    assert!(close(f.value, 126.0), "{f:?}");
    assert_eq!(group_pairs(f), [("num_ctx", "1024"), ("num_gpu", "999"), ("temperature", "0.4")]);
    // Differences (`TP Δ (tok/s)`, `TTFT Δ (ms)`) are not measurements.
    assert!(!inv.facts.facts.iter().any(|f| f.location.contains('Δ')));
}

#[test]
fn seed_101_json_options_object_configures_its_siblings() {
    let inv = inventory();
    let f = fact_at(
        &inv,
        "reports/ollama/20251002-151824/prompt_suite_summary.json",
        "$.models[0].mean_tokens_s",
    );
    assert_eq!(
        group_pairs(f),
        [("model", "llama3.1:8b-instruct-q4_0"), ("temperature", "0.3"), ("top_p", "0.9")]
    );
}
