//! No import cycles between the modules of chimera-core (one module per source file).
//!
//! Every source file under `src/` is parsed (`syn`); a module depends on another when its code
//! names an item of it: `use` declarations and paths starting with `crate::`, `super::`,
//! `self::` or one of its own submodules. A name re-exported with `pub use` is followed to the
//! module that defines it, and a `pub use` itself is not a dependency. A module and the modules
//! it declares (its descendants) form one unit: the links between a module and its own
//! ancestors or descendants (a parent calling its children, children using the parent's types)
//! are not counted; links between any other two modules are. Test code (`#[cfg(test)]`) and
//! paths inside macro calls are not read. The test fails on every strongly connected group of
//! more than one module and prints its links.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

type Module = Vec<String>;

fn name(m: &Module) -> String {
    if m.is_empty() { "crate".into() } else { m.join("::") }
}

/// `src/a/b.rs` → `[a, b]`; `lib.rs` → `[]`; `a/mod.rs` → `[a]`.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && a.parse_args::<syn::Meta>().is_ok_and(|m| m.path().is_ident("test"))
    })
}

/// Paths a file names, split into the module's own uses and its re-exports.
#[derive(Default)]
struct Refs {
    /// Paths used by the module's code (segments as written).
    uses: Vec<Vec<String>>,
    /// `pub use` re-exports: exported name → path.
    reexports: BTreeMap<String, Vec<String>>,
}

fn use_tree(prefix: &[String], tree: &syn::UseTree, out: &mut Vec<(String, Vec<String>)>) {
    let mut p = prefix.to_vec();
    match tree {
        syn::UseTree::Path(x) => {
            p.push(x.ident.to_string());
            use_tree(&p, &x.tree, out);
        }
        syn::UseTree::Name(x) => {
            let n = x.ident.to_string();
            if n == "self" {
                out.push((prefix.last().cloned().unwrap_or_default(), p));
            } else {
                p.push(n.clone());
                out.push((n, p));
            }
        }
        syn::UseTree::Rename(x) => {
            p.push(x.ident.to_string());
            out.push((x.rename.to_string(), p));
        }
        syn::UseTree::Glob(_) => out.push(("*".into(), p)),
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| use_tree(prefix, t, out)),
    }
}

