//! Parser tests: a dozen analysis texts in the shapes models really produce.

use chimera_core::analysis::{ParseMethod, parse};

#[test]
fn markdown_headings_and_bullets() {
    let a = parse(
        "## Summary\nThe corpus holds 101 files.\n\n## Key Findings\n- Gemma3 270M decodes at 78 tok/s.\n- TTFT is 88 ms.\n\n## Recommendations\n- Use num_ctx 1024.\n- Record GPU memory.\n",
    );
    assert_eq!(a.method, ParseMethod::Sections);
    assert_eq!(a.summary, "The corpus holds 101 files.");
    assert_eq!(a.key_findings, vec!["Gemma3 270M decodes at 78 tok/s.", "TTFT is 88 ms."]);
    assert_eq!(a.recommendations, vec!["Use num_ctx 1024.", "Record GPU memory."]);
}

#[test]
fn bold_labels_with_inline_text() {
    let a = parse(
        "**Summary:** Mostly JSON files.\n**Key Findings:** Throughput is flat across temperatures.\n**Recommendations:** Tune num_gpu first.",
    );
    assert_eq!(a.summary, "Mostly JSON files.");
    assert_eq!(a.key_findings, vec!["Throughput is flat across temperatures."]);
    assert_eq!(a.recommendations, vec!["Tune num_gpu first."]);
}

#[test]
fn numbered_sections_with_numbered_items() {
    let a = parse(
        "**1. Executive Summary**\nA short overview.\n\n**2. Key Findings**\n1. First finding.\n2. Second finding.\n\n**3. Recommendations**\n1) Do A.\n2) Do B.\n3) Do C.",
    );
    assert_eq!(a.summary, "A short overview.");
    assert_eq!(a.key_findings, vec!["First finding.", "Second finding."]);
    assert_eq!(a.recommendations, vec!["Do A.", "Do B.", "Do C."]);
}

#[test]
fn heading_numbered_inside_markdown() {
    let a = parse("# 1. Overview\nText one.\n# 2. Findings\n* x\n* y\n# 3. Next steps\n* z");
    assert_eq!(a.summary, "Text one.");
    assert_eq!(a.key_findings, vec!["x", "y"]);
    assert_eq!(a.recommendations, vec!["z"]);
}

#[test]
fn plain_colon_labels() {
    let a = parse(
        "Summary: data from 28 CSV files.\nFindings:\n- a gap in GPU telemetry\nRecommendations:\n- add memory columns",
    );
    assert_eq!(a.summary, "data from 28 CSV files.");
    assert_eq!(a.key_findings, vec!["a gap in GPU telemetry"]);
    assert_eq!(a.recommendations, vec!["add memory columns"]);
}

#[test]
fn lost_opening_bold_marker_like_the_seed() {
    // The seed report's own key-findings list shows "Key Performance Findings**" lines.
    let a = parse(
        "Key Performance Findings**\n- **High File Volume:** 101 files.\nRecommendations for Optimization**\n- **Standardize Naming:** use a template.",
    );
    assert_eq!(a.key_findings, vec!["**High File Volume:** 101 files."]);
    assert_eq!(a.recommendations, vec!["**Standardize Naming:** use a template."]);
}

#[test]
fn continuation_lines_join_their_item() {
    let a = parse(
        "## Key Findings\n- Throughput is 77 tok/s\n  on every num_ctx tested.\n- Load time dominates TTFT.\n",
    );
    assert_eq!(
        a.key_findings,
        vec!["Throughput is 77 tok/s on every num_ctx tested.", "Load time dominates TTFT."]
    );
}

#[test]
fn model_ignoring_the_format() {
    let a = parse(
        "The benchmark data covers three models. Gemma3 is the fastest at 78 tok/s. Load time is high on cold starts. You should keep the model warm between runs. Consider a larger batch size.",
    );
    assert_eq!(a.method, ParseMethod::Heuristic);
    assert_eq!(a.summary, "The benchmark data covers three models. Gemma3 is the fastest at 78 tok/s.");
    assert_eq!(a.key_findings, vec!["Load time is high on cold starts."]);
    assert_eq!(
        a.recommendations,
        vec!["You should keep the model warm between runs.", "Consider a larger batch size."]
    );
}

#[test]
fn unstructured_bullets_only() {
    let a = parse("- 101 files were scanned\n- consider recording GPU memory\n- 44 JSON files");
    assert_eq!(a.method, ParseMethod::Heuristic);
    assert_eq!(a.key_findings, vec!["101 files were scanned", "44 JSON files"]);
    assert_eq!(a.recommendations, vec!["consider recording GPU memory"]);
    assert_eq!(a.summary, "");
}

#[test]
fn decimals_do_not_split_sentences() {
    let a = parse("Mean TTFT was 3.2 s on cold load. Warm calls took 0.09 s.");
    assert_eq!(a.summary, "Mean TTFT was 3.2 s on cold load. Warm calls took 0.09 s.");
}

#[test]
fn preamble_becomes_summary_when_no_summary_section() {
    let a = parse(
        "Okay, here is the inventory.\n\n### Gaps\n- no GPU memory figures\n### Suggestions\n- log VRAM",
    );
    assert_eq!(a.summary, "Okay, here is the inventory.");
    assert_eq!(a.key_findings, vec!["no GPU memory figures"]);
    assert_eq!(a.recommendations, vec!["log VRAM"]);
}

#[test]
fn other_sections_and_tables_are_skipped() {
    let a = parse(
        "## Executive Summary\nFast.\n## Appendix\n- raw data\n## Risks\n| Risk | Mitigation |\n|---|---|\n| cold start | warm-up |\n## Recommendations\n- warm up",
    );
    assert_eq!(a.summary, "Fast.");
    assert!(!a.key_findings.iter().any(|f| f.contains("raw data")));
    assert_eq!(a.key_findings, vec!["| cold start | warm-up |"]);
    assert_eq!(a.recommendations, vec!["warm up"]);
}

#[test]
fn duplicate_items_are_kept_once() {
    let a = parse("## Findings\n- same\n- same\n## Recommendations\n- act\n\n- act");
    assert_eq!(a.key_findings, vec!["same"]);
    assert_eq!(a.recommendations, vec!["act"]);
}
