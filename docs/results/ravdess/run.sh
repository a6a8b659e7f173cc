#!/usr/bin/env bash
# Reproduces docs/results/ravdess/: the protocol on RAVDESS from ../shared with a reduced CPU schedule (see
# README.md here). Run from anywhere after `npm run setup`; writes the run to runs/ravdess-results/ at the repo root
# (resumable: rerun the same command after an interruption) and copies the reports here. With SEEDS (e.g.
# `SEEDS="1, 2" bash docs/results/ravdess/run.sh`) the same schedule runs with those seeds into
# runs/ravdess-results-seeds-1-2/ and its reports go to seeds-1-2/ here.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
source scripts/env.sh
# The whole-utterance GTCRN export (made from the shared DNS3 checkpoint; cached, never committed).
gtcrn=$(bash scripts/export-gtcrn-offline.sh | tail -n 1)
shared=${TRNET_SHARED}
seeds=${SEEDS:-1}
here=docs/results/ravdess
out=runs/ravdess-results
if [ "$seeds" != 1 ]; then
  tag=$(echo "$seeds" | tr -cs '0-9' '-' | sed 's/^-//; s/-$//')
  out=runs/ravdess-results-seeds-$tag
  here=docs/results/ravdess/seeds-$tag
  mkdir -p "$here"
fi
mkdir -p "$out"
cat > "$out/experiment.config.json" <<JSON
{
  "outDir": "$out",
  "corpus": { "reader": "ravdess", "path": "$shared/data/ravdess", "classes": ["angry", "happy", "neutral", "sad"] },
  "noise": {
    "matched": { "reader": "esc50", "path": "$shared/data/esc50", "folds": [4], "name": "ESC-50" },
    "unmatched": { "reader": "folder", "path": "$shared/data/noise-speechcommands", "name": "SpeechCommands-noise" }
  },
  "folds": { "limit": 4 },
  "seeds": [$seeds],
  "features": { "frames": 300 },
  "enhancer": { "kind": "gtcrn", "model": "$gtcrn" },
  "model": { "channels": [16, 32, 64, 64] },
  "training": { "epochs": 10 }
}
JSON
/usr/bin/time -v node bin/trnet.mjs train "$out/experiment.config.json" 2> >(tee "$out/time.log" >&2)
cp "$out/RESULTS.md" "$out/results.json" "$out/report.html" "$here/"
sed "s#$shared#\$TRNET_SHARED#g; s#$gtcrn#<scripts/export-gtcrn-offline.sh output>#g" "$out/experiment.config.json" > "$here/config.json"
