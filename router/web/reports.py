"""Reading what was routed: a warning with its obligations, its compliance report, the audit check, counts.

Warning identifiers may contain ``/`` (CAP forbids only spaces, commas, ``<`` and ``&``): the routes take
the rest of the path, the report's first, so every stored warning is reachable by its identifier.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from router.audit import report
from router.audit.verify import verify_store
from router.errors import NotFound
from router.web.answers import rt

router = APIRouter()


@router.get("/api/v1/warnings/{identifier:path}/report")
async def warning_report(request: Request, identifier: str, format: str = "json") -> Response:
    runtime = rt(request)
    await runtime.gate.require(request, "report")
    found = await runtime.store.get_warning(identifier)
    if found is None:
        raise NotFound("identifier", f"no warning {identifier!r}")
    built = report.build(found, await runtime.store.events_of(identifier), runtime.config, time.time())
    if format == "html":
        return HTMLResponse(report.to_html(built))
    return JSONResponse(report.public(built))


@router.get("/api/v1/warnings/{identifier:path}")
async def get_warning(request: Request, identifier: str) -> Response:
    runtime = rt(request)
    await runtime.gate.require(request, "read_warning")
    found = await runtime.store.get_warning(identifier)
    if found is None:
        raise NotFound("identifier", f"no warning {identifier!r}")
    return JSONResponse(found)


@router.get("/api/v1/audit/verify")
async def audit_verify(request: Request) -> dict[str, Any]:
    runtime = rt(request)
    await runtime.gate.require(request, "audit")
    verdict = await verify_store(runtime.store)
    return {"ok": verdict.ok, "events": verdict.events, "head": verdict.head, "problem": verdict.problem}


@router.get("/api/v1/summary")
async def summary(request: Request) -> dict[str, Any]:
    runtime = rt(request)
    await runtime.gate.require(request, "summary")
    return await runtime.store.counts()
