//! The inventory's output pinned byte for byte: the JSON and Markdown of seed-101 against golden
//! files, and of a 10,000-file generated corpus against their SHA-256, as the code before the
//! redesign of issue 14 wrote them. What the redesign added — the JSON's `kind` key and the
//! roll-ups (JSON `rollups`, Markdown section `Per-model roll-ups`) — is checked to be there
//! and cut out before the comparison; nothing else may differ. One change since: JSON numbers
//! are read exactly (serde_json `float_roundtrip`, found by the `inventory` fuzz target), so 137
//! values of seed-101.json moved by one ulp to the artifacts' own digits (`14.590837494496075`,
//! as the file writes it, was read as `…077`), and the sd/cv computed from them by a few ulps.
//!
//! The corpora are copied or generated into a temporary folder whose files get fixed
//! modification times (`support/inventory_corpus.rs`), and the folder's path and the tool
//! version are replaced with `{DIR}` and `{VERSION}`, so the bytes are the same on any machine.
//! `CHIMERA_GOLDEN_BLESS=1` rewrites the golden files and prints the hashes to pin;
//! `CHIMERA_GOLDEN_KEEP=DIR` prepares the corpora under DIR and keeps them (to run a `chimera`
//! binary on the same files).

#[path = "support/inventory_corpus.rs"]
mod corpus;

use std::path::{Path, PathBuf};

use chimera_core::inventory::{CollectOptions, collect};
use sha2::{Digest, Sha256};

const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/seed-101");
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

/// SHA-256 of the JSON and the Markdown of the 10,000-file corpus (normalised as above).
const GENERATED_JSON_SHA256: &str = "6fe8fefb71f7e70d7d39fdd4af0ebc2699ec99e7eeaeaabf81c68b07507c0c53";
const GENERATED_MD_SHA256: &str = "2bc7b8a98bfe82509a5654f0359a3e0eab91b2fb82d2ac74a6645737edd1a0c3";

/// A folder for a corpus: under `CHIMERA_GOLDEN_KEEP` when set (kept), else temporary.
fn workdir(name: &str) -> (PathBuf, Option<tempfile::TempDir>) {
    match std::env::var_os("CHIMERA_GOLDEN_KEEP") {
        Some(keep) => {
            let dir = PathBuf::from(keep).join(name);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            (dir, None)
        }
        None => {
            let tmp = tempfile::tempdir().unwrap();
            (tmp.path().join(name), Some(tmp))
        }
    }
}

/// The JSON (`--json`) and Markdown (default) outputs of `chimera inventory DIR`, normalised,
/// without the parts the redesign added.
fn outputs(dir: &Path) -> (String, String) {
    let inv = collect(&[dir.to_path_buf()], &CollectOptions::default()).expect("collect");
    let mut json = Vec::new();
    inv.write_json(&mut json).unwrap();
    let json = String::from_utf8(json).expect("JSON is UTF-8");
    (
        without_kind_and_rollups(&normalise(&json, dir)),
        without_rollup_section(&normalise(&inv.to_markdown(), dir)),
    )
}

/// The JSON without its first key `kind` and its last key `rollups` (both must be there).
fn without_kind_and_rollups(json: &str) -> String {
    let rest =
        json.strip_prefix("{\n  \"kind\": \"chimera.inventory\",\n").expect("the JSON starts with its kind");
    let at = rest.rfind(",\n  \"rollups\": [").expect("the JSON ends with its roll-ups");
    assert!(rest.ends_with("]\n}\n") && !rest[at + 2..].contains("\n  \""), "`rollups` is the last key");
    format!("{{\n{}\n}}\n", &rest[..at])
}

/// The Markdown without its roll-up section (which must be there, just before `## Facts`).
fn without_rollup_section(md: &str) -> String {
    let start = md.find("\n## Per-model roll-ups (whole corpus)\n").expect("the roll-up section");
    let len = md[start..].find("\n## Facts\n").expect("the facts after the roll-ups");
    assert!(!md[start + 1..start + len].contains("\n## "), "one section");
    format!("{}{}", &md[..start], &md[start + len..])
}

fn normalise(text: &str, dir: &Path) -> String {
    let v = chimera_core::TOOL_VERSION;
    text.replace(dir.to_str().expect("a UTF-8 temporary path"), "{DIR}")
        .replace(&format!("\"tool_version\": \"{v}\""), "\"tool_version\": \"{VERSION}\"")
        .replace(&format!(" · chimera {v}\n"), " · chimera {VERSION}\n")
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn bless() -> bool {
    std::env::var_os("CHIMERA_GOLDEN_BLESS").is_some()
}

/// Panics with the first differing line when `got` is not `want`.
fn assert_same(got: &str, want: &str, what: &str) {
    if got == want {
        return;
    }
    let at = got.lines().zip(want.lines()).position(|(a, b)| a != b);
    let line = at.unwrap_or_else(|| got.lines().count().min(want.lines().count()));
    panic!(
        "{what} differs from the golden output at line {}:\n  got:  {:?}\n  want: {:?}\n(lengths {} vs {})",
        line + 1,
        got.lines().nth(line),
        want.lines().nth(line),
        got.len(),
        want.len()
    );
}

#[test]
fn seed_101_json_and_markdown_are_the_golden_bytes() {
    let (dir, _tmp) = workdir("seed-101");
    corpus::copy_tree(Path::new(SEED), &dir).unwrap();
    corpus::pin_mtimes(&dir).unwrap();
    let (json, md) = outputs(&dir);
    let (json_path, md_path) = (format!("{GOLDEN}/seed-101.json"), format!("{GOLDEN}/seed-101.md"));
    if bless() {
        std::fs::create_dir_all(GOLDEN).unwrap();
        std::fs::write(&json_path, &json).unwrap();
        std::fs::write(&md_path, &md).unwrap();
    }
    assert_same(&json, &std::fs::read_to_string(&json_path).unwrap(), "seed-101 JSON");
    assert_same(&md, &std::fs::read_to_string(&md_path).unwrap(), "seed-101 Markdown");
}

#[test]
fn generated_10000_files_json_and_markdown_have_the_pinned_hashes() {
    let (dir, _tmp) = workdir("generated-10000");
    corpus::generate(&dir, 10_000, 1).unwrap();
    corpus::pin_mtimes(&dir).unwrap();
    let (json, md) = outputs(&dir);
    let (json_sha, md_sha) = (sha256_hex(&json), sha256_hex(&md));
    if bless() {
        println!("GENERATED_JSON_SHA256 = {json_sha}\nGENERATED_MD_SHA256 = {md_sha}");
        return;
    }
    assert_eq!(json_sha, GENERATED_JSON_SHA256, "10,000-file JSON");
    assert_eq!(md_sha, GENERATED_MD_SHA256, "10,000-file Markdown");
}
