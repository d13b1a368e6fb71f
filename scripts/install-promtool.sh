#!/usr/bin/env bash
# Installs promtool (Debian's prometheus package) so the tests can check deploy/prometheus/*.yml.
# Nothing is started: the package's service needs systemd, which the test machines do not run.
set -euo pipefail
if command -v promtool > /dev/null; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends prometheus > /dev/null
