#!/usr/bin/env bash
# Makes .venv with Python 3.11 or newer and installs warnroute into it from the pinned set (constraints.txt).
# Usage: scripts/venv.sh [EXTRAS]   e.g. `dev` for what the tests need. Stock Debian's python3 lacks the
# venv module's pip (package python3-venv): it is installed with apt-get (as root or through sudo) first.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "warnroute needs Python 3.11 or newer; python3 is $(python3 --version 2>&1)" >&2
    exit 1
}
if ! python3 -c 'import ensurepip, venv' 2> /dev/null; then
    SUDO=""
    [ "$(id -u)" = "0" ] || SUDO="sudo"
    version=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "python${version}-venv" > /dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -c constraints.txt --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt -e ".${extras:+[$extras]}"
