"""The HTTP interface: ingest, warnings with their obligations, receipts, department feeds, health, metrics.

The lifespan enters the composition root (``Runtime``) and nothing else happens at import.
Errors are JSON ``{"error", "field", "problem"}``; nothing partial is ever written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from router.app import Runtime
from router.config import RoutingConfig
from router.errors import InvalidMessage, MalformedMessage, UnknownSchema
from router.handlers.voice import CONFIRM_KEY
from router.parsers.xmlsafe import MAX_BYTES
from router.settings import Settings

INGEST_TYPES = ("application/cap+xml", "application/xml", "text/xml", "application/json")
KEEPALIVE_SECONDS = 15.0


def error(status: int, kind: str, field: str, problem: str) -> JSONResponse:
    return JSONResponse({"error": kind, "field": field, "problem": problem}, status_code=status)


def create_app(settings: Settings, config: RoutingConfig | None = None) -> FastAPI:
    """The app; ``config``, if given, is the already validated configuration (else it is loaded)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Runtime(settings, config) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(title="warnroute", version="0.1.0", lifespan=lifespan)

    def rt(request: Request) -> Runtime:
        runtime: Runtime = request.app.state.runtime
        return runtime

    @app.post("/api/v1/warnings", status_code=202)
    async def ingest(request: Request) -> Response:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in INGEST_TYPES:
            return error(
                415,
                "unsupported_media_type",
                "content-type",
                f"{media or 'none'} is not accepted; send one of {', '.join(INGEST_TYPES)}",
            )
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BYTES:
            return error(413, "too_large", "body", f"over the {MAX_BYTES}-byte limit")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BYTES:
                return error(413, "too_large", "body", f"over the {MAX_BYTES}-byte limit")
        try:
            accepted = await rt(request).service.submit(bytes(body))
        except InvalidMessage as exc:
            status = 413 if isinstance(exc, MalformedMessage) and "byte limit" in exc.problem else 422
            return error(
                status, exc.kind if not isinstance(exc, UnknownSchema) else "unknown_schema", exc.field, exc.problem
            )
        outcome = accepted.outcome
        if outcome.status == "conflict":
            return error(409, "conflict", "identifier", outcome.problem)
        body_out: dict[str, Any] = {
            "warning_id": accepted.warning.id,
            "status": outcome.status,
            "drill": accepted.warning.drill,
            "obligations": [
                {
                    "id": o.id,
                    "department": o.department,
                    "jurisdiction": o.jurisdiction,
                    "kind": o.kind,
                    "task": o.task,
                    "clause": o.clause,
                    "mandatory": o.mandatory,
                    "due_at": o.due_at,
                }
                for o in outcome.obligations
            ],
        }
        if accepted.decision is not None:
            body_out["reference_unknown"] = accepted.decision.reference_unknown
            body_out["cancelled_obligations"] = outcome.cancelled
            body_out["notes"] = list(accepted.decision.notes)
        return Response(
            orjson.dumps(body_out),
            status_code=202 if outcome.status == "created" else 200,
            media_type="application/json",
        )

    @app.get("/api/v1/warnings/{identifier}")
    async def get_warning(request: Request, identifier: str) -> Response:
        found = await rt(request).store.get_warning(identifier)
        if found is None:
            return error(404, "not_found", "identifier", f"no warning {identifier!r}")
        return JSONResponse(found)

    @app.post("/api/v1/receipts/{channel}")
    async def receipt(request: Request, channel: str, token: str | None = None) -> Response:
        runtime = rt(request)
        expected = runtime.settings.receipt_token
        if expected is not None and token != expected:
            return error(403, "forbidden", "token", "receipt token missing or wrong")
        if channel not in ("sms", "voice"):
            return error(404, "not_found", "channel", f"no receipts for {channel!r}")
        try:
            data = json.loads(await request.body())
            provider_id = str(data["message_id" if channel == "sms" else "call_id"])
            status = str(data["status"])
        except (ValueError, KeyError, TypeError):
            return error(422, "invalid", "body", "expected {message_id|call_id, status}")
        delivered = status in ("delivered", "answered")
        confirmed = channel == "voice" and delivered and str(data.get("keypress", "")) == CONFIRM_KEY
        now = time.time()
        issued = await runtime.store.record_receipt(channel, provider_id, delivered, now, confirmed)
        if delivered:
            runtime.metrics.attempts.labels(channel, "delivered").inc()
            if issued is not None:
                runtime.metrics.issue_to_delivered.labels(channel).observe(
                    max(now - datetime.fromisoformat(issued).timestamp(), 0.0)
                )
        # An unmatched receipt is kept: it may have overtaken the send outcome that names its id.
        return JSONResponse({"recorded": True, "matched": issued is not None})

    @app.get("/api/v1/feed/{jurisdiction}/{department}")
    async def feed(
        request: Request,
        jurisdiction: str,
        department: str,
        after: int = Query(0, ge=0),
        limit: int = Query(100, ge=1, le=1000),
    ) -> Response:
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

    @app.get("/api/v1/feed/{jurisdiction}/{department}/stream")
    async def stream(request: Request, jurisdiction: str, department: str, after: int = Query(0, ge=0)) -> Response:
        runtime = rt(request)
        last = request.headers.get("last-event-id")
        cursor = int(last) if last and last.isdigit() else after

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

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> Response:
        ok, why = rt(request).ready()
        return JSONResponse({"ready": ok, "reason": why}, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(rt(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/summary")
    async def summary(request: Request) -> dict[str, Any]:
        return await rt(request).store.counts()

    return app


def _sse(event_id: str, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: action\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
