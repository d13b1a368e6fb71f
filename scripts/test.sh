#!/usr/bin/env bash
# Installs what the tests need into .venv and runs every check: lint, types, config, plan coverage, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
bash scripts/install-browser.sh      # Debian's Chromium and a CJK font, for the dashboard tests
bash scripts/install-postgres.sh     # Debian's PostgreSQL server, for the shared-store tests
bash scripts/install-promtool.sh     # promtool, to check the Prometheus rules in deploy/
export WARNROUTE_KAFKA_LIBS="$(bash scripts/kafka.sh fetch)"   # the Apache Kafka broker, from Maven Central (cached)
echo "== ruff";            .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== mypy --strict";   .venv/bin/mypy
echo "== config check";    .venv/bin/warnroute config check
echo "== plan coverage";   .venv/bin/warnroute plan coverage --require-tests > /dev/null
echo "== pytest";          .venv/bin/pytest "$@"
