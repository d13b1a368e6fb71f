"""Situation reports (DESIGN §13): ``POST /api/v1/reports`` files one; ``GET /api/v1/reports`` lists them;
``GET /api/v1/reports/totals`` sums the standing ones per jurisdiction and for the city, each total citing
the reports it sums. Filing takes the same tokens and roles as the rest of the API, and a principal with a
signing key signs its body as a publisher signs a warning (a person filing from the department page signed
in with the token: the page's session needs no body signature).
"""

from __future__ import annotations

import time
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from router.access.roles import reports_scope
from router.errors import Forbidden, InvalidRequest, NotFound
from router.parsers.xmlsafe import MAX_BYTES
from router.reports import upward
from router.reports.rollup import totals
from router.reports.service import parse_report
from router.web.answers import rt

router = APIRouter()
DAY = 86400.0


@router.post("/api/v1/reports", status_code=201)
async def file_report(request: Request) -> Response:
    """File a situation report (a department for its office, a government for its jurisdiction's offices,
    the duty office on an office's behalf with a reason). Sending the same report again is safe."""
    runtime = rt(request)
    principal = await runtime.gate.require(request, "file_report")
    body = await request.body()
    if len(body) > MAX_BYTES:
        raise InvalidRequest("body", f"over the {MAX_BYTES}-byte limit; nothing was filed")
    if principal.signing_key_ref is not None and not runtime.gate.by_session(request):
        await runtime.gate.check_signature(request, principal, body)
    report = parse_report(body)
    try:
        outcome, stored = await runtime.reports.file(principal, report)
    except Forbidden as exc:  # filing for an office it may not: counted and audited as every denial
        await runtime.gate.deny(request, principal, exc.field, exc.problem)
        raise
    return JSONResponse(
        {"report_id": outcome.report_id, "status": outcome.status, "report": stored},
        status_code=201 if outcome.status == "created" else 200,
    )


def _moment(name: str, value: str) -> float:
    try:
        return datetime.fromisoformat(value).timestamp()
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidRequest(name, f"not an ISO 8601 time: {exc}") from None


def _period(since: str | None, until: str | None) -> tuple[float, float]:
    end = _moment("until", until) if until else time.time() + DAY
    start = _moment("since", since) if since else end - 30 * DAY
    if start >= end:
        raise InvalidRequest("since", "since must be before until")
    return start, end


@router.get("/api/v1/reports")
async def list_reports(
    request: Request, since: str | None = None, until: str | None = None, jurisdiction: str | None = None
) -> Response:
    """Reports observed in [since, until) (default: the last 30 days), oldest first; a department reads its
    jurisdiction's."""
    runtime = rt(request)
    principal = await runtime.gate.require(request, "read_reports")
    start, end = _period(since, until)
    scope = reports_scope(principal)
    if jurisdiction is not None:
        scope = [jurisdiction] if scope is None or jurisdiction in scope else []
    return JSONResponse({"reports": await runtime.store.reports(start, end, scope)})


@router.get("/api/v1/reports/totals")
async def report_totals(request: Request, since: str | None = None, until: str | None = None) -> Response:
    """Per jurisdiction and for the city: the standing reports' figures summed (levels: the highest), with
    the ids of the reports each total sums."""
    runtime = rt(request)
    principal = await runtime.gate.require(request, "read_reports")
    start, end = _period(since, until)
    reports = await runtime.store.reports(start, end, reports_scope(principal))
    return JSONResponse(totals(reports, runtime.config.city))


@router.get("/api/v1/reports/{report_id}/deliveries")
async def report_deliveries(request: Request, report_id: str) -> Response:
    """Who a report was sent to by the plan's report rules, under which clauses, and each send's state."""
    runtime = rt(request)
    principal = await runtime.gate.require(request, "read_reports")
    found = await runtime.store.report_deliveries(report_id)
    scope = reports_scope(principal)
    if found is None or (scope is not None and found[0] not in scope):
        raise NotFound("report_id", f"no report {report_id!r} this caller may read")
    return JSONResponse({"report_id": report_id, "sent_to": found[1]})


@router.get("/api/v1/reports/upward")
async def upward_report(
    request: Request,
    since: str | None = None,
    until: str | None = None,
    jurisdiction: str | None = None,
    format: str = "json",
) -> Response:
    """The §5.6 upward report of a jurisdiction (default the city) for a period (default the last 30 days):
    what happened, what was done and what was lost, by county; ``format`` json, html (printable) or csv."""
    runtime = rt(request)
    principal = await runtime.gate.require(request, "read_reports")
    start, end = _period(since, until)
    c = runtime.config
    code = jurisdiction or (principal.jurisdiction if principal.role == "department" else None) or c.city
    place = c.jurisdictions.get(code)
    if place is None:
        raise InvalidRequest("jurisdiction", f"unknown jurisdiction {code!r}")
    scope = reports_scope(principal)
    if scope is not None and code not in scope:
        await runtime.gate.deny(
            request, principal, "jurisdiction", "a department reads only its own jurisdiction's report"
        )
    if code == c.city:
        covered = {code: "市本级"} | {k: j.zh for k, j in c.jurisdictions.items() if j.level in ("county", "zone")}
    else:
        covered = {code: place.zh} | {k: c.jurisdictions[k].zh for k in c.followers.get(code, ())}
    built = upward.build(
        await runtime.store.period(start, end),
        await runtime.store.reports(start, end, list(covered)),
        covered,
        code,
        start,
        end,
        time.time(),
    )
    if format == "html":
        return HTMLResponse(upward.to_html(built, place.zh))
    if format == "csv":
        name = f"upward-{code}-{time.strftime('%Y%m%d', time.gmtime(start))}.csv"
        return Response(
            "\ufeff" + upward.to_csv(built),  # a byte-order mark: spreadsheets open it as UTF-8
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )
    return JSONResponse(built)
