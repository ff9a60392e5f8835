#!/usr/bin/env bash
# The README's main job: set up (idempotently), build, and run `chimera demo` on the embedded engine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -p chimera-cli
exec ./target/release/chimera demo "$@"
