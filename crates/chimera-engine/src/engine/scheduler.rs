//! One scheduler per loaded model: a thread that owns the model's llama.cpp context (one KV
//! cache shared by `slots` sequences) and runs every request on it with continuous batching.
//! Requests are admitted FIFO into free slots (the one sharing the longest cached prefix with
//! the prompt); each step is one `llama_decode` carrying one token of every generating sequence
//! and then prompt chunks, within the process-wide thread budget. A request whose load-time
//! options differ waits for the running ones to end, then the context is rebuilt.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;

use super::job::{DoneReason, Event, Request};
use super::plan::{self, Candidate, LoadKey};
use super::registry::{ContextInfo, LoadedModel, load_lock};
use super::slot::{Active, Slot, Start};
use super::{Budget, EngineError, llama, sampler};

/// State shared between a scheduler's thread and its handle.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Requests submitted and not yet answered (queued or running).
    pub inflight: AtomicUsize,
    /// Slots of the next context (`--parallel`).
    pub slots: AtomicUsize,
    /// The context loaded now.
    pub context: Mutex<Option<ContextInfo>>,
}

/// Handle of a model's scheduler thread; dropping it ends the thread once it is idle.
pub(crate) struct Scheduler {
    tx: Option<Sender<Request>>,
    pub shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Scheduler {
    /// Start the scheduler of `model`; `shared` holds its slot count and counters.
    pub fn start(model: Arc<LoadedModel>, shared: Arc<Shared>) -> Self {
        let (tx, rx) = mpsc::channel();
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("chimera-engine".into())
            .spawn(move || run(&model, &rx, &sh))
            .ok();
        Scheduler { tx: Some(tx), shared, thread }
    }

    /// Queue a request (answered through its events channel).
    pub fn submit(&self, r: Request) {
        self.shared.inflight.fetch_add(1, Ordering::SeqCst);
        let unsent = match &self.tx {
            Some(tx) => tx.send(r).err().map(|e| e.0),
            None => Some(r),
        };
        if let Some(r) = unsent {
            self.shared.inflight.fetch_sub(1, Ordering::SeqCst);
            let _ = r.events.send(Event::Done(Err(EngineError::Stopped)));
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The loaded context with its slots and batch.
struct Loaded<'m> {
    key: LoadKey,
    ctx: LlamaContext<'m>,
    batch: LlamaBatch<'static>,
    slots: Vec<Slot>,
}

struct Worker<'m> {
    model: &'m LoadedModel,
    shared: &'m Shared,
    budget: &'static Budget,
    queue: VecDeque<Request>,
    loaded: Option<Loaded<'m>>,
    /// Counter for admission order and slot recency.
    clock: u64,
}

fn run(model: &LoadedModel, rx: &Receiver<Request>, shared: &Shared) {
    let mut w =
        Worker { model, shared, budget: Budget::global(), queue: VecDeque::new(), loaded: None, clock: 0 };
    loop {
        if w.idle() {
            match rx.recv() {
                Ok(r) => w.queue.push_back(r),
                Err(_) => break,
            }
        }
        while let Ok(r) = rx.try_recv() {
            w.queue.push_back(r);
        }
        w.cancel_gone();
        w.admit();
        if w.running() {
            w.step();
        }
    }
}

impl<'m> Worker<'m> {
    fn idle(&self) -> bool {
        self.queue.is_empty() && !self.running()
    }

    fn running(&self) -> bool {
        self.loaded.as_ref().is_some_and(|l| l.slots.iter().any(|s| s.active.is_some()))
    }

    /// A request is over: it no longer counts as in flight, then its answer is sent.
    fn answer(&self, r: &Request, result: Result<super::Outcome, EngineError>) {
        self.shared.inflight.fetch_sub(1, Ordering::SeqCst);
        let _ = r.events.send(Event::Done(result));
    }

    fn end(&mut self, slot: usize, reason: DoneReason) {
        self.clock += 1;
        let Some(l) = self.loaded.as_mut() else { return };
        let s = &mut l.slots[slot];
        s.last_used = self.clock;
        if let Some(a) = s.active.take() {
            self.shared.inflight.fetch_sub(1, Ordering::SeqCst);
            a.finish(reason);
        }
    }

    /// Drop queued requests whose caller went away, and free the slots of running ones.
    fn cancel_gone(&mut self) {
        let before = self.queue.len();
        self.queue.retain(|r| !r.gone());
        self.shared.inflight.fetch_sub(before - self.queue.len(), Ordering::SeqCst);
        let gone: Vec<usize> = self.loaded.as_ref().map_or_else(Vec::new, |l| {
            (0..l.slots.len()).filter(|&i| l.slots[i].active.as_ref().is_some_and(|a| a.req.gone())).collect()
        });
        for i in gone {
            self.end(i, DoneReason::Cancelled);
        }
    }

    /// Admit queued requests, first come first served, while slots are free. A request needing
    /// another context waits until the running ones end.
    fn admit(&mut self) {
        while let Some(head) = self.queue.front() {
            let slots = self.shared.slots.load(Ordering::SeqCst);
            let key = LoadKey::of(&head.job.options, slots, self.budget.total());
            let mut load = Duration::ZERO;
            if self.loaded.as_ref().is_none_or(|l| l.key != key) {
                if self.running() {
                    return;
                }
                let t = Instant::now();
                if let Err(e) = self.reload(key) {
                    let r = self.queue.pop_front().expect("head exists");
                    self.answer(&r, Err(e));
                    continue;
                }
                load = t.elapsed();
            }
            let l = self.loaded.as_ref().expect("loaded above");
            if l.slots.iter().all(|s| s.active.is_some()) {
                return;
            }
            let r = self.queue.pop_front().expect("head exists");
            self.start(r, load);
        }
    }

    /// Build the context for `key` (dropping the old one and every slot's cache).
    fn reload(&mut self, key: LoadKey) -> Result<(), EngineError> {
        self.loaded = None;
        *self.shared.context.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let backend = llama()?;
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(key.kv_cells()))
            .with_n_seq_max(key.slots as u32)
            .with_kv_unified(true)
            .with_swa_full(true)
            .with_n_batch(key.batch_capacity() as u32)
            .with_n_ubatch(key.n_batch)
            .with_n_threads(key.n_threads as i32)
            .with_n_threads_batch(key.n_threads as i32);
        let ctx = {
            let _g = load_lock();
            self.model.model.new_context(backend, params).map_err(|e| EngineError::Context {
                num_ctx: key.n_ctx_slot,
                slots: key.slots,
                detail: e.to_string(),
            })?
        };
        *self.shared.context.lock().unwrap_or_else(|p| p.into_inner()) = Some(ContextInfo {
            n_ctx_slot: key.n_ctx_slot,
            slots: key.slots,
            kv_cells: ctx.n_ctx(),
            n_threads: key.n_threads,
            n_batch: key.n_batch,
        });
        let slots = (0..key.slots as i32).map(Slot::new).collect();
        self.loaded = Some(Loaded { key, ctx, batch: LlamaBatch::new(key.batch_capacity(), 1), slots });
        Ok(())
    }

    /// Put a request into the free slot that shares the longest prefix with its prompt (or
    /// answer it with the error that keeps it from running).
    fn start(&mut self, req: Request, load: Duration) {
        let model: &'m LlamaModel = &self.model.model;
        let tokens = model.vocab().tokenize(req.job.prompt.as_bytes(), true, req.job.parse_special);
        if tokens.is_empty() {
            self.answer(&req, Err(EngineError::EmptyPrompt));
            return;
        }
        let l = self.loaded.as_mut().expect("admit loads first");
        let n_ctx = l.key.n_ctx_slot;
        let (prompt, dropped) = plan::fit_prompt(tokens, n_ctx, req.job.options.num_predict.unwrap_or(-1));
        let free: Vec<usize> = (0..l.slots.len()).filter(|&i| l.slots[i].active.is_none()).collect();
        let candidates: Vec<Candidate> = free
            .iter()
            .map(|&i| Candidate {
                reusable: plan::reusable_prefix(&l.slots[i].cache, &prompt),
                last_used: l.slots[i].last_used,
            })
            .collect();
        let pick = plan::choose_slot(&candidates, prompt.len()).expect("a free slot");
        let (i, mut cached) = (free[pick], candidates[pick].reusable);
        let seq = l.slots[i].seq;
        // Keep the reused prefix, drop the rest; fall back to nothing when the sliding window
        // no longer holds what the next token needs.
        let cut = l.ctx.clear_kv_cache_seq(Some(seq as u32), Some(cached as u32), None).unwrap_or(false);
        if !cut || !plan::prefix_usable(cached, l.ctx.kv_cache_seq_pos_min(seq), self.model.n_swa) {
            cached = 0;
            let _ = l.ctx.clear_kv_cache_seq(Some(seq as u32), None, None);
        }
        l.slots[i].cache.truncate(cached);
        self.clock += 1;
        let sampler = sampler::build(model, &req.job.options, n_ctx);
        l.slots[i].active = Some(Active::new(Start {
            load: req.model_load + load,
            req,
            prompt,
            cached,
            dropped,
            admitted: self.clock,
            sampler,
            n_ctx,
        }));
    }

    /// One decode step: a token of every generating sequence, then prompt chunks in admission
    /// order up to the batch capacity; then every sequence with logits samples its next token.
    fn step(&mut self) {
        let Some(l) = self.loaded.as_mut() else { return };
        l.batch.clear();
        let started = Instant::now();
        let mut in_batch = Vec::new();
        let mut added = Ok(());
        for (i, s) in l.slots.iter_mut().enumerate() {
            let Some(a) = s.active.as_mut() else { continue };
            let Some(tok) = a.next.take() else { continue };
            a.logits_at = Some(l.batch.n_tokens());
            added = added.and(l.batch.add(tok, s.cache.len() as i32, &[s.seq], true));
            s.cache.push(tok);
            in_batch.push(i);
        }
        let mut prompting: Vec<usize> =
            (0..l.slots.len()).filter(|&i| l.slots[i].prompt_left() > 0).collect();
        prompting.sort_by_key(|&i| l.slots[i].active.as_ref().map_or(0, |a| a.admitted));
        let left: Vec<usize> = prompting.iter().map(|&i| l.slots[i].prompt_left()).collect();
        let shares = plan::prompt_shares(in_batch.len(), &left, l.key.batch_capacity());
        for (&i, &n) in prompting.iter().zip(&shares).filter(|(_, n)| **n > 0) {
            let s = &mut l.slots[i];
            let a = s.active.as_mut().expect("prompting slots are active");
            a.prompt_started.get_or_insert(started);
            let from = s.cache.len();
            let last = from + n == a.prompt.len();
            for (j, &tok) in a.prompt[from..from + n].iter().enumerate() {
                let logits = last && j + 1 == n;
                if logits {
                    a.logits_at = Some(l.batch.n_tokens());
                }
                added = added.and(l.batch.add(tok, (from + j) as i32, &[s.seq], logits));
            }
            s.cache.extend_from_slice(&a.prompt[from..from + n]);
            in_batch.push(i);
        }
        let decoded = added.map_err(|e| e.to_string()).and_then(|()| {
            let _g = self.budget.acquire(l.key.n_threads);
            l.ctx.decode(&mut l.batch).map_err(|e| e.to_string())
        });
        if let Err(e) = decoded {
            self.fail_batch(&in_batch, &e);
            return;
        }
        let now = Instant::now();
        let model: &LlamaModel = &self.model.model;
        let mut ended = Vec::new();
        for &i in &in_batch {
            let s = &mut l.slots[i];
            let fed = s.cache.len();
            let Some(a) = s.active.as_mut() else { continue };
            let Some(idx) = a.logits_at.take() else { continue };
            if let Some(reason) = a.on_logits(&l.ctx, model, idx, fed, now) {
                ended.push((i, reason));
            }
        }
        for (i, reason) in ended {
            self.end(i, reason);
        }
    }

    /// A decode failed: the requests in the batch fail, their sequences are cleared.
    fn fail_batch(&mut self, in_batch: &[usize], e: &str) {
        let Some(l) = self.loaded.as_mut() else { return };
        let mut failed = Vec::new();
        for &i in in_batch {
            let s = &mut l.slots[i];
            let _ = l.ctx.clear_kv_cache_seq(Some(s.seq as u32), None, None);
            s.cache.clear();
            if let Some(a) = s.active.take() {
                failed.push(a);
            }
        }
        for a in failed {
            self.answer(&a.req, Err(EngineError::Decode(e.to_string())));
        }
    }
}
