//! End to end on the real model (Gemma 3 270M, embedded llama.cpp engine) over the real
//! seed-101 corpus: in-process, and through `chimera serve` (in-process server + the real
//! `chimera agent` binary). A recording wrapper shows what the server was sent (the persona as
//! the system prompt). Kept short for 2 CPU cores: num_ctx 1024, 8 output tokens per call, one test at a time, one llama.cpp thread (busy-waiting
//! threads crawl when the cores are shared with other work).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use chimera_core::agent::{AgentMetrics, AgentOutcome, AgentRun, AgentSpec, run_agent};
use chimera_core::backend::ollama::OllamaClient;
use chimera_core::backend::{
    Backend, BackendError, BackendInfo, BackendKind, CallFailure, CallRecord, GenRequest, Timeouts, TokenSink,
};
use chimera_core::events::{CancellationToken, Events};
use chimera_core::export::markdown::f2;
use chimera_core::inventory::CollectOptions;
use chimera_core::options::GenOptions;
use chimera_core::persona::{COLLECTOR_TEXT, INSIGHT_TEXT, Persona};

/// The real-model tests run one at a time (each uses every core).
static REAL_MODEL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/seed-101");

/// Records every request before passing it on.
struct Recording {
    inner: Arc<dyn Backend>,
    seen: Mutex<Vec<GenRequest>>,
}

#[async_trait::async_trait]
impl Backend for Recording {
    fn kind(&self) -> BackendKind {
        self.inner.kind()
    }
    fn endpoint(&self) -> String {
        self.inner.endpoint()
    }
    async fn info(&self, model: Option<&str>) -> Result<BackendInfo, BackendError> {
        self.inner.info(model).await
    }
    async fn generate(&self, req: &GenRequest, on_token: TokenSink<'_>) -> Result<CallRecord, CallFailure> {
        self.seen.lock().unwrap().push(req.clone());
        self.inner.generate(req, on_token).await
    }
}

fn spec(persona: Persona) -> AgentSpec {
    let options = GenOptions {
        num_ctx: Some(1024),
        temperature: Some(0.0),
        seed: Some(1),
        num_thread: Some(1),
        ..Default::default()
    };
    let mut s = AgentSpec::new("Chimera Agent A", persona, "gemma3:270m", options);
    s.analysis_num_predict = 8;
    s.report_num_predict = 8;
    s
}

async fn run(spec: &AgentSpec, inner: Arc<dyn Backend>, out: PathBuf) -> (AgentOutcome, Vec<GenRequest>) {
    let rec = Arc::new(Recording { inner, seen: Mutex::new(Vec::new()) });
    let o = run_agent(AgentRun {
        spec,
        backend: rec.clone(),
        data_dirs: vec![PathBuf::from(CORPUS)],
        collect: CollectOptions::default(),
        out_dir: out,
        events: Events::none(),
        cancel: CancellationToken::new(),
        handoff: None,
    })
    .await;
    let seen = rec.seen.lock().unwrap().clone();
    (o, seen)
}

/// Every section of the seed layout, with the real values of this run.
fn check_report(o: &AgentOutcome, persona_text: &str) {
    assert!(o.ok, "{:?} at {:?}", o.error, o.failed_stage);
    assert_eq!(o.files_analyzed, 101);
    assert_eq!(o.calls.len(), 2);
    for c in &o.calls {
        assert!(c.completed);
        assert!(c.server.eval_count.unwrap() > 0 && c.server.eval_duration_ns.unwrap() > 0, "{:?}", c.server);
        assert!(c.server.prompt_eval_count.unwrap() > 100, "{:?}", c.server);
        assert_eq!(c.prompt_truncated, Some(false), "the prompt budget must fit num_ctx: {:?}", c.server);
    }
    // The estimate is pessimistic: the real tokenizer never counts more.
    for (p, c) in o.prompts.iter().zip(&o.calls) {
        assert!(
            c.server.prompt_eval_count.unwrap() as usize <= p.est_prompt_tokens,
            "{} > {}",
            c.server.prompt_eval_count.unwrap(),
            p.est_prompt_tokens
        );
        assert!(p.included.contains(&"Data summary".to_string()), "{:?}", p.included);
    }
    let md = std::fs::read_to_string(&o.report_path).unwrap();
    let m = AgentMetrics::from_calls(&o.calls);
    let expect = [
        "# Chimera Agent A\n\n# Technical Report: Chimera Agent A Analysis\n\n**Date:** ".to_string(),
        "**Agent Type:** Chimera Agent A\n**Model:** gemma3:270m\n".to_string(),
        "**Configuration:** num_gpu=default, num_ctx=1024, temp=0, top_p=default, top_k=default, repeat_penalty=default, num_thread=1, seed=1\n".to_string(),
        "**1. Executive Summary**\n".to_string(),
        "## Workflow Summary\n- Files analyzed: 101\n".to_string(),
        "- Data summary:\n```\nTotal files analyzed: 101\n\nCSV Files (28)".to_string(),
        format!("## Metrics\n- Throughput: {} tok/s\n- TTFT: {} ms\n- Total Duration: {} ms\n- Tokens Generated: {}\n- Prompt Eval: {} ms\n- Eval Duration: {} ms\n- Load Duration: {} ms\n",
            f2(m.throughput_tok_s), f2(m.ttft_ms), f2(m.total_duration_ms), m.tokens_generated, f2(m.prompt_eval_ms), f2(m.eval_duration_ms), f2(m.load_duration_ms)),
        "## Key Findings\n".to_string(),
        "## Recommendations\n".to_string(),
        format!("## Persona Prompt\n```\n{persona_text}\n```\n"),
        "| csv_data/ollama_quant_bench.csv | value | model=llama3.1:8b-instruct-q4_0, quant=q4_0 | 5 | 76.586 | 76.88 | 78 | 74.11 | 78.26 |".to_string(),
        "## Grounding\n\nGrounding score: ".to_string(),
        "## Calls\n".to_string(),
        "## Prompt Budget\n".to_string(),
        "## Metric Formulas\n".to_string(),
        "## Run Manifest\n".to_string(),
    ];
    let mut at = 0;
    for needle in &expect {
        let pos = md[at..]
            .find(needle.as_str())
            .unwrap_or_else(|| panic!("missing or out of order: {needle:?}\n{md}"));
        at += pos + needle.len();
    }
    assert!(m.throughput_tok_s.unwrap() > 0.0 && m.ttft_ms.unwrap() > 0.0 && m.tokens_generated > 0);
}

