#!/usr/bin/env bash
# The GPU session's one script: CUDA checks and the GPU benchmarks of issue 15 ("Scale"), within ~8 minutes, on a
# machine with torch (python3) but no Node, no Rust and no network. UNTESTED ON A GPU so far: it was written and run
# only through its CPU fallback (no GPU was lent to the session that wrote it).
#
#   scripts/gpu/pack.sh .gpu --tiny-run          # here: binaries (+ a tiny described experiment) into .gpu/
#   bash scripts/gpu/check.sh .gpu               # there (device tool: carry [".gpu"]); results in $OUT
#
# What it runs, each under its own time limit, appending one JSON line per measurement to $OUT/results.jsonl:
#   1. facts: the card (nvidia-smi), driver, torch / CUDA / cuDNN versions, CPU count      → $OUT/facts.txt
#   2. the carried binaries' libraries resolved against that machine's libtorch (ldd)      → $OUT/log.txt
#   3. cuda_check: the build drives CUDA (matmul on GPU vs CPU)
#   4. training step and inference, trnet (tch, train_speed) vs PyTorch eager (torch_train_step.py) on the same
#      card, paper size (batch 32, 500 × 80, 32/64/128/256), TRNet and Baseline-c, float32 and float16 autocast
#   5. several tasks sharing the GPU: K train_speed processes at once (aggregate steps/s)
#   6. epoch_speed: real train calls on the GPU with features read from a feature store (the CPU-side data path
#      included) and from memory, then each GPU option of the trainer alone and all together (run first, right
#      after cuda_check, as they are new and unmeasured): lossReadEvery 8 (no per-step loss read), adamUpdate flat,
#      residentFeatures, mixed precision float16 and bfloat16, all of them, and all of them with 4 tasks sharing
#      the GPU in one process (as tasksPerDevice 4 runs them)
#   7. trnet-task on the tiny described experiment (if carried): Baseline-c then TRNet, on the GPU
# and writes $OUT/summary.md (a table of the step times and ratios). Without a usable GPU it runs the same steps
# on the CPU with tiny sizes (the fallback that checks the script itself).
set -uo pipefail
cd "$(dirname "$0")/../.."
pack=${1:-.gpu}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
log="$OUT/log.txt"
results="$OUT/results.jsonl"
: > "$log"
: > "$results"
say() { echo "== $*" | tee -a "$log"; }
started=$(date +%s)

PY=${PYTHON:-python3}
if ! "$PY" -c 'import torch' 2>/dev/null; then
  # Here (the build machine): the pinned torch of scripts/env.sh's venv.
  PY=$(bash -c 'source scripts/env.sh >/dev/null 2>&1; echo "$TRNET_VENV/bin/python"')
fi
torch_lib=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
bin="$pack/bin"

say "facts"
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 || echo "nvidia-smi: not available"
  "$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version(), "GPU available", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
  echo "CPUs: $(nproc)"
  uname -r
  ldd --version | head -1
} > "$OUT/facts.txt" 2>&1
cat "$OUT/facts.txt" | tee -a "$log"
if "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  dev=cuda
  steps=20 k=4 utts=384 amp_modes="fp32 amp"
else
  dev=cpu
  steps=2 k=2 utts=16 amp_modes="fp32"
  say "no usable GPU: the CPU fallback with tiny sizes (checks this script, measures nothing of interest)"
fi
echo "{\"stage\":\"facts\",\"device\":\"$dev\",\"torch_lib\":\"$torch_lib\"}" >> "$results"

