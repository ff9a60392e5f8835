//! The DataCollector: walks artifact roots, parses CSV/JSON/Markdown, builds the inventory (owned by the inventory work).
