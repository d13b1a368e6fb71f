#!/usr/bin/env bash
# Installs warnroute into .venv and runs the demo: the router and the provider simulator on
# loopback, a storm replayed through them, a summary. Extra arguments go to `warnroute demo`
# (e.g. --exit to stop after the summary).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh                   # .venv from the pinned set (constraints.txt); python3-venv if missing
.venv/bin/warnroute config check
.venv/bin/warnroute demo "$@"
