//! The embedded llama.cpp engine (implements `chimera_core::backend::Backend` in-process)
//! and `serve`, an Ollama-compatible HTTP API on top of it.
