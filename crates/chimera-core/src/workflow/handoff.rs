//! Hand-offs between the agents of one run: each agent publishes its final output once per
//! round (a phase of a run), and a step with `handoff_from` waits for that agent's output of
//! the same round. A failed agent publishes its error, so nobody waits forever.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

/// The outputs of one multi-agent benchmark, by (agent label, round).
#[derive(Debug)]
pub struct Handoffs {
    outputs: Mutex<HashMap<(String, u64), Result<String, String>>>,
    /// Bumped on every publication; waiters re-check on change.
    version: watch::Sender<u64>,
}

impl Default for Handoffs {
    fn default() -> Self {
        Handoffs { outputs: Mutex::new(HashMap::new()), version: watch::channel(0).0 }
    }
}

impl Handoffs {
    /// Record `label`'s output of `round` (its final text, or why it has none).
    pub fn publish(&self, label: &str, round: u64, output: Result<String, String>) {
        self.outputs.lock().unwrap_or_else(|e| e.into_inner()).insert((label.to_string(), round), output);
        self.version.send_modify(|v| *v += 1);
    }

    fn get(&self, label: &str, round: u64) -> Option<Result<String, String>> {
        self.outputs.lock().unwrap_or_else(|e| e.into_inner()).get(&(label.to_string(), round)).cloned()
    }

    /// `label`'s output of `round`, waiting until it is published.
    pub async fn wait(&self, label: &str, round: u64) -> Result<String, String> {
        let mut rx = self.version.subscribe();
        loop {
            if let Some(v) = self.get(label, round) {
                return v;
            }
            if rx.changed().await.is_err() {
                return Err("the run ended before the hand-off".into());
            }
        }
    }
}

/// An agent run's place on a hand-off board: the board and the round it publishes to.
#[derive(Debug, Clone)]
pub struct HandoffLink {
    pub board: std::sync::Arc<Handoffs>,
    pub round: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn waits_for_the_same_round() {
        let b = Arc::new(Handoffs::default());
        b.publish("A", 0, Ok("old".into()));
        let b2 = Arc::clone(&b);
        let waiter = tokio::spawn(async move { b2.wait("A", 1).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        b.publish("A", 1, Err("failed".into()));
        assert_eq!(waiter.await.unwrap(), Err("failed".to_string()));
        assert_eq!(b.wait("A", 0).await, Ok("old".to_string()));
    }
}