impl<'a> Visit<'a> for Refs {
    fn visit_item(&mut self, item: &'a syn::Item) {
        let attrs: &[syn::Attribute] = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Const(c) => &c.attrs,
            syn::Item::Struct(s) => &s.attrs,
            _ => &[],
        };
        if is_test(attrs) {
            return;
        }
        if let syn::Item::Use(u) = item {
            let mut paths = Vec::new();
            use_tree(&[], &u.tree, &mut paths);
            for (exported, path) in paths {
                if matches!(u.vis, syn::Visibility::Inherited) {
                    self.uses.push(path);
                } else {
                    self.reexports.insert(exported, path);
                }
            }
            return;
        }
        syn::visit::visit_item(self, item);
    }

    fn visit_path(&mut self, p: &'a syn::Path) {
        if p.leading_colon.is_none() {
            self.uses.push(p.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        syn::visit::visit_path(self, p);
    }
}

struct Crate {
    modules: BTreeSet<Module>,
    refs: BTreeMap<Module, Refs>,
}

impl Crate {
    fn read(src: &Path) -> Crate {
        let mut files = Vec::new();
        rust_files(src, &mut files);
        let mut refs = BTreeMap::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            let mut r = Refs::default();
            r.visit_file(&ast);
            refs.insert(module_of(src, &f), r);
        }
        Crate { modules: refs.keys().cloned().collect(), refs }
    }

    /// The module that defines what `path` (written in module `from`) names, if it is in this
    /// crate: the longest module prefix, then re-exports followed.
    fn resolve(&self, from: &Module, path: &[String], depth: usize) -> Option<Module> {
        let (mut m, rest): (Module, &[String]) = match path.first().map(String::as_str) {
            Some("crate") => (Vec::new(), &path[1..]),
            Some("self") => (from.clone(), &path[1..]),
            Some("super") => {
                let mut m = from.clone();
                let mut i = 0;
                while path.get(i).is_some_and(|s| s == "super") {
                    m.pop();
                    i += 1;
                }
                (m, &path[i..])
            }
            Some(first) => {
                let mut child = from.clone();
                child.push(first.to_string());
                if !self.modules.contains(&child) {
                    return None;
                }
                (from.clone(), path)
            }
            None => return None,
        };
        for (i, seg) in rest.iter().enumerate() {
            let mut next = m.clone();
            next.push(seg.clone());
            if self.modules.contains(&next) {
                m = next;
                continue;
            }
            if depth < 8 {
                if let Some(target) = self.refs.get(&m).and_then(|r| r.reexports.get(seg)) {
                    let mut full = target.clone();
                    full.extend(rest[i + 1..].iter().cloned());
                    return self.resolve(&m, &full, depth + 1).or(Some(m));
                }
            }
            break;
        }
        Some(m)
    }

    /// Dependencies between modules that are not in one line of descent.
    fn edges(&self) -> BTreeMap<Module, BTreeSet<Module>> {
        let mut e: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
        for (m, r) in &self.refs {
            let deps = e.entry(m.clone()).or_default();
            for p in &r.uses {
                if let Some(t) = self.resolve(m, p, 0).filter(|t| !t.starts_with(m) && !m.starts_with(t)) {
                    deps.insert(t);
                }
            }
        }
        e
    }
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct T<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on: BTreeSet<&'a Module>,
        out: Vec<Vec<Module>>,
    }
    impl<'a> T<'a> {
        fn visit(&mut self, v: &'a Module) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.on.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on.remove(w);
                    comp.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    self.out.push(comp);
                }
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.out
}

#[test]
fn no_import_cycles_in_chimera_core() {
    let src = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let krate = Crate::read(&src);
    let edges = krate.edges();
    let found = cycles(&edges);
    let report: Vec<String> = found
        .iter()
        .map(|c| {
            let members: BTreeSet<&Module> = c.iter().collect();
            let links: Vec<String> = c
                .iter()
                .flat_map(|m| {
                    edges[m]
                        .iter()
                        .filter(|t| members.contains(t))
                        .map(move |t| format!("{} → {}", name(m), name(t)))
                })
                .collect();
            format!("{{{}}}: {}", c.iter().map(name).collect::<Vec<_>>().join(", "), links.join("; "))
        })
        .collect();
    assert!(report.is_empty(), "import cycles in chimera-core:\n{}", report.join("\n"));
}

#[test]
fn the_checker_finds_a_cycle_and_follows_reexports() {
    let m = |s: &str| -> Module { s.split("::").map(str::to_string).collect() };
    let mut krate = Crate { modules: BTreeSet::new(), refs: BTreeMap::new() };
    for x in ["a", "a::inner", "b"] {
        krate.modules.insert(m(x));
        krate.refs.insert(m(x), Refs::default());
    }
    let a = krate.refs.get_mut(&m("a")).unwrap();
    a.reexports.insert("Thing".into(), m("inner::Thing"));
    // b names a::Thing, which a::inner defines; a::inner names b::f
    krate.refs.get_mut(&m("b")).unwrap().uses.push(m("crate::a::Thing"));
    krate.refs.get_mut(&m("a::inner")).unwrap().uses.push(m("crate::b::f"));
    assert_eq!(krate.resolve(&m("b"), &m("crate::a::Thing"), 0), Some(m("a::inner")));
    assert_eq!(cycles(&krate.edges()), vec![vec![m("a::inner"), m("b")]]);
    // a parent and its child may use each other
    krate.refs.get_mut(&m("a::inner")).unwrap().uses = vec![m("super::Error")];
    krate.refs.get_mut(&m("a")).unwrap().uses = vec![m("inner::run")];
    assert!(cycles(&krate.edges()).is_empty());
}
