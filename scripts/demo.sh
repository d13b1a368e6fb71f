#!/usr/bin/env bash
# Installs warnroute into .venv and runs the demo: the router and the provider simulator on
# loopback, a storm replayed through them, a summary. Extra arguments go to `warnroute demo`
# (e.g. --exit to stop after the summary).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
.venv/bin/warnroute config check
.venv/bin/warnroute demo "$@"
