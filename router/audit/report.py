"""The compliance report of one warning: every obligation, who, when, how late; the §4.3 and §4.4 checks;
the breach list with reasons; and a human-readable page with a timeline. Pure: built from what the
store returns (``get_warning`` and the warning's audit events).
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from router.plan.config import RoutingConfig

CLOSED = ("cancelled", "superseded")


def _t(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def span(seconds: float) -> str:
    """``2 min 10 s``, ``45 s``, ``1 h 5 min``."""
    s = round(abs(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        m, r = divmod(s, 60)
        return f"{m} min {r} s" if r else f"{m} min"
    h, r = divmod(s, 3600)
    return f"{h} h {r // 60} min" if r >= 60 else f"{h} h"


def _after(value: str | None, issued: float) -> str | None:
    t = _t(value)
    return span(t - issued) if t is not None else None


def breach_reason(o: dict[str, Any], done_at: float | None) -> str:
    """Why an obligation was not done by its deadline, from what its notifications came to."""
    sends = [n for n in o["notifications"] if n.get("purpose", "action") == "action"]
    delivered = [n for n in sends if n["state"] == "delivered"]
    failed = [n for n in sends if n["state"] == "failed"]
    if done_at is not None:
        return "done late"
    if delivered or o["delivered_at"]:
        return "delivered but not acknowledged" if o["ack_mode"] != "confirm" else "reached but no person confirmed"
    if sends and all(n["state"] == "failed" for n in sends):
        errors = sorted({n["last_error"] or "failed" for n in failed})
        return "every channel failed: " + "; ".join(errors)
    if any(n["state"] == "sent" for n in sends) or o["sent_at"]:
        return "sent, but no delivery receipt came back"
    if not sends:
        return "no channel to push to (feed only)"
    held = sorted({n["last_error"] for n in sends if n["state"] == "pending" and _held(n["last_error"])})
    if held:
        return "held by the providers' limits: " + "; ".join(held)
    return "not yet sent"


def _held(error: str | None) -> bool:
    """Whether a waiting notification waits for a provider's window (its limit, or warnroute's count of it)."""
    return error is not None and ("over the" in error or error.startswith("waiting for"))


def held_reason(error: str) -> str:
    """A notification waiting for a provider's window, in the duty office's words (zh / en)."""
    return f"等待通道限额 / held by the providers' limits: {error}"


def board_reason(o: dict[str, Any]) -> str:
    """Why an obligation is late, in the duty office's words, from its timestamps (zh / en)."""
    if o.get("delivered_at"):
        if o.get("ack_mode") == "confirm":
            return "已接通，未按键确认 / reached, no person confirmed"
        return "已送达，未确认 / delivered, not acknowledged"
    if o.get("sent_at"):
        return "已发出，无送达回执 / sent, no delivery receipt"
    return "未能送达 / not reached on any channel"


def build(found: dict[str, Any], events: list[dict[str, Any]], config: RoutingConfig, now: float) -> dict[str, Any]:
    w = found["warning"]
    issued = datetime.fromisoformat(w["issued_at"]).timestamp()
    rows, breaches, checks = [], [], []
    tasks: list[dict[str, Any]] = []
    for o in found["obligations"]:
        a = o["action"]
        dept = config.departments.get(a["department"])
        juris = config.jurisdictions.get(a["jurisdiction"])
        who = f"{juris.zh if juris else a['jurisdiction']}{dept.zh if dept else a['department']}"
        deadline = _t(o["deadline"]) or _t(a["due_at"]) or issued
        done_at = _t(o["delivered_at"]) if o["ack_mode"] == "delivery" else _t(o["acknowledged_at"])
        reached = _t(o["delivered_at"]) or _t(o["sent_at"])
        if o["state"] in CLOSED:
            verdict = o["state"]
        elif done_at is not None:
            verdict = "in time" if done_at <= deadline else "late"
        elif now > deadline:
            verdict = "breached"
        else:
            verdict = "open"
        row = {
            "obligation_id": o["id"],
            "who": who,
            "department": a["department"],
            "jurisdiction": a["jurisdiction"],
            "kind": a["kind"],
            "clause": a["clause"],
            "mandatory": a["mandatory"],
            "state": o["state"],
            "verdict": verdict,
            "deadline": o["deadline"] or a["due_at"],
            "sent_after": _after(o["sent_at"], issued),
            "delivered_after": _after(o["delivered_at"], issued),
            "acknowledged_after": _after(o["acknowledged_at"], issued),
            "acknowledged_by": o["acknowledged_by"],
            "ack_method": o["ack_method"],
            "ack_reason": o["ack_reason"],
            "late_by": span(done_at - deadline) if done_at is not None and done_at > deadline else None,
            "escalated_at": o["escalated_at"],
            "breached_at": o["breached_at"],
            "channels": [f"{n['channel']}:{n['state']}" for n in o["notifications"]],
            "_times": (issued, _t(o["sent_at"]), _t(o["delivered_at"]), _t(o["acknowledged_at"]), deadline),
        }
        rows.append(row)
        if verdict in ("breached", "late") or o["breached_at"]:
            breaches.append(
                {
                    "obligation_id": o["id"],
                    "who": who,
                    "kind": a["kind"],
                    "clause": a["clause"],
                    "reason": breach_reason(o, done_at),
                }
            )
        if a["kind"] in ("direct_report", "phone_report", "disseminate") and o["state"] not in CLOSED:
            checks.append(_check(a, who, issued, deadline, reached, done_at, o))
        if a["kind"] == "task" and o["state"] not in CLOSED:
            tasks.append(_task(o, a, who, deadline, now))
    return {
        "warning_id": found["identifier"],
        "headline": found["decision"]["warning"].get("headline"),
        "issued_at": w["issued_at"],
        "drill": found["decision"].get("drill", False),
        "generated_at": datetime.fromtimestamp(now).astimezone().isoformat(),
        "summary": {
            "obligations": len(rows),
            "in_time": sum(r["verdict"] == "in time" for r in rows),
            "late": sum(r["verdict"] == "late" for r in rows),
            "breached": sum(r["verdict"] == "breached" for r in rows),
            "open": sum(r["verdict"] == "open" for r in rows),
            "closed": sum(r["verdict"] in CLOSED for r in rows),
        },
        "checks": checks,
        "tasks": tasks,
        "tasks_summary": {status: sum(t["status"] == status for t in tasks) for status in TASK_STATUSES},
        "breaches": breaches,
        "obligations": rows,
        "events": events,
    }


