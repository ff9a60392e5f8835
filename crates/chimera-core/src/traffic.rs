//! Load models and their figures: arrival schedules (`arrivals`), SLOs and goodput (`slo`),
//! pass-rate intervals (`interval`), one level's summary (`level`) — small pure functions with
//! hand-worked tests — and the runner of one load level over the multi-agent job (`run`).
//! The capacity search built on them is [`crate::capacity`].

pub mod arrivals;
pub mod interval;
pub mod level;
pub mod record;
pub mod run;
#[cfg(test)]
pub(crate) mod sim;
pub mod slo;
#[cfg(test)]
mod tests;
