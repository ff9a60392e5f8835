#!/usr/bin/env bash
# Benchmark of `chimera inventory`: a generated corpus of N small CSV/JSON/Markdown files, warm
# page cache, each run a fresh process with its wall time and peak RSS (GNU time), the default
# Markdown output and `--json`, interleaved with a reference binary when REF is set.
#
#   REF=/tmp/inv-ref/chimera scripts/bench_inventory.sh [N_FILES=100000] [ROUNDS=5]
#
# Corpora are generated once under ${BENCH_DIR:-/tmp/chimera-inventory-bench} (reused when
# present): N files at 1x the rows per file, then N/10 files at 1x and at 10x (memory vs file
# contents).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-100000}"
ROUNDS="${2:-5}"
DIR="${BENCH_DIR:-/tmp/chimera-inventory-bench}"
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 2; }
cargo build --release -q -p chimera-cli --bin chimera
cargo build --release -q -p chimera-core --example bench_inventory
T="${CARGO_TARGET_DIR:-target}/release"
REF_ARGS=()
if [ -n "${REF:-}" ]; then REF_ARGS=(--ref "$REF"); fi
echo "== $N files, scale 1 (nproc: $(nproc); $(uptime))"
"$T/examples/bench_inventory" "$DIR/n$N-s1" --bin "$T/chimera" "${REF_ARGS[@]}" --files "$N" --scale 1 --rounds "$ROUNDS"
M=$((N / 10))
for S in 1 10; do
  echo "== $M files, scale $S (memory vs file contents; $(uptime))"
  "$T/examples/bench_inventory" "$DIR/n$M-s$S" --bin "$T/chimera" "${REF_ARGS[@]}" --files "$M" --scale "$S" --rounds 3
done
echo "== done ($(uptime))"
