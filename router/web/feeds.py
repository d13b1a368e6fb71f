"""A department's action feed: pull with a cursor, or live over Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from router.access.roles import feed_denied
from router.errors import NotFound
from router.web.answers import rt

KEEPALIVE_SECONDS = 15.0
MAX_CURSOR = 2**62  # cursors are SQLite integers

router = APIRouter()


async def _feed_allowed(request: Request, jurisdiction: str, department: str) -> None:
    runtime = rt(request)
    principal = await runtime.gate.require(request, "feed")
    if jurisdiction not in runtime.config.jurisdictions:
        raise NotFound("jurisdiction", f"no jurisdiction {jurisdiction!r} in the configuration (departments.yaml)")
    if department not in runtime.config.departments:
        raise NotFound("department", f"no department {department!r} in the configuration (departments.yaml)")
    problem = feed_denied(principal, jurisdiction, department)
    if problem is not None:
        await runtime.gate.deny(request, principal, "department", problem)


@router.get("/api/v1/feed/{jurisdiction}/{department}")
async def feed(
    request: Request,
    jurisdiction: str,
    department: str,
    after: int = Query(0, ge=0, le=MAX_CURSOR),
    limit: int = Query(100, ge=1, le=1000),
) -> Response:
    await _feed_allowed(request, jurisdiction, department)
    entries = await rt(request).store.feed(jurisdiction, department, after, limit)
    return JSONResponse(
        {
            "items": [
                {
                    "cursor": e.seq,
                    "obligation_id": e.obligation_id,
                    "warning_id": e.warning_id,
                    "state": e.state,
                    "drill": e.drill,
                    "action": e.action,
                }
                for e in entries
            ],
            "next_cursor": entries[-1].seq if entries else after,
        }
    )


@router.get("/api/v1/feed/{jurisdiction}/{department}/reports")
async def report_feed(
    request: Request,
    jurisdiction: str,
    department: str,
    after: int = Query(0, ge=0, le=MAX_CURSOR),
    limit: int = Query(100, ge=1, le=1000),
) -> Response:
    """The situation reports sent to this office by the plan's report rules (DESIGN §13), after a cursor."""
    await _feed_allowed(request, jurisdiction, department)
    items = await rt(request).store.report_feed(jurisdiction, department, after, limit)
    return JSONResponse({"items": items, "next_cursor": items[-1]["cursor"] if items else after})


@router.get("/api/v1/feed/{jurisdiction}/{department}/stream")
async def stream(
    request: Request, jurisdiction: str, department: str, after: int = Query(0, ge=0, le=MAX_CURSOR)
) -> Response:
    await _feed_allowed(request, jurisdiction, department)
    runtime = rt(request)
    last = request.headers.get("last-event-id")
    cursor = int(last) if last and last.isascii() and last.isdigit() else after

    async def events() -> AsyncIterator[str]:
        queue = runtime.hub.subscribe(jurisdiction, department)
        try:
            seen: set[str] = set()
            for e in await runtime.store.feed(jurisdiction, department, cursor, 1000):
                seen.add(e.obligation_id)
                yield _sse(
                    str(e.seq),
                    {
                        "obligation_id": e.obligation_id,
                        "warning_id": e.warning_id,
                        "action": e.action,
                        "drill": e.drill,
                    },
                )
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if event["obligation_id"] not in seen:
                    yield _sse(str(event["cursor"]), {k: v for k, v in event.items() if k != "cursor"})
        finally:
            runtime.hub.unsubscribe(jurisdiction, department, queue)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"cache-control": "no-cache", "x-accel-buffering": "no"}
    )


def _sse(event_id: str, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: action\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
