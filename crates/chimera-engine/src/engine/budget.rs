//! The process-wide thread budget: llama.cpp computations (one decode step of any scheduler)
//! take threads from it and wait when it is spent, so the busy llama.cpp threads never exceed
//! the cores, however many models or contexts are loaded.

use std::sync::{Condvar, Mutex, OnceLock};

/// A counting semaphore of CPU threads.
#[derive(Debug)]
pub struct Budget {
    total: u32,
    busy: Mutex<u32>,
    freed: Condvar,
}

/// Threads taken from a [`Budget`]; given back on drop.
#[derive(Debug)]
pub struct BudgetGuard<'a> {
    budget: &'a Budget,
    n: u32,
}

impl Budget {
    /// A budget of `total` threads (at least 1).
    pub fn new(total: u32) -> Self {
        Budget { total: total.max(1), busy: Mutex::new(0), freed: Condvar::new() }
    }

    /// The budget of this process: one thread per core.
    pub fn global() -> &'static Budget {
        static B: OnceLock<Budget> = OnceLock::new();
        B.get_or_init(|| Budget::new(super::cores()))
    }

    /// Threads in the budget.
    pub fn total(&self) -> u32 {
        self.total
    }

    /// Threads a computation asking for `wanted` gets: at most the budget, at least 1.
    pub fn clamp(&self, wanted: u32) -> u32 {
        wanted.clamp(1, self.total)
    }

    /// Take `n` threads (clamped to the budget), waiting until they are free.
    pub fn acquire(&self, n: u32) -> BudgetGuard<'_> {
        let n = self.clamp(n);
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        while *busy + n > self.total {
            busy = self.freed.wait(busy).unwrap_or_else(|p| p.into_inner());
        }
        *busy += n;
        BudgetGuard { budget: self, n }
    }

    /// Threads taken now.
    pub fn busy(&self) -> u32 {
        *self.busy.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for BudgetGuard<'_> {
    fn drop(&mut self) {
        let mut busy = self.budget.busy.lock().unwrap_or_else(|p| p.into_inner());
        *busy -= self.n;
        self.budget.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn requests_are_clamped_to_the_budget() {
        let b = Budget::new(2);
        assert_eq!(b.clamp(8), 2);
        assert_eq!(b.clamp(0), 1);
        let g = b.acquire(8);
        assert_eq!(b.busy(), 2);
        drop(g);
        assert_eq!(b.busy(), 0);
    }

    #[test]
    fn never_more_busy_threads_than_the_budget() {
        // Four workers each take 1 or 2 of 3 threads many times; the peak never exceeds 3.
        let b = Arc::new(Budget::new(3));
        let now = Arc::new(AtomicU32::new(0));
        let peak = Arc::new(AtomicU32::new(0));
        let workers: Vec<_> = (0..4u32)
            .map(|i| {
                let (b, now, peak) = (b.clone(), now.clone(), peak.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let n = 1 + i % 2;
                        let _g = b.acquire(n);
                        let v = now.fetch_add(n, Ordering::SeqCst) + n;
                        peak.fetch_max(v, Ordering::SeqCst);
                        std::thread::yield_now();
                        now.fetch_sub(n, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) <= 3, "peak {}", peak.load(Ordering::SeqCst));
        assert_eq!(b.busy(), 0);
    }
}
