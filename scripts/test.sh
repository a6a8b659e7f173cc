#!/usr/bin/env bash
# `npm test`: formatting and lints, Rust unit and integration tests, the JavaScript suites against the built addon,
# and a type check.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
step() { printf '\n== %s\n' "$*"; }
step "GTCRN whole-utterance export (made once from the shared checkpoint, then reused)"
# The whole-utterance GTCRN tests (Rust and JS) read it; without it they print why and skip.
if TRNET_GTCRN_OFFLINE=$(bash scripts/export-gtcrn-offline.sh); then
  export TRNET_GTCRN_OFFLINE
else
  echo "test: scripts/export-gtcrn-offline.sh failed (above); the whole-utterance GTCRN tests will be skipped" >&2
fi
step "lints: cargo fmt --check, cargo clippy -D warnings, biome ci (formatting and lints of ts/, test/, bench/, scripts/)"
cargo fmt --all --check
cargo clippy --release --workspace --all-targets --target x86_64-unknown-linux-gnu -- -D warnings
npx biome ci .
step "cargo test"
cargo test --release --workspace --target x86_64-unknown-linux-gnu
step "tsc -p tsconfig.build.json (dist/, which the CLI and the package entry run)"
npx tsc -p tsconfig.build.json
step "vitest"
npx vitest run
step "tsc --noEmit"
npx tsc --noEmit
echo "all tests passed"
