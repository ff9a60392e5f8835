//! Deterministic fact extraction: named numeric measurements with provenance, units normalised, grouped and summarised.
