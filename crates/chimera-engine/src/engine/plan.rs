//! The scheduler's decisions as small pure functions: which context a request needs
//! ([`LoadKey`]), how a prompt is fitted into a slot, how much of a slot's cached prefix a new
//! prompt reuses, which free slot it takes, and what goes into the next batch.

use chimera_core::options::GenOptions;

use super::defaults;

/// The load-time options a context is built with. A request whose key differs from the loaded
/// context's waits for the running requests to end, then the context is rebuilt (Ollama reloads
/// on num_ctx / num_batch / num_thread changes too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadKey {
    /// Context of each slot (num_ctx): the KV cache holds `slots × n_ctx_slot` tokens.
    pub n_ctx_slot: u32,
    /// Prompt tokens evaluated per step (num_batch; also llama.cpp's micro-batch).
    pub n_batch: u32,
    /// llama.cpp threads (num_thread, at most the thread budget).
    pub n_threads: u32,
    /// Sequences decoded together (`--parallel`).
    pub slots: usize,
}

impl LoadKey {
    /// The key a request with options `o` needs, with `slots` slots and `budget` threads at most.
    pub fn of(o: &GenOptions, slots: usize, budget: u32) -> Self {
        let n_ctx_slot = o.num_ctx.unwrap_or(defaults::NUM_CTX).max(8);
        LoadKey {
            n_ctx_slot,
            n_batch: o.num_batch.unwrap_or(defaults::NUM_BATCH).clamp(1, n_ctx_slot),
            n_threads: o.num_thread.unwrap_or(budget).clamp(1, budget.max(1)),
            slots: slots.max(1),
        }
    }

    /// Tokens the KV cache holds: every slot's context.
    pub fn kv_cells(&self) -> u32 {
        self.n_ctx_slot.saturating_mul(self.slots as u32)
    }

    /// Largest batch a step builds: num_batch, but at least one decode token per slot.
    pub fn batch_capacity(&self) -> usize {
        (self.n_batch as usize).max(self.slots)
    }
}

/// KV-cache bytes per token of context: f16 keys and values in every layer (the full-size
/// sliding-window cache keeps them in every layer), from the model's layers, KV heads and head
/// sizes.
pub fn kv_bytes_per_token(layers: u64, kv_heads: u64, key_len: u64, value_len: u64) -> u64 {
    layers * kv_heads * (key_len + value_len) * 2
}

/// How many requests run at once per model when neither `--parallel` nor CHIMERA_NUM_PARALLEL
/// says: 4 — what llama-server's and Ollama's automatic settings pick — on a machine with at
/// least 2 cores, 2 on one core; fewer when that many slots of `kv_bytes_per_slot` (the model's
/// KV cache at the default num_ctx) would take more than a quarter of the memory. Batched
/// decoding reads each weight once for all sequences of a step, so more slots raise the
/// aggregate rate even on few cores (BENCHMARKS.md) while each request slows down.
pub fn default_parallel(cores: u32, kv_bytes_per_slot: u64, mem_total: Option<u64>) -> usize {
    let by_cores = if cores >= 2 { 4 } else { 2 };
    let by_memory = mem_total.map_or(usize::MAX, |m| (m / 4 / kv_bytes_per_slot.max(1)) as usize);
    by_cores.min(by_memory).max(1)
}

/// Whether a request's `num_ctx` can run: at most the context the model was trained with, and a
/// KV cache (`slots × num_ctx` tokens) within half of the machine's memory. The error says the
/// largest value that would run, so one request can never drive the process out of memory.
pub fn check_num_ctx(
    num_ctx: u32,
    n_ctx_train: u32,
    slots: usize,
    kv_bytes_per_token: u64,
    mem_total: Option<u64>,
) -> Result<(), String> {
    if n_ctx_train > 0 && num_ctx > n_ctx_train {
        return Err(format!(
            "num_ctx {num_ctx} is over the {n_ctx_train} tokens this model was trained with; use num_ctx {n_ctx_train} or less"
        ));
    }
    let per_ctx_token = (slots.max(1) as u64).saturating_mul(kv_bytes_per_token.max(1));
    if let Some(mem) = mem_total {
        let budget = mem / 2;
        if u64::from(num_ctx).saturating_mul(per_ctx_token) > budget {
            let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
            return Err(format!(
                "num_ctx {num_ctx} needs a {:.1} GiB KV cache for {} slot(s), over half of this machine's {:.1} GiB; use num_ctx {} or less (or fewer --parallel slots)",
                gib(u64::from(num_ctx) * per_ctx_token),
                slots.max(1),
                gib(mem),
                budget / per_ctx_token
            ));
        }
    }
    Ok(())
}

