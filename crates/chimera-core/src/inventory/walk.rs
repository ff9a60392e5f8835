//! Which roots to scan under which DIRs, and the sorted file walk (symlink loops, unreadable
//! folders, dangling links, FIFOs, sockets and devices are recorded as problems, never fatal),
//! and a walked path's stem (which files are twins in several formats).

use std::path::{Path, PathBuf};

use super::{DEFAULT_ROOTS, FileEntry, FileKind, InventoryError, Problem, RootCoverage, Severity};

/// One root to walk.
#[derive(Debug, Clone)]
pub struct PlannedRoot {
    /// The DIR (or `--root` path) as given.
    pub dir: String,
    /// `reports`, `csv_data`, `artifacts`, the `--root` folder name, or `.` for a DIR scanned whole.
    pub name: String,
    pub path: PathBuf,
    pub present: bool,
    /// Prefix of `rel_path` for files under this root (`reports`, `run1/reports`, …).
    pub prefix: String,
}

/// The roots of a collection.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub roots: Vec<PlannedRoot>,
}

/// A file found by the walk (its size and modification time are read when it is parsed).
#[derive(Debug, Clone)]
pub struct WalkedFile {
    pub path: PathBuf,
    pub rel_path: String,
    pub kind: FileKind,
}

/// Files (sorted by `rel_path`) and the problems met while walking.
#[derive(Debug, Default)]
pub struct Walked {
    pub files: Vec<WalkedFile>,
    pub problems: Vec<Problem>,
}

fn check_dir(p: &Path) -> Result<(), InventoryError> {
    match std::fs::metadata(p) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(InventoryError::NotADir { path: p.to_path_buf() }),
        Err(_) => Err(InventoryError::MissingDir { path: p.to_path_buf() }),
    }
}

fn name_of(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}

/// The folders' names, numbered (`1-reports`, `2-reports`) when two share one.
fn labels(paths: &[PathBuf]) -> Vec<String> {
    let names: Vec<String> = paths.iter().map(|p| name_of(p)).collect();
    let unique = names.iter().collect::<std::collections::BTreeSet<_>>().len() == names.len();
    names.into_iter().enumerate().map(|(i, n)| if unique { n } else { format!("{}-{n}", i + 1) }).collect()
}

fn join(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (_, true) => prefix.to_string(),
        _ => format!("{prefix}/{rest}"),
    }
}

/// (path without its extension, file name without it): `a/b/c.tar.json` → (`a/b/c.tar`, `c.tar`).
pub fn stem_of(rel_path: &str) -> (&str, &str) {
    let name_start = rel_path.rfind('/').map(|i| i + 1).unwrap_or(0);
    match rel_path[name_start..].rfind('.') {
        Some(dot) if dot > 0 => (&rel_path[..name_start + dot], &rel_path[name_start..name_start + dot]),
        _ => (rel_path, &rel_path[name_start..]),
    }
}

/// Decide the roots: explicit `roots` if any (each must exist), else the default roots under
/// each DIR (a DIR with none of them is scanned whole). Every DIR must exist.
pub fn plan(dirs: &[PathBuf], roots: &[PathBuf]) -> Result<Plan, InventoryError> {
    for d in dirs {
        check_dir(d)?;
    }
    let mut plan = Plan::default();
    if !roots.is_empty() {
        for (r, prefix) in roots.iter().zip(labels(roots)) {
            check_dir(r)?;
            let (dir, name, path) = (r.display().to_string(), name_of(r), r.clone());
            plan.roots.push(PlannedRoot { dir, name, path, present: true, prefix });
        }
        return Ok(plan);
    }
    let labels = if dirs.len() > 1 { labels(dirs) } else { vec![String::new(); dirs.len()] };
    for (d, label) in dirs.iter().zip(labels) {
        let dir = d.display().to_string();
        let mut any = false;
        for r in DEFAULT_ROOTS {
            let path = d.join(r);
            let present = path.is_dir();
            any |= present;
            plan.roots.push(PlannedRoot {
                dir: dir.clone(),
                name: r.into(),
                path,
                present,
                prefix: join(&label, r),
            });
        }
        if !any {
            plan.roots.push(PlannedRoot {
                dir,
                name: ".".into(),
                path: d.clone(),
                present: true,
                prefix: label,
            });
        }
    }
    Ok(plan)
}

fn rel_under(root: &Path, p: &Path) -> String {
    let rest = p.strip_prefix(root).unwrap_or(p);
    rest.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/")
}

/// Walk every present root, following symlinks (loops are detected and recorded), sorted by
/// `rel_path`.
pub fn walk(plan: &Plan) -> Walked {
    let mut out = Walked::default();
    for root in plan.roots.iter().filter(|r| r.present) {
        for item in walkdir::WalkDir::new(&root.path).follow_links(true) {
            match item {
                Ok(e) if e.file_type().is_file() => {
                    let rel_path = join(&root.prefix, &rel_under(&root.path, e.path()));
                    let kind = FileKind::from_name(rel_path.rsplit('/').next().unwrap_or(&rel_path));
                    out.files.push(WalkedFile { path: e.into_path(), rel_path, kind });
                }
                Ok(e) if !e.file_type().is_dir() => out.problems.push(Problem {
                    path: join(&root.prefix, &rel_under(&root.path, e.path())),
                    severity: Severity::Skipped,
                    reason: "not a regular file (FIFO, socket or device); not read".into(),
                }),
                Ok(_) => {}
                Err(err) => out.problems.push(walk_problem(root, &err)),
            }
        }
    }
    out.files.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    out
}

fn walk_problem(root: &PlannedRoot, err: &walkdir::Error) -> Problem {
    let path = err.path().map(|p| join(&root.prefix, &rel_under(&root.path, p))).unwrap_or_default();
    let reason = if let Some(anc) = err.loop_ancestor() {
        format!(
            "symlink loop: points back to `{}`; not followed",
            join(&root.prefix, &rel_under(&root.path, anc))
        )
    } else if let Some(io) = err.io_error() {
        match io.kind() {
            std::io::ErrorKind::PermissionDenied => {
                format!("permission denied: {io}; grant read access to include it")
            }
            std::io::ErrorKind::NotFound => format!("dangling symlink or vanished file: {io}"),
            _ => format!("cannot read: {io}"),
        }
    } else {
        err.to_string()
    };
    Problem { path, severity: Severity::Failed, reason }
}

/// Coverage rows: each planned root, present or missing, with its file count.
pub fn coverage(plan: &Plan, files: &[FileEntry]) -> Vec<RootCoverage> {
    plan.roots
        .iter()
        .map(|r| {
            let n = if !r.present {
                0
            } else if r.prefix.is_empty() {
                files.len()
            } else {
                let pre = format!("{}/", r.prefix);
                files.iter().filter(|f| f.rel_path.starts_with(&pre)).count()
            };
            RootCoverage { dir: r.dir.clone(), root: r.name.clone(), present: r.present, files: n }
        })
        .collect()
}
