#!/usr/bin/env bash
# Fuzz Chimera's parsers on stable Rust: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Targets: stream (NDJSON/SSE framing and chunk parsing), inventory (CSV/JSON/Markdown parsers),
# html (Markdown to HTML and the report page), serve (`chimera serve` request bodies, options,
# keep_alive). Default: all four, 60 s each. Each target's ignored `fuzz` test runs until the
# deadline (CHIMERA_FUZZ_SECS) in the test profile (debug assertions and overflow checks on,
# dependencies at opt-level 2), at idle CPU priority; any failing, panicking or slow (> 2 s)
# input is saved as testdata/fuzz/<target>/finding-* (replayed by `cargo test` from then on).
# CHIMERA_FUZZ_SEED=N repeats a run's inputs. Exit status 1 when a target found something.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(stream inventory html serve)
export CARGO_INCREMENTAL=0

args_for() {
    case "$1" in
        stream | inventory | html) echo "-p chimera-core --lib -- --ignored --exact fuzz::$1::fuzz" ;;
        serve) echo "-p chimera-engine --test fuzz_serve -- --ignored --exact fuzz" ;;
        *) echo "unknown target '$1' (stream, inventory, html, serve)" >&2; exit 2 ;;
    esac
}
for t in "${targets[@]}"; do args_for "$t" >/dev/null; done

chrt -i 0 cargo test -p chimera-core --lib --no-run -q
chrt -i 0 cargo test -p chimera-engine --test fuzz_serve --no-run -q
status=0
summary=()
for t in "${targets[@]}"; do
    echo "== $t: $secs s (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    # shellcheck disable=SC2046
    if ! out=$(CHIMERA_FUZZ_SECS=$secs chrt -i 0 cargo test -q $(args_for "$t") --nocapture 2>&1); then
        status=1
    fi
    line=$(grep "^fuzz $t:" <<<"$out" || echo "fuzz $t: did not finish (see above)")
    grep -E "FINDING|panicked|^error" <<<"$out" || true
    summary+=("$line")
done
echo "== summary (load: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%s\n' "${summary[@]}"
exit $status
