#!/usr/bin/env bash
# `npm run setup`: everything a fresh machine needs, from registries only (PyPI, npm, crates.io).
#   1. a virtualenv with the pinned torch + onnxruntime wheels (libtorch and libonnxruntime come from them),
#      kept in a cache outside the clone and reused while the pins are unchanged;
#   2. npm ci (and in examples/serve, the example service's own dependencies);
#   3. a release build of the addon and its generated TypeScript bindings;
#   4. the whole-utterance GTCRN export, when the shared GTCRN checkpoint is there
#      (scripts/export-gtcrn-offline.sh; builds the dev venv, ~15 s once);
#   5. `trnet doctor` as a smoke check.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
source scripts/env.sh
req="$root/scripts/requirements-native.txt"
step() { printf '\n== %s\n' "$*"; }
need() { command -v "$1" >/dev/null || { echo "setup: $1 not found on PATH; $2" >&2; exit 1; }; }
need python3 "install Python 3.10 or newer"
need node "install Node.js 20.17 or newer"
need cargo "install Rust with rustup (https://rustup.rs)"
need c++ "install a C++ compiler (Debian: apt install g++)"

pin() { grep -E "^$1==" "$req"; }
if [ -n "${TRNET_SKIP_VENV:-}" ]; then
  step "native libraries: using LIBTORCH=$LIBTORCH and ORT_DYLIB_PATH=$ORT_DYLIB_PATH (TRNET_SKIP_VENV set)"
elif [ -f "$TRNET_VENV/.trnet-complete" ]; then
  step "native libraries: reusing $TRNET_VENV"
else
  step "native libraries: creating $TRNET_VENV ($(pin torch), $(pin onnxruntime)); about 2.7 GB to download"
  rm -rf "$TRNET_VENV"
  mkdir -p "$(dirname "$TRNET_VENV")"
  python3 -m venv "$TRNET_VENV"
  "$TRNET_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$(pin torch)"
  # Only the shared library is used; the Python package's own dependencies (numpy, ...) are not needed.
  "$TRNET_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "$(pin onnxruntime)"
  touch "$TRNET_VENV/.trnet-complete"
  unset LIBTORCH ORT_DYLIB_PATH
  source scripts/env.sh
fi
[ -d "${LIBTORCH:-}/lib" ] || { echo "setup: no libtorch at '${LIBTORCH:-}' (expected a lib/ folder inside)" >&2; exit 1; }
[ -f "${ORT_DYLIB_PATH:-}" ] || { echo "setup: no ONNX Runtime library at '${ORT_DYLIB_PATH:-}'" >&2; exit 1; }

step "npm ci"
# onnxruntime-node (a benchmark baseline) would fetch CUDA libraries from nuget in its postinstall; it needs none.
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund

step "examples/serve dependencies (npm ci; Fastify for the example service and its test)"
# The example depends on this checkout through a link (file:../..), so it uses the addon built below.
(cd examples/serve && npm ci --no-audit --no-fund)

step "building the addon (release; the first build compiles libtorch's C API, several minutes)"
npm run build

step "GTCRN whole-utterance export (scripts/export-gtcrn-offline.sh)"
if [ -f "$TRNET_SHARED/models/gtcrn/stream_model_trained_on_dns3.tar" ]; then
  # Not fatal: only the whole-utterance GTCRN tests and benchmark rows need it, and they say so when it is missing.
  bash scripts/export-gtcrn-offline.sh || echo "setup: the GTCRN export failed (above); rerun scripts/export-gtcrn-offline.sh" >&2
else
  echo "skipped: no $TRNET_SHARED/models/gtcrn/stream_model_trained_on_dns3.tar (set TRNET_SHARED)"
fi

step "trnet doctor"
node bin/trnet.mjs doctor
