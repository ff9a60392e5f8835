//! Bad input never aborts the scan: every case is built in a tempdir and must be listed with
//! its reason while the good files beside it are still parsed.

use std::path::{Path, PathBuf};

use chimera_core::inventory::{
    Capped, CollectOptions, FileEntry, FileKind, FileReader, Inventory, InventoryError, ParseStatus,
    Severity, StdReader, collect, collect_with,
};

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// A corpus dir with `reports/` holding one good CSV plus whatever the test adds.
fn corpus() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "reports/good.csv", b"model,tokens_s\nm1,10\nm1,20\n");
    d
}

fn run(d: &Path) -> Inventory {
    collect(&[d.to_path_buf()], &CollectOptions::default()).expect("collect")
}

fn entry<'a>(inv: &'a Inventory, rel: &str) -> &'a FileEntry {
    inv.files
        .iter()
        .find(|f| f.rel_path == rel)
        .unwrap_or_else(|| panic!("{rel} not listed: {:?}", inv.files))
}

fn assert_good_still_parsed(inv: &Inventory) {
    let g = entry(inv, "reports/good.csv");
    assert_eq!(g.status, ParseStatus::Ok);
    let grp = inv.facts.groups.iter().find(|g| g.files == ["reports/good.csv"]).expect("good.csv facts");
    assert_eq!((grp.summary.n, grp.summary.mean), (2, 15.0));
}

fn problem<'a>(inv: &'a Inventory, path: &str) -> &'a str {
    &inv.problems
        .iter()
        .find(|p| p.path == path)
        .unwrap_or_else(|| panic!("no problem for {path}: {:?}", inv.problems))
        .reason
}

#[test]
fn malformed_json_is_a_listed_failure() {
    let d = corpus();
    write(d.path(), "reports/bad.json", b"{\"tokens_s\": 12.5,");
    let inv = run(d.path());
    let e = entry(&inv, "reports/bad.json");
    assert_eq!(e.status, ParseStatus::Failed);
    assert!(e.reason.as_deref().unwrap().starts_with("malformed JSON: EOF while parsing"), "{:?}", e.reason);
    assert!(problem(&inv, "reports/bad.json").contains("malformed JSON"));
    assert_good_still_parsed(&inv);
}

#[test]
fn ragged_csv_rows_are_counted_and_warned() {
    let d = corpus();
    write(d.path(), "reports/ragged.csv", b"a,tokens_s,c\n1,2,3\n4,5\n6,7,8,9\n");
    let inv = run(d.path());
    let e = entry(&inv, "reports/ragged.csv");
    assert_eq!(e.status, ParseStatus::Ok);
    let c = e.csv.as_ref().unwrap();
    assert_eq!((c.rows, c.ragged_rows), (3, 2));
    assert!(
        problem(&inv, "reports/ragged.csv").contains("2 ragged row(s): row 2 has 2 fields, the header has 3")
    );
    // The values that are there are still facts: 2, 5, 7.
    assert_eq!(e.facts, 3);
    assert_good_still_parsed(&inv);
}

#[test]
fn non_utf8_bytes_are_decoded_lossily_and_listed() {
    let d = corpus();
    write(d.path(), "reports/latin1.csv", b"name,tokens_s\ncaf\xE9,42\n");
    let inv = run(d.path());
    let e = entry(&inv, "reports/latin1.csv");
    assert_eq!(e.encoding.as_deref(), Some("utf-8 (lossy)"));
    assert_eq!(e.status, ParseStatus::Ok);
    assert_eq!(e.facts, 1);
    assert!(problem(&inv, "reports/latin1.csv").contains("non-UTF-8 bytes (first at byte 17)"));
    assert_good_still_parsed(&inv);
}

#[test]
fn utf16_with_bom_is_decoded_and_its_facts_extracted() {
    let d = corpus();
    let mut le = vec![0xFF, 0xFE];
    le.extend("model,ttft_s\nm,0.25\n".encode_utf16().flat_map(u16::to_le_bytes));
    write(d.path(), "reports/utf16le.csv", &le);
    let mut be = vec![0xFE, 0xFF];
    be.extend("{\"latency_ms\": 7}".encode_utf16().flat_map(u16::to_be_bytes));
    write(d.path(), "reports/utf16be.json", &be);
    let inv = run(d.path());
    let e = entry(&inv, "reports/utf16le.csv");
    assert_eq!((e.status, e.encoding.as_deref()), (ParseStatus::Ok, Some("utf-16le (BOM)")));
    let f = inv.facts.facts.iter().find(|f| f.file == "reports/utf16le.csv").unwrap();
    assert_eq!((f.metric.as_str(), f.value), ("ttft_ms", 250.0));
    let e = entry(&inv, "reports/utf16be.json");
    assert_eq!((e.status, e.encoding.as_deref(), e.facts), (ParseStatus::Ok, Some("utf-16be (BOM)"), 1));
    assert!(problem(&inv, "reports/utf16le.csv").contains("decoded as utf-16le (BOM)"));
    assert_good_still_parsed(&inv);
}

