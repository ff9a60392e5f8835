//! Per-model roll-ups across files, against values worked out by hand: twin files (same path
//! stem, several formats) count a repeated measurement once, under the model the twin names.

use std::path::Path;

use chimera_core::inventory::{CollectOptions, Inventory, Rollup, collect};

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn corpus() -> (tempfile::TempDir, Inventory) {
    let d = tempfile::tempdir().unwrap();
    // m1 measures 10 and 20 tok/s.
    write(d.path(), "reports/a.csv", "model,tokens_s\nm1,10\nm1,20\n");
    // The same bytes again: a copy, whose facts are never counted.
    write(d.path(), "reports/copy.csv", "model,tokens_s\nm1,10\nm1,20\n");
    // Twins: b.csv names no model; b.json repeats its 30 and 40 tok/s and its 500 ms TTFT
    // (0.5 s) naming m1, and adds 50 tok/s. The CSV's 250 ms TTFT has no twin copy.
    write(d.path(), "reports/b.csv", "tokens_s,ttft_s\n30,0.5\n40,0.25\n");
    write(
        d.path(),
        "reports/b.json",
        r#"{"model": "m1", "runs": [{"tokens_s": 30, "ttft_s": 0.5}, {"tokens_s": 40}, {"tokens_s": 50}]}"#,
    );
    // A Markdown rendering of the twins adds nothing (the data files hold its numbers).
    write(d.path(), "reports/b.md", "| run | tokens_s |\n|---|---|\n| 1 | 30 |\n| 2 | 40 |\n");
    // m2: a file's own repeated values are separate measurements, and so is another file's.
    write(d.path(), "reports/c.json", r#"{"model": "m2", "tokens_s": [7, 7]}"#);
    write(d.path(), "reports/c2.json", r#"{"model": "m2", "tokens_s": 7}"#);
    let inv = collect(&[d.path().to_path_buf()], &CollectOptions::default()).unwrap();
    (d, inv)
}

fn rollup(
    metric: &str,
    model: Option<&str>,
    n: usize,
    mean: f64,
    sd: Option<f64>,
    min: f64,
    max: f64,
) -> Rollup {
    let unit = if metric == "tokens_per_s" { "tok/s" } else { "ms" };
    Rollup {
        metric: metric.into(),
        unit: unit.into(),
        stat: "value".into(),
        model: model.map(str::to_string),
        n,
        mean,
        sd,
        min,
        max,
    }
}

#[test]
fn rollups_per_model_count_twin_repeats_once() {
    let (_d, inv) = corpus();
    // m1 tok/s: 10, 20 (a.csv) + 30, 40 (b.csv, model named by its twin) + 50 (b.json):
    // mean 150 / 5 = 30; squared deviations 400 + 100 + 0 + 100 + 400 = 1000; sd = √(1000 / 4).
    // m2 tok/s: 7, 7, 7: mean 7, sd 0. TTFT: 500 ms under m1 (b.csv's copy, named by b.json),
    // 250 ms under no model.
    let want = [
        rollup("tokens_per_s", Some("m1"), 5, 30.0, Some(250f64.sqrt()), 10.0, 50.0),
        rollup("tokens_per_s", Some("m2"), 3, 7.0, Some(0.0), 7.0, 7.0),
        rollup("ttft_ms", None, 1, 250.0, None, 250.0, 250.0),
        rollup("ttft_ms", Some("m1"), 1, 500.0, None, 500.0, 500.0),
    ];
    assert_eq!(inv.rollups.len(), want.len(), "{:#?}", inv.rollups);
    for (got, want) in inv.rollups.iter().zip(&want) {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
        assert_eq!(
            (&got.metric, &got.unit, &got.stat, &got.model, got.n),
            (&want.metric, &want.unit, &want.stat, &want.model, want.n)
        );
        assert!(
            close(got.mean, want.mean) && close(got.min, want.min) && close(got.max, want.max),
            "{got:?}"
        );
        assert_eq!(got.sd.is_some(), want.sd.is_some(), "{got:?}");
        assert!(close(got.sd.unwrap_or(0.0), want.sd.unwrap_or(0.0)), "{got:?}");
    }
    // The per-file groups are unchanged beside them: b.csv's and b.json's tok/s each alone.
    let n = |file: &str| {
        inv.facts
            .groups
            .iter()
            .filter(|g| g.files == [file] && g.metric == "tokens_per_s")
            .map(|g| g.summary.n)
            .sum::<usize>()
    };
    assert_eq!(
        (n("reports/b.csv"), n("reports/b.json"), n("reports/copy.csv"), n("reports/b.md")),
        (2, 3, 0, 0)
    );
}

#[test]
fn rollups_are_in_the_markdown_the_json_and_the_citable_numbers() {
    let (_d, inv) = corpus();
    let md = inv.to_markdown();
    let section = md.split("\n## Per-model roll-ups (whole corpus)\n").nth(1).expect("roll-up section");
    let section = section.split("\n## Facts\n").next().unwrap();
    assert!(
        section.contains("| tokens_per_s | value | tok/s | m1 | 5 | 30 | 15.8114 | 10 | 50 |"),
        "{section}"
    );
    assert!(section.contains("| ttft_ms | value | ms | - | 1 | 250 | - | 250 | 250 |"), "{section}");
    let v: serde_json::Value = serde_json::from_str(&inv.to_json()).unwrap();
    assert_eq!(v["kind"], "chimera.inventory");
    let first = &v["rollups"][0];
    assert_eq!(
        (first["metric"].as_str(), first["model"].as_str(), first["n"].as_u64()),
        (Some("tokens_per_s"), Some("m1"), Some(5))
    );
    assert_eq!(v["rollups"][2]["model"], serde_json::Value::Null);
    assert_eq!(v["rollups"][2]["sd"], serde_json::Value::Null);
    let known = inv.known_numbers();
    assert!(
        known
            .iter()
            .any(|(x, label)| *x == 30.0
                && label.starts_with("mean of tokens_per_s value [tok/s] of model m1")),
        "{known:?}"
    );
}

#[test]
fn model_names_cannot_break_the_roll_up_table() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "reports/x.json", "{\"model\": \"a|b\\nc\", \"tokens_s\": 1}");
    let md = collect(&[d.path().to_path_buf()], &CollectOptions::default()).unwrap().to_markdown();
    assert!(md.contains("| tokens_per_s | value | tok/s | a\\|b c | 1 | 1 | - | 1 | 1 |"), "{md}");
}
