//! The HTML report in a real browser: sweep and multi output folders are rendered to
//! `report.html`, opened in headless Chromium by `scripts/screenshot_html.sh` (screenshot +
//! DOM dump + console log), and checked: PNG written, no console error, every plot in the DOM.
//! Skipped (with a note) when Chromium is not installed: `apt-get install -y chromium`.

use std::path::{Path, PathBuf};
use std::process::Command;

use chimera_core::html;
use chimera_core::sweep::grid::{Grid, parse_values};
use chimera_core::sweep::output::write_outputs;
use chimera_core::sweep::run::{SweepConfig, Warmup};
use chimera_core::sweep::store::{PointResult, RunSample};
use chimera_core::sweep::summary::SweepSummary;

fn script() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/screenshot_html.sh"))
}

/// Whether Chromium is installed. Under CI (`CI` set, as `.ci/run` runs) it must be: the
/// set-up installs it, so a missing browser fails the test instead of skipping it.
fn chromium() -> bool {
    let found = ["chromium", "chromium-browser"].iter().any(|b| {
        Command::new("sh").arg("-c").arg(format!("command -v {b}")).output().is_ok_and(|o| o.status.success())
    });
    assert!(
        found || std::env::var_os("CI").is_none(),
        "chromium is missing under CI: scripts/setup.sh --test should have installed it"
    );
    found
}

fn sample(run: usize, tok_s: f64, ttft: f64) -> RunSample {
    RunSample {
        run,
        ok: true,
        error: None,
        ttft_ms: Some(ttft),
        decode_tok_s: Some(tok_s),
        e2e_ms: Some(ttft + 1000.0),
        output_tokens: 64,
        prompt_tokens: Some(30),
        load_ms: Some(0.0),
        prompt_eval_ms: Some(20.0),
        eval_ms: Some(900.0),
    }
}

/// A 2 × 2 sweep (num_gpu × num_ctx) plus baseline, with speeds that depend on the options.
fn sweep_dir(dir: &Path) {
    let grid = Grid::from_lists(&[
        ("num_gpu".into(), parse_values("60,80")),
        ("num_ctx".into(), parse_values("256,512")),
        ("num_predict".into(), parse_values("64")),
    ])
    .unwrap();
    let points: Vec<PointResult> = grid
        .points(true)
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let g = p.options.num_gpu.unwrap_or(40) as f64;
            let c = f64::from(p.options.num_ctx.unwrap_or(2048));
            let runs = (0..3).map(|r| sample(r, g + r as f64, c / 4.0 + r as f64 * 3.0)).collect();
            PointResult::new(p, i, Some(500.0), runs)
        })
        .collect();
    let cfg = SweepConfig {
        model: "gemma3:270m".into(),
        system: None,
        prompt: "p".into(),
        runs: 3,
        warmup: Warmup::OnLoadChange,
        shuffle_seed: None,
        agent: None,
    };
    write_outputs(dir, &SweepSummary::new(cfg, grid, points), None).unwrap();
}

