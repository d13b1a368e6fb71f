#!/usr/bin/env bash
# Refreshes constraints.txt: resolves pyproject.toml's dependencies (with the dev extras) afresh in a
# throwaway virtualenv and writes down every version pip chose. Run it to take newer releases on purpose,
# then run the tests (bash scripts/test.sh) before committing the new constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --upgrade pip
"$tmp/venv/bin/python" -m pip install -q -e '.[dev]'
{
    echo "# The resolved dependency set both README commands install from (pip -c). Refresh: bash scripts/lock.sh"
    "$tmp/venv/bin/python" -m pip freeze --all --exclude-editable | grep -iv '^warnroute'
} > constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) pinned packages"
