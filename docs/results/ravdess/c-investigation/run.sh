#!/usr/bin/env bash
# Reproduces docs/results/ravdess/c-investigation/: one small TRNet run on RAVDESS per suspect of issue 15 (why
# the SNR coefficient c does not rise with SNR), each changing one option against the default, then the table.
#
#   bash docs/results/ravdess/c-investigation/run.sh              # every option in OPTIONS below, then the table
#   bash docs/results/ravdess/c-investigation/run.sh default clamp-leaky   # only these (the table lists what exists)
#
# Schedule (CPU, reduced; see README.md beside this script): TRNet only (Baseline-c runs as its frozen reference),
# 1 seed, 10 epochs, encoder 16/32/64/64, 300 frames, GTCRN SE; the default on 2 leave-one-speaker-out folds, every
# other option on the first of them (the table compares on that fold; the shared 2-core machine allowed no more),
# and the option the evidence favours also on the second (`-fold2`: the table averages it with the first fold).
# `OPTIONS` below is in the order the runs were made (most telling first). Each option is its own
# run folder runs/c-investigation/<option>/ (resumable: rerun the same command after an interruption). The feature
# stores are shared (runs/c-investigation/features; a store is keyed by its feature settings, so the options that
# change features get their own). Options that leave Baseline-c untouched (the SNR head and its training) reuse the
# default run's Baseline-c tasks instead of retraining the same model; the others train their own.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../../.." && pwd)
cd "$root"
source scripts/env.sh
here=docs/results/ravdess/c-investigation
gtcrn=$(bash scripts/export-gtcrn-offline.sh | tail -n 1)
shared=${TRNET_SHARED}
base=runs/c-investigation

# name | reuses the default Baseline-c (1) or not (0) | JSON merged into the base config (jq '*')
OPTIONS=(
  'default|1|{"folds":{"limit":2}}'
  'head-lr-x10|1|{"training":{"snrHeadLrMultiplier":10}}'
  'centred-cosine|1|{"model":{"snrCentred":true}}'
  'standardize-d|1|{"model":{"snrStandardize":true}}'
  'waveform-int16|0|{"features":{"waveformScale":32768}}'
  'clamp-leaky|1|{"model":{"snrClamp":"leaky"}}'
  'standardize-d-fold2|1|{"model":{"snrStandardize":true},"folds":{"testSpeakers":["Actor_02"]}}'
  'centred-leaky-lr-x10|1|{"model":{"snrCentred":true,"snrClamp":"leaky"},"training":{"snrHeadLrMultiplier":10}}'
  'noise-authors|0|{"trainingNoise":"authors"}'
  'head-init-snr-random|1|{"model":{"headInit":"snr-random"}}'
  'log-floor-1e-10|0|{"features":{"fbank":{"numMelBins":80,"frameLength":25,"frameShift":10,"logFloor":1e-10}}}'
  'clamp-sigmoid|1|{"model":{"snrClamp":"sigmoid"}}'
  'dither-int16-1|0|{"features":{"fbank":{"numMelBins":80,"frameLength":25,"frameShift":10,"dither":0.000030517578125}}}'
)
declare -A known
for o in "${OPTIONS[@]}"; do known[${o%%|*}]=$o; done
want=("$@")
[ ${#want[@]} -gt 0 ] || for o in "${OPTIONS[@]}"; do want+=("${o%%|*}"); done

base_config() {
  cat <<JSON
{
  "outDir": "$1",
  "corpus": { "reader": "ravdess", "path": "$shared/data/ravdess", "classes": ["angry", "happy", "neutral", "sad"] },
  "noise": {
    "matched": { "reader": "esc50", "path": "$shared/data/esc50", "folds": [4], "name": "ESC-50" },
    "unmatched": { "reader": "folder", "path": "$shared/data/noise-speechcommands", "name": "SpeechCommands-noise" }
  },
  "variants": ["trnet"],
  "folds": { "limit": 1 },
  "seeds": [1],
  "features": { "frames": 300, "storeDir": "$base/features" },
  "enhancer": { "kind": "gtcrn", "model": "$gtcrn" },
  "model": { "channels": [16, 32, 64, 64] },
  "training": { "epochs": 10 }
}
JSON
}

for name in "${want[@]}"; do
  spec=${known[$name]:-}
  [ -n "$spec" ] || { echo "unknown option $name (known: ${!known[*]})" >&2; exit 2; }
  rest=${spec#*|}; reuse=${rest%%|*}; override=${rest#*|}
  out=$base/$name
  mkdir -p "$out"
  jq -s '.[0] * .[1]' <(base_config "$out") <(echo "$override") > "$out/experiment.config.json"
  if [ "$reuse" = 1 ] && [ "$name" != default ] && [ ! -d "$out/tasks" ]; then
    [ -f "$base/default/results.json" ] || { echo "run the default option first (its Baseline-c is reused)" >&2; exit 2; }
    mkdir -p "$out/tasks"
    for t in "$base"/default/tasks/*; do
      [ -d "$t/seed-1/baseline-c" ] && mkdir -p "$out/tasks/$(basename "$t")/seed-1" && cp -a "$t/seed-1/baseline-c" "$out/tasks/$(basename "$t")/seed-1/"
    done
  fi
  echo "== $name $(date -u +%H:%M:%S)"
  /usr/bin/time -f "$name: %e s wall, %M KiB peak" node bin/trnet.mjs train "$out/experiment.config.json" 2>&1 | tail -n 5
  # The last checkpoint, evaluated by the same runner: a copy of the run folder whose TRNet tasks' reports name
  # run/last as the checkpoint to evaluate (the runner evaluates `bestDir` of a finished training). Nothing is
  # retrained; Baseline-c's evaluation is copied so that the TRNet tasks count as ready.
  last=$base/last/$name
  if [ ! -f "$last/results.json" ]; then
    rm -rf "$last"
    mkdir -p "$last"
    jq --arg out "$last" '.outDir = $out' "$out/experiment.config.json" > "$last/experiment.config.json"
    for t in "$out"/tasks/*/seed-1; do
      [ -f "$t/trnet/run/report.json" ] || continue # a reused Baseline-c of a fold this option does not run
      rel=${t#"$out"/}
      mkdir -p "$last/$rel/baseline-c" "$last/$rel/trnet/run"
      cp "$t/baseline-c/evaluation.json" "$last/$rel/baseline-c/"
      jq '.bestDir = .lastDir' "$t/trnet/run/report.json" > "$last/$rel/trnet/run/report.json"
    done
    node bin/trnet.mjs train "$last/experiment.config.json" 2>&1 | tail -n 2
  fi
done
node "$here/table.mjs" "$base" "${OPTIONS[@]%%|*}" > "$here/RESULTS.md"
echo "wrote $here/RESULTS.md"
