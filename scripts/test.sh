#!/usr/bin/env bash
# `npm test`: Rust unit and integration tests, the JavaScript suites against the built addon, and a type check.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
step() { printf '\n== %s\n' "$*"; }
step "cargo test"
cargo test --release --workspace --target x86_64-unknown-linux-gnu
step "tsc -p tsconfig.build.json (dist/, which the CLI and the package entry run)"
npx tsc -p tsconfig.build.json
step "vitest"
npx vitest run
step "tsc --noEmit"
npx tsc --noEmit
echo "all tests passed"
