#!/usr/bin/env bash
# The README's test command: set up what the tests need (idempotently), then format check,
# clippy with warnings as errors, and the whole test suite (real model, loopback servers).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# `chimera demo --quick` on the real model (a few minutes on 2 cores), kept out of the default
# `cargo test` loop with #[ignore] and run here so CI runs it every time.
cargo test --workspace --test demo_cli -- --ignored
