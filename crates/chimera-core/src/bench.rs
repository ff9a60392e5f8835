//! Baseline vs chimera benchmark: warm-ups, interleaved runs, statistics, comparison report.
