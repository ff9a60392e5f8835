//! The embedded llama.cpp engine (implements `chimera_core::backend::Backend` in-process)
//! and `serve`, an Ollama-compatible HTTP API on top of it.

pub mod backend;
pub mod engine;
pub mod meta;
pub mod model;
pub mod serve;
pub mod template;

pub use backend::{ENGINE_VERSION, EmbeddedBackend};
pub use engine::{KeepAlive, NO_GPU_NOTE};
pub use model::{ModelError, discover};
pub use serve::{ServeConfig, ServeHandle};
