#!/usr/bin/env bash
# Reproduces docs/results/ravdess/: the protocol on RAVDESS from ../shared with a reduced CPU schedule (see
# README.md here). Run from anywhere after `npm run setup`; writes the run to runs/ravdess-results/ at the repo root
# (resumable: rerun the same command after an interruption) and copies the reports here.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
source scripts/env.sh
# The whole-utterance GTCRN export (made from the shared DNS3 checkpoint; cached, never committed).
gtcrn=$(bash scripts/export-gtcrn-offline.sh | tail -n 1)
shared=${TRNET_SHARED}
out=runs/ravdess-results
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
  "seeds": [1],
  "features": { "frames": 300 },
  "enhancer": { "kind": "gtcrn", "model": "$gtcrn" },
  "model": { "channels": [16, 32, 64, 64] },
  "training": { "epochs": 10 }
}
JSON
/usr/bin/time -v node bin/trnet.mjs train "$out/experiment.config.json" 2> >(tee "$out/time.log" >&2)
here=docs/results/ravdess
cp "$out/RESULTS.md" "$out/results.json" "$out/report.html" "$here/"
sed "s#$shared#\$TRNET_SHARED#g; s#$gtcrn#<scripts/export-gtcrn-offline.sh output>#g" "$out/experiment.config.json" > "$here/config.json"
