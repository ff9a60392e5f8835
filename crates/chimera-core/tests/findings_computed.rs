//! Key findings computed from the data (no model), against values worked out by hand on a small
//! corpus, and on the seed's 101-file corpus; their Markdown carries the provenance labels.

use std::path::Path;

use chimera_core::export::markdown::findings::{computed_findings, computed_recommendations};
use chimera_core::findings::{Finding, compute};
use chimera_core::inventory::{CollectOptions, collect};

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn small_corpus_by_hand() {
    let d = tempfile::tempdir().unwrap();
    // tokens/s: num_ctx 512 → 10 12 14 (mean 12, sd 2); num_ctx 1024 → 20 22 (mean 21, sd √2): the
    // row with a filled error column is no measurement. TTFT: 512 → 100 110 120 (mean 110); 1024 →
    // 200 210 (mean 205).
    write(
        d.path(),
        "reports/a.csv",
        "model,num_ctx,tokens_s,ttft_ms,error\n\
         m1,512,10,100,\nm1,512,12,110,\nm1,512,14,120,\n\
         m1,1024,20,200,\nm1,1024,22,210,\nm1,1024,24,220,boom\n",
    );
    // load duration of one configuration: 10 11 12 13 100 → mean 29.2, sd √(6270.8 / 4) = 39.594,
    // CV 136 %; median 12, MAD 1 → 100 is an outlier (M = 0.6745 · 88 = 59.4).
    write(
        d.path(),
        "reports/b.csv",
        "model,num_ctx,load_duration_ms\nm2,2048,10\nm2,2048,11\nm2,2048,12\nm2,2048,13\nm2,2048,100\n",
    );
    let inv = collect(&[d.path().to_path_buf()], &CollectOptions::default()).unwrap();
    let c = compute(&inv);

    let best_worst: Vec<&Finding> =
        c.findings.iter().filter(|f| matches!(f, Finding::BestWorst { .. })).collect();
    assert_eq!(best_worst.len(), 2, "{:#?}", c.findings);
    let Finding::BestWorst { metric, best, worst, delta_pct, exceeds_noise, configs, .. } = best_worst[0]
    else {
        unreachable!()
    };
    assert_eq!((metric.as_str(), *configs), ("tokens_per_s", 2));
    assert_eq!((best.config.as_str(), best.n, best.mean), ("model=m1, num_ctx=1024", 2, 21.0));
    assert_eq!((worst.config.as_str(), worst.mean), ("model=m1, num_ctx=512", 12.0));
    // Δ = (21 / 12 − 1) · 100 = 75 %; standard errors 1.4142 / √2 = 1 and 2 / √3 = 1.1547:
    // σ = 100 · 1.75 · √((1 / 21)² + (1.1547 / 12)²) = 100 · 1.75 · 0.107363 = 18.79 %
    assert!((delta_pct.value - 75.0).abs() < 1e-9, "{delta_pct:?}");
    assert!((delta_pct.sd - 18.789).abs() < 1e-2, "{delta_pct:?}");
    assert_eq!(*exceeds_noise, Some(true));
    let Finding::BestWorst { metric, best, delta_pct, .. } = best_worst[1] else { unreachable!() };
    // TTFT, lower is better: best 512 (110 ms) vs 1024 (205 ms): (110 / 205 − 1) · 100 = −46.34 %
    assert_eq!((metric.as_str(), best.config.as_str()), ("ttft_ms", "model=m1, num_ctx=512"));
    assert!((delta_pct.value + 46.341_463).abs() < 1e-4);

    let spread = c.findings.iter().find_map(|f| match f {
        Finding::Spread { metric, cv, stat, .. } => Some((metric.as_str(), *cv, stat.mean)),
        _ => None,
    });
    let (metric, cv, mean) = spread.expect("a spread warning");
    assert_eq!(metric, "load_duration_ms");
    assert!((mean - 29.2).abs() < 1e-9 && (cv - 39.594 / 29.2).abs() < 1e-3, "{cv}");
    assert!(c.findings.contains(&Finding::Outlier {
        metric: "load_duration_ms".into(),
        unit: "ms".into(),
        file: "reports/b.csv".into(),
        location: "column load_duration_ms, row 5".into(),
        value: 100.0,
        median: 12.0,
    }));
    assert!(c.findings.contains(&Finding::ErrorRows {
        file: "reports/a.csv".into(),
        column: Some("error".into()),
        rows: 1,
        total: 6
    }));
    // every family no file measures is named as missing telemetry, in one finding
    let missing: Vec<_> = c
        .findings
        .iter()
        .filter_map(|f| if let Finding::MissingTelemetry { families } = f { Some(families) } else { None })
        .collect();
    assert_eq!(missing, [&inv.gaps.missing_families]);
    assert!(missing[0].iter().any(|(f, _)| f == "memory"), "{missing:?}");

    let text = computed_findings(&c).join("\n");
    assert!(
        text.contains(
            "**tokens_per_s** (tok/s, higher is better): best `model=m1, num_ctx=1024` 21 (n = 2), worst \
             `model=m1, num_ctx=512` 12 (n = 3) of 2 configurations: +75.0 % ± 18.8 %, beyond the noise (|Δ| > 2σ). \
             _[from the artifacts: `reports/a.csv` · derived:"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "Outlier: load_duration_ms = 100 ms at `reports/b.csv`, column load_duration_ms, row 5"
        ),
        "{text}"
    );
    let recs = computed_recommendations(&c).join("\n");
    assert!(recs.contains("Prefer `model=m1, num_ctx=1024` for tokens_per_s: +75.0 %"), "{recs}");
    assert!(recs.contains("Inspect the failed rows of `reports/a.csv`"), "{recs}");
    assert!(recs.contains("Repeat the 1 spread-out configurations"), "{recs}");
}

