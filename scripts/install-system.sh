#!/usr/bin/env bash
# Installs from Debian's packages what the tests need beside Python, in one apt-get call, only what is
# missing: Chromium and a font with Chinese glyphs (dashboard tests; Playwright drives this Chromium, no
# browser is downloaded), the PostgreSQL server (shared-store tests start their own throwaway cluster),
# promtool (the alert rules in deploy/), and Java with Maven (scripts/kafka.sh resolves the Kafka broker
# from Maven Central). Nothing is started here.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
fc-list 2>/dev/null | grep -qi "wqy\|noto sans cjk" || need+=(fonts-wqy-zenhei)
ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 || need+=(postgresql)
command -v promtool > /dev/null || need+=(prometheus)
command -v java > /dev/null || need+=(default-jre-headless)
command -v mvn > /dev/null || need+=(maven)
if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" > /dev/null
