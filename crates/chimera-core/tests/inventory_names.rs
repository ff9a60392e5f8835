//! File names and paths: the order files are listed in, the dates in file and folder names (the
//! inventory's timeline), naming styles and stems.

use chimera_core::inventory::{CollectOptions, collect};

/// `name_date` of each file, in the order given (files are written empty of meaning: `x`).
fn name_dates(paths: &[&str]) -> Vec<Option<String>> {
    let d = tempfile::tempdir().unwrap();
    for p in paths {
        let p = d.path().join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "x").unwrap();
    }
    let inv = collect(&[d.path().to_path_buf()], &CollectOptions::default()).unwrap();
    let date = |p: &&str| inv.files.iter().find(|f| f.rel_path == *p).and_then(|f| f.name_date.clone());
    paths.iter().map(date).collect()
}

#[test]
fn dates_from_names() {
    let cases = [
        ("reports/compilation/conv_bench_20251002-170837.json", Some("2025-10-02 17:08:37")),
        ("reports/diagnostics/ascii_demo_20251004_143244.json", Some("2025-10-04 14:32:44")),
        ("reports/compilation/compilation_benchmark_lessons_20251002.md", Some("2025-10-02 00:00:00")),
        ("csv_data/baseline_test_results_1759098967.json", Some("2025-09-28 22:36:07")),
        // A folder's date, when the file name has none.
        ("reports/ollama/20251002-151204/prompt_suite_runs.csv", Some("2025-10-02 15:12:04")),
        ("reports/compilation/transformer_cuda_pytorch2508.json", None),
        ("reports/gemma3/gemma3_270m_baseline.csv", None),
        // An invalid month is not a date.
        ("reports/x/20251399_x.md", None),
        // Only ASCII digits are digits: another script's digits do not make (or break) a date.
        ("reports/y/x_2025١٠٠٢_20251002.md", Some("2025-10-02 00:00:00")),
        ("reports/a/run_19991231T235959.json", Some("1999-12-31 23:59:59")),
        // A letter bounds a run of digits; nine digits are not a date.
        ("reports/b/x20251002-170837.md", Some("2025-10-02 17:08:37")),
        ("reports/c/120251002.csv", None),
    ];
    let paths: Vec<&str> = cases.iter().map(|(p, _)| *p).collect();
    let want: Vec<Option<String>> = cases.iter().map(|(_, d)| d.map(str::to_string)).collect();
    assert_eq!(name_dates(&paths), want);
}

#[test]
fn files_come_out_in_path_order_across_folders_and_roots() {
    // Names around `/` in byte order (`-` < `.` < `/` < `0`): a folder's files must land
    // between the first-level files that sort around `name/`.
    let dir = tempfile::tempdir().unwrap();
    let files = [
        "reports/a.csv",
        "reports/a/x.csv",
        "reports/a/b/z.json",
        "reports/a.b/y.csv",
        "reports/a-c.csv",
        "reports/a0.md",
        "reports/b.csv",
        "csv_data/q.csv",
        "csv_data/p/r.csv",
        "artifacts/s.md",
    ];
    for f in files {
        let p = dir.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "x").unwrap();
    }
    let inv = collect(&[dir.path().to_path_buf()], &CollectOptions::default()).unwrap();
    let got: Vec<&str> = inv.files.iter().map(|f| f.rel_path.as_str()).collect();
    let mut want = files.to_vec();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn naming_styles_and_stems() {
    let d = tempfile::tempdir().unwrap();
    let files = [
        "reports/conv_bench_20251002-170837.json",
        "reports/conv_bench_20251002-170837.md",
        "reports/a_b.tar.csv",
        "reports/a_b.tar.json",
        "reports/README.md",
        "reports/Technical_Report_108.md",
        "reports/my report.md",
    ];
    for f in files {
        std::fs::create_dir_all(d.path().join("reports")).unwrap();
        std::fs::write(d.path().join(f), "x").unwrap();
    }
    let inv = collect(&[d.path().to_path_buf()], &CollectOptions::default()).unwrap();
    let style = |f: &str| inv.naming.outliers.iter().find(|o| o.file == f).map(|o| o.style.as_str());
    assert_eq!(inv.naming.dominant_style, "snake_case");
    assert_eq!(style("reports/README.md"), Some("UPPER_CASE"));
    assert_eq!(style("reports/Technical_Report_108.md"), Some("Mixed_Case"));
    assert_eq!(style("reports/my report.md"), Some("contains spaces"));
    // Stems: the path without its last extension.
    let stems: Vec<&str> = inv.redundancy.same_stem.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(stems, ["reports/a_b.tar", "reports/conv_bench_20251002-170837"]);
}