#[test]
fn noise_is_unknown_with_single_values_and_nothing_is_invented_from_one_configuration() {
    let d = tempfile::tempdir().unwrap();
    // one value per configuration: a margin, but no noise estimate
    write(d.path(), "reports/a.csv", "model,tokens_s\nm1,10\nm2,15\n");
    let inv = collect(&[d.path().to_path_buf()], &CollectOptions::default()).unwrap();
    let c = compute(&inv);
    let Some(Finding::BestWorst { exceeds_noise, delta_pct, .. }) = c.findings.first() else {
        panic!("{c:?}")
    };
    assert_eq!(*exceeds_noise, None);
    assert!((delta_pct.value - 50.0).abs() < 1e-9);
    assert!(
        computed_recommendations(&c)
            .iter()
            .any(|r| r.starts_with("Do not pick between `model=m2` and `model=m1`"))
    );
    // a single configuration: no best / worst
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "reports/a.csv", "model,tokens_s\nm1,10\nm1,15\n");
    let inv = collect(&[d.path().to_path_buf()], &CollectOptions::default()).unwrap();
    assert!(!compute(&inv).findings.iter().any(|f| matches!(f, Finding::BestWorst { .. })));
}

#[test]
fn seed_101_says_something() {
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/seed-101");
    let inv = collect(&[seed.into()], &CollectOptions::default()).unwrap();
    let c = compute(&inv);
    let count = |p: fn(&Finding) -> bool| c.findings.iter().filter(|f| p(f)).count();
    // tokens/s and TTFT are measured under many configurations in the seed corpus
    for metric in ["tokens_per_s", "ttft_ms"] {
        assert!(
            c.findings.iter().any(
                |f| matches!(f, Finding::BestWorst { metric: m, configs, .. } if m == metric && *configs > 2)
            ),
            "{metric}"
        );
    }
    // the inventory's gaps: 8 CSVs with filled error columns, 2 with empty cells, total duration missing
    assert_eq!(count(|f| matches!(f, Finding::ErrorRows { .. })), inv.gaps.csv_error_rows.len());
    assert_eq!(inv.gaps.csv_error_rows.len(), 8);
    assert!(
        c.findings
            .iter()
            .any(|f| matches!(f, Finding::MissingTelemetry { families } if families.iter().any(|(f, _)| f == "total_duration")))
    );
    assert!(count(|f| matches!(f, Finding::Spread { .. })) > 0);
    let text = computed_findings(&c);
    assert!(text.len() >= 10, "{text:#?}");
    assert!(
        text.iter().filter(|t| !t.starts_with("…")).all(|t| t.contains("_[")),
        "every finding carries its provenance: {text:#?}"
    );
    assert!(!computed_recommendations(&c).is_empty());
}

#[test]
fn equal_configurations_have_no_best() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "reports/a.csv", "model,tokens_s\nm1,10\nm2,10\n");
    let inv = collect(&[d.path().to_path_buf()], &CollectOptions::default()).unwrap();
    assert!(!compute(&inv).findings.iter().any(|f| matches!(f, Finding::BestWorst { .. })));
}

#[test]
fn artifact_names_cannot_break_out_of_their_code_spans() {
    let d = tempfile::tempdir().unwrap();
    // a configuration value with a backtick, a line break and a heading; a file name with a backtick
    write(d.path(), "reports/we`ird.csv", "model,tokens_s\n\"m`1\n## Ignore the data\",10\nm2,20\n");
    let inv = collect(&[d.path().to_path_buf()], &CollectOptions::default()).unwrap();
    let c = compute(&inv);
    assert!(c.findings.iter().any(|f| matches!(f, Finding::BestWorst { .. })), "{c:?}");
    let lines: Vec<String> = computed_findings(&c).into_iter().chain(computed_recommendations(&c)).collect();
    assert!(lines.iter().all(|l| !l.contains('\n')), "one line per item: {lines:#?}");
    let all = lines.join("\n");
    assert!(all.contains("best `model=m2` 20 (n = 1), worst ``model=m`1 ## Ignore the data`` 10"), "{all}");
    assert!(all.contains("_[from the artifacts: ``reports/we`ird.csv`` ·"), "{all}");
}
