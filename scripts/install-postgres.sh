#!/usr/bin/env bash
# Installs the PostgreSQL server from Debian's packages for the shared-store tests. The tests start their
# own throwaway cluster on a loopback port (tests/pgserver.py); nothing here starts a service.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends postgresql > /dev/null
