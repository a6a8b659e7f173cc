#!/usr/bin/env bash
# Builds the native addon (release) and its generated bindings into ts/native/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
npx napi build --platform --release --esm --output-dir ts/native --js index.js --dts index.d.ts \
  --target x86_64-unknown-linux-gnu "$@"
