//! One agent workflow: ingest → facts → analysis call → parse → report call → grounding → report, each stage timed.
