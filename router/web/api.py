"""The HTTP interface: ingest, warnings with their obligations, receipts, department feeds, health, metrics.

The lifespan enters the composition root (``Runtime``) and nothing else happens at import.
Errors are JSON ``{"error", "field", "problem"}``; nothing partial is ever written.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from router.access.acklinks import reply_code
from router.access.gate import Denied, Gate
from router.access.roles import ack_denied, feed_denied
from router.access.tokens import issue_token
from router.app import Runtime
from router.audit import report
from router.audit.verify import verify_store
from router.errors import ConfigError, InvalidMessage, MalformedMessage, UnknownSchema
from router.handlers.voice import CONFIRM_KEY
from router.parsers.xmlsafe import MAX_BYTES
from router.plan.config import RoutingConfig
from router.settings import Settings
from router.web import ackpage
from router.web.pages.views import install as install_pages

INGEST_TYPES = ("application/cap+xml", "application/xml", "text/xml", "application/json")
KEEPALIVE_SECONDS = 15.0
MAX_CURSOR = 2**62  # cursors are SQLite integers


def error(status: int, kind: str, field: str, problem: str) -> JSONResponse:
    return JSONResponse({"error": kind, "field": field, "problem": problem}, status_code=status)


def invalid_body(exc: ValidationError) -> JSONResponse:
    """422 naming the first field of a JSON body that failed validation."""
    first = exc.errors()[0]
    return error(422, "invalid", ".".join(str(p) for p in first["loc"]) or "body", first["msg"])


def create_app(settings: Settings, config: RoutingConfig | None = None) -> FastAPI:
    """The app; ``config``, if given, is the already validated configuration (else it is loaded)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Runtime(settings, config) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(title="warnroute", version="0.1.0", lifespan=lifespan)
    app.add_middleware(HeaderLimits)

    def rt(request: Request) -> Runtime:
        runtime: Runtime = request.app.state.runtime
        return runtime

    @app.exception_handler(Denied)
    async def on_denied(_request: Request, exc: Denied) -> Response:
        kind = "unauthenticated" if exc.status == 401 else "forbidden" if exc.status == 403 else "unavailable"
        response = error(exc.status, kind, exc.field, exc.problem)
        if exc.status == 401:
            response.headers["www-authenticate"] = 'Bearer realm="warnroute"'
        return response

    def gate(request: Request) -> Gate:
        return rt(request).gate

    @app.post("/api/v1/warnings", status_code=202)
    async def ingest(request: Request) -> Response:
        """Ingest a warning (publisher). Outside dev mode: a publisher token, and the body signed (see README)."""
        runtime = rt(request)
        principal = await runtime.gate.require(request, "ingest")
        if runtime.store.backlog() > runtime.settings.max_backlog:
            runtime.metrics.overloaded.inc()
            response = error(503, "overloaded", "body", "the store is behind; nothing was accepted, send it again")
            response.headers["retry-after"] = "1"
            return response
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in INGEST_TYPES:
            return error(
                415,
                "unsupported_media_type",
                "content-type",
                f"{media or 'none'} is not accepted; send one of {', '.join(INGEST_TYPES)}",
            )
        declared = request.headers.get("content-length")
        if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > MAX_BYTES:
            return error(413, "too_large", "body", f"over the {MAX_BYTES}-byte limit")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BYTES:
                return error(413, "too_large", "body", f"over the {MAX_BYTES}-byte limit")
        await runtime.gate.check_signature(request, principal, bytes(body))
        try:
            accepted = await runtime.service.submit(bytes(body))
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
        await gate(request).require(request, "read_warning")
        found = await rt(request).store.get_warning(identifier)
        if found is None:
            return error(404, "not_found", "identifier", f"no warning {identifier!r}")
        return JSONResponse(found)

    @app.post("/api/v1/receipts/{channel}")
    async def receipt(request: Request, channel: str, token: str | None = None) -> Response:
        runtime = rt(request)
        problem = _gateway_token_problem(runtime, runtime.settings.receipt_token, token)
        if problem is not None:
            await runtime.gate.deny(request, None, "token", problem)
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

    @app.get("/api/v1/feed/{jurisdiction}/{department}/stream")
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

    @app.post("/api/v1/obligations/{obligation_id}/ack")
    async def acknowledge(request: Request, obligation_id: str) -> Response:
        """Acknowledge an obligation: by the department (``by``), or by the duty office on its behalf
        (``on_behalf`` with a mandatory ``reason``). Repeating it changes nothing."""
        runtime = rt(request)
        principal = await runtime.gate.require(request, "ack")
        try:
            body = AckBody.model_validate_json(await request.body())
        except ValidationError as exc:
            return invalid_body(exc)
        if body.on_behalf and not (body.reason or "").strip():
            return error(422, "invalid", "reason", "the duty office must give a reason when acknowledging for someone")
        found = await runtime.store.get_obligation(obligation_id)
        if found is None:
            return error(404, "not_found", "obligation", f"no obligation {obligation_id!r}")
        problem = ack_denied(principal, found["jurisdiction"], found["department"], body.on_behalf)
        if problem is not None:
            await runtime.gate.deny(request, principal, "obligation", problem)
        method = "duty_office" if body.on_behalf else "api"
        return await _ack_response(runtime, obligation_id, method, body.by, body.reason, principal.id)

    @app.get("/ack/{obligation_id}")
    async def ack_page(request: Request, obligation_id: str, exp: str = "", sig: str = "") -> Response:
        runtime = rt(request)
        problem = runtime.ack.check(obligation_id, exp, sig, time.time())
        found = await runtime.store.get_obligation(obligation_id) if problem is None else None
        if problem is None and found is None:
            problem = "no such obligation"
        if problem is not None or found is None:
            return HTMLResponse(ackpage.refused(problem or ""), status_code=403)
        return HTMLResponse(ackpage.confirm(found, runtime.config))

    @app.post("/ack/{obligation_id}")
    async def ack_link(request: Request, obligation_id: str, exp: str = "", sig: str = "") -> Response:
        runtime = rt(request)
        problem = runtime.ack.check(obligation_id, exp, sig, time.time())
        if problem is not None:
            return HTMLResponse(ackpage.refused(problem), status_code=403)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        by = (form.get("by", [""])[0].strip() or "link")[:100]
        result = await runtime.store.acknowledge(obligation_id, "link", by, time.time())
        if result.status == "acknowledged":
            runtime.metrics.acknowledgements.labels("link").inc()
        return HTMLResponse(
            ackpage.done(result), status_code=200 if result.status in ("acknowledged", "already") else 409
        )

    @app.post("/api/v1/inbound/sms")
    async def sms_reply(request: Request, token: str | None = None) -> Response:
        """The SMS gateway's inbound webhook: a reply such as "确认 1234" acknowledges obligation 1234,
        if it comes from the number that obligation's SMS went to."""
        runtime = rt(request)
        expected = runtime.settings.inbound_token or runtime.settings.receipt_token
        problem = _gateway_token_problem(runtime, expected, token)
        if problem is not None:
            await runtime.gate.deny(request, None, "token", problem)
        try:
            data = json.loads(await request.body())
            sender, text = str(data["from"]), str(data["text"])
        except (ValueError, KeyError, TypeError):
            return error(422, "invalid", "body", "expected {from, text}")
        code = reply_code(text)
        if code is None:
            return error(422, "invalid", "text", "the reply names no obligation number (expected e.g. 确认 1234)")
        found = await runtime.store.get_obligation(seq=code)
        refs = runtime.config.contacts.get((found["jurisdiction"], found["department"], "sms")) if found else None
        try:
            to = runtime.secrets.resolve_all(refs).get("to") if refs else None
        except Exception:
            to = None
        if found is None or to is None or _digits(to) != _digits(sender):
            return error(404, "not_found", "text", f"no obligation {code} was sent to this number")
        return await _ack_response(runtime, found["id"], "sms_reply", _masked(sender), None)

    @app.get("/api/v1/warnings/{identifier}/report")
    async def warning_report(request: Request, identifier: str, format: str = "json") -> Response:
        runtime = rt(request)
        await runtime.gate.require(request, "report")
        found = await runtime.store.get_warning(identifier)
        if found is None:
            return error(404, "not_found", "identifier", f"no warning {identifier!r}")
        built = report.build(found, await runtime.store.events_of(identifier), runtime.config, time.time())
        if format == "html":
            return HTMLResponse(report.to_html(built))
        return JSONResponse(report.public(built))

    @app.get("/api/v1/audit/verify")
    async def audit_verify(request: Request) -> dict[str, Any]:
        await gate(request).require(request, "audit")
        verdict = await verify_store(rt(request).store)
        return {"ok": verdict.ok, "events": verdict.events, "head": verdict.head, "problem": verdict.problem}

    install_pages(app, rt)

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/ui/", status_code=303)

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
        await gate(request).require(request, "summary")
        return await rt(request).store.counts()

    @app.post("/api/v1/tokens", status_code=201)
    async def create_token(request: Request) -> Response:
        """Create an API token (admin). The token is in this answer only; the store keeps its digest."""
        runtime = rt(request)
        await runtime.gate.require(request, "tokens")
        try:
            body = TokenBody.model_validate_json(await request.body())
        except ValidationError as exc:
            return invalid_body(exc)
        try:
            principal, token = await issue_token(
                runtime.store,
                runtime.config,
                body.name,
                body.role,
                body.jurisdiction,
                body.department,
                body.signing_key,
            )
        except ValueError as exc:
            return error(422, "invalid", "body", str(exc))
        return JSONResponse({**principal.public(), "token": token}, status_code=201)

    @app.get("/api/v1/tokens")
    async def list_tokens(request: Request) -> dict[str, Any]:
        runtime = rt(request)
        await runtime.gate.require(request, "tokens")
        return {"tokens": await runtime.store.principals()}

    @app.delete("/api/v1/tokens/{token_id}")
    async def revoke_token(request: Request, token_id: str) -> Response:
        runtime = rt(request)
        await runtime.gate.require(request, "tokens")
        if not await runtime.store.revoke_principal(token_id, time.time()):
            return error(404, "not_found", "token", f"no active token {token_id!r}")
        runtime.gate.forget(token_id)
        return JSONResponse({"revoked": token_id})

    @app.post("/api/v1/admin/reload")
    async def reload(request: Request) -> Response:
        """Load the configuration again (admin); on any problem the running one stays, and the answer lists why."""
        runtime = rt(request)
        principal = await runtime.gate.require(request, "reload")
        try:
            digest = await runtime.reload(principal.id)
        except ConfigError as exc:
            return JSONResponse(
                {"error": "invalid_config", "problems": [str(p) for p in exc.problems]}, status_code=422
            )
        return JSONResponse({"reloaded": True, "sha256": digest})

    async def _feed_allowed(request: Request, jurisdiction: str, department: str) -> None:
        runtime = rt(request)
        principal = await runtime.gate.require(request, "feed")
        problem = feed_denied(principal, jurisdiction, department)
        if problem is not None:
            await runtime.gate.deny(request, principal, "department", problem)

    return app


