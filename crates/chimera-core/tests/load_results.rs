//! The typed loader over files written by the code before typed records (the golden outputs
//! under `testdata/golden/`, normalised but otherwise as written) and over files written now:
//! every kind loads into its type, what is written reads back the same, and files that are not
//! results, of an unknown kind or of a newer schema fail with a message that says so.

use std::path::{Path, PathBuf};

use chimera_core::events::Stage;
use chimera_core::export::{Exporter, Json};
use chimera_core::load::{LoadError, Results, load, load_dir, parse};
use chimera_core::manifest::Manifest;
use chimera_core::multi::{RunRecord, Scenario, ScenarioName};
use chimera_core::options::GenOptions;
use chimera_core::records::agent::AgentRecord;
use chimera_core::records::multi::FailedAt;
use chimera_core::records::{Kind, Record};
use chimera_core::sweep::Store;

fn golden(case: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/golden")).join(case)
}

/// Written again by the JSON exporter, a record reads back as the same JSON.
fn round_trip<R: Record>(r: &R) {
    let bytes = Json.serialize(r).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let back: R = parse(&text, Path::new("mem.json")).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(r).unwrap());
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (v["kind"].as_str(), v["schema_version"].as_u64()),
        (Some(R::KIND.as_str()), Some(u64::from(R::SCHEMA_VERSION)))
    );
}

#[test]
fn agent_outputs_of_the_old_code_load() {
    let ok = load_dir(&golden("agent")).unwrap();
    let Results::Agent(a) = ok.results else { panic!("not an agent: {:?}", ok.results.kind()) };
    assert_eq!((a.outcome.label.as_str(), a.outcome.ok, a.outcome.calls.len()), ("Golden Agent", true, 2));
    assert_eq!(a.outcome.call_stages, [Stage::Analysis, Stage::Report]);
    let stages: Vec<Stage> = a.outcome.stage_secs.keys().copied().collect();
    assert_eq!(stages, [Stage::Ingest, Stage::Analysis, Stage::Report, Stage::Grounding]);
    assert_eq!(a.outcome.metrics.throughput_tok_s, Some(200.0));
    round_trip(a.as_ref());
    let failed = load::<AgentRecord>(&golden("agent_failed/metrics.json")).unwrap();
    assert_eq!(failed.outcome.failed_stage, Some(Stage::Report));
    // manifest.json of schema 1 carries no kind
    let m = load::<Manifest>(&golden("agent/manifest.json")).unwrap();
    assert_eq!(m.backend.version.as_deref(), Some("0.12.0-golden"));
    round_trip(&m);
}

#[test]
fn bench_outputs_of_the_old_code_load() {
    let b = load_dir(&golden("bench")).unwrap();
    let Results::Bench(b) = b.results else { panic!("not a bench") };
    assert_eq!((b.outcome.entries.len(), b.outcome.warmups.len(), b.outcome.failed_runs), (4, 4, 0));
    let names: Vec<&str> = b.outcome.comparisons.iter().map(|c| c.metric.name()).collect();
    assert_eq!(names[..3], ["Throughput", "TTFT", "Total Duration"]);
    round_trip(b.as_ref());
    let run = load::<AgentRecord>(&golden("bench/run_2/chimera/metrics.json")).unwrap();
    assert_eq!(run.outcome.options.num_ctx, Some(512));
}

#[test]
fn multi_outputs_of_the_old_code_load_with_their_runs() {
    let m = load_dir(&golden("multi")).unwrap();
    let Results::Multi(m) = m.results else { panic!("not a multi") };
    assert_eq!(m.summary.scenario, ScenarioName::Builtin(Scenario::ChimeraHomo));
    assert_eq!(m.runs.iter().map(|r| r.run).collect::<Vec<_>>(), [1, 2]);
    let manifest = m.summary.manifest.as_ref().unwrap();
    assert_eq!(manifest.agents.len(), 2);
    assert_eq!(manifest.agents[1].options.num_ctx, Some(2048));
    assert_eq!(
        manifest.servers.as_ref().unwrap()[0].info.as_ref().unwrap().version.as_deref(),
        Some("0.12.0-golden")
    );
    assert!(m.runs.iter().flat_map(|r| &r.agents).all(|a| a.concurrent.as_ref().is_some_and(|c| c.ok)));
    round_trip(&m.summary);
    round_trip(&m.runs[0]);
}

