//! Which roots to scan under which DIRs, and the sorted file walk (symlink loops, unreadable
//! folders and dangling links are recorded as problems, never fatal).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

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

/// A file found by the walk. Its size and modification time are read later, on the worker
/// pool, from the opened file (one `fstat` instead of an `lstat` in the sequential walk).
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

fn join(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (_, true) => prefix.to_string(),
        _ => format!("{prefix}/{rest}"),
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
        let multi =
            roots.iter().map(|r| name_of(r)).collect::<std::collections::BTreeSet<_>>().len() < roots.len();
        for (i, r) in roots.iter().enumerate() {
            check_dir(r)?;
            let name = name_of(r);
            let prefix = if multi { format!("{}-{name}", i + 1) } else { name.clone() };
            plan.roots.push(PlannedRoot {
                dir: r.display().to_string(),
                name,
                path: r.clone(),
                present: true,
                prefix,
            });
        }
        return Ok(plan);
    }
    let labels: Vec<String> = if dirs.len() > 1 {
        let names: Vec<String> = dirs.iter().map(|d| name_of(d)).collect();
        let unique = names.iter().collect::<std::collections::BTreeSet<_>>().len() == names.len();
        names
            .into_iter()
            .enumerate()
            .map(|(i, n)| if unique { n } else { format!("{}-{n}", i + 1) })
            .collect()
    } else {
        vec![String::new(); dirs.len()]
    };
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

/// Walk every present root, following symlinks (loops are detected and recorded), sorted.
///
/// Each root's first level is listed here; its sub-folders are walked in parallel on the
/// rayon pool (one `walkdir` walk each, sorted there), and the results are put in order.
pub fn walk(plan: &Plan) -> Walked {
    let mut out = Walked::default();
    // Blocks of files, each sorted: a root's own files one by one, and each sub-folder's files
    // (sorted on the pool). Paths under a folder `d` all start with `d/`, which no other block
    // shares, so the blocks never interleave: ordered by their first path, they concatenate
    // into sorted order without sorting every path again on one thread.
    let mut blocks: Vec<Vec<WalkedFile>> = Vec::new();
    for root in plan.roots.iter().filter(|r| r.present) {
        let top = list_top(root, &mut out);
        let root_id = dir_id(&root.path);
        let subdirs: Vec<&PathBuf> =
            top.iter().filter_map(|t| if let Top::Dir(d) = t { Some(d) } else { None }).collect();
        let parts: Vec<Walked> = subdirs.par_iter().map(|d| walk_subdir(root, root_id, d)).collect();
        for part in parts {
            blocks.push(part.files);
            out.problems.extend(part.problems);
        }
        blocks
            .extend(top.into_iter().filter_map(|t| if let Top::File(f) = t { Some(vec![f]) } else { None }));
    }
    blocks.retain(|b| !b.is_empty());
    blocks.sort_unstable_by(|a, b| a[0].rel_path.cmp(&b[0].rel_path));
    out.files = blocks.into_iter().flatten().collect();
    if !out.files.is_sorted_by(|a, b| a.rel_path <= b.rel_path) {
        // Not expected (roots whose prefixes nest); sorting is always right.
        #[cfg(test)]
        tests::RESORTED.with(|n| n.set(n.get() + 1));
        out.files.sort_unstable_by(|a, b| a.rel_path.cmp(&b.rel_path));
    }
    out
}

/// An entry at a root's first level.
enum Top {
    File(WalkedFile),
    Dir(PathBuf),
}

/// The first level of a root, sorted by name: files, and folders for [`walk_subdir`]. (A `walkdir` walk limited to depth 1 would still read every sub-folder.)
fn list_top(root: &PlannedRoot, out: &mut Walked) -> Vec<Top> {
    let problem = |out: &mut Walked, p: &Path, reason: String| {
        out.problems.push(Problem {
            path: join(&root.prefix, &rel_under(&root.path, p)),
            severity: Severity::Failed,
            reason,
        })
    };
    let io_reason = |e: &std::io::Error| match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            format!("permission denied: {e}; grant read access to include it")
        }
        std::io::ErrorKind::NotFound => format!("dangling symlink or vanished file: {e}"),
        _ => format!("cannot read: {e}"),
    };
    let entries = match std::fs::read_dir(&root.path) {
        Ok(rd) => rd,
        Err(e) => {
            problem(out, &root.path, io_reason(&e));
            return Vec::new();
        }
    };
    let mut entries: Vec<std::fs::DirEntry> =
        entries.filter_map(|e| e.map_err(|e| problem(out, &root.path, io_reason(&e))).ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    let root_id = dir_id(&root.path);
    let mut top = Vec::new();
    for e in entries {
        let path = e.path();
        let Ok(mut ft) = e.file_type() else { continue };
        if ft.is_symlink() {
            match std::fs::metadata(&path) {
                Ok(m) => ft = m.file_type(),
                Err(err) => {
                    problem(out, &path, io_reason(&err));
                    continue;
                }
            }
            if ft.is_dir() && root_id.is_some() && dir_id(&path) == root_id {
                let reason = format!("symlink loop: points back to `{}`; not followed", root.prefix);
                problem(out, &path, reason);
                continue;
            }
        }
        if ft.is_dir() {
            top.push(Top::Dir(path));
        } else if ft.is_file() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            top.push(Top::File(WalkedFile {
                kind: FileKind::from_name(&name),
                rel_path: join(&root.prefix, &name),
                path,
            }));
        }
    }
    top
}

