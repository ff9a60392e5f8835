//! The exit-code contract, in one place: every command ends with an [`Exit`], and `main` alone
//! turns it into the process's code (README: 0 ok, 1 a gate failed or some agent/run failed,
//! 2 error, 130 interrupted).

use chimera_core::outcome::Status;

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: everything ran and succeeded.
    Ok,
    /// 1: a regression gate failed, or some agent/run/call failed (partial results are on disk).
    Failed,
    /// 2: an error: bad input, or nothing could run.
    Error,
    /// 130: interrupted by Ctrl-C (what finished is on disk).
    Interrupted,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Error => 2,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Status> for Exit {
    fn from(s: Status) -> Exit {
        match s {
            Status::Ok => Exit::Ok,
            Status::Failed => Exit::Failed,
            Status::Interrupted => Exit::Interrupted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_readme() {
        let codes: Vec<i32> =
            [Exit::Ok, Exit::Failed, Exit::Error, Exit::Interrupted].into_iter().map(Exit::code).collect();
        assert_eq!(codes, [0, 1, 2, 130]);
        assert_eq!(Exit::from(Status::Interrupted), Exit::Interrupted);
        assert_eq!(Exit::from(Status::Failed), Exit::Failed);
        assert_eq!(Exit::from(Status::Ok), Exit::Ok);
    }
}
