#!/usr/bin/env bash
# Makes (once) the whole-utterance GTCRN ONNX export from the shared DNS3 checkpoint, checked frame by frame
# against the published streaming export on a VoiceBank and a RAVDESS recording, and prints its path:
#
#   model=$(scripts/export-gtcrn-offline.sh)        # $TRNET_CACHE/models/gtcrn-offline-v1-<sha>.onnx
#   scripts/export-gtcrn-offline.sh --checkpoint my.tar --out my-gtcrn.onnx
#
# Extra arguments go to scripts/export-gtcrn-offline.py (--help lists them). Runs in the dev venv
# (scripts/setup-dev.sh: torch from the runtime venv, plus onnx, numpy, soundfile); an existing output is kept
# (--force rewrites it). Takes about 15 s.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/env.sh"
py=$(bash "$root/scripts/setup-dev.sh")
gtcrn="$TRNET_SHARED/models/gtcrn"
check=()
# The check compares against the streaming export of the shared checkpoint, so only for that checkpoint.
own_checkpoint=0
for arg in "$@"; do [[ $arg == --checkpoint || $arg == --checkpoint=* ]] && own_checkpoint=1; done
if [ $own_checkpoint = 0 ] && [ -f "$gtcrn/gtcrn_simple.onnx" ]; then
  check=(--stream-onnx "$gtcrn/gtcrn_simple.onnx")
  for wav in data/voicebank-samples/noisy/p232_003.flac data/ravdess/Actor_01/03-01-01-01-01-01-01.flac; do
    [ -f "$TRNET_SHARED/$wav" ] && check+=(--wav "$TRNET_SHARED/$wav")
  done
  [ ${#check[@]} -gt 2 ] || check=()
fi
exec "$py" "$root/scripts/export-gtcrn-offline.py" "${check[@]}" "$@"
