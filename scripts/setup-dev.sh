#!/usr/bin/env bash
# Dev venv for reference scripts and benchmarks (torchaudio, kaldi-native-fbank, numpy).
#
#   PY=$(scripts/setup-dev.sh)       # creates or reuses the venv; stdout is only its python's path
#   "$PY" scripts/reference/gen_fbank_fixtures.py
#
# The venv lives at $TRNET_CACHE/venv-dev-<hash of requirements-dev.txt>, so changing a pin builds a new one
# instead of mutating one in use. It reads torch from the runtime venv ($TRNET_VENV, made by scripts/setup.sh)
# through a .pth file, so torch (~2.7 GB) is not downloaded twice. Idempotent: a complete venv is reused
# (its .pth is re-pointed if $TRNET_VENV moved); a half-built one is rebuilt; concurrent runs take a lock.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/env.sh"
req="$root/scripts/requirements-dev.txt"
log() { printf 'setup-dev: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ -x "$TRNET_VENV/bin/python" ] && [ -f "$TRNET_VENV/.trnet-complete" ] ||
  die "no runtime venv at $TRNET_VENV (torch lives there); run scripts/setup.sh (npm run setup) first"
runtime_site=$("$TRNET_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
[ -d "$runtime_site/torch" ] || die "runtime venv $TRNET_VENV has no torch in $runtime_site; rerun scripts/setup.sh"

key=$(grep -v '^#' "$req" | sed '/^[[:space:]]*$/d' | sha256sum | cut -c1-12)
dev="$TRNET_CACHE/venv-dev-$key"
mkdir -p "$TRNET_CACHE"

# One builder at a time; a second caller waits, then finds the finished venv.
exec 9>"$dev.lock"
if command -v flock >/dev/null; then flock 9; fi

pth_line="$runtime_site"
point_pth() {
  local site
  site=$("$dev/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  # Named zz- so the dev venv's own packages come first on sys.path, the runtime's after.
  printf '%s\n' "$pth_line" >"$site/zz-trnet-runtime.pth"
}

if [ -f "$dev/.trnet-complete" ] && [ -x "$dev/bin/python" ]; then
  point_pth
else
  log "creating $dev (reads torch from $TRNET_VENV)"
  rm -rf "$dev"
  # Built from the runtime venv's interpreter: venv uses its base Python, so the Python version (and the
  # ABI of the torch wheel seen through the .pth) is the same.
  "$TRNET_VENV/bin/python" -m venv "$dev"
  pip=("$dev/bin/python" -m pip install --quiet --disable-pip-version-check)
  pin() { grep -E "^$1==" "$req" || die "no pin for $1 in $req"; }
  # Installed before the .pth exists, so pip neither sees nor judges the runtime venv's packages
  # (torch is only needed at run time; torchaudio goes in with --no-deps).
  "${pip[@]}" --no-deps "$(pin torchaudio)"
  "${pip[@]}" $(grep -v '^#' "$req" | sed '/^[[:space:]]*$/d' | grep -v '^torchaudio==')
  point_pth
fi

# Smoke check every time: cheap, and catches a runtime venv that changed under us.
if ! "$dev/bin/python" - <<'PY' >&2; then
import torch, torchaudio, numpy, kaldi_native_fbank, soundfile
import torchaudio.compliance.kaldi  # the reference for trnet-dsp's fbank
print(f"setup-dev: torch {torch.__version__}, torchaudio {torchaudio.__version__}, numpy {numpy.__version__}")
PY
  rm -f "$dev/.trnet-complete"  # rebuilt from scratch next time
  die "dev venv $dev failed its import check (above); rerun this script, or check the runtime venv $TRNET_VENV"
fi
touch "$dev/.trnet-complete"
echo "$dev/bin/python"
