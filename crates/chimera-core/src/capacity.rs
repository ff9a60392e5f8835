//! "How many agent sessions can this server carry?": the search over concurrency or arrival
//! rate (`search`, pure: bracket then bisect), the saturation point of the latency–throughput
//! curve (`saturation`, pure), the orchestration over [`crate::traffic::run`] (`run`), and the
//! Markdown and plot of the answer (`report`, `plot`).

pub mod level;
pub mod plot;
pub mod report;
pub mod run;
pub mod saturation;
pub mod search;

#[cfg(test)]
mod tests;
