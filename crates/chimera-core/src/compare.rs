//! Regression gate: compare two outputs with thresholds.
