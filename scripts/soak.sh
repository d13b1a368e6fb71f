#!/usr/bin/env bash
# The storm-night soak on the real processes: bash scripts/soak.sh [MINUTES] [SEED] (default 30 minutes).
# Writes its figures to bench/soak-latest.json; exits non-zero if anything was lost, duplicated or a
# breach is unexplained. Needs the test environment (bash scripts/venv.sh dev, or a run of scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-30}"
seed="${2:-1}"
[ -x .venv/bin/python ] || bash scripts/venv.sh dev
exec .venv/bin/python -m tests.soak --minutes "$minutes" --seed "$seed" --out bench/soak-latest.json
