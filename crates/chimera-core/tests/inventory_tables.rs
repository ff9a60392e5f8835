//! Markdown tables and JSON `options` objects on files the tests write: which cells become
//! facts, with which names, units, groups and locations, and which do not.

use std::path::Path;

use chimera_core::inventory::{CollectOptions, Inventory, collect};

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn run(root: &Path) -> Inventory {
    collect(&[root.to_path_buf()], &CollectOptions::default()).unwrap()
}

/// (metric, stat, value, location, group as `k=v` pairs) of one file's facts.
fn facts(inv: &Inventory, file: &str) -> Vec<(String, String, f64, String, String)> {
    inv.facts
        .facts
        .iter()
        .filter(|f| f.file == file)
        .map(|f| {
            let g: Vec<String> = f.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
            (f.metric.clone(), f.stat.clone(), f.value, f.location.clone(), g.join(","))
        })
        .collect()
}

fn fact(m: &str, stat: &str, v: f64, loc: &str, g: &str) -> (String, String, f64, String, String) {
    (m.into(), stat.into(), v, loc.into(), g.into())
}

#[test]
fn column_and_key_value_tables() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "reports/run.md",
        "# Run\n\
         \n\
         | Model | num_ctx | Tokens/s | TTFT | Notes | TP Δ (tok/s) |\n\
         |---|---:|---:|---:|---|---:|\n\
         | gemma3:270m | 1024 | **283.5** | 120 ms | warm | +2.0 |\n\
         | gemma3:1b | 2048 | 182.9 | 0.35 s | 3 runs | -1.0 |\n\
         \n\
         ```\n\
         | Tokens/s |\n\
         |---|\n\
         | 999 |\n\
         ```\n\
         \n\
         | Metric | Baseline | Chimera | Δ |\n\
         |---|---|---|---|\n\
         | **Throughput** | 99.34 tok/s | 98.55 tok/s | -0.8% |\n\
         | Mean TTFT | 1437 ± 75 ms | 449 ms | 69% |\n\
         | Config | 60/512/0.8 | n/a | |\n",
    );
    let inv = run(d.path());
    assert_eq!(
        facts(&inv, "reports/run.md"),
        [
            fact("tokens_per_s", "value", 283.5, "line 5, Tokens/s", "model=gemma3:270m,num_ctx=1024"),
            fact("ttft_ms", "value", 120.0, "line 5, TTFT", "model=gemma3:270m,num_ctx=1024"),
            fact("tokens_per_s", "value", 182.9, "line 6, Tokens/s", "model=gemma3:1b,num_ctx=2048"),
            fact("ttft_ms", "value", 350.0, "line 6, TTFT", "model=gemma3:1b,num_ctx=2048"),
            fact("tokens_per_s", "value", 99.34, "line 16, Throughput", "column=Baseline"),
            fact("tokens_per_s", "value", 98.55, "line 16, Throughput", "column=Chimera"),
            fact("ttft_ms", "mean", 1437.0, "line 17, Mean TTFT", "column=Baseline"),
            fact("ttft_ms", "mean", 449.0, "line 17, Mean TTFT", "column=Chimera"),
        ]
    );
    let e = inv.files.iter().find(|f| f.rel_path == "reports/run.md").unwrap();
    assert_eq!(e.facts, 8);
    assert_eq!(e.markdown.as_ref().map(|m| (m.table_rows, m.code_blocks)), Some((9, 1)));
}

#[test]
fn a_markdown_rendering_of_a_data_file_adds_no_second_copy() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "reports/bench_1.csv", "model,tokens_s\nm,10\nm,12\n");
    write(d.path(), "reports/bench_1.md", "| model | tokens_s |\n|---|---|\n| m | 10 |\n| m | 12 |\n");
    write(d.path(), "reports/other.md", "| model | tokens_s |\n|---|---|\n| m | 11 |\n");
    let inv = run(d.path());
    let md = inv.files.iter().find(|f| f.rel_path == "reports/bench_1.md").unwrap();
    assert_eq!(md.facts, 0);
    assert!(md.notes.iter().any(|n| n.starts_with("2 table value(s) left out")), "{:?}", md.notes);
    let groups: Vec<(&str, usize)> = inv
        .facts
        .groups
        .iter()
        .filter(|g| g.metric == "tokens_per_s")
        .map(|g| (g.files[0].as_str(), g.summary.n))
        .collect();
    assert_eq!(groups, [("reports/bench_1.csv", 2), ("reports/other.md", 1)]);
    assert_eq!(facts(&inv, "reports/other.md").len(), 1);
}

#[test]
fn json_options_object_configures_its_siblings() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "reports/b.json",
        r#"{"model": "m", "options": {"num_ctx": 2048, "temperature": 0.7, "seed": 1},
            "runs": [{"tokens_per_second": 5.5, "options": {"num_ctx": 4096}}]}"#,
    );
    let inv = run(d.path());
    // The run's own options override the file's; `seed` is not a configuration key.
    assert_eq!(
        facts(&inv, "reports/b.json"),
        [fact(
            "tokens_per_s",
            "value",
            5.5,
            "$.runs[0].tokens_per_second",
            "model=m,num_ctx=4096,temperature=0.7"
        )]
    );
}
