//! OpenAI-compatible client: /v1/chat/completions with SSE and stream_options.include_usage.
