//! Prompt building: persona as system prompt, inventory and facts as fenced data within a token budget.
