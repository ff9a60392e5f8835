//! Progress display: one consumer of core `Event`s (per-agent lines on a TTY, nothing when not).
