//! Test support: a scripted loopback HTTP server that streams Ollama NDJSON or OpenAI SSE
//! at chosen times, and injects faults (error lines, HTTP errors, drops, stalls).
