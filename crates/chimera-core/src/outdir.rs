//! Output folders (`--out`), one rule for every command that writes one: a new or empty folder
//! is used as it is; a folder that holds anything is refused unless the user asks to replace
//! a Chimera output folder (`--force`) or, where the command supports it, to continue it
//! (`--resume`); and the folder must be creatable and writable before the first request.
//!
//! [`OutDir::check`] has no side effect (the command's validation stage calls it, so a bad
//! `--out` fails before anything runs); [`OutDir::prepare`] replaces the old folder when asked
//! and creates the new one (called once the run is about to start).

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// What to do with an output folder that already holds something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reuse {
    /// Refuse it (the default).
    #[default]
    Refuse,
    /// `--force`: replace it, if it is a Chimera output folder.
    Replace,
    /// `--resume`: continue it (the command checks that it holds the same kind of work).
    Resume,
}

/// An output folder and what may happen to what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutDir {
    pub path: PathBuf,
    pub reuse: Reuse,
    /// Whether the command offers `--resume` (named in the refusal).
    pub resumable: bool,
}

/// Why an output folder cannot be used; each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutDirError {
    #[error("--out {path}: {blocker} is a file, not a folder; choose a folder (it is created if missing)")]
    NotAFolder { path: String, blocker: String },
    #[error(
        "--out {path} already holds Chimera results ({found}); pass --force to replace them{resume}, or choose another --out"
    )]
    HoldsResults { path: String, found: String, resume: &'static str },
    #[error(
        "--out {path} is not empty ({found}) and is not a Chimera output folder; choose a new or empty folder \
         (--force replaces only a folder of Chimera results)"
    )]
    NotEmpty { path: String, found: String },
    #[error(
        "--out {path} is not writable: cannot create a file in {dir}: {detail}; choose a writable folder (or free some space)"
    )]
    NotWritable { path: String, dir: String, detail: String },
    #[error("--out {path}: cannot {what}: {detail}")]
    Io { path: String, what: &'static str, detail: String },
}

/// Top-level names the commands write (`run_N` folders and atomic-write temporaries aside).
const CHIMERA_NAMES: &[&str] = &[
    "report.md",
    "metrics.json",
    "manifest.json",
    "comparison_report.md",
    "baseline_report.md",
    "chimera_report.md",
    "report.html",
    "summary.md",
    "summary.json",
    "points.csv",
    "points.jsonl",
    "plots",
    "load.json",
    "load.md",
    "capacity.json",
    "capacity.md",
    "sessions",
    "levels",
    "agents",
    "sweep",
    "multi",
    "bench_data",
];

/// Files whose JSON says it was written by Chimera (`"tool": "chimera"`, a `kind`/`schema` that
/// starts with `chimera`, or a nested manifest of Chimera's).
const MARKER_FILES: &[&str] =
    &["manifest.json", "summary.json", "metrics.json", "load.json", "capacity.json"];

fn is_chimera_name(name: &str) -> bool {
    let run_dir =
        name.strip_prefix("run_").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let temp = name.starts_with('.') && name.contains(".tmp-");
    run_dir || temp || CHIMERA_NAMES.contains(&name)
}

fn says_chimera(v: &serde_json::Value) -> bool {
    let starts = |k: &str| v.get(k).and_then(|s| s.as_str()).is_some_and(|s| s.starts_with("chimera"));
    starts("tool") || starts("kind") || starts("schema") || v.get("manifest").is_some_and(says_chimera)
}

/// Whether `dir` holds the results of some Chimera command: a manifest, summary or metrics file
/// of Chimera's, a sweep's `points.jsonl`, or nothing but names Chimera writes (a run killed
/// before its first summary).
pub fn is_chimera_output(dir: &Path, entries: &[String]) -> bool {
    let marked = MARKER_FILES.iter().any(|f| {
        std::fs::read(dir.join(f))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| says_chimera(&v))
    });
    marked || dir.join("points.jsonl").is_file() || entries.iter().all(|e| is_chimera_name(e))
}

/// The names in `dir`, sorted.
fn entries(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

/// A few names, for a message.
fn some(names: &[String]) -> String {
    const SHOWN: usize = 4;
    let mut s = names.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(", … {} entries in all", names.len()));
    }
    s
}