#[test]
fn sweep_outputs_of_the_old_code_load() {
    let s = load_dir(&golden("sweep")).unwrap();
    let Results::Sweep(s) = s.results else { panic!("not a sweep") };
    assert_eq!(s.points.len(), 3);
    assert_eq!(s.ranking.best.as_ref().unwrap().label, "num_ctx=256");
    round_trip(s.as_ref());
    let points = Store::load(&golden("sweep")).unwrap();
    assert_eq!(points.len(), 3);
    round_trip(&points[1]);
}

#[test]
fn multi_agent_sweeps_of_schema_1_read_typed_agent_options() {
    let s = load_dir(&golden("sweep_scenario")).unwrap();
    let Results::Sweep(s) = s.results else { panic!("not a sweep") };
    assert_eq!(s.scenario.as_ref().unwrap().scenario, Scenario::ChimeraHomo);
    let m = s.points[0].multi.as_ref().unwrap();
    let want = GenOptions { num_ctx: Some(256), num_predict: Some(64), ..Default::default() };
    assert_eq!(m.agent_options, [want.clone(), want]);
    assert_eq!(m.scenario, Scenario::ChimeraHomo);
    round_trip(s.as_ref());
    let points = Store::load(&golden("sweep_scenario")).unwrap();
    assert_eq!(points[1].multi.as_ref().unwrap().agent_options[0].num_ctx, Some(1024));
    // each point's scheduler output is a multi folder whose manifest names the point
    let point = load_dir(&golden("sweep_scenario/agents/num_ctx=256")).unwrap();
    let Results::Multi(p) = point.results else { panic!("not a multi") };
    assert_eq!(p.summary.manifest.unwrap().sweep_point.as_deref(), Some("num_ctx=256"));
    assert!(p.runs[0].agents.iter().all(|a| a.solo.as_ref().is_some_and(|s| s.failed_stage.is_none())));
}

#[test]
fn typed_values_keep_their_json() {
    let run: RunRecord = load(&golden("multi/run_1/metrics.json")).unwrap();
    let mut failed = run.clone();
    let phase = failed.agents[0].concurrent.as_mut().unwrap();
    phase.failed_stage = Some(FailedAt::Call(2));
    let v = serde_json::to_value(&failed).unwrap();
    assert_eq!(v["agents"][0]["concurrent"]["failed_stage"], "call 2");
    assert_eq!(v["scenario"], "chimera_homo");
    assert_eq!(v["schema"], "chimera.multi.run/1", "the old tag is still written for older readers");
}

#[test]
fn what_is_not_a_result_says_so() {
    let d = tempfile::tempdir().unwrap();
    let err = |file: &str, text: &str| {
        let p = d.path().join(file);
        std::fs::write(&p, text).unwrap();
        load_dir(&p).unwrap_err()
    };
    assert!(matches!(load_dir(d.path()).unwrap_err(), LoadError::NotOutput(_)));
    let e = err("summary.json", r#"{"kind":"chimera.sweep","schema_version":9}"#);
    assert!(matches!(e, LoadError::Newer { kind: Kind::Sweep, version: 9, supported: 2, .. }), "{e}");
    assert!(e.to_string().contains("newer chimera"), "{e}");
    let e = err("summary.json", r#"{"kind":"other.tool"}"#);
    assert!(matches!(e, LoadError::UnknownKind { .. }) && e.to_string().contains("other.tool"), "{e}");
    let e = err("summary.json", r#"{"points": []}"#);
    assert!(matches!(e, LoadError::NoKind { .. }), "{e}");
    let e = err("summary.json", "{not json");
    assert!(matches!(e, LoadError::Json { .. }), "{e}");
    let e = err("summary.json", r#"{"kind":"chimera.sweep","schema_version":2,"points":7}"#);
    assert!(matches!(e, LoadError::Invalid { kind: Kind::Sweep, .. }), "{e}");
    let e = err("metrics.json", r#"{"kind":"chimera.manifest","schema_version":1}"#);
    assert!(matches!(e, LoadError::NotResults { kind: Kind::Manifest, .. }), "{e}");
    let wrong = load::<Manifest>(&golden("sweep/summary.json")).unwrap_err();
    assert!(
        matches!(wrong, LoadError::WrongKind { expected: Kind::Manifest, found: Kind::Sweep, .. }),
        "{wrong}"
    );
}
