//! Per-sequence sampling (a llama.cpp sampler chain built from the request's options) and the
//! incremental UTF-8 decoding of sampled token pieces.

use chimera_core::options::GenOptions;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;

use super::defaults;

fn seed_of(o: &GenOptions) -> u32 {
    match o.seed {
        Some(s) if s >= 0 => s as u32,
        _ => {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            (t.as_nanos() as u32) ^ std::process::id()
        }
    }
}

/// The sampler chain of one request, in llama.cpp's order: penalties → top_k → typical_p →
/// top_p → min_p → temperature → dist (greedy when temperature ≤ 0). `n_ctx` bounds
/// repeat_last_n = -1.
pub fn build(model: &LlamaModel, o: &GenOptions, n_ctx: u32) -> LlamaSampler {
    let temp = o.temperature.unwrap_or(defaults::TEMPERATURE);
    let penalty = o.repeat_penalty.unwrap_or(defaults::REPEAT_PENALTY) as f32;
    let last_n = match o.repeat_last_n.unwrap_or(defaults::REPEAT_LAST_N) {
        -1 => n_ctx as i32,
        n => n.clamp(0, i64::from(n_ctx)) as i32,
    };
    let mut chain = Vec::new();
    if penalty != 1.0 && last_n > 0 {
        chain.push(LlamaSampler::penalties(model.n_vocab(), last_n, penalty, 0.0, 0.0));
    }
    if temp <= 0.0 {
        chain.push(LlamaSampler::greedy());
        return LlamaSampler::chain(chain, false);
    }
    let top_k = o.top_k.unwrap_or(defaults::TOP_K);
    if top_k > 0 {
        chain.push(LlamaSampler::top_k(top_k as i32));
    }
    if let Some(p) = o.typical_p.filter(|p| *p < 1.0) {
        chain.push(LlamaSampler::typical(p as f32, 1));
    }
    let top_p = o.top_p.unwrap_or(defaults::TOP_P);
    if top_p < 1.0 {
        chain.push(LlamaSampler::top_p(top_p as f32, 1));
    }
    let min_p = o.min_p.unwrap_or(defaults::MIN_P);
    if min_p > 0.0 {
        chain.push(LlamaSampler::min_p(min_p as f32, 1));
    }
    chain.push(LlamaSampler::temp(temp as f32));
    chain.push(LlamaSampler::dist(seed_of(o)));
    LlamaSampler::chain(chain, false)
}

/// Incremental UTF-8: token pieces may split a multi-byte character.
#[derive(Debug, Default)]
pub struct Utf8Buf {
    bytes: Vec<u8>,
}

impl Utf8Buf {
    /// Add a piece's bytes; returns the text that is complete now.
    pub fn push(&mut self, b: &[u8]) -> String {
        self.bytes.extend_from_slice(b);
        match std::str::from_utf8(&self.bytes) {
            Ok(s) => {
                let out = s.to_string();
                self.bytes.clear();
                out
            }
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                let out = String::from_utf8_lossy(&self.bytes[..valid]).into_owned();
                self.bytes.drain(..valid);
                out
            }
            Err(_) => {
                let out = String::from_utf8_lossy(&self.bytes).into_owned();
                self.bytes.clear();
                out
            }
        }
    }

    /// End of stream: whatever is left (invalid bytes replaced).
    pub fn flush(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.bytes).into_owned();
        self.bytes.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_across_pieces() {
        let mut u = Utf8Buf::default();
        let e = "é".as_bytes();
        assert_eq!(u.push(b"caf"), "caf");
        assert_eq!(u.push(&e[..1]), "");
        assert_eq!(u.push(&e[1..]), "é");
        assert_eq!(u.flush(), "");
    }
}