/// Create a small file in `dir` and remove it: a read-only mount, missing permissions or a full
/// disk fail here rather than after the run.
fn probe(dir: &Path) -> std::io::Result<()> {
    let p = dir.join(format!(".chimera-write-test-{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&p)?;
        f.write_all(b"chimera\n")?;
        f.sync_all()
    })();
    let removed = std::fs::remove_file(&p);
    written?;
    match removed {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl OutDir {
    /// A folder to write into, refusing one that holds anything.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        OutDir { path: path.into(), reuse: Reuse::Refuse, resumable: false }
    }

    /// `--force` (replace) / `--resume` (continue); `resumable` when the command offers `--resume`.
    pub fn with(mut self, reuse: Reuse, resumable: bool) -> Self {
        self.reuse = reuse;
        self.resumable = resumable;
        self
    }

    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    fn io(&self, what: &'static str, e: std::io::Error) -> OutDirError {
        OutDirError::Io { path: self.shown(), what, detail: e.to_string() }
    }

    /// Check, without changing anything, that the folder can be used as asked and written.
    pub fn check(&self) -> Result<(), OutDirError> {
        // The folder itself, or the nearest ancestor that exists (where it would be created).
        let mut at: &Path = &self.path;
        let existing = loop {
            match std::fs::metadata(at) {
                Ok(m) => break (at, m),
                // Missing, or below a file (`a-file/sub`): look further up.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                    ) =>
                {
                    at = match at.parent() {
                        Some(p) if !p.as_os_str().is_empty() => p,
                        _ => Path::new("."),
                    };
                }
                Err(e) => return Err(self.io("read it", e)),
            }
        };
        let (dir, meta) = existing;
        if !meta.is_dir() {
            return Err(OutDirError::NotAFolder { path: self.shown(), blocker: dir.display().to_string() });
        }
        if dir == self.path.as_path() {
            let names = entries(dir).map_err(|e| self.io("list it", e))?;
            if !names.is_empty() && self.reuse != Reuse::Resume {
                let chimera = is_chimera_output(dir, &names);
                match (chimera, self.reuse) {
                    (true, Reuse::Replace) => {}
                    (true, _) => {
                        return Err(OutDirError::HoldsResults {
                            path: self.shown(),
                            found: some(&names),
                            resume: if self.resumable { " (or --resume to continue them)" } else { "" },
                        });
                    }
                    (false, _) => {
                        return Err(OutDirError::NotEmpty { path: self.shown(), found: some(&names) });
                    }
                }
            }
        }
        probe(dir).map_err(|e| OutDirError::NotWritable {
            path: self.shown(),
            dir: dir.display().to_string(),
            detail: e.to_string(),
        })
    }

    /// Check again (the folder may have changed since), then replace the old folder when
    /// `--force` said so and create the folder.
    pub fn prepare(&self) -> Result<(), OutDirError> {
        self.check()?;
        if self.reuse == Reuse::Replace && self.path.is_dir() {
            std::fs::remove_dir_all(&self.path).map_err(|e| self.io("remove the old results", e))?;
        }
        std::fs::create_dir_all(&self.path).map_err(|e| self.io("create it", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(o: &OutDir) -> String {
        o.check().unwrap_err().to_string()
    }

    #[test]
    fn new_and_empty_folders_are_used_as_they_are() {
        let d = tempfile::tempdir().unwrap();
        let deep = OutDir::new(d.path().join("a/b/c"));
        deep.check().unwrap();
        assert!(!d.path().join("a").exists(), "check changes nothing");
        deep.prepare().unwrap();
        assert!(d.path().join("a/b/c").is_dir());
        deep.check().unwrap();
        assert_eq!(entries(d.path().join("a/b/c").as_path()).unwrap().len(), 0, "the probe file is gone");
    }

    #[test]
    fn a_folder_of_results_is_refused_unless_replaced_or_resumed() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        std::fs::create_dir_all(out.join("run_3")).unwrap();
        std::fs::write(out.join("summary.json"), r#"{"schema":"chimera.multi/1"}"#).unwrap();
        let e = err(&OutDir::new(&out));
        assert!(e.contains("already holds Chimera results (run_3, summary.json)"), "{e}");
        assert!(e.contains("--force") && !e.contains("--resume"), "{e}");
        let e = err(&OutDir::new(&out).with(Reuse::Refuse, true));
        assert!(e.contains("--resume to continue"), "{e}");
        OutDir::new(&out).with(Reuse::Resume, true).prepare().unwrap();
        assert!(out.join("run_3").is_dir(), "resume keeps everything");
        OutDir::new(&out).with(Reuse::Replace, false).prepare().unwrap();
        assert_eq!(entries(&out).unwrap().len(), 0, "--force replaced the folder");
    }

    #[test]
    fn foreign_folders_are_never_replaced() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("thesis.tex"), "keep me").unwrap();
        std::fs::write(d.path().join("report.md"), "my own notes").unwrap();
        for reuse in [Reuse::Refuse, Reuse::Replace] {
            let e = err(&OutDir::new(d.path()).with(reuse, false));
            assert!(
                e.contains("is not empty (report.md, thesis.tex) and is not a Chimera output folder"),
                "{e}"
            );
        }
        assert!(OutDir::new(d.path()).with(Reuse::Replace, false).prepare().is_err());
        assert_eq!(std::fs::read_to_string(d.path().join("thesis.tex")).unwrap(), "keep me");
        // A metrics.json of another tool does not make it Chimera's.
        std::fs::write(d.path().join("metrics.json"), r#"{"kind":"other"}"#).unwrap();
        assert!(!is_chimera_output(d.path(), &entries(d.path()).unwrap()));
        std::fs::write(d.path().join("manifest.json"), r#"{"tool":"chimera"}"#).unwrap();
        assert!(is_chimera_output(d.path(), &entries(d.path()).unwrap()));
    }

    #[test]
    fn names_written_by_chimera() {
        for n in ["run_1", "run_12", ".report.md.tmp-77", "points.jsonl", "plots"] {
            assert!(is_chimera_name(n), "{n}");
        }
        for n in ["run_", "run_x", "notes.txt", ".git"] {
            assert!(!is_chimera_name(n), "{n}");
        }
    }

    #[test]
    fn a_file_in_the_way_is_named() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, "x").unwrap();
        let e = err(&OutDir::new(&f));
        assert!(e.contains(&format!("{} is a file, not a folder", f.display())), "{e}");
        let e = err(&OutDir::new(f.join("sub/out")));
        assert!(e.contains(&format!("{} is a file, not a folder", f.display())), "{e}");
    }
}