#[tokio::test]
async fn embedded_in_process_over_seed_101() {
    let _one_at_a_time = REAL_MODEL.lock().await;
    let engine =
        chimera_engine::EmbeddedBackend::discover(None).expect("the Gemma 3 270M GGUF (see docs/ENGINE.md)");
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(Persona::collector());
    let (o, seen) = run(&spec, Arc::new(engine), dir.path().join("a")).await;
    check_report(&o, COLLECTOR_TEXT);
    assert_eq!(seen.len(), 2);
    for r in &seen {
        assert_eq!(r.system(), Some(COLLECTOR_TEXT), "the persona is the system prompt");
        assert_eq!(r.options.num_ctx, Some(1024));
        assert_eq!(r.options.num_predict, Some(8));
    }
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&o.metrics_path).unwrap()).unwrap();
    assert_eq!(m["manifest"]["backend"]["kind"], "embedded");
    assert!(
        m["manifest"]["backend"]["model_digest"].as_str().is_some_and(|d| !d.is_empty()),
        "{}",
        m["manifest"]
    );
}

#[tokio::test]
async fn through_chimera_serve_in_process_and_with_the_binary() {
    let _one_at_a_time = REAL_MODEL.lock().await;
    let path = chimera_engine::discover(None).expect("the Gemma 3 270M GGUF (see docs/ENGINE.md)");
    let srv = chimera_engine::serve::spawn(chimera_engine::ServeConfig::new(path)).await.unwrap();
    let url = srv.url();
    let dir = tempfile::tempdir().unwrap();

    // In-process client, InsightAgent persona.
    let spec = spec(Persona::insight());
    let client: Arc<dyn Backend> = Arc::new(OllamaClient::new(&url, Timeouts::default()));
    let (o, seen) = run(&spec, client, dir.path().join("serve")).await;
    check_report(&o, INSIGHT_TEXT);
    assert!(seen.iter().all(|r| r.system() == Some(INSIGHT_TEXT)));
    assert_eq!(o.backend.kind, Some(BackendKind::Ollama));

    // The real binary, a persona from a file.
    let persona_file = dir.path().join("auditor.txt");
    std::fs::write(&persona_file, "You are AuditBot, a terse auditor. List three numbers from the data.")
        .unwrap();
    let out = dir.path().join("cli");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chimera"));
    cmd.args([
        "agent",
        CORPUS,
        "--backend",
        "ollama",
        "--url",
        &url,
        "--label",
        "Chimera Agent A",
        "--num-ctx",
        "1024",
    ])
    .args([
        "--temperature",
        "0",
        "--seed",
        "1",
        "--num-thread",
        "1",
        "--analysis-num-predict",
        "8",
        "--report-num-predict",
        "8",
        "--persona-file",
    ])
    .arg(&persona_file)
    .arg("--out")
    .arg(&out)
    .stdin(Stdio::null());
    let res = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    assert_eq!(
        res.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(m["ok"], true);
    assert_eq!(m["files_analyzed"], 101);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Persona Prompt\n```\nYou are AuditBot, a terse auditor."), "{md}");
    assert!(md.contains("- Files analyzed: 101\n"));
    srv.shutdown().await.unwrap();
}
