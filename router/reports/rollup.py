"""Totals of situation reports, per jurisdiction and for the city, each citing the reports it sums. Pure.

Only reports that stand are counted: one replaced by a later report (an update or a correction) gives
way to it. Amounts (people, houses, areas, money) are summed; levels (rainfall, water level) give the
highest reported. A township's report counts for its county; the development zone is its own place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from router.domain.reports import LEVELS


def totals(reports: Iterable[Mapping[str, Any]], city: str) -> dict[str, Any]:
    """``{"jurisdictions": {code: {"figures": {...}, "reports": [ids], "kinds": {kind: n}}}, "city": {...}}``
    over the standing reports among ``reports`` (as the store reads them)."""
    places: dict[str, dict[str, Any]] = {}
    whole: dict[str, Any] = _empty()
    for report in reports:
        if report.get("replaced_by"):
            continue
        place = places.setdefault(str(report["jurisdiction"]), _empty())
        for target in (place, whole):
            _add(target, report)
    return {"jurisdictions": dict(sorted(places.items())), "city": {**whole, "jurisdiction": city}}


def _empty() -> dict[str, Any]:
    return {"figures": {}, "reports": [], "kinds": {}}


def _add(target: dict[str, Any], report: Mapping[str, Any]) -> None:
    figures: dict[str, float] = target["figures"]
    for name, value in report.get("figures", {}).items():
        if name in LEVELS:
            figures[name] = max(figures.get(name, value), value)
        else:
            figures[name] = figures.get(name, 0) + value
    target["reports"].append(report["id"])
    kind = str(report["kind"])
    target["kinds"][kind] = target["kinds"].get(kind, 0) + 1
