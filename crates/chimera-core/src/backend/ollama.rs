//! Ollama native client: /api/generate and /api/chat NDJSON streaming, /api/version, /api/tags, /api/ps, /api/show.
