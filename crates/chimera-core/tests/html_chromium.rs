//! The HTML report in a real browser: sweep and multi output folders are rendered to
//! `report.html`, opened in headless Chromium by `scripts/screenshot_html.sh` (screenshot +
//! DOM dump + console log), and checked: PNG written, no console error, every plot in the DOM.
//! Skipped (with a note) when Chromium is not installed: `apt-get install -y chromium`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chimera_core::agent::AgentSpec;
use chimera_core::backend::ollama::OllamaClient;
use chimera_core::backend::{Backend, Timeouts};
use chimera_core::events::Events;
use chimera_core::html;
use chimera_core::inventory::CollectOptions;
use chimera_core::multi::jobs::{WorkflowAgent, WorkflowJob};
use chimera_core::multi::{AgentSlot, CancellationToken, MultiPlan, Scenario, ScenarioName, run_multi};
use chimera_core::options::GenOptions;
use chimera_core::persona::Persona;
use chimera_core::records::sweep::{PointResult, RunSample};
use chimera_core::sweep::grid::{Grid, parse_values};
use chimera_core::sweep::output::write_outputs;
use chimera_core::sweep::run::{SweepConfig, Warmup};
use chimera_core::sweep::summary::SweepSummary;
use chimera_testkit::{FakeOllama, LatencyProfile};

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
        latency: None,
        sessions: Vec::new(),
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

/// A multi output folder as `chimera multi` writes it: two agents run their whole workflow
/// (solo, then at once) twice against a fake Ollama over a small artifact folder.
async fn multi_dir(dir: &Path) {
    let ms = Duration::from_millis;
    let srv = FakeOllama::new(LatencyProfile::new(ms(30), ms(5), 40)).start().await;
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("reports")).unwrap();
    std::fs::write(
        data.path().join("reports/bench.csv"),
        "model,tokens_s\ngemma3:270m,101.5\ngemma3:1b,80.0\n",
    )
    .unwrap();
    let backend: Arc<dyn Backend> = Arc::new(OllamaClient::new(&srv.url(), Timeouts::default()));
    let options = GenOptions { num_predict: Some(40), ..Default::default() };
    let agents: Vec<WorkflowAgent> =
        [("Chimera Agent A", Persona::collector()), ("Chimera Agent B", Persona::insight())]
            .into_iter()
            .map(|(label, persona)| WorkflowAgent {
                spec: AgentSpec::new(label, persona, "gemma3:270m", options.clone()),
                backend: Arc::clone(&backend),
            })
            .collect();
    let plan = MultiPlan {
        scenario: ScenarioName::Builtin(Scenario::ChimeraHomo),
        agents: agents
            .iter()
            .map(|a| AgentSlot { label: a.spec.label.clone(), server: srv.url(), warmup_key: srv.url() })
            .collect(),
        runs: 2,
        solo: true,
        warmup: true,
        contention_threshold: 1.25,
        out_dir: dir.to_path_buf(),
        manifest: None,
    };
    let job = Arc::new(WorkflowJob::new(
        agents,
        vec![data.path().to_path_buf()],
        CollectOptions::default(),
        Events::none(),
    ));
    run_multi(&plan, job, CancellationToken::new(), &Events::none()).await.unwrap();
    srv.shutdown().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_report_renders_in_chromium() {
    let d = tempfile::tempdir().unwrap();
    multi_dir(d.path()).await;
    let html = html::write_report(d.path(), "Multi").unwrap();
    check_in_browser(&html, &["efficiency", "timeline_run_1", "timeline_run_2"]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("run_1/chimera-agent-a/report.md") && page.contains("<td>Chimera Agent B</td>"),
        "agent reports and the summary's tables rendered"
    );
    // issue 19 B: the latency percentiles (summary, each run, each agent report) and the agent
    // reports' labelled findings are tables and lists of the page, not Markdown source
    for needle in [
        "Latency percentiles</h2>",
        "TTFT p50 / p90 / p99 ms</th>",
        "<td>Chimera Agent A (concurrent)</td>",
        "Computed from the data (deterministic, no model)</h3>",
        "Written by the model (numbers checked against the data)</h3>",
        "<em>[from the artifacts: <code>reports/bench.csv</code>",
    ] {
        assert!(page.contains(needle), "{needle} not in the page");
    }
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

/// Artifact text in an attached report (model and file names written as Markdown links and
/// images) cannot make the page run script or fetch anything: no `javascript:` address and no
/// remote `src` survive, and Chromium, given the page, logs no network attempt (the host does
/// not resolve, so any fetch would log `ERR_NAME_NOT_RESOLVED`, which the script catches).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifact_links_and_images_never_run_or_load_in_chromium() {
    let d = tempfile::tempdir().unwrap();
    multi_dir(d.path()).await;
    let evil = "# Agent notes\n\nModel [gemma3](javascript:alert(document.cookie)) and \
                [data](data:text/html,<script>alert(1)</script>).\n\n\
                ![pixel](http://tracker.invalid/p.png)\n";
    std::fs::write(d.path().join("run_1/evil.md"), evil).unwrap();
    let html = html::write_report(d.path(), "Multi").unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("run_1/evil.md"), "the attached report is on the page");
    assert!(!page.contains("javascript:") && !page.contains("data:text"), "a script address survived");
    assert!(!page.contains("src=\"http"), "a remote image survived");
    // The image became a plain link (allowed: it loads nothing until clicked).
    assert!(page.contains("href=\"http://tracker.invalid/p.png\""), "the image's address is kept as a link");
    if chromium() {
        let png = html.with_extension("png");
        let o = Command::new("bash").arg(script()).arg(&html).arg(&png).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "console error or network attempt:\n{stderr}");
        let dom = std::fs::read_to_string(png.with_extension("dom.html")).unwrap();
        assert!(!dom.contains("javascript:") && !dom.contains("data:text"), "in the rendered DOM");
        assert!(!dom.contains("src=\"http"), "a remote image in the rendered DOM");
        assert!(dom.contains("gemma3"), "the link's text is kept");
    }
}
