//! How a long job ended — [`Status`]: all went well, some part failed (what finished is kept),
//! or the user interrupted it (what finished is kept). The CLI maps it to its exit code.

use serde::{Deserialize, Serialize};

/// How a long job ended, from best to worst (so `max` combines two jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Everything ran and succeeded.
    Ok,
    /// Something failed (an agent, a run, a call, a gate); the rest is kept.
    Failed,
    /// Stopped by the user (Ctrl-C); everything finished before is kept.
    Interrupted,
}

impl Status {
    /// `Failed` when `failed`, else `Ok`.
    pub fn failed_if(failed: bool) -> Status {
        if failed { Status::Failed } else { Status::Ok }
    }

    /// The worse of two statuses (a demo's sweep and agents, say).
    pub fn worst(self, other: Status) -> Status {
        self.max(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_orders_ok_failed_interrupted() {
        assert_eq!(Status::Ok.worst(Status::Failed), Status::Failed);
        assert_eq!(Status::Interrupted.worst(Status::Failed), Status::Interrupted);
        assert_eq!(Status::Ok.worst(Status::Ok), Status::Ok);
        assert_eq!(Status::failed_if(true), Status::Failed);
        assert_eq!(Status::failed_if(false), Status::Ok);
    }
}
