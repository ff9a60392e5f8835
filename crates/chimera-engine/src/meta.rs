//! GGUF metadata read without loading the model (architecture, names, quantisation, size label,
//! trained context length, chat template), for `/api/tags`, `/api/show` and manifests, and the
//! name a model is served under.

use std::path::Path;

use llama_cpp_2::gguf::GgufContext;

/// What the GGUF header says about a model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelMeta {
    pub architecture: Option<String>,
    pub name: Option<String>,
    /// `general.basename` (`gemma-3`, `smollm2`): what `serve` names the model after.
    pub basename: Option<String>,
    pub size_label: Option<String>,
    pub quantization: Option<String>,
    pub context_length: Option<u64>,
    pub n_tensors: i64,
    /// `tokenizer.chat_template` (Jinja); None for base models.
    pub chat_template: Option<String>,
}

/// Name of llama.cpp's `general.file_type` value.
pub fn file_type_name(ft: u32) -> Option<&'static str> {
    Some(match ft {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        32 => "BF16",
        _ => return None,
    })
}

/// Read the header of the GGUF at `path`; None when it is not a readable GGUF file.
pub fn read(path: &Path) -> Option<ModelMeta> {
    // Initialise llama.cpp first so its log output is silenced.
    crate::engine::llama().ok()?;
    let g = GgufContext::from_file(path)?;
    // ggml aborts on a type mismatch, so check the stored type first.
    const UINT32: i64 = 4;
    const STRING: i64 = 8;
    let s = |k: &str| {
        let i = g.find_key(k);
        (i >= 0 && i64::from(g.kv_type(i)) == STRING).then(|| g.val_str(i).map(str::to_string)).flatten()
    };
    let u = |k: &str| {
        let i = g.find_key(k);
        (i >= 0 && i64::from(g.kv_type(i)) == UINT32).then(|| g.val_u32(i))
    };
    let architecture = s("general.architecture");
    let context_length = architecture.as_ref().and_then(|a| u(&format!("{a}.context_length"))).map(u64::from);
    Some(ModelMeta {
        name: s("general.name"),
        basename: s("general.basename"),
        chat_template: s("tokenizer.chat_template"),
        size_label: s("general.size_label"),
        quantization: u("general.file_type").and_then(file_type_name).map(str::to_string),
        context_length,
        n_tensors: g.n_tensors(),
        architecture,
    })
}

/// The file's stem (`SmolLM2-135M-Instruct.Q4_1`), or the whole path without one.
pub fn file_stem(p: &Path) -> String {
    p.file_stem().map_or_else(|| p.display().to_string(), |s| s.to_string_lossy().into_owned())
}

/// A model's name as Ollama spells its library names: the header's `general.basename`,
/// lower-cased without dashes or spaces, `:` and its `general.size_label` lower-cased
/// (`gemma-3` + `270M` → `gemma3:270m`, `smollm2` + `135M` → `smollm2:135m`); without a
/// basename, the file's stem; without a size label, `:latest`.
pub fn name_from_meta(meta: Option<&ModelMeta>, path: &Path) -> String {
    let base = meta
        .and_then(|m| m.basename.as_deref())
        .map(|b| b.to_lowercase().chars().filter(|c| !matches!(c, '-' | ' ' | '_')).collect::<String>())
        .filter(|b| !b.is_empty());
    let Some(base) = base else { return file_stem(path) };
    let tag = meta
        .and_then(|m| m.size_label.as_deref())
        .map(|s| s.trim().to_lowercase().replace(' ', "-"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "latest".into());
    format!("{base}:{tag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_gguf_is_none() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.gguf");
        std::fs::write(&p, b"definitely not gguf").unwrap();
        assert!(read(&p).is_none());
    }

    fn meta(base: Option<&str>, size: Option<&str>) -> ModelMeta {
        ModelMeta {
            basename: base.map(str::to_string),
            size_label: size.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn names_follow_ollama_spelling() {
        let p = Path::new("/m/SmolLM2-135M-Instruct.Q4_1.gguf");
        assert_eq!(name_from_meta(Some(&meta(Some("gemma-3"), Some("270M"))), p), "gemma3:270m");
        assert_eq!(name_from_meta(Some(&meta(Some("smollm2"), Some("135M"))), p), "smollm2:135m");
        assert_eq!(name_from_meta(Some(&meta(Some("Llama-3.2"), Some("1B"))), p), "llama3.2:1b");
        assert_eq!(name_from_meta(Some(&meta(Some("qwen"), None)), p), "qwen:latest");
        assert_eq!(name_from_meta(Some(&meta(None, Some("1B"))), p), "SmolLM2-135M-Instruct.Q4_1");
        assert_eq!(name_from_meta(None, p), "SmolLM2-135M-Instruct.Q4_1");
    }

    #[test]
    fn file_types() {
        assert_eq!(file_type_name(15), Some("Q4_K_M"));
        assert_eq!(file_type_name(999), None);
    }
}
