//! The models one `serve` holds: each GGUF's name (from its header, Ollama-style:
//! `smollm2:135m`), the names it also answers to, its metadata and digest (read once, lazily),
//! and its engine. Loading and unloading are the registry's (one scheduler per model, one
//! process-wide thread budget).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::backend::EmbeddedBackend;
use crate::engine::KeepAlive;
use crate::meta::{self, ModelMeta, file_stem, name_from_meta};
use crate::model;

/// One served model.
#[derive(Debug)]
pub struct ServedModel {
    /// The name it is listed under and answers to (`gemma3:270m`).
    pub name: String,
    pub engine: EmbeddedBackend,
    meta: OnceCell<Option<ModelMeta>>,
    digest: OnceCell<String>,
}

impl ServedModel {
    /// The GGUF file.
    pub fn path(&self) -> &Path {
        self.engine.model_path()
    }

    /// The GGUF header (None when unreadable).
    pub async fn meta(&self) -> Option<ModelMeta> {
        self.meta
            .get_or_init(|| async {
                let p = self.path().to_path_buf();
                tokio::task::spawn_blocking(move || meta::read(&p)).await.ok().flatten()
            })
            .await
            .clone()
    }

    /// The file's sha256 in hex (the `.sha256` sidecar when there is one; else computed once).
    pub async fn digest(&self) -> String {
        self.digest
            .get_or_init(|| async {
                let p = self.path().to_path_buf();
                tokio::task::spawn_blocking(move || model::sha256_of(&p).unwrap_or_default())
                    .await
                    .unwrap_or_default()
            })
            .await
            .clone()
    }

    /// True when a request's `model` designates this model: its name, its file's stem or path.
    fn answers_to(&self, asked: &str) -> bool {
        let asked = asked.trim();
        asked == self.name
            || Path::new(asked) == self.path()
            || self.path().file_stem().is_some_and(|s| s.to_string_lossy() == asked)
            // `gemma3:270m` also answers to `gemma3:270m-<tag>`, as before.
            || (self.name == model::DEFAULT_MODEL_NAME && model::name_matches_default(asked) && !asked.is_empty())
    }
}

/// Two models would be listed under one name.
#[derive(Debug, thiserror::Error)]
#[error(
    "two models would be served as '{name}': {first} and {second}; serve one of them, or rename a file \
     (a name taken by two GGUF headers falls back to the file name)"
)]
pub struct NameClash {
    pub name: String,
    pub first: PathBuf,
    pub second: PathBuf,
}

/// The models of one server, in the order given (the first is the default of a one-model
/// server).
#[derive(Debug)]
pub struct Models(Vec<Arc<ServedModel>>);

impl Models {
    /// Name every model from its GGUF header (see [`meta::name_from_meta`]); a name two files would
    /// share falls back to each later file's stem. `parallel` and `keep_alive` apply to each.
    pub fn new(paths: &[PathBuf], parallel: Option<usize>, keep_alive: KeepAlive) -> Result<Self, NameClash> {
        let mut v: Vec<Arc<ServedModel>> = Vec::new();
        for p in paths {
            let header = meta::read(p);
            let mut name = name_from_meta(header.as_ref(), p);
            if v.iter().any(|m| m.name == name) {
                name = file_stem(p);
            }
            if let Some(other) = v.iter().find(|m| m.name == name || m.path() == p) {
                return Err(NameClash { name, first: other.path().to_path_buf(), second: p.clone() });
            }
            let mut engine = EmbeddedBackend::new(p.clone()).with_keep_alive(keep_alive);
            if let Some(n) = parallel {
                engine = engine.with_parallel(n);
            }
            let meta = OnceCell::new_with(Some(header));
            v.push(Arc::new(ServedModel { name, engine, meta, digest: OnceCell::new() }));
        }
        Ok(Models(v))
    }

    /// Every model, in order.
    pub fn all(&self) -> &[Arc<ServedModel>] {
        &self.0
    }

    /// The model a request's `model` names. A server of one model also takes an empty name
    /// and the default model's names (`gemma3:270m`), as before it held several.
    pub fn find(&self, asked: &str) -> Option<Arc<ServedModel>> {
        if let Some(m) = self.0.iter().find(|m| m.answers_to(asked)) {
            return Some(m.clone());
        }
        match self.0.as_slice() {
            [only] if model::name_matches_default(asked) => Some(only.clone()),
            _ => None,
        }
    }

    /// The names, comma-separated (for "not found" messages).
    pub fn names(&self) -> String {
        self.0.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_files_are_named_by_their_stem_and_found_by_it() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a.gguf"), d.path().join("b.gguf"));
        std::fs::write(&a, b"not a gguf").unwrap();
        std::fs::write(&b, b"not a gguf").unwrap();
        let m = Models::new(&[a.clone(), b.clone()], None, KeepAlive::Forever).unwrap();
        assert_eq!(m.names(), "a, b");
        assert_eq!(m.find("b").unwrap().path(), b);
        assert_eq!(m.find(b.to_str().unwrap()).unwrap().name, "b");
        assert!(m.find("gemma3:270m").is_none(), "two models: the default name is not guessed");
        assert!(m.find("c").is_none());
        let one = Models::new(std::slice::from_ref(&a), None, KeepAlive::Forever).unwrap();
        assert_eq!(one.find("gemma3:270m").unwrap().path(), a, "one model takes the default name");
        let e = Models::new(&[a.clone(), a], None, KeepAlive::Forever).unwrap_err();
        assert!(e.to_string().contains("two models would be served as 'a'"), "{e}");
    }
}