#[test]
fn a_utf8_bom_and_utf16_behind_a_bom_reencoded_as_utf8_are_decoded() {
    let d = corpus();
    write(d.path(), "reports/bom.csv", b"\xEF\xBB\xBFmodel,tokens_s\nm,3\n");
    // UTF-16LE whose BOM was re-encoded as UTF-8 (FF FE -> C3 BF C3 BE, a PowerShell redirect)
    // and whose newline got a CR byte from a text-mode write (0A 00 -> 0D 0A 00): the shape of
    // seed-101's reports/profiling/ncu_summary.csv.
    let mut ps = b"\xC3\xBF\xC3\xBE".to_vec();
    ps.extend("tokens_s\r".encode_utf16().flat_map(u16::to_le_bytes));
    ps.extend([0x0D, 0x0A, 0x00]);
    ps.extend("5".encode_utf16().flat_map(u16::to_le_bytes));
    write(d.path(), "reports/ps.csv", &ps);
    let inv = run(d.path());
    let e = entry(&inv, "reports/bom.csv");
    assert_eq!((e.status, e.encoding.as_deref(), e.facts), (ParseStatus::Ok, Some("utf-8 (BOM)"), 1));
    let e = entry(&inv, "reports/ps.csv");
    assert_eq!(e.encoding.as_deref(), Some("utf-16le (BOM re-encoded as UTF-8)"));
    assert!(problem(&inv, "reports/ps.csv").contains("text-mode write removed"), "{:?}", e.notes);
    let f = inv.facts.facts.iter().find(|f| f.file == "reports/ps.csv").expect("the fact of ps.csv");
    assert_eq!(
        (f.metric.as_str(), f.value, f.location.as_str()),
        ("tokens_per_s", 5.0, "column tokens_s, row 1")
    );
    assert_good_still_parsed(&inv);
}

#[test]
fn empty_and_whitespace_files_are_failures() {
    let d = corpus();
    write(d.path(), "reports/empty.json", b"");
    write(d.path(), "reports/blank.md", b"  \n\n");
    let inv = run(d.path());
    assert_eq!(entry(&inv, "reports/empty.json").reason.as_deref(), Some("empty file (0 bytes)"));
    assert_eq!(entry(&inv, "reports/empty.json").status, ParseStatus::Failed);
    assert_eq!(entry(&inv, "reports/blank.md").reason.as_deref(), Some("no content (only whitespace)"));
    assert_eq!(inv.type_stats(FileKind::Json).unwrap().failed, 1);
    assert_good_still_parsed(&inv);
}

#[test]
fn files_over_the_size_cap_are_skipped_with_the_flag_to_use() {
    let d = corpus();
    write(d.path(), "reports/big.json", format!("{{\"x\": \"{}\"}}", "a".repeat(5000)).as_bytes());
    let opts = CollectOptions { max_file_bytes: 1000, ..CollectOptions::default() };
    let inv = collect(&[d.path().to_path_buf()], &opts).unwrap();
    let e = entry(&inv, "reports/big.json");
    assert_eq!(e.status, ParseStatus::Skipped);
    assert_eq!(e.sha256, None, "a skipped file is not read");
    assert!(e.reason.as_deref().unwrap().contains("over the size cap of 1000 bytes; raise --max-file-bytes"));
    assert_good_still_parsed(&inv);
}

