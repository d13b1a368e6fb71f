"""Totals of situation reports, per jurisdiction and for the city, each citing the reports it sums. Pure.

Only reports that stand are counted: one replaced by a later report (an update or a correction) gives
way to it. Amounts (people, houses, areas, money) are summed; levels (rainfall, water level) give the
highest reported. A township's report counts for its county; the development zone is its own place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
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


RANKS = {"blue": 1, "yellow": 2, "orange": 3, "red": 4}
CLOSED = ("cancelled", "superseded")
ACKNOWLEDGED = ("acknowledged", "done")
CASUALTY_FIGURES = ("dead", "missing", "injured", "people_moved", "direct_loss_wan")


def glance(
    warnings: Iterable[Mapping[str, Any]],
    reported: Mapping[str, Any],
    places: Iterable[str],
    counties_of: Mapping[str, tuple[str, ...]],
    now: float,
) -> dict[str, Any]:
    """The city at a glance: per place (each county and the zone) its highest active warning, the active
    warnings' obligations there (acknowledged %, tasks done, people moved by them) and its reports' totals;
    and the same for the whole city. ``warnings`` are the board's (newest first), ``reported`` the reports'
    ``totals``; ``counties_of`` maps an area code (the city, a county, a township) to the places it covers.

    A lineage is active while its newest message is not a lift or an all-clear and has not expired; its
    places are those its areas cover and those its obligations are in.
    """
    out: dict[str, dict[str, Any]] = {p: _place() for p in places}
    newest: dict[str, Mapping[str, Any]] = {}
    for w in warnings:
        if not w.get("drill"):
            newest.setdefault(str(w.get("lineage") or w["identifier"]), w)
    for w in newest.values():
        info = w["warning"]
        expires = info.get("expires")
        if info.get("msg_type") == "cancel" or info.get("all_clear"):
            continue
        if expires and datetime.fromisoformat(expires).timestamp() <= now:
            continue
        covered = {p for code in info.get("areas", ()) for p in counties_of.get(code, ())}
        covered |= {o["jurisdiction"] for o in w["obligations"] if o["jurisdiction"] in out}
        rank = RANKS.get(str(info.get("severity")), 0)
        for code in covered:
            place = out.get(code)
            if place is None:
                continue
            if rank > RANKS.get(place["level"] or "", 0):
                place["level"] = info.get("severity")
            place["warnings"].append(w["identifier"])
        for o in w["obligations"]:
            place = out.get(o["jurisdiction"])
            if place is None or o["state"] in CLOSED or o["kind"] == "lift":
                continue
            _count(place, o)
    for code, place in out.items():
        found = reported.get("jurisdictions", {}).get(code)
        if found:
            place["reported"] = {k: v for k, v in found["figures"].items() if k in CASUALTY_FIGURES}
            place["reports"] = list(found["reports"])
    city = _place()
    for place in out.values():
        for key in ("obligations", "acknowledged", "tasks", "tasks_done", "people_moved"):
            city[key] += place[key]
        for name, value in place["reported"].items():
            city["reported"][name] = city["reported"].get(name, 0) + value
        city["reports"] += place["reports"]
        if RANKS.get(place["level"] or "", 0) > RANKS.get(city["level"] or "", 0):
            city["level"] = place["level"]
    for place in (*out.values(), city):
        place["acknowledged_pct"] = (
            round(100 * place["acknowledged"] / place["obligations"]) if place["obligations"] else None
        )
    return {"places": out, "city": city}


def _place() -> dict[str, Any]:
    return {
        "level": None,
        "warnings": [],
        "obligations": 0,
        "acknowledged": 0,
        "tasks": 0,
        "tasks_done": 0,
        "people_moved": 0,
        "reported": {},
        "reports": [],
    }


def _count(place: dict[str, Any], o: Mapping[str, Any]) -> None:
    place["obligations"] += 1
    done = o["state"] in ACKNOWLEDGED or (o.get("ack_mode") == "delivery" and o.get("delivered_at"))
    place["acknowledged"] += bool(done)
    if o["kind"] == "task":
        place["tasks"] += 1
        if o["state"] == "done":
            place["tasks_done"] += 1
            place["people_moved"] += int((o.get("done_figures") or {}).get("people_moved", 0))
