#!/usr/bin/env bash
# Builds the native addon (release) and its generated bindings into ts/native/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# --no-const-enum: `#[napi(string_enum)]` types become unions of string literals (`'baseline-c' | …`), which
# plain strings in configs satisfy; a const enum would make callers import and spell enum members.
npx napi build --platform --release --esm --output-dir ts/native --js index.js --dts index.d.ts --no-const-enum \
  --target x86_64-unknown-linux-gnu "$@"