/// A multi output folder in the layout `chimera multi` writes (summary.json, run_1/metrics.json,
/// run_1/<agent>/metrics.json with the calls' chunk arrivals, agent reports).
fn multi_dir(dir: &Path) {
    let write = |rel: &str, v: serde_json::Value| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    };
    write(
        "summary.json",
        serde_json::json!({
            "schema": "chimera.multi.summary/1",
            "runs": [{"run": 1, "efficiency": 0.62}, {"run": 2, "efficiency": 0.58}],
            "aggregates": {"aggregate_tok_s": {"n": 2, "mean": 80.0, "sd": 2.0, "cv": 0.025, "median": 80.0,
                "p95": 81.0, "p99": 81.0, "min": 78.0, "max": 82.0}},
            "per_agent": [],
        }),
    );
    for (agent, t0) in
        [("chimera-agent-a", "2026-01-01T00:00:00Z"), ("chimera-agent-b", "2026-01-01T00:00:00.200Z")]
    {
        let arrivals: Vec<f64> = (0..40).map(|k| 300.0 + 25.0 * f64::from(k)).collect();
        write(
            &format!("run_1/{agent}/metrics.json"),
            serde_json::json!({
                "label": agent, "call_stages": ["analysis", "report"],
                "calls": [
                    {"started_at": t0, "chunk_arrivals_ms": arrivals, "end_ms": 1300.0},
                    {"started_at": "2026-01-01T00:00:02Z", "chunk_arrivals_ms": arrivals, "end_ms": 1300.0},
                ],
            }),
        );
        std::fs::write(
            dir.join(format!("run_1/{agent}/report.md")),
            format!("# {agent}\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"),
        )
        .unwrap();
    }
    std::fs::write(dir.join("summary.md"), "# Multi-agent summary\n\n## Runs\n\ntwo runs\n").unwrap();
    std::fs::write(dir.join("run_1/metrics.json"), "{\"agents\": []}").unwrap();
}

fn check_in_browser(html_path: &Path, plots: &[&str]) {
    let html = std::fs::read_to_string(html_path).unwrap();
    for p in plots {
        assert!(html.contains(&format!("data-plot=\"{p}\"")), "{p} missing from {}", html_path.display());
    }
    // self-contained: no script, no remote resource
    assert!(!html.contains("<script") && !html.contains("src=\"http") && !html.contains("href=\"http"));
    if !chromium() {
        eprintln!(
            "note: chromium is not installed; skipping the browser check (apt-get install -y chromium)"
        );
        return;
    }
    let png = html_path.with_extension("png");
    let o = Command::new("bash").arg(script()).arg(html_path).arg(&png).arg("1280,3000").output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    let errors: Vec<&str> =
        stderr.lines().filter(|l| l.contains("CONSOLE") || l.contains("Failed to load")).collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    assert_eq!(o.status.code(), Some(0), "{}\n{stderr}", String::from_utf8_lossy(&o.stdout));
    let meta = std::fs::metadata(&png).unwrap();
    assert!(meta.len() > 10_000, "screenshot suspiciously small: {} bytes", meta.len());
    let dom = std::fs::read_to_string(png.with_extension("dom.html")).unwrap();
    for p in plots {
        assert!(dom.contains(&format!("data-plot=\"{p}\"")), "{p} not in the rendered DOM");
    }
    assert_eq!(dom.matches("<svg").count(), plots.len(), "every plot is an inline SVG");
}

#[test]
fn sweep_report_renders_in_chromium() {
    let d = tempfile::tempdir().unwrap();
    sweep_dir(d.path());
    check_in_browser(&d.path().join("report.html"), &["throughput", "ttft", "heatmap", "pareto"]);
    if let Ok(keep) = std::env::var("CHIMERA_KEEP_SCREENSHOT") {
        let _ = std::fs::copy(d.path().join("report.png"), format!("{keep}/sweep_report.png"));
    }
}

#[test]
fn multi_report_renders_in_chromium() {
    let d = tempfile::tempdir().unwrap();
    multi_dir(d.path());
    let html = html::write_report(d.path(), "Multi").unwrap();
    check_in_browser(&html, &["efficiency", "timeline_run_1"]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("run_1/chimera-agent-a/report.md") && page.contains("<td>1</td>"),
        "agent reports rendered"
    );
    if let Ok(keep) = std::env::var("CHIMERA_KEEP_SCREENSHOT") {
        let _ = std::fs::copy(d.path().join("report.png"), format!("{keep}/multi_report.png"));
    }
}

#[test]
fn the_script_catches_console_errors() {
    if !chromium() {
        eprintln!("note: chromium is not installed; skipping");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("bad.html");
    std::fs::write(&p, "<html><body><p>x</p><script>console.error('boom')</script></body></html>").unwrap();
    let o = Command::new("bash").arg(script()).arg(&p).arg(d.path().join("bad.png")).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
}
