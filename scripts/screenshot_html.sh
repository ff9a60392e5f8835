#!/usr/bin/env bash
# Open a chimera HTML report in headless Chromium (Debian package `chromium`), take a
# screenshot and dump the rendered DOM, and check the browser logged no console error and
# fetched nothing from the network.
#
# usage: scripts/screenshot_html.sh REPORT.html OUT.png [WIDTH,HEIGHT]
# writes: OUT.png (screenshot), OUT.dom.html (DOM after load), OUT.log (browser stderr)
# exit:   0 ok; 1 console error or network request seen, or no screenshot; 2 usage or
#         chromium missing (install it with `apt-get install -y chromium`)
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 REPORT.html OUT.png [WIDTH,HEIGHT]" >&2
  exit 2
fi
html=$(realpath "$1")
png=$2
size=${3:-1280,2400}
browser=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [[ -z "$browser" ]]; then
  echo "chromium not found: install it with 'apt-get install -y chromium' (or set CHROMIUM=/path/to/browser)" >&2
  exit 2
fi
[[ -f "$html" ]] || { echo "no such file: $html" >&2; exit 2; }

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --disable-dev-shm-usage --hide-scrollbars --user-data-dir="$profile"
  --enable-logging=stderr --v=0)
base=${png%.png}
log=$base.log
dom=$base.dom.html

timeout 120 "$browser" "${flags[@]}" --window-size="$size" --screenshot="$png" "file://$html" >"$log" 2>&1 || true
timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$html" >"$dom" 2>>"$log" || true

status=0
if [[ ! -s "$png" ]]; then
  echo "no screenshot was written ($png); see $log" >&2
  status=1
fi
if grep -E "CONSOLE|Uncaught|Failed to load resource|ERR_(NAME|CONNECTION|INTERNET)" "$log" >&2; then
  echo "the page logged console errors or tried the network; see $log" >&2
  status=1
fi
if [[ ! -s "$dom" ]]; then
  echo "the DOM dump is empty ($dom); see $log" >&2
  status=1
fi
plots=$(grep -o 'data-plot="[^"]*"' "$dom" | wc -l || true)
echo "screenshot: $png"
echo "dom:        $dom ($plots plot(s))"
exit $status
