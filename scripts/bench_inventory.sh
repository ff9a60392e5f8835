#!/usr/bin/env bash
# Benchmark of `chimera inventory` (issue 2): a synthetic corpus of N small CSV/JSON/Markdown
# files, timed next to the I/O floor (reading every byte of the same files) in the same run,
# warm page cache for both, each measurement in a fresh process with its peak RSS (VmHWM).
#
#   scripts/bench_inventory.sh [N_FILES=100000] [ROUNDS=3]
#
# The corpus is generated once under ${BENCH_DIR:-/tmp/chimera-inventory-bench} (reused when
# present). Corpora of N/10 files with 1x, 10x and 40x the rows per file show whether memory
# grows with file contents.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-100000}"
ROUNDS="${2:-3}"
DIR="${BENCH_DIR:-/tmp/chimera-inventory-bench}"
cargo build --release -q -p chimera-core --example bench_inventory
BIN="${CARGO_TARGET_DIR:-target}/release/examples/bench_inventory"
echo "== $N files, scale 1 (nproc: $(nproc))"
"$BIN" "$DIR/n$N-s1" --files "$N" --scale 1 --rounds "$ROUNDS"
M=$((N / 10))
echo "== $M files, scale 1 vs scale 10 (memory vs file contents)"
"$BIN" "$DIR/n$M-s1" --files "$M" --scale 1 --rounds 1 | tail -7
"$BIN" "$DIR/n$M-s10" --files "$M" --scale 10 --rounds 1 | tail -7
"$BIN" "$DIR/n$M-s40" --files "$M" --scale 40 --rounds 1 | tail -7