/// Keep the prompt within the slot's context: BOS plus the most recent tokens, leaving room to
/// answer (`min(num_predict, n_ctx/2)`, or `n_ctx/4` when num_predict is unlimited). Returns the
/// tokens kept and how many were cut.
pub fn fit_prompt<T: Copy>(tokens: Vec<T>, n_ctx: u32, num_predict: i64) -> (Vec<T>, usize) {
    let n_ctx = n_ctx as usize;
    let reserve = if num_predict > 0 { num_predict as usize } else { n_ctx / 4 };
    let reserve = reserve.clamp(1, (n_ctx / 2).max(1));
    let limit = n_ctx.saturating_sub(reserve).max(2);
    if tokens.len() <= limit {
        return (tokens, 0);
    }
    let mut kept = Vec::with_capacity(limit);
    kept.push(tokens[0]);
    kept.extend_from_slice(&tokens[tokens.len() - (limit - 1)..]);
    (kept, tokens.len() - limit)
}

/// Tokens of a slot's cache a new prompt can reuse: their common prefix, but never the whole
/// prompt — its last token is always evaluated, because sampling needs its logits.
pub fn reusable_prefix<T: PartialEq>(cached: &[T], prompt: &[T]) -> usize {
    let common = cached.iter().zip(prompt).take_while(|(a, b)| a == b).count();
    common.min(prompt.len().saturating_sub(1))
}

/// Whether a sequence cut back to `n_past` tokens still holds what the next token attends to.
/// With sliding-window attention (`n_swa` > 0) llama.cpp may have dropped positions that fell out
/// of the window; it keeps each sequence's positions `pos_min..` contiguous, so the cut is usable
/// when `pos_min` is at most `n_past − n_swa` (llama-server's test). `pos_min` is −1 when the
/// sequence holds nothing.
pub fn prefix_usable(n_past: usize, pos_min: i32, n_swa: u32) -> bool {
    if n_past == 0 {
        return true;
    }
    if pos_min < 0 {
        return false;
    }
    n_swa == 0 || i64::from(pos_min) <= (n_past as i64 - i64::from(n_swa)).max(0)
}

/// A free slot a new prompt may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Tokens of the prompt this slot's cache holds ([`reusable_prefix`]).
    pub reusable: usize,
    /// When the slot was last used (a counter; smaller = longer ago).
    pub last_used: u64,
}

/// Share of the prompt a slot's cache must hold for the prompt to go to that slot (as
/// llama-server's `--slot-prompt-similarity`, default 0.10); below it the prompt takes the slot
/// used longest ago, so a stray shared BOS does not evict another conversation's cache.
pub const MIN_SIMILARITY: f64 = 0.10;

/// The slot a prompt of `prompt_len` tokens takes: the one whose cache holds the largest share
/// of it, above [`MIN_SIMILARITY`]; otherwise the one used longest ago. None when none is free.
pub fn choose_slot(free: &[Candidate], prompt_len: usize) -> Option<usize> {
    let similar = |c: &Candidate| c.reusable as f64 > MIN_SIMILARITY * prompt_len as f64;
    let best = (0..free.len()).filter(|&i| similar(&free[i])).max_by_key(|&i| free[i].reusable);
    best.or_else(|| (0..free.len()).min_by_key(|&i| free[i].last_used))
}

