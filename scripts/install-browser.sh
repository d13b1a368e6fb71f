#!/usr/bin/env bash
# Installs what the browser tests need from Debian's packages: Chromium (/usr/bin/chromium) and a
# font with Chinese glyphs. Playwright drives this Chromium; no browser is downloaded.
set -euo pipefail
if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi "wqy\|noto sans cjk"; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-wqy-zenhei > /dev/null
