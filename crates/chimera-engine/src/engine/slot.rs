//! One slot of a scheduler: a llama.cpp sequence, the tokens its KV cache holds (kept after a
//! request ends, for prefix reuse), and the request running in it — its prompt progress,
//! sampler, stop sequences, text stream and timings.

use std::time::{Duration, Instant};

use chimera_core::backend::ServerTimings;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::job::{DoneReason, Event, Outcome, Request};
use super::sampler::Utf8Buf;
use crate::template::{Pushed, StopMatcher};

/// A sequence of the scheduler's context.
pub(crate) struct Slot {
    /// llama.cpp sequence id.
    pub seq: i32,
    /// Tokens whose keys and values this sequence holds, at positions `0..cache.len()`.
    pub cache: Vec<LlamaToken>,
    /// When the slot last ended a request (the scheduler's counter).
    pub last_used: u64,
    pub active: Option<Active>,
}

/// The request running in a slot.
pub(crate) struct Active {
    pub req: Request,
    /// The prompt as fitted into the slot's context.
    pub prompt: Vec<LlamaToken>,
    /// Prompt tokens reused from the slot's cache.
    pub cached: usize,
    /// Prompt tokens cut to fit the context (0: the whole prompt fitted).
    pub dropped: usize,
    /// Order of admission (prompts are evaluated first come, first served).
    pub admitted: u64,
    sampler: LlamaSampler,
    stops: StopMatcher,
    utf8: Utf8Buf,
    piece: Vec<u8>,
    num_predict: i64,
    n_ctx: u32,
    n_gen: u64,
    /// Model load and context creation charged to this request.
    load: Duration,
    /// A sampled token to feed in the next step (the slot is generating).
    pub next: Option<LlamaToken>,
    /// Index in the current batch of the logits this slot samples from.
    pub logits_at: Option<i32>,
    pub prompt_started: Option<Instant>,
    prompt_done: Option<Instant>,
    last_token: Option<Instant>,
}

/// Everything needed to start a request in a slot.
pub(crate) struct Start {
    pub req: Request,
    pub prompt: Vec<LlamaToken>,
    pub cached: usize,
    pub dropped: usize,
    pub admitted: u64,
    pub sampler: LlamaSampler,
    pub n_ctx: u32,
    pub load: Duration,
}

impl Active {
    pub fn new(s: Start) -> Self {
        let o = &s.req.job.options;
        let stops = StopMatcher::new(o.stop.iter().cloned().chain(s.req.job.stops.iter().cloned()));
        let num_predict = o.num_predict.unwrap_or(-1);
        Active {
            prompt: s.prompt,
            cached: s.cached,
            dropped: s.dropped,
            admitted: s.admitted,
            sampler: s.sampler,
            stops,
            utf8: Utf8Buf::default(),
            piece: Vec::with_capacity(32),
            num_predict,
            n_ctx: s.n_ctx,
            n_gen: 0,
            load: s.load,
            next: None,
            logits_at: None,
            prompt_started: None,
            prompt_done: None,
            last_token: None,
            req: s.req,
        }
    }

    /// Sample from the logits at `idx` after a step that ended at `now`, stream the text, and
    /// say whether the request is over. `fed` = tokens the sequence holds now.
    pub fn on_logits(
        &mut self,
        ctx: &LlamaContext<'_>,
        model: &LlamaModel,
        idx: i32,
        fed: usize,
        now: Instant,
    ) -> Option<DoneReason> {
        self.prompt_done.get_or_insert(now);
        let tok = self.sampler.sample(ctx, idx);
        let vocab = model.vocab();
        if vocab.is_eog(tok) {
            return Some(DoneReason::Stop);
        }
        self.n_gen += 1;
        self.piece.clear();
        vocab.token_to_piece_into(tok, &mut self.piece, false, None);
        let text = self.utf8.push(&self.piece);
        self.last_token = Some(Instant::now());
        match self.stops.push(&text) {
            Pushed::Emit(s) => {
                if !s.is_empty() && !self.emit(s) {
                    return Some(DoneReason::Cancelled);
                }
            }
            Pushed::Stop(s) => {
                if !s.is_empty() {
                    self.emit(s);
                }
                return Some(DoneReason::Stop);
            }
        }
        if self.num_predict > 0 && self.n_gen >= self.num_predict as u64 {
            return Some(DoneReason::Length);
        }
        if fed >= self.n_ctx as usize {
            return Some(DoneReason::Length);
        }
        self.next = Some(tok);
        None
    }

    fn emit(&self, s: String) -> bool {
        self.req.events.send(Event::Piece(s)).is_ok()
    }

    /// Send the text held back (a partial character, a possible stop sequence) and the outcome.
    pub fn finish(mut self, reason: DoneReason) {
        if reason == DoneReason::Cancelled {
            return;
        }
        let tail = self.utf8.flush() + &self.stops.flush();
        if !tail.is_empty() {
            self.emit(tail);
        }
        let outcome = self.outcome(reason);
        let _ = self.req.events.send(Event::Done(Ok(outcome)));
    }

    fn outcome(&self, reason: DoneReason) -> Outcome {
        let ns = |d: Duration| d.as_nanos() as u64;
        let started = self.prompt_started.unwrap_or(self.req.submitted);
        let prompt_done = self.prompt_done.unwrap_or(started);
        let last = self.last_token.unwrap_or(prompt_done);
        Outcome {
            timings: ServerTimings {
                total_duration_ns: Some(ns(self.req.model_load) + ns(self.req.submitted.elapsed())),
                load_duration_ns: Some(ns(self.load)),
                prompt_eval_count: Some((self.prompt.len() - self.cached) as u64),
                prompt_eval_duration_ns: Some(ns(prompt_done.duration_since(started))),
                eval_count: Some(self.n_gen),
                eval_duration_ns: Some(ns(last.saturating_duration_since(prompt_done))),
                prompt_cached_count: Some(self.cached as u64),
            },
            done_reason: reason,
            prompt_truncated: self.dropped > 0,
            prompt_dropped: self.dropped as u64,
            n_ctx: self.n_ctx,
        }
    }
}

impl Slot {
    pub fn new(seq: i32) -> Self {
        Slot { seq, cache: Vec::new(), last_used: 0, active: None }
    }

    /// Prompt tokens still to evaluate (0 once generating).
    pub fn prompt_left(&self) -> usize {
        self.active.as_ref().map_or(0, |a| a.prompt.len().saturating_sub(self.cache.len()))
    }
}
