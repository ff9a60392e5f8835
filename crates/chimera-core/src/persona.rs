//! Built-in personas (collector, insight) and persona files.
