# Sourced by every script that builds or runs native code: one place for where libtorch, ONNX Runtime and
# cargo's target dir live. Every value can be overridden from the environment.
#   TRNET_CACHE      cache root outside the clone (venv + cargo target dir survive fresh clones)
#   TRNET_VENV       virtualenv holding the pinned torch and onnxruntime wheels
#   LIBTORCH         a libtorch to build against (default: the venv's torch package)
#   ORT_DYLIB_PATH   libonnxruntime.so to load (default: the venv's onnxruntime package)
#   TRNET_SHARED     the shared data/models folder the tests read (default: ../shared)
_trnet_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_trnet_req="$_trnet_root/scripts/requirements-native.txt"
export TRNET_CACHE=${TRNET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trnet}
# Keyed by the pinned versions, so changing them builds a new venv instead of mutating one in use.
_trnet_key=$(grep -v '^#' "$_trnet_req" | sha256sum | cut -c1-12)
export TRNET_VENV=${TRNET_VENV:-$TRNET_CACHE/venv-$_trnet_key}
_trnet_site=$(ls -d "$TRNET_VENV"/lib/python3*/site-packages 2>/dev/null | head -n 1 || true)
if [ -z "${LIBTORCH:-}" ] && [ -n "$_trnet_site" ]; then export LIBTORCH="$_trnet_site/torch"; fi
if [ -z "${ORT_DYLIB_PATH:-}" ] && [ -n "$_trnet_site" ]; then
  ORT_DYLIB_PATH=$(ls "$_trnet_site"/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | head -n 1 || true)
  export ORT_DYLIB_PATH
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$TRNET_CACHE/target}
export TRNET_SHARED=${TRNET_SHARED:-$_trnet_root/../shared}
unset _trnet_req _trnet_key _trnet_site
