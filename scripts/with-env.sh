#!/usr/bin/env bash
# Runs a command with the native build environment of scripts/env.sh.
set -euo pipefail
source "$(dirname "$0")/env.sh"
exec "$@"
