#!/usr/bin/env bash
# Installs what the tests need into .venv and runs every check: lint, types, import contracts, config, plan coverage, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh dev               # .venv from the pinned set (constraints.txt); python3-venv if missing
bash scripts/install-system.sh       # Debian's Chromium + CJK font, PostgreSQL server, promtool (if missing)
export WARNROUTE_KAFKA_LIBS="$(bash scripts/kafka.sh fetch)"   # the Apache Kafka broker, from Maven Central (cached)
echo "== ruff";            .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== mypy --strict";   .venv/bin/mypy
echo "== import contracts"; .venv/bin/lint-imports
echo "== config check";    .venv/bin/warnroute config check
echo "== plan coverage";   .venv/bin/warnroute plan coverage --require-tests > /dev/null
echo "== pytest";          .venv/bin/pytest "$@"
