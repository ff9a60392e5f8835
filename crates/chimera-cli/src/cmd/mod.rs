//! One module per subcommand: its clap arguments and its `run`.

pub mod agent;
pub mod bench;
pub mod capacity;
pub mod compare;
pub mod demo;
pub mod docs;
pub mod inventory;
pub mod multi;
pub mod serve;
pub mod sweep;
