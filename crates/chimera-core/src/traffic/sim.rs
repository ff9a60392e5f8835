//! Simulated servers of known capacity for tests on tokio's paused clock: each agent is a
//! server with `slots` requests at a time; a session is one call whose first token comes
//! after `ttft` (+ `ttft_per_in_flight` for every session already running on that server),
//! then `tokens` tokens `itl` apart. Queueing for a slot counts in the TTFT, as a client sees.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::multi::orchestrate::{AgentJob, JobOutcome};
use crate::multi::plan::AgentSlot;
use crate::records::multi::Phase;

pub(crate) struct SimServers {
    slots: Vec<Arc<Semaphore>>,
    running: Vec<AtomicUsize>,
    pub ttft: Duration,
    pub ttft_per_in_flight: Duration,
    pub itl: Duration,
    pub tokens: u32,
    /// The first session on server 0 stalls this long before its first token.
    pub first_stall: Duration,
    started: AtomicUsize,
}

impl SimServers {
    /// `servers` servers with `slots` slots each; one token, service time = `ttft`.
    pub fn new(servers: usize, slots: usize, ttft: Duration) -> Self {
        SimServers {
            slots: (0..servers).map(|_| Arc::new(Semaphore::new(slots))).collect(),
            running: (0..servers).map(|_| AtomicUsize::new(0)).collect(),
            ttft,
            ttft_per_in_flight: Duration::ZERO,
            itl: Duration::from_millis(1),
            tokens: 1,
            first_stall: Duration::ZERO,
            started: AtomicUsize::new(0),
        }
    }

    /// The agents the level runner spreads sessions over, one per server.
    pub fn agents(&self) -> Vec<AgentSlot> {
        (0..self.slots.len())
            .map(|i| AgentSlot {
                label: format!("srv{i}"),
                server: format!("sim://{i}"),
                warmup_key: i.to_string(),
            })
            .collect()
    }
}

#[async_trait]
impl AgentJob for SimServers {
    async fn warmup(&self, _agent: usize) -> Result<(), String> {
        Ok(())
    }

    async fn run(&self, agent: usize, _phase: Phase, _out_dir: PathBuf) -> JobOutcome {
        let t0 = Instant::now();
        let in_flight = self.running[agent].fetch_add(1, Ordering::SeqCst);
        let first = self.started.fetch_add(1, Ordering::SeqCst) == 0 && agent == 0;
        let permit = self.slots[agent].acquire().await.expect("semaphore open");
        let stall = if first { self.first_stall } else { Duration::ZERO };
        tokio::time::sleep(self.ttft + self.ttft_per_in_flight * in_flight as u32 + stall).await;
        let ttft_ms = t0.elapsed().as_secs_f64() * 1000.0;
        tokio::time::sleep(self.itl * self.tokens.saturating_sub(1)).await;
        drop(permit);
        self.running[agent].fetch_sub(1, Ordering::SeqCst);
        let itl = (self.tokens > 1).then(|| self.itl.as_secs_f64() * 1000.0);
        JobOutcome {
            ok: true,
            tokens: u64::from(self.tokens),
            ttft_ms: Some(ttft_ms),
            ttft_max_ms: Some(ttft_ms),
            itl_p99_ms: itl,
            ..Default::default()
        }
    }
}