MAX_HEADERS = 64
MAX_HEADER_BYTES = 16 * 1024


class HeaderLimits:
    """Refuse (431) a request with more than 64 header fields or 16 KiB of them, before any work."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            size = sum(len(k) + len(v) for k, v in headers)
            if len(headers) > MAX_HEADERS or size > MAX_HEADER_BYTES:
                problem = f"more than {MAX_HEADERS} header fields or {MAX_HEADER_BYTES} bytes of them"
                await error(431, "headers_too_large", "headers", problem)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1, max_length=100, description="who acknowledges (name or duty-office operator)")
    on_behalf: bool = False
    reason: str | None = Field(None, max_length=500)


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    role: str
    jurisdiction: str | None = None
    department: str | None = None
    signing_key: str | None = Field(None, description="publishers: env:NAME or file:PATH of the ingest signing key")


async def _ack_response(
    runtime: Runtime, obligation_id: str, method: str, by: str, reason: str | None, principal: str | None = None
) -> Response:
    result = await runtime.store.acknowledge(obligation_id, method, by, time.time(), reason, principal)
    if result.status == "not_found":
        return error(404, "not_found", "obligation", result.problem)
    if result.status in ("closed", "refused"):
        return error(409, result.status, "obligation", result.problem)
    if result.status == "acknowledged":
        runtime.metrics.acknowledgements.labels(method).inc()
    return JSONResponse(
        {
            "obligation_id": result.obligation_id,
            "state": result.state,
            "already": result.status == "already",
            "acknowledged_at": datetime.fromtimestamp(result.acknowledged_at, UTC).isoformat()
            if result.acknowledged_at
            else None,
            "acknowledged_by": result.acknowledged_by,
            "method": result.method,
        }
    )


def _gateway_token_problem(runtime: Runtime, expected: str | None, given: str | None) -> str | None:
    """Gateways call back with ``?token=``; outside dev mode a token must be configured and match."""
    if expected is None:
        return None if runtime.gate.dev else "set WARNROUTE_RECEIPT_TOKEN: gateway callbacks need a token"
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        return "gateway token missing or wrong"
    return None


def _digits(number: str) -> str:
    digits = "".join(c for c in number if c.isascii() and c.isdigit())
    return digits[-11:]


def _masked(number: str) -> str:
    d = _digits(number)
    return f"sms:{d[:3]}****{d[-4:]}" if len(d) >= 7 else "sms"


def _sse(event_id: str, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: action\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