/// Prompt tokens each prompting slot puts into the next batch, in admission order, after one
/// decode token for each of the `generating` slots, until `capacity` tokens.
pub fn prompt_shares(generating: usize, prompt_left: &[usize], capacity: usize) -> Vec<usize> {
    let mut room = capacity.saturating_sub(generating);
    prompt_left
        .iter()
        .map(|&left| {
            let n = left.min(room);
            room -= n;
            n
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_key_defaults_and_clamps() {
        let k = LoadKey::of(&GenOptions::default(), 4, 2);
        assert_eq!(k, LoadKey { n_ctx_slot: 4096, n_batch: 512, n_threads: 2, slots: 4 });
        assert_eq!(k.kv_cells(), 16384);
        let o = GenOptions {
            num_ctx: Some(256),
            num_batch: Some(1024),
            num_thread: Some(8),
            ..Default::default()
        };
        let k = LoadKey::of(&o, 0, 2);
        assert_eq!(
            (k.n_ctx_slot, k.n_batch, k.n_threads, k.slots),
            (256, 256, 2, 1),
            "threads within the budget"
        );
        let o = GenOptions { num_batch: Some(2), num_thread: Some(1), ..Default::default() };
        let k = LoadKey::of(&o, 8, 2);
        assert_eq!((k.n_threads, k.batch_capacity()), (1, 8), "a decode token per slot fits");
    }

    #[test]
    fn default_parallel_from_cores_and_model() {
        // Gemma 3 270M: 18 layers, 1 KV head, 256 + 256 → 18 KiB per token, 72 MiB per 4096-token slot.
        let gemma = kv_bytes_per_token(18, 1, 256, 256);
        assert_eq!(gemma, 18 * 1024);
        let slot = gemma * 4096;
        let gib = 1 << 30;
        assert_eq!(default_parallel(1, slot, Some(24 * gib)), 2);
        assert_eq!(default_parallel(2, slot, Some(24 * gib)), 4);
        assert_eq!(default_parallel(64, slot, None), 4);
        // An 8B model (32 layers, 8 KV heads of 128): 512 MiB per slot; 4 GiB of RAM → 1 GiB → 2 slots.
        let big = kv_bytes_per_token(32, 8, 128, 128) * 4096;
        assert_eq!(big, 512 << 20);
        assert_eq!(default_parallel(8, big, Some(4 * gib)), 2);
        assert_eq!(default_parallel(8, big, Some(gib)), 1, "never below one");
    }

    #[test]
    fn prompt_fitting_keeps_bos_and_tail() {
        let t: Vec<u32> = (0..100).collect();
        let (kept, cut) = fit_prompt(t.clone(), 64, 16);
        assert!(cut > 0);
        assert_eq!(kept.len(), 48);
        assert_eq!((kept[0], kept[1], *kept.last().unwrap()), (0, 53, 99));
        let (kept, cut) = fit_prompt(t[..10].to_vec(), 64, 16);
        assert!(cut == 0);
        assert_eq!(kept.len(), 10);
        // Unlimited num_predict reserves a quarter of the context.
        assert_eq!(fit_prompt(t, 64, -1).0.len(), 48);
    }

    #[test]
    fn reuse_stops_at_the_first_difference_and_before_the_last_token() {
        assert_eq!(reusable_prefix(&[1, 2, 3, 4, 5], &[1, 2, 9, 4, 5]), 2, "edit in the middle");
        assert_eq!(reusable_prefix(&[1, 2, 3], &[1, 2, 3, 4, 5]), 3, "the cache is a prefix");
        assert_eq!(reusable_prefix(&[1, 2, 3, 4, 5], &[1, 2, 3]), 2, "same prompt: last token evaluated");
        assert_eq!(reusable_prefix(&[1, 2, 3], &[1, 2, 3]), 2);
        assert_eq!(reusable_prefix::<u8>(&[], &[1, 2]), 0);
        assert_eq!(reusable_prefix(&[7], &[1, 2]), 0);
    }

    #[test]
    fn sliding_window_cut_needs_the_window_in_the_cache() {
        assert!(prefix_usable(0, -1, 512), "nothing reused");
        assert!(!prefix_usable(10, -1, 512), "the sequence holds nothing");
        assert!(prefix_usable(300, 0, 512), "whole history kept");
        assert!(prefix_usable(1000, 488, 512));
        assert!(!prefix_usable(1000, 489, 512), "position 488 fell out of the cache");
        assert!(prefix_usable(1000, 900, 0), "no sliding window: any cut works");
    }

    #[test]
    fn slot_choice_prefers_the_longest_reuse_then_the_oldest() {
        let c = |reusable, last_used| Candidate { reusable, last_used };
        assert_eq!(choose_slot(&[], 100), None);
        assert_eq!(choose_slot(&[c(0, 5), c(60, 9), c(30, 1)], 100), Some(1));
        assert_eq!(choose_slot(&[c(0, 5), c(0, 2), c(0, 7)], 100), Some(1), "least recently used");
        assert_eq!(choose_slot(&[c(1, 5), c(0, 2)], 100), Some(1), "a shared BOS is not worth a slot");
        assert_eq!(choose_slot(&[c(10, 5), c(0, 2)], 100), Some(1), "10% is not more than the threshold");
        assert_eq!(choose_slot(&[c(11, 5), c(0, 2)], 100), Some(0));
        assert_eq!(choose_slot(&[c(1, 5), c(0, 2)], 5), Some(0), "short prompts: 1 of 5 tokens");
    }

    #[test]
    fn batch_holds_decode_tokens_first_then_prompts_in_order() {
        assert_eq!(prompt_shares(3, &[600, 100], 512), vec![509, 0]);
        assert_eq!(prompt_shares(1, &[100, 600, 50], 512), vec![100, 411, 0]);
        assert_eq!(prompt_shares(0, &[10, 20], 512), vec![10, 20]);
        assert_eq!(prompt_shares(4, &[10], 4), vec![0], "a full batch of decode tokens");
    }

    #[test]
    fn num_ctx_is_capped_by_training_and_memory() {
        const GIB: u64 = 1 << 30;
        assert_eq!(check_num_ctx(32_768, 32_768, 4, 18_432, Some(24 * GIB)), Ok(()));
        let e = check_num_ctx(200_000, 32_768, 4, 18_432, Some(24 * GIB)).unwrap_err();
        assert!(e.starts_with("num_ctx 200000 is over the 32768 tokens"), "{e}");
        assert!(e.ends_with("use num_ctx 32768 or less"), "{e}");
        // 1 GiB of memory: half of it holds 512 MiB / (2 slots × 64 KiB) = 4,096 tokens.
        assert_eq!(check_num_ctx(4_096, 131_072, 2, 64 << 10, Some(GIB)), Ok(()));
        let e = check_num_ctx(4_097, 131_072, 2, 64 << 10, Some(GIB)).unwrap_err();
        assert!(e.contains("over half of this machine's 1.0 GiB; use num_ctx 4096 or less"), "{e}");
        // Unknown memory or training context: only what is known is checked.
        assert_eq!(check_num_ctx(1_000_000, 0, 4, 18_432, None), Ok(()));
    }
}