TASK_STATUSES = ("done", "done late", "not done", "in progress")
TASK_WORDS = {"done": "已落实", "done late": "逾期落实", "not done": "未落实", "in progress": "落实中"}


def _task(o: dict[str, Any], a: dict[str, Any], who: str, deadline: float, now: float) -> dict[str, Any]:
    """A §4.5 task as the report lists it: done (in time or late, with its figures), or not done and how late."""
    done_at = _t(o.get("done_at"))
    if done_at is not None:
        status = "done" if done_at <= deadline else "done late"
        late = span(done_at - deadline) if done_at > deadline else None
    elif now > deadline:
        status, late = "not done", span(now - deadline)
    else:
        status, late = "in progress", None
    words = TASK_WORDS[status] + (f"，逾期 {late}" if late else "")
    return {
        "obligation_id": o["id"],
        "who": who,
        "task": a.get("task"),
        "clause": a["clause"],
        "status": status,
        "words": words,
        "deadline": o["deadline"] or a["due_at"],
        "done_at": o.get("done_at"),
        "done_by": o.get("done_by"),
        "figures": o.get("done_figures") or {},
        "late_by": late,
    }


def _check(
    a: dict[str, Any],
    who: str,
    issued: float,
    deadline: float,
    reached: float | None,
    done_at: float | None,
    o: dict[str, Any],
) -> dict[str, Any]:
    limit = span(deadline - issued)
    if a["kind"] == "disseminate":
        what = "dissemination started (confirmed by the broadcaster or operator)"
    elif a["kind"] == "phone_report":
        what = "phone report confirmed by a person"
    else:
        what = "direct report acknowledged"
    parts = [f"{who} reached in {span(reached - issued)}" if reached else f"{who} not reached"]
    if done_at is not None:
        how = f" ({o['ack_method']})" if o.get("ack_method") else ""
        parts.append(f"{'acknowledged' if a['kind'] != 'disseminate' else 'started'} in {span(done_at - issued)}{how}")
    else:
        parts.append("not acknowledged")
    met = done_at is not None and done_at <= deadline
    return {
        "clause": a["clause"],
        "kind": a["kind"],
        "who": who,
        "met": met,
        "statement": f"§{a['clause']} {what} within {limit}: " + ", ".join(parts) + (" — met" if met else " — NOT met"),
    }


