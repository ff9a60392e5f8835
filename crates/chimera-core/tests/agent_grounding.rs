//! Grounding tests: hand-written model outputs whose numbers are supported, rounded,
//! unit-changed or invented, checked against hand-made known numbers and the real seed-101 facts.

use std::path::PathBuf;

use chimera_core::agent::{AgentSpec, known_numbers};
use chimera_core::grounding::{Dim, KnownNumber, Verdict, check};
use chimera_core::inventory::{CollectOptions, collect};
use chimera_core::options::GenOptions;
use chimera_core::persona::Persona;

const SEED_101: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/seed-101");

fn verdicts(text: &str, known: &[KnownNumber]) -> Vec<(String, Verdict)> {
    check(text, known).checks.into_iter().map(|c| (c.text, c.verdict)).collect()
}

fn hand_known() -> Vec<KnownNumber> {
    vec![
        KnownNumber::new(48.47, Dim::Rate, "throughput"),
        KnownNumber::new(920.52, Dim::TimeMs, "ttft"),
        KnownNumber::new(0.125, Dim::Plain, "error fraction"),
        KnownNumber::new(2156.0, Dim::Plain, "tokens"),
        KnownNumber::new(3202.2, Dim::TimeMs, "mean ttft"),
        KnownNumber::new(1_073_741_824.0, Dim::Bytes, "model size"),
        KnownNumber::new(12.0, Dim::Percent, "cpu"),
    ]
}

#[test]
fn supported_rounded_unit_changed_and_invented() {
    let text = "Throughput was 48.47 tok/s (about 48.5 tok/s). TTFT was 0.92 s while the mean TTFT reached 3.2 s. \
The run produced 2,156 tokens, 12.5% of requests failed, the model takes 1 GB, CPU sat at 12%. \
Latency was 999 ms and decoding hit 17 tok/s.";
    let v = verdicts(text, &hand_known());
    assert_eq!(
        v,
        vec![
            ("48.47 tok/s".to_string(), Verdict::Exact),
            ("48.5 tok/s".to_string(), Verdict::Rounded),
            ("0.92 s".to_string(), Verdict::UnitChanged),
            ("3.2 s".to_string(), Verdict::UnitChanged),
            ("2,156".to_string(), Verdict::Exact),
            ("12.5%".to_string(), Verdict::UnitChanged),
            ("1 GB".to_string(), Verdict::UnitChanged),
            ("12%".to_string(), Verdict::Exact),
            ("999 ms".to_string(), Verdict::Unsupported),
            ("17 tok/s".to_string(), Verdict::Unsupported),
        ]
    );
    let g = check(text, &hand_known());
    assert_eq!((g.supported, g.checked), (8, 10));
    assert_eq!(g.score, Some(0.8));
    let unsupported: Vec<&str> = g.unsupported().map(|c| c.text.as_str()).collect();
    assert_eq!(unsupported, vec!["999 ms", "17 tok/s"]);
    assert!(g.unsupported().next().unwrap().context.contains("Latency was"));
}

#[test]
fn milliseconds_written_for_seconds_and_truncation() {
    let known = vec![KnownNumber::new(3.2022 * 1000.0, Dim::TimeMs, "ttft")];
    assert_eq!(verdicts("3202 ms", &known), vec![("3202 ms".to_string(), Verdict::Rounded)]);
    assert_eq!(verdicts("3.20 s", &known), vec![("3.20 s".to_string(), Verdict::UnitChanged)]);
    // Truncated rather than rounded is accepted; a different digit is not.
    let known = vec![KnownNumber::new(77.29, Dim::Rate, "tps")];
    assert_eq!(verdicts("77.2 tok/s", &known)[0].1, Verdict::Rounded);
    assert_eq!(verdicts("77.4 tok/s", &known)[0].1, Verdict::Unsupported);
    // A time is never matched by a throughput of the same value.
    assert_eq!(verdicts("48.47 ms", &[KnownNumber::new(48.47, Dim::Rate, "tps")])[0].1, Verdict::Unsupported);
}

#[test]
fn identifiers_dates_and_list_markers_are_not_claims() {
    let g = check(
        "1. The file `gemma3_270m_baseline.csv` from 2025-10-02 shows gemma3 at 17:08.\n2. Nothing else.",
        &hand_known(),
    );
    assert_eq!(g.checked, 0);
    assert_eq!(g.score, None);
    assert!(g.skipped >= 4, "{g:?}");
}

#[test]
fn real_seed_101_facts_ground_a_hand_written_report() {
    // Checked by hand in csv_data/ollama_quant_bench.csv (model llama3.1:8b-instruct-q4_0):
    // tokens_s 74.11, 76.96, 76.72, 78.26, 76.88 → mean 76.586; ttft_s mean 0.09726 s = 97.26 ms.
    let inv = collect(&[PathBuf::from(SEED_101)], &CollectOptions::default()).unwrap();
    assert_eq!(inv.analysed_files(), 101);
    let spec = AgentSpec::new(
        "T",
        Persona::collector(),
        "m",
        GenOptions { num_ctx: Some(512), ..Default::default() },
    );
    let known = known_numbers(&inv, &spec);
    // 76.59 is also stated in Markdown tables (reports/ollama/ollama_benchmark_summary.md line 9,
    // `| q4_0 | 76.59 | …`), so it is exact; 76.9 is only the median 76.88 rounded.
    let text = "We analysed 101 files. The q4_0 model decoded at 76.59 tok/s (median about 76.9 tok/s) with a mean \
TTFT of 97.26 ms (0.097 s); its fastest prompt reached 78.26 tok/s. The context was 512 tokens. It peaked \
at 1234.5 tok/s.";
    let v = verdicts(text, &known);
    assert_eq!(
        v,
        vec![
            ("101".to_string(), Verdict::Exact),
            ("76.59 tok/s".to_string(), Verdict::Exact),
            ("76.9 tok/s".to_string(), Verdict::Rounded),
            ("97.26 ms".to_string(), Verdict::Exact),
            ("0.097 s".to_string(), Verdict::UnitChanged),
            ("78.26 tok/s".to_string(), Verdict::Exact),
            ("512".to_string(), Verdict::Exact),
            ("1234.5 tok/s".to_string(), Verdict::Unsupported),
        ]
    );
}
