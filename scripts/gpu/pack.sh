#!/usr/bin/env bash
# Prepares what scripts/gpu/check.sh needs on a GPU machine that has torch but no Node, no Rust and no network:
# the Rust binaries built here (against the pinned torch 2.11, whose libtorch the GPU machine's torch 2.11+cu130
# replaces at run time through LD_LIBRARY_PATH) and, with --tiny-run, a tiny described experiment for trnet-task.
#
#   scripts/gpu/pack.sh [DIR] [--tiny-run]      (DIR default .gpu, ignored by git through .git/info/exclude)
#
# Then, with the device tool: run(command="bash scripts/gpu/check.sh .gpu", carry=[".gpu"], timeout_s=560).
# DIR/bin: cuda_check (trnet-runtime example), train_speed and epoch_speed (trnet-train examples), trnet-task;
# DIR/run: a 4-speaker RAVDESS experiment (1 fold, Baseline-c + TRNet, 100 frames) whose task.json files
# trnet-task reads, feature stores inside. Fails if DIR is over 60 MiB (the device tool carries at most 64 MiB).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=.gpu
tiny=0
for a in "$@"; do
  case "$a" in
    --tiny-run) tiny=1 ;;
    -*) echo "pack.sh: unknown option $a" >&2; exit 2 ;;
    *) dir=$a ;;
  esac
done
source scripts/env.sh
exclude=$(git rev-parse --git-path info/exclude)
grep -qxF "/$dir/" "$exclude" 2>/dev/null || echo "/$dir/" >> "$exclude"
rm -rf "$dir/bin"
mkdir -p "$dir/bin"
cargo build --release -q --target x86_64-unknown-linux-gnu -p trnet-runtime --example cuda_check
cargo build --release -q --target x86_64-unknown-linux-gnu -p trnet-train --example train_speed --example epoch_speed --bin trnet-task
rel="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"
for b in examples/cuda_check examples/train_speed examples/epoch_speed trnet-task; do
  # Symbols are not needed there; stripping roughly halves the files.
  strip -o "$dir/bin/$(basename "$b")" "$rel/$b"
done
if [ "$tiny" = 1 ]; then
  rm -rf "$dir/run" "$dir/tiny.json"
  shared=${TRNET_SHARED:-$(cd .. && pwd)/shared}
  cat > "$dir/tiny.json" <<JSON
{
  "outDir": "$PWD/$dir/run",
  "corpus": { "reader": "ravdess", "path": "$shared/data/ravdess", "speakers": ["Actor_01", "Actor_02", "Actor_03", "Actor_04"] },
  "noise": {
    "matched": { "reader": "esc50", "path": "$shared/data/esc50", "folds": [4], "limit": 40 },
    "unmatched": { "reader": "folder", "path": "$shared/data/noise-speechcommands", "name": "speech-commands" }
  },
  "folds": { "limit": 1 },
  "seeds": [5],
  "snrsDb": [10, 0],
  "variants": ["baseline-c", "trnet"],
  "features": { "frames": 100, "storeDir": "$PWD/$dir/run/features" },
  "training": { "epochs": 2, "batchSize": 32 }
}
JSON
  node bin/trnet.mjs tasks "$dir/tiny.json" --describe
fi
du -sh "$dir"/* >&2
kib=$(du -sk "$dir" | cut -f1)
if [ "$kib" -gt $((60 * 1024)) ]; then
  echo "pack.sh: $dir holds $((kib / 1024)) MiB; the device tool carries at most 64 MiB with the working tree. Drop --tiny-run or shrink it." >&2
  exit 1
fi
echo "$dir: $((kib / 1024)) MiB" >&2
