//! `compare` reads both outputs through the typed loader: results written by the code before
//! typed records (the golden outputs under `testdata/golden/`) and the same results written
//! again now (kind, schema_version, typed fields) give the same figures and pass the gate.

use std::path::{Path, PathBuf};

use chimera_core::compare::{CompareError, Thresholds, Verdict, compare, extract};
use chimera_core::export::{self, Json};
use chimera_core::load::{Results, load_dir};
use chimera_core::records::Kind;

fn golden(case: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/golden")).join(case)
}

/// The results of `from` written again by this version's JSON exporter into `to`.
fn rewrite(from: &Path, to: &Path) {
    let loaded = load_dir(from).unwrap();
    match &loaded.results {
        Results::Bench(b) => export::write(&Json, b.as_ref(), &to.join("metrics.json")).unwrap(),
        Results::Sweep(s) => export::write(&Json, s.as_ref(), &to.join("summary.json")).unwrap(),
        Results::Multi(m) => {
            export::write(&Json, &m.summary, &to.join("summary.json")).unwrap();
            for r in &m.runs {
                export::write(&Json, r, &to.join(format!("run_{}/metrics.json", r.run))).unwrap();
            }
        }
        Results::Load(l) => export::write(&Json, l.as_ref(), &to.join("load.json")).unwrap(),
        Results::Capacity(c) => export::write(&Json, c.as_ref(), &to.join("capacity.json")).unwrap(),
        Results::Agent(_) => unreachable!("compare does not read agent outputs"),
    }
}

#[test]
fn old_and_new_files_of_every_kind_compare_alike() {
    for (case, kind) in [
        ("bench", Kind::Bench),
        ("multi", Kind::Multi),
        ("sweep", Kind::Sweep),
        ("sweep_scenario", Kind::Sweep),
    ] {
        let d = tempfile::tempdir().unwrap();
        rewrite(&golden(case), d.path());
        let text = std::fs::read_to_string(d.path().join(if kind == Kind::Bench {
            "metrics.json"
        } else {
            "summary.json"
        }))
        .unwrap();
        assert!(
            text.starts_with(&format!("{{\n  \"kind\": \"{kind}\",\n  \"schema_version\":")),
            "{case}: {}",
            &text[..80]
        );
        let old = extract(&golden(case)).unwrap();
        let new = extract(d.path()).unwrap();
        assert_eq!((old.kind, new.kind), (kind, kind), "{case}");
        assert!(!old.figures.is_empty(), "{case}: no figure read");
        assert_eq!(old.figures, new.figures, "{case}");
        let c = compare(&old, &new, Thresholds::default()).unwrap();
        assert!(!c.failed, "{case}: {:?}", c.rows);
        assert!(c.only_in_old.is_empty() && c.only_in_new.is_empty(), "{case}");
        assert!(c.rows.iter().all(|r| r.verdict != Verdict::Fail), "{case}");
    }
    // the golden multi run records give each agent's TTFT (masked to 0 in the goldens)
    let multi = extract(&golden("multi")).unwrap();
    let names: Vec<&str> = multi.figures.iter().map(|f| f.name.as_str()).collect();
    assert!(
        names.contains(&"Chimera Agent B · TTFT (ms)") && names.contains(&"aggregate throughput (tok/s)"),
        "{names:?}"
    );
}

#[test]
fn outputs_of_different_kinds_do_not_compare() {
    let bench = extract(&golden("bench")).unwrap();
    let sweep = extract(&golden("sweep")).unwrap();
    let e = compare(&bench, &sweep, Thresholds::default()).unwrap_err();
    assert!(matches!(e, CompareError::KindMismatch { old: Kind::Bench, new: Kind::Sweep }), "{e}");
    assert!(e.to_string().contains("a bench output with a sweep output"), "{e}");
    let e = extract(&golden("agent")).unwrap_err();
    assert!(matches!(e, CompareError::NotComparable { kind: Kind::Agent, .. }), "{e}");
}
