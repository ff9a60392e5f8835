//! Self-contained HTML report for bench, multi and sweep outputs.