def to_html(report: dict[str, Any]) -> str:
    """A self-contained page (no scripts, no external assets): summary, checks, breaches, timeline, table."""
    e = html.escape
    s = report["summary"]
    checks = (
        "".join(f"<li class={'ok' if c['met'] else 'bad'}>{e(c['statement'])}</li>" for c in report["checks"])
        or "<li>No §4.3 or §4.4 obligations for this warning.</li>"
    )
    breaches = "".join(
        f"<tr><td>{e(b['who'])}</td><td>{e(b['kind'])}</td><td>§{e(b['clause'])}</td><td>{e(b['reason'])}</td></tr>"
        for b in report["breaches"]
    )
    tasks = "".join(
        f"<tr class={'bad' if t['status'] in ('not done', 'done late') else 'ok'}><td>{e(t['who'])}</td>"
        f"<td>{e(t['task'] or '')}</td><td>{e(t['words'])}</td><td>{e(t['done_by'] or '—')}</td>"
        f"<td>{e(', '.join(f'{k} {v:g}' for k, v in t['figures'].items()) or '—')}</td></tr>"
        for t in report.get("tasks", [])
    )
    table = "".join(
        "<tr class='{cls}'><td>{who}</td><td>{kind}</td><td>§{clause}</td><td>{verdict}</td><td>{sent}</td>"
        "<td>{deliv}</td><td>{ack}</td><td>{by}</td><td>{late}</td><td>{ch}</td></tr>".format(
            cls="bad" if r["verdict"] in ("breached", "late") else "",
            who=e(r["who"]),
            kind=e(r["kind"]),
            clause=e(r["clause"]),
            verdict=e(r["verdict"]),
            sent=e(r["sent_after"] or "—"),
            deliv=e(r["delivered_after"] or "—"),
            ack=e(r["acknowledged_after"] or "—"),
            by=e(" / ".join(x for x in (r["acknowledged_by"], r["ack_method"], r["ack_reason"]) if x) or "—"),
            late=e(r["late_by"] or ""),
            ch=e(", ".join(r["channels"])),
        )
        for r in report["obligations"]
    )
    return f"""<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>Compliance report {e(report["warning_id"])}</title>
<style>
body{{font-family:sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left}} .bad{{background:#fde2e2}} li.ok{{color:#1a6b1a}}
li.bad{{color:#a00;background:none}} .legend span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}}
</style></head><body>
<h1>合规报告 Compliance report</h1>
<p><b>{e(report["headline"] or "")}</b> — {e(report["warning_id"])}, issued {e(report["issued_at"])}
{"<b>（演练 drill）</b>" if report["drill"] else ""}</p>
<p>{s["obligations"]} obligations: {s["in_time"]} done in time, {s["late"]} late, {s["breached"]} breached,
{s["open"]} open, {s["closed"]} closed.</p>
<h2>§4.3 / §4.4 checks</h2><ul>{checks}</ul>
<h2>§4.5 任务落实 Tasks ({len(report["tasks"])})</h2>
<table><tr><th>who</th><th>task</th><th>status</th><th>done by</th><th>figures</th></tr>{tasks}</table>
<h2>Breaches ({len(report["breaches"])})</h2>
<table><tr><th>who</th><th>kind</th><th>clause</th><th>reason</th></tr>{breaches}</table>
<h2>Timeline</h2>{timeline_svg(report)}
<h2>Obligations</h2>
<table><tr><th>who</th><th>kind</th><th>clause</th><th>verdict</th><th>sent</th><th>delivered</th><th>acknowledged</th>
<th>by / how / why</th><th>late by</th><th>channels</th></tr>{table}</table>
<p><small>generated {e(report["generated_at"])}</small></p>
</body></html>
"""


def timeline_svg(report: dict[str, Any], width: int = 900, row: int = 14) -> str:
    """One bar per obligation from issue to done: light to delivery, dark to acknowledgement; a tick at the deadline."""
    rows = report["obligations"]
    if not rows:
        return "<p>No obligations.</p>"
    issued: float = rows[0]["_times"][0]
    end = max(max((t for t in r["_times"] if t is not None), default=issued) for r in rows)
    total = max(end - issued, 60.0) * 1.05
    label = 220
    scale = (width - label - 10) / total

    def x(t: float) -> float:
        return label + (t - issued) * scale

    def bar(start: float, stop: float, y: int, colour: str) -> str:
        width_ = max((stop - start) * scale, 1.0)
        return f'<rect x="{x(start):.1f}" y="{y + 2}" width="{width_:.1f}" height="9" fill="{colour}"/>'

    parts = []
    for i, r in enumerate(rows):
        _, sent, delivered, acked, deadline = r["_times"]
        y = 20 + i * row
        name = f"{html.escape(r['who'][:18])} {html.escape(r['kind'])}"
        parts.append(f'<text x="2" y="{y + 10}" font-size="10">{name}</text>')
        if delivered is not None:
            parts.append(bar(issued, delivered, y, "#9cc3e6"))
        elif sent is not None:
            parts.append(bar(issued, sent, y, "#ddd"))
        if acked is not None:
            start = delivered if delivered is not None else issued
            parts.append(bar(start, acked, y, "#1f5f99" if acked <= deadline else "#c0392b"))
        elif r["verdict"] == "breached":
            parts.append(bar(deadline - 2 / scale, deadline + 2 / scale, y, "#c0392b"))
        dx = f"{x(deadline):.1f}"
        parts.append(f'<line x1="{dx}" x2="{dx}" y1="{y}" y2="{y + row}" stroke="#c0392b" stroke-dasharray="2,2"/>')
    ticks: list[str] = []
    step = 60.0 if total <= 1800 else 300.0 if total <= 7200 else 3600.0
    t = 0.0
    while t <= total and len(ticks) < 60:
        ticks.append(f'<text x="{x(issued + t):.1f}" y="12" font-size="9">+{span(t)}</text>')
        t += step * max(1, int(total / step / 12))
    height = 30 + len(rows) * row
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="timeline">{"".join(ticks)}{"".join(parts)}</svg>'
        '<p class="legend"><span style="background:#9cc3e6"></span>to delivery<span style="background:#1f5f99">'
        '</span>to acknowledgement<span style="background:#c0392b"></span>late / deadline</p>'
    )


def public(report: dict[str, Any]) -> dict[str, Any]:
    """The report as JSON: without the internal timing tuples."""
    return {**report, "obligations": [{k: v for k, v in r.items() if k != "_times"} for r in report["obligations"]]}