say "libraries of the carried binaries"
for b in "$bin"/*; do
  missing=$(ldd "$b" 2>&1 | grep -E 'not found|version .* not found' || true)
  echo "$(basename "$b"): $(du -h "$b" | cut -f1) ${missing:-all libraries found}" | tee -a "$log"
done

# The whole script must end inside the device call's limit (timeout_s 560): later steps are skipped, not cut off
# half-way, once this budget is spent, so the summary is always written.
budget=${CHECK_BUDGET_S:-470}
over_budget() { [ $(($(date +%s) - started)) -gt "$budget" ]; }

run() { # run NAME LIMIT_S CMD...: output to the log, JSON lines to results with the name added
  local name=$1 limit=$2
  shift 2
  if over_budget; then
    say "$name: skipped (the ${budget} s budget is spent)"
    echo "{\"run\":\"$name\",\"skipped\":true}" >> "$results"
    return 0
  fi
  say "$name"
  local out
  out=$(timeout "$limit" "$@" 2>>"$log")
  local rc=$?
  echo "$out" >> "$log"
  echo "$out" | grep '^{' | while read -r line; do echo "{\"run\":\"$name\",\"rc\":$rc,${line#\{}" >> "$results"; done
  [ "$rc" = 0 ] || { echo "{\"run\":\"$name\",\"rc\":$rc,\"failed\":true}" >> "$results"; say "$name: exit $rc"; }
  return 0
}

run cuda_check 60 "$bin/cuda_check" --device "$dev"

# The trainer's GPU options (issue 15, "what stands in the way"), each against the same baseline: real train calls
# of Baseline-c then TRNet, features from a store unless resident. lossReadEvery 8 rather than more: the step time
# is measured between an epoch's first and last reads (see epoch_speed.rs), so an epoch needs several reads.
epoch=("$bin/epoch_speed" --device "$dev" --utterances "$utts" --epochs 2 --threads 4)
all_options=(--loss-read-every 8 --adam flat --resident)
run "epoch-base" 90 "${epoch[@]}"
run "epoch-no-sync" 90 "${epoch[@]}" --loss-read-every 8
run "epoch-flat-adam" 90 "${epoch[@]}" --adam flat
run "epoch-resident" 90 "${epoch[@]}" --resident
if [ "$dev" = cuda ]; then
  run "epoch-fp16" 90 "${epoch[@]}" --amp
  run "epoch-bf16" 90 "${epoch[@]}" --bf16
  run "epoch-all-bf16" 90 "${epoch[@]}" "${all_options[@]}" --bf16
  run "epoch-all-bf16-tasks4" 150 "${epoch[@]}" "${all_options[@]}" --bf16 --tasks 4
else
  run "epoch-all" 90 "${epoch[@]}" "${all_options[@]}"
  run "epoch-all-tasks2" 150 "${epoch[@]}" "${all_options[@]}" --tasks 2
fi

for variant in trnet baseline-c; do
  for mode in $amp_modes; do
    flag=; [ "$mode" = amp ] && flag=--amp
    run "trnet-step-$variant-$mode" 90 "$bin/train_speed" --device "$dev" --variant "$variant" --steps "$steps" --threads 4 $flag
    run "torch-step-$variant-$mode" 120 "$PY" scripts/reference/torch_train_step.py --device "$dev" --variant "$variant" --steps "$steps" --threads 4 $flag
  done
done

# Several tasks sharing one GPU: K independent processes (as K tasks of an experiment would be) at once.
mode_flag=; [ "$dev" = cuda ] && mode_flag=--amp
if over_budget; then
  say "shared-$k: skipped (the ${budget} s budget is spent)"
  echo "{\"run\":\"shared-$k\",\"skipped\":true}" >> "$results"
else
  say "shared-$k: $k train_speed processes at once"
  pids=()
  for i in $(seq 1 "$k"); do
    timeout 120 "$bin/train_speed" --device "$dev" --variant trnet --steps $((steps * 2)) --threads 2 --only train $mode_flag > "$OUT/.shared-$i" 2>>"$log" &
    pids+=($!)
  done
  for i in $(seq 1 "$k"); do
    wait "${pids[$((i - 1))]}"
    rc=$?
    grep '^{' "$OUT/.shared-$i" | while read -r line; do echo "{\"run\":\"shared-$k\",\"process\":$i,\"rc\":$rc,${line#\{}" >> "$results"; done
    [ "$rc" = 0 ] || { echo "{\"run\":\"shared-$k\",\"process\":$i,\"rc\":$rc,\"failed\":true}" >> "$results"; say "shared-$k process $i: exit $rc"; }
    cat "$OUT/.shared-$i" >> "$log"
    rm -f "$OUT/.shared-$i"
  done
fi

run "epoch-store-$dev" 150 "$bin/epoch_speed" --device "$dev" --utterances "$utts" --epochs 2 --threads 4 $mode_flag
run "epoch-memory-$dev" 120 "$bin/epoch_speed" --device "$dev" --utterances "$utts" --epochs 2 --threads 4 --memory $mode_flag

if [ -f "$pack/run/plan.json" ]; then
  # A fresh start: results of an earlier check (e.g. the CPU fallback run where it was packed) would be skipped.
  rm -rf "$pack"/run/tasks/*/seed-*/*/run "$pack"/run/tasks/*/seed-*/*/evaluation.json "$pack"/run/tasks/*/seed-*/*/.lock
  for i in 0 1; do
    run "trnet-task-$i" 90 "$bin/trnet-task" "$pack/run" --index "$i" --device "$dev" --json
  done
  ls "$pack"/run/tasks/*/seed-*/*/evaluation.json >> "$log" 2>&1
else
  say "trnet-task: no described experiment carried ($pack/run); pack with --tiny-run to run it"
fi

say "summary"
"$PY" - "$results" > "$OUT/summary.md" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {r["run"]: r for r in rows if "run" in r and "train_step_s" in r and r.get("process") is None}
print("| variant | precision | trnet step s | torch step s | torch / trnet | trnet infer utt/s | torch infer utt/s |")
print("|---|---|---|---|---|---|---|")
for v in ["trnet", "baseline-c"]:
    for m in ["fp32", "amp"]:
        a, b = by.get(f"trnet-step-{v}-{m}"), by.get(f"torch-step-{v}-{m}")
        if not a or not b:
            continue
        ratio = b["train_step_s"] / a["train_step_s"] if a["train_step_s"] and b["train_step_s"] else float("nan")
        print(f"| {v} | {m} | {a['train_step_s']} | {b['train_step_s']} | {ratio:.2f} | {a['infer_utt_per_s']} | {b['infer_utt_per_s']} |")
shared = [r for r in rows if str(r.get("run", "")).startswith("shared-") and r.get("train_step_s")]
if shared:
    agg = sum(32 / r["train_step_s"] for r in shared)
    print(f"\n{len(shared)} processes sharing the device: {agg:.0f} training items/s together "
          f"(median step {sorted(r['train_step_s'] for r in shared)[len(shared)//2]} s each)")
options = [r for r in rows if str(r.get("run", "")).startswith("epoch-") and "epoch_s" in r and not str(r["run"]).startswith(("epoch-store", "epoch-memory"))]
if options:
    base = {r["variant"]: r for r in options if r["run"] == "epoch-base"}
    print("\n| trainer options | variant | task | epochs s | step s in epoch | step vs base | items/s (all tasks) |")
    print("|---|---|---|---|---|---|---|")
    for r in options:
        b = base.get(r["variant"])
        ratio = f"{b['train_step_s'] / r['train_step_s']:.2f}×" if b and r["train_step_s"] else "?"
        same = [x for x in options if x["run"] == r["run"] and x["variant"] == r["variant"]]
        items = sum(32 / x["train_step_s"] for x in same if x["train_step_s"])
        print(f"| {r['run']} | {r['variant']} | {r.get('task')} | {', '.join(f'{e:.2f}' for e in r['epoch_s'])} | {r['train_step_s']:.4f} | {ratio} | {items:.0f} |")
for r in rows:
    if str(r.get("run", "")).startswith("epoch-") and "epoch_s" in r and r in options:
        continue
    if str(r.get("run", "")).startswith("epoch-") and "epoch_s" in r:
        print(f"\n{r['run']} {r['variant']}: epochs {r['epoch_s']} s, step in epoch {r['train_step_s']:.4f} s "
              f"({r['steps']} steps), eval {r['eval_items_per_s']:.0f} items/s, mixed precision {r['mixed_precision']}")
    if str(r.get("run", "")).startswith("trnet-task") and r.get("stage") == "done":
        print(f"\n{r['run']}: {r['task']} {r['status']} in {r.get('seconds', 0):.1f} s")
failed = sorted({r["run"] for r in rows if r.get("failed")})
skipped = [r["run"] for r in rows if r.get("skipped")]
print(f"\nfailed runs: {', '.join(failed) if failed else 'none'}; skipped for time: {', '.join(skipped) if skipped else 'none'}")
PYEOF
cat "$OUT/summary.md" | tee -a "$log"
say "done in $(($(date +%s) - started)) s; files in $OUT"
