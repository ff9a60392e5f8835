//! Parameter sweeps: grid, per-point warm-up, resumable results, ranking and Pareto front.
