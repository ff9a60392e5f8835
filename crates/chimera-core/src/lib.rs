//! Chimera's core library: everything that measures, analyses and exports, with no terminal I/O.
//!
//! The CLI crate (`chimera-cli`) owns printing and progress; the engine crate
//! (`chimera-engine`) implements [`backend::Backend`] on llama.cpp and serves it over HTTP.

pub mod agent;
pub mod analysis;
pub mod backend;
pub mod bench;
pub mod capacity;
pub mod compare;
pub mod events;
pub mod export;
pub mod facts;
pub mod findings;
pub mod fsutil;
#[cfg(test)]
mod fuzz;
pub mod grounding;
pub mod html;
pub mod inventory;
pub mod latency;
pub mod load;
pub mod manifest;
pub mod metrics;
pub mod multi;
pub mod options;
pub mod outcome;
pub mod outdir;
pub mod persona;
pub mod plots;
pub mod prompt;
pub mod records;
pub mod secret;
pub mod stamp_thread;
pub mod stats;
pub mod sweep;
#[cfg(test)]
pub(crate) mod testfolders;
#[cfg(test)]
pub(crate) mod testrng;
pub mod traffic;
pub mod workflow;

/// Version of this tool, recorded in every manifest.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
