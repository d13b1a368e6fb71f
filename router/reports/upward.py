"""The upward report (plan §5.6): for a period and a jurisdiction, what happened, what was done and what was
lost, by county, built from the warnings' obligations and the situation reports; every loss figure lists
the reports it sums, and every report it cites is listed in full. Pure; HTML (printable) and CSV views.

§5.6: 各级人民政府负责收集和提供行政区内气象灾害发生、发展、防御和造成损失等情况，及时向上级有关单位报告。
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from router.domain.reports import FIGURES, KIND_FIGURES, KIND_NAMES, ReportKind
from router.reports.rollup import RANKS, totals

BEIJING = timezone(timedelta(hours=8))
LOSSES = KIND_FIGURES[ReportKind.LOSSES]
"""The loss figures the report's table gives, in this order (the rest of a report's figures are in its note)."""
DONE_STATES = ("acknowledged", "done")


def build(
    warnings: Iterable[Mapping[str, Any]],
    reports: Sequence[Mapping[str, Any]],
    places: Mapping[str, str],
    city: str,
    since: float,
    until: float,
    now: float,
) -> dict[str, Any]:
    """``places``: code → name of the places it covers (a county and the zone; the whole city). A task not
    done is counted 未落实 once its deadline has passed (before the period's end and before ``now``)."""
    rows: dict[str, dict[str, Any]] = {code: _row(code, name) for code, name in places.items()}
    for w in warnings:
        info = w["warning"]
        touched: set[str] = set()
        for o in w["obligations"]:
            row = rows.get(o["jurisdiction"])
            if row is None or o["state"] in ("cancelled", "superseded") or o["kind"] in ("lift", "inform"):
                continue
            touched.add(o["jurisdiction"])
            row["obligations"] += 1
            row["acknowledged"] += o["state"] in DONE_STATES or bool(o["ack_mode"] == "delivery" and o["delivered_at"])
            if o["kind"] == "task":
                row["tasks"] += 1
                if o["done_at"] is not None:
                    late = o["deadline"] is not None and o["done_at"] > o["deadline"]
                    row["tasks_late" if late else "tasks_done"] += 1
                    for name, value in (o["done_figures"] or {}).items():
                        row["task_figures"][name] = row["task_figures"].get(name, 0) + value
                elif o["deadline"] is not None and o["deadline"] < min(until, now):
                    row["tasks_not_done"] += 1
        for code in touched:
            if info.get("msg_type") == "cancel":
                continue
            row = rows[code]
            row["warnings"].append(
                {
                    "id": w["identifier"],
                    "headline": info.get("headline") or info.get("hazard_name", ""),
                    "level": info.get("severity"),
                }
            )
            if RANKS.get(str(info.get("severity")), 0) > RANKS.get(str(row["highest"]), 0):
                row["highest"] = info.get("severity")
    standing = [r for r in reports if not r.get("replaced_by") and r["jurisdiction"] in rows]
    summed = totals(standing, city)
    for code, found in summed["jurisdictions"].items():
        row = rows[code]
        row["losses"] = {k: found["figures"][k] for k in LOSSES if k in found["figures"]}
        row["reports"] = list(found["reports"])
    whole = _row("total", "全市合计" if len(rows) > 2 else "合计")
    for row in rows.values():
        for key in ("obligations", "acknowledged", "tasks", "tasks_done", "tasks_late", "tasks_not_done"):
            whole[key] += row[key]
        for name, value in row["losses"].items():
            whole["losses"][name] = whole["losses"].get(name, 0) + value
        for name, value in row["task_figures"].items():
            whole["task_figures"][name] = whole["task_figures"].get(name, 0) + value
        whole["reports"] += row["reports"]
        whole["warnings"] += [w for w in row["warnings"] if w["id"] not in {x["id"] for x in whole["warnings"]}]
        if RANKS.get(str(row["highest"]), 0) > RANKS.get(str(whole["highest"]), 0):
            whole["highest"] = row["highest"]
    return {
        "jurisdiction": city,
        "since": datetime.fromtimestamp(since, BEIJING).isoformat(timespec="seconds"),
        "until": datetime.fromtimestamp(until, BEIJING).isoformat(timespec="seconds"),
        "places": list(rows.values()),
        "total": whole,
        "cited": [dict(r) for r in standing],
    }


def _row(code: str, name: str) -> dict[str, Any]:
    return {
        "jurisdiction": code,
        "name": name,
        "highest": None,
        "warnings": [],
        "obligations": 0,
        "acknowledged": 0,
        "tasks": 0,
        "tasks_done": 0,
        "tasks_late": 0,
        "tasks_not_done": 0,
        "task_figures": {},
        "losses": {},
        "reports": [],
    }


COLUMNS = (
    ("jurisdiction", "代码"),
    ("name", "地区"),
    ("highest", "最高预警"),
    ("warnings", "预警数"),
    ("obligations", "应办事项"),
    ("acknowledged", "已确认"),
    ("tasks_done", "任务按时落实"),
    ("tasks_late", "任务逾期落实"),
    ("tasks_not_done", "任务未落实"),
    ("task_people_moved", "任务转移人员"),
    *((f"loss_{k}", f"{FIGURES[k].name}（{FIGURES[k].unit}）") for k in LOSSES),
    ("reports", "所据报告"),
)


def _cells(row: Mapping[str, Any]) -> dict[str, Any]:
    cells: dict[str, Any] = {
        "jurisdiction": row["jurisdiction"],
        "name": row["name"],
        "highest": row["highest"] or "",
        "warnings": len(row["warnings"]),
        "obligations": row["obligations"],
        "acknowledged": row["acknowledged"],
        "tasks_done": row["tasks_done"],
        "tasks_late": row["tasks_late"],
        "tasks_not_done": row["tasks_not_done"],
        "task_people_moved": _n(row["task_figures"].get("people_moved", 0)),
        "reports": " ".join(row["reports"]),
    }
    for k in LOSSES:
        cells[f"loss_{k}"] = _n(row["losses"].get(k, 0))
    return cells


def _n(value: float) -> str:
    return f"{value:g}"


def to_csv(report: Mapping[str, Any]) -> str:
    """One row per place and one for the total; the last column lists the reports each row's losses sum."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([title for _, title in COLUMNS])
    for row in (*report["places"], report["total"]):
        cells = _cells(row)
        writer.writerow([cells[key] for key, _ in COLUMNS])
    return out.getvalue()


def to_html(report: Mapping[str, Any], jurisdiction_name: str) -> str:
    """A printable page (no scripts, no external assets): the table by county, then every report it cites."""
    e = html.escape
    head = "".join(f"<th>{e(title)}</th>" for _, title in COLUMNS)
    rows = [*((r["jurisdiction"], _cells(r)) for r in report["places"]), ("total", _cells(report["total"]))]
    body = "".join(
        f"<tr data-place='{e(place)}'>"
        + "".join(f"<td class='{e(key)}'>{e(str(cells[key]))}</td>" for key, _ in COLUMNS)
        + "</tr>"
        for place, cells in rows
    )
    cited = "".join(
        "<li id='r-{id}'><b>{id}</b> {kind} · {office} · {observed} · {figures}{text}</li>".format(
            id=e(r["id"]),
            kind=e(KIND_NAMES.get(ReportKind(r["kind"]), r["kind"])),
            office=e(f"{r['jurisdiction']}/{r['department']}"),
            observed=e(r["observed_at"]),
            figures=e("，".join(f"{FIGURES[k].name} {_n(v)}{FIGURES[k].unit}" for k, v in r["figures"].items()) or "—"),
            text=f" — {e(r['text'])}" if r.get("text") else "",
        )
        for r in report["cited"]
    )
    warnings = "".join(
        f"<li>{e(w['id'])} {e(w['headline'] or '')} ({e(str(w['level'] or ''))})</li>"
        for w in report["total"]["warnings"]
    )
    return f"""<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>气象灾害情况报告 {e(jurisdiction_name)}</title>
<style>
body{{font-family:"Noto Sans CJK SC",sans-serif;margin:2em;color:#111}} table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #999;padding:3px 5px;text-align:left}} tr:last-child{{font-weight:700}}
@media print{{body{{margin:1cm}} a{{color:#000}}}}
</style></head><body>
<h1>气象灾害发生、防御和损失情况报告（§5.6）</h1>
<p>{e(jurisdiction_name)} · {e(report["since"])} — {e(report["until"])}</p>
<h2>一、发生情况（预警）</h2><ul>{warnings or "<li>期间无预警。</li>"}</ul>
<h2>二、防御与损失（分县）</h2>
<table><tr>{head}</tr>{body}</table>
<h2>三、所据报告（{len(report["cited"])} 份）</h2><ol>{cited or "<li>期间无灾情报告。</li>"}</ol>
<p><small>各项损失数字为所列报告之和（被更新或更正的报告以最新一份为准）。</small></p>
</body></html>
"""
