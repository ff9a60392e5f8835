//! `chimera multi`'s summary reports the prompt tokens the servers took from their prompt cache
//! per phase, and warns when the concurrent phase's cached share is much higher than the solo
//! phase's (the solo phase warmed the cache: the true speedup is inflated). Scripted Ollama
//! servers that report their cache as `chimera serve` does (`prompt_cached_count`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chimera_core::backend::{Backend, OllamaClient, Timeouts, http_client};
use chimera_core::events::Events;
use chimera_core::multi::jobs::{CallsAgent, CallsJob};
use chimera_core::multi::{AgentSlot, CancellationToken, MultiPlan, Scenario, ScenarioName, run_multi};
use chimera_core::options::GenOptions;
use chimera_testkit::{Reply, Script, ScriptedServer, Step};
use serde_json::json;

/// A server whose first `cold` generate requests evaluate the whole 1,000-token prompt and
/// whose later ones reuse `warm_cached` of it from the cache.
async fn server(cold: usize, warm_cached: u64) -> ScriptedServer {
    let seen = AtomicUsize::new(0);
    ScriptedServer::start(move |r| {
        if r.path != "/api/generate" {
            return Reply::JsonStatus(404, json!({"error": "not found"}));
        }
        let cached = if seen.fetch_add(1, Ordering::SeqCst) < cold { 0 } else { warm_cached };
        let last = json!({"model": "m", "created_at": "2026-01-01T00:00:00Z", "response": "", "done": true,
                          "done_reason": "stop", "prompt_eval_count": 1000 - cached,
                          "prompt_cached_count": cached, "eval_count": 2, "eval_duration": 2_000_000});
        Reply::Ollama(
            Script::new()
                .at_ms(5, Step::token("a "))
                .at_ms(6, Step::token("b"))
                .then(Step::RawLine(last.to_string())),
        )
    })
    .await
}

async fn run(warm_cached: u64) -> (chimera_core::multi::MultiSummary, String) {
    let srvs = [server(2, warm_cached).await, server(2, warm_cached).await];
    let t = Timeouts::default();
    let agents = srvs
        .iter()
        .zip(["Chimera Agent A", "Chimera Agent B"])
        .map(|(s, label)| CallsAgent {
            label: label.into(),
            backend: Arc::new(OllamaClient::with_http(http_client(&t), &s.url(), t)) as Arc<dyn Backend>,
            model: "gemma3:270m".into(),
            options: GenOptions { num_predict: Some(2), ..Default::default() },
            prompts: vec![(Some("persona".into()), "analyse".into()), (None, "report".into())],
        })
        .collect();
    let job = CallsJob { agents, events: Events::none(), write_calls: false };
    let d = tempfile::tempdir().unwrap();
    let plan = MultiPlan {
        scenario: ScenarioName::Builtin(Scenario::ChimeraHetero),
        agents: ["Chimera Agent A", "Chimera Agent B"]
            .into_iter()
            .zip(&srvs)
            .map(|(l, s)| AgentSlot { label: l.into(), warmup_key: s.url(), server: s.url() })
            .collect(),
        runs: 1,
        solo: true,
        warmup: false,
        contention_threshold: 1.25,
        out_dir: d.path().to_path_buf(),
        manifest: None,
    };
    let s = run_multi(&plan, Arc::new(job), CancellationToken::new(), &Events::none()).await.unwrap();
    let md = std::fs::read_to_string(d.path().join("summary.md")).unwrap();
    (s, md)
}

#[tokio::test]
async fn a_cache_warmed_by_the_solo_phase_is_reported_and_warned() {
    let (s, md) = run(900).await;
    let c = s.prompt_cache.as_ref().expect("the servers reported their cache");
    let (solo, conc) = (c.solo.as_ref().unwrap(), c.concurrent.as_ref().unwrap());
    // Solo: 2 agents × 2 calls, all cold; concurrent: the same calls, 900 of 1,000 tokens cached.
    assert_eq!((solo.calls, solo.prompt_evaluated_tokens, solo.prompt_cached_tokens), (4, 4000, 0));
    assert_eq!((conc.calls, conc.prompt_evaluated_tokens, conc.prompt_cached_tokens), (4, 400, 3600));
    assert_eq!((solo.cached_share, conc.cached_share), (Some(0.0), Some(0.9)));
    assert!(c.warning.as_deref().unwrap().contains("true speedup is inflated"), "{c:?}");
    assert!(md.contains("## Prompt cache by phase"), "{md}");
    assert!(md.contains("| concurrent | 4 | 400 | 3600 | 90.0 % |"), "{md}");
    assert!(md.contains("**Warning:** the concurrent phase took 90.0 % of its prompt tokens"), "{md}");
}

#[tokio::test]
async fn the_same_cache_use_in_both_phases_is_reported_without_a_warning() {
    let (s, md) = run(0).await;
    let c = s.prompt_cache.as_ref().unwrap();
    assert_eq!(c.concurrent.as_ref().unwrap().cached_share, Some(0.0));
    assert_eq!(c.warning, None);
    assert!(md.contains("## Prompt cache by phase") && !md.contains("**Warning:**"), "{md}");
}