/// (device, inode) of a folder, following links.
fn dir_id(p: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// Walk one sub-folder of a root. `walkdir` detects loops back to the sub-folder or below; a
/// folder that is the root itself (reached through a link) is the one ancestor it cannot see,
/// so it is checked here.
fn walk_subdir(root: &PlannedRoot, root_id: Option<(u64, u64)>, dir: &Path) -> Walked {
    let mut out = Walked::default();
    let back_to_root = std::cell::RefCell::new(Vec::new());
    let it = walkdir::WalkDir::new(dir).follow_links(true).into_iter().filter_entry(|e| {
        if !e.file_type().is_dir() || root_id.is_none() || dir_id(e.path()) != root_id {
            return true;
        }
        back_to_root.borrow_mut().push(Problem {
            path: join(&root.prefix, &rel_under(&root.path, e.path())),
            severity: Severity::Failed,
            reason: format!("symlink loop: points back to `{}`; not followed", root.prefix),
        });
        false
    });
    for item in it {
        match item {
            Ok(e) if e.file_type().is_file() => visit_entry(root, e, &mut out),
            Ok(_) => {}
            Err(err) => out.problems.push(walk_problem(root, &err)),
        }
    }
    out.problems.extend(back_to_root.into_inner());
    out.files.sort_unstable_by(|a, b| a.rel_path.cmp(&b.rel_path));
    out
}

fn visit_entry(root: &PlannedRoot, e: walkdir::DirEntry, out: &mut Walked) {
    if !e.file_type().is_file() {
        return;
    }
    // walkdir joins names onto the root as given, so the relative part is a plain suffix of
    // the path's text (the general `rel_under` parses components: slower, same result).
    let fast = e.path().to_str().zip(root.path.to_str()).and_then(|(p, r)| {
        let rest = p.strip_prefix(r)?.strip_prefix('/')?;
        (!rest.is_empty()).then_some(rest)
    });
    let rel_path = match fast {
        Some(rest) if root.prefix.is_empty() => rest.to_string(),
        Some(rest) => {
            let mut s = String::with_capacity(root.prefix.len() + 1 + rest.len());
            s.push_str(&root.prefix);
            s.push('/');
            s.push_str(rest);
            s
        }
        None => join(&root.prefix, &rel_under(&root.path, e.path())),
    };
    let kind = FileKind::from_name(rel_path.rsplit('/').next().unwrap_or(&rel_path));
    out.files.push(WalkedFile { path: e.into_path(), kind, rel_path });
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

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Walks on this thread whose blocks needed the fallback sort.
        pub(super) static RESORTED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    #[test]
    fn files_come_out_in_path_order_across_folders_and_roots() {
        // Names around `/` in byte order (`-` < `.` < `/` < `0`): a folder's files must land
        // between the first-level files that sort around `name/`.
        let dir = tempfile::tempdir().unwrap();
        let files = [
            "reports/a.csv",
            "reports/a/x.csv",
            "reports/a/b/z.json",
            "reports/a.b/y.csv",
            "reports/a-c.csv",
            "reports/a0.md",
            "reports/b.csv",
            "csv_data/q.csv",
            "csv_data/p/r.csv",
            "artifacts/s.md",
        ];
        for f in files {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        let plan = plan(&[dir.path().to_path_buf()], &[]).unwrap();
        let got: Vec<String> = walk(&plan).files.into_iter().map(|f| f.rel_path).collect();
        let mut want: Vec<String> = files.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(RESORTED.with(|n| n.get()), 0, "the blocks were not in order by themselves");
    }
}
