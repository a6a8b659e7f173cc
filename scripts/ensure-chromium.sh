#!/usr/bin/env bash
# Makes sure a headless Chromium is on PATH for the HTML report test (test/report.test.ts): Debian's `chromium`
# package, installed non-interactively when missing (needs root). Prints the browser's path on success.
set -euo pipefail
find_browser() {
  for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  done
  return 1
}
if path=$(find_browser); then echo "$path"; exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "ensure-chromium: chromium is not installed and installing it needs root (apt-get install chromium)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
find_browser