/// Denies reading one file, like a file without read permission (root ignores `chmod 000`).
struct Denying(&'static str);

impl FileReader for Denying {
    fn read_capped(&self, path: &Path, cap: u64) -> std::io::Result<Capped> {
        if path.ends_with(self.0) {
            return Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        }
        StdReader.read_capped(path, cap)
    }
}

#[test]
fn permission_denied_is_listed_and_the_scan_goes_on() {
    let d = corpus();
    write(d.path(), "reports/secret.json", b"{\"tokens_s\": 1}");
    let inv =
        collect_with(&[d.path().to_path_buf()], &CollectOptions::default(), &Denying("secret.json")).unwrap();
    let e = entry(&inv, "reports/secret.json");
    assert_eq!(e.status, ParseStatus::Skipped);
    assert!(e.reason.as_deref().unwrap().starts_with("permission denied"), "{:?}", e.reason);
    assert!(e.reason.as_deref().unwrap().contains("grant read access"));
    assert_good_still_parsed(&inv);
}

#[cfg(unix)]
#[test]
fn unreadable_folder_is_listed_when_the_os_denies_it() {
    use std::os::unix::fs::PermissionsExt;
    let d = corpus();
    write(d.path(), "reports/locked/a.csv", b"tokens_s\n1\n");
    let locked = d.path().join("reports/locked");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let denied = std::fs::read_dir(&locked).is_err();
    let inv = run(d.path());
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    if denied {
        // Not root: the real OS error path.
        assert!(problem(&inv, "reports/locked").starts_with("permission denied"), "{:?}", inv.problems);
    } else {
        // Root reads anything; the folder is simply scanned (the injected-reader test above
        // covers the permission-denied path for files).
        assert_eq!(entry(&inv, "reports/locked/a.csv").status, ParseStatus::Ok);
    }
    assert_good_still_parsed(&inv);
}

#[cfg(unix)]
#[test]
fn symlink_loops_are_listed_not_followed_forever() {
    let d = corpus();
    std::fs::create_dir_all(d.path().join("reports/sub")).unwrap();
    std::os::unix::fs::symlink(d.path().join("reports"), d.path().join("reports/sub/loop")).unwrap();
    std::os::unix::fs::symlink(d.path().join("reports/nowhere"), d.path().join("reports/dangling.csv"))
        .unwrap();
    let inv = run(d.path());
    let reason = problem(&inv, "reports/sub/loop");
    assert!(reason.starts_with("symlink loop: points back to `reports`"), "{reason}");
    // The same one level up (the root's own listing is read separately from its sub-folders).
    std::os::unix::fs::symlink(d.path().join("reports"), d.path().join("reports/top_loop")).unwrap();
    let inv = run(d.path());
    let reason = problem(&inv, "reports/top_loop");
    assert!(reason.starts_with("symlink loop: points back to `reports`"), "{reason}");
    assert_eq!(inv.analysed_files(), 1);
    assert!(problem(&inv, "reports/dangling.csv").contains("dangling symlink"), "{:?}", inv.problems);
    assert_eq!(inv.analysed_files(), 1);
    assert_good_still_parsed(&inv);
}

#[cfg(unix)]
#[test]
fn fifos_and_links_to_devices_are_listed_not_read() {
    let d = corpus();
    let fifo = d.path().join("reports/pipe.csv");
    let st = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(st.success());
    std::os::unix::fs::symlink("/dev/null", d.path().join("reports/null.json")).unwrap();
    // A FIFO opened for reading would block the scan forever: it must never be opened.
    let inv = run(d.path());
    for p in ["reports/pipe.csv", "reports/null.json"] {
        let reason = problem(&inv, p);
        assert_eq!(reason, "not a regular file (FIFO, socket or device); not read");
        let sev = inv.problems.iter().find(|x| x.path == p).unwrap().severity;
        assert_eq!(sev, Severity::Skipped);
        assert!(!inv.files.iter().any(|f| f.rel_path == p), "{p} listed as a file");
    }
    assert_eq!(inv.analysed_files(), 1);
    assert_good_still_parsed(&inv);
}

#[test]
fn json_deeper_than_127_says_the_limit_cannot_be_raised() {
    let d = corpus();
    let depth = 130;
    let text = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    write(d.path(), "reports/deep.json", text.as_bytes());
    let opts = CollectOptions { max_json_depth: 127, ..CollectOptions::default() };
    let inv = collect(&[d.path().to_path_buf()], &opts).unwrap();
    let reason = entry(&inv, "reports/deep.json").reason.clone().unwrap();
    assert!(reason.ends_with("(127 is the most Chimera parses; flatten the file)"), "{reason}");
    // Below the ceiling the message says how far it can be raised.
    let reason = entry(&run(d.path()), "reports/deep.json").reason.clone().unwrap();
    assert!(reason.ends_with("(flatten the file or raise max_json_depth (at most 127))"), "{reason}");
}

#[test]
fn json_nested_deeper_than_any_stack_is_a_failure_not_a_crash() {
    let d = corpus();
    let deep = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
    write(d.path(), "reports/deep.json", deep.as_bytes());
    let inv = run(d.path());
    let e = entry(&inv, "reports/deep.json");
    assert_eq!(e.status, ParseStatus::Failed);
    assert!(
        e.reason.as_deref().unwrap().starts_with("JSON nested 1000000 levels deep, over the limit of 64"),
        "{:?}",
        e.reason
    );
    assert_good_still_parsed(&inv);
}

#[test]
fn json_nested_within_the_limit_is_walked_iteratively() {
    let d = corpus();
    let depth = 100;
    let text = format!("{}{{\"model\":\"m\",\"tokens_s\":3}}{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    write(d.path(), "reports/nested.json", text.as_bytes());
    let opts = CollectOptions { max_json_depth: 120, ..CollectOptions::default() };
    let inv = collect(&[d.path().to_path_buf()], &opts).unwrap();
    let e = entry(&inv, "reports/nested.json");
    assert_eq!(e.status, ParseStatus::Ok, "{:?}", e.reason);
    assert_eq!(e.json.as_ref().unwrap().max_depth, depth + 1);
    let f = inv.facts.facts.iter().find(|f| f.file == "reports/nested.json").unwrap();
    assert_eq!(f.value, 3.0);
    assert_eq!(f.location, format!("${}.tokens_s", ".a".repeat(depth)));
    assert_eq!(f.group.get("model").map(String::as_str), Some("m"));
    // The same file over the default limit of 64: refused with its exact depth.
    let inv = run(d.path());
    let e = entry(&inv, "reports/nested.json");
    assert_eq!(e.status, ParseStatus::Failed);
    assert!(
        e.reason.as_deref().unwrap().starts_with("JSON nested 101 levels deep, over the limit of 64"),
        "{e:?}"
    );
    assert!(!inv.facts.facts.iter().any(|f| f.file == "reports/nested.json"));
}

#[test]
fn jsonl_with_a_bad_line_keeps_the_good_lines() {
    let d = corpus();
    write(d.path(), "reports/runs.jsonl", b"{\"ttft_ms\": 5}\nnot json\n{\"ttft_ms\": 7}\n");
    let inv = run(d.path());
    let e = entry(&inv, "reports/runs.jsonl");
    assert_eq!(e.status, ParseStatus::Ok);
    let j = e.json.as_ref().unwrap();
    assert_eq!((j.lines, j.bad_lines), (3, 1));
    assert!(
        problem(&inv, "reports/runs.jsonl")
            .starts_with("1 of 3 JSON lines failed; first: line 2: malformed JSON")
    );
    let g = inv.facts.groups.iter().find(|g| g.files == ["reports/runs.jsonl"]).unwrap();
    assert_eq!((g.summary.n, g.summary.mean), (2, 6.0));
}

#[test]
fn other_types_are_counted_as_ignored_and_markdown_variants_are_analysed() {
    let d = corpus();
    write(d.path(), "reports/plot.png", b"\x89PNG");
    write(d.path(), "csv_data/notes.txt", b"x");
    write(d.path(), "artifacts/readme.markdown", b"# Title\n| a |\n");
    write(d.path(), "artifacts/UPPER.MD", b"# T\n");
    let inv = run(d.path());
    assert_eq!(inv.count(FileKind::Ignored), 2);
    assert_eq!(inv.count(FileKind::Markdown), 2);
    assert_eq!(inv.analysed_files(), 3);
    assert_eq!(entry(&inv, "reports/plot.png").status, ParseStatus::NotParsed);
    assert!(inv.coverage.iter().all(|c| c.present));
    assert!(!inv.problems.iter().any(|p| p.severity != Severity::Warning));
}

#[test]
fn missing_dir_is_a_typed_error() {
    let d = tempfile::tempdir().unwrap();
    let missing: PathBuf = d.path().join("nope");
    match collect(std::slice::from_ref(&missing), &CollectOptions::default()) {
        Err(InventoryError::MissingDir { path }) => assert_eq!(path, missing),
        other => panic!("expected MissingDir, got {other:?}"),
    }
    let opts = CollectOptions { roots: vec![missing.clone()], ..CollectOptions::default() };
    assert!(matches!(collect(&[], &opts), Err(InventoryError::MissingDir { .. })));
}

#[test]
fn a_dir_without_default_roots_is_scanned_whole() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "x/run.csv", b"tokens_s\n1\n");
    let inv = run(d.path());
    assert_eq!(inv.analysed_files(), 1);
    assert_eq!(inv.files[0].rel_path, "x/run.csv");
    let missing: Vec<&str> = inv.coverage.iter().filter(|c| !c.present).map(|c| c.root.as_str()).collect();
    assert_eq!(missing, ["reports", "csv_data", "artifacts"]);
}

/// Descriptors of this process that point into `dir` (other tests' files are elsewhere).
#[cfg(target_os = "linux")]
fn open_under(dir: &Path) -> Vec<PathBuf> {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(&dir))
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn collect_leaves_no_file_or_folder_open() {
    // Workers open files relative to a folder they keep open; none may outlive the collection.
    let d = corpus();
    for i in 0..300 {
        write(d.path(), &format!("reports/f{}/r{i}.csv", i % 7), b"model,ttft_s\nm,1\n");
    }
    let inv = run(d.path());
    assert_eq!(inv.analysed_files(), 301);
    assert_eq!(open_under(d.path()), Vec::<PathBuf>::new());
}
