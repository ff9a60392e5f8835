//! Multi-agent concurrency: solo then concurrent phases, true speedup, runs, summaries.
