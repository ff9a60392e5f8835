//! The agent report in the seed layout, plus fact tables, grounding, per-call table and formulas.
