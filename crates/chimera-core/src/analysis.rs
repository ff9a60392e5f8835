//! Parsing a model's analysis text into summary, key findings and recommendations.
