//! Grounding check: every number in model text matched against facts and inventory.
