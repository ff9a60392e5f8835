//! `chimera inventory` as a user runs it: the built binary, real folders.

use std::process::Command;

const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/seed-101");

fn chimera(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_chimera")).args(args).output().expect("run chimera")
}

#[test]
fn missing_dir_exits_2_with_a_clear_message() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("no-such-dir");
    let out = chimera(&["inventory", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not exist") && err.contains("no-such-dir"), "{err}");
    assert!(err.contains("--root"), "the message says what to do next: {err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn json_to_stdout_parses_and_has_the_seed_counts() {
    let out = chimera(&["inventory", SEED, "--json", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["schema_version"], 1);
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 101);
    let count = |k: &str| files.iter().filter(|f| f["kind"] == k).count();
    assert_eq!((count("csv"), count("json"), count("markdown"), count("ignored")), (28, 44, 29, 0));
    assert!(v["facts"]["groups"].as_array().unwrap().iter().any(|g| g["metric"] == "tokens_per_s"));
}

#[test]
fn json_file_and_markdown_stdout_are_deterministic() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a.json");
    let b = d.path().join("b.json");
    let out1 = chimera(&["inventory", SEED, "--json", a.to_str().unwrap()]);
    let out2 = chimera(&["inventory", SEED, "--json", b.to_str().unwrap()]);
    assert_eq!(out1.status.code(), Some(0));
    let md = String::from_utf8(out1.stdout.clone()).unwrap();
    assert!(md.starts_with("# Data inventory"), "{md}");
    assert!(md.contains("| CSV | 28 |"), "{md}");
    assert!(out1.stdout == out2.stdout, "Markdown differs between runs");
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "JSON differs between runs");
}

#[test]
fn summary_flag_prints_the_seed_data_summary_block() {
    let out = chimera(&["inventory", SEED, "--summary"]);
    assert_eq!(out.status.code(), Some(0));
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.starts_with("Total files analyzed: 101\n\nCSV Files (28)\n"), "{s}");
}
