#!/usr/bin/env bash
# Installs warnroute into .venv and routes the bundled storm (examples/) through the embedded plan.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
.venv/bin/warnroute config check
echo
echo "Routing the bundled messages (罗平县 rainstorm blue → orange → red, a city Ⅱ report, a 12 h nowcast,"
echo "a gale signal, a cold-wave forecast, the lift, a thunderstorm-gale signal and a drill):"
echo
.venv/bin/warnroute route --format text examples/*
echo
echo "The same decisions as JSON Lines: .venv/bin/warnroute route examples/*"
