"""What comes back about obligations: acknowledgements (API, signed links, SMS replies) and gateways' receipts.

Handlers parse and call :class:`router.obligations.acks.Acknowledgements`; its refusals become answers
by type (``router.web.answers``). A refusal of who is calling is counted and audited by the gate.
"""

from __future__ import annotations

import hmac
import json
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from router.app import Runtime
from router.errors import Forbidden, InvalidRequest, NotFound
from router.store import AckResult
from router.web import ackpage
from router.web.answers import parse_body, rt

router = APIRouter()


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1, max_length=100, description="who acknowledges (name or duty-office operator)")
    on_behalf: bool = False
    reason: str | None = Field(None, max_length=500)


@router.post("/api/v1/obligations/{obligation_id}/ack")
async def acknowledge(request: Request, obligation_id: str) -> Response:
    """Acknowledge an obligation: by the department (``by``), or by the duty office on its behalf
    (``on_behalf`` with a mandatory ``reason``). Repeating it changes nothing."""
    runtime = rt(request)
    principal = await runtime.gate.require(request, "ack")
    body = await parse_body(AckBody, request)
    try:
        result = await runtime.acks.by_principal(principal, obligation_id, body.by, body.on_behalf, body.reason)
    except Forbidden as exc:
        await runtime.gate.deny(request, principal, exc.field, exc.problem)
        raise
    return _answer(result)


class DoneFigures(BaseModel):
    model_config = ConfigDict(extra="forbid")
    people_moved: int | None = Field(None, ge=0, description="转移人员（人）")
    teams_prepositioned: int | None = Field(None, ge=0, description="预置救援队伍（支）")
    rescuers_prepositioned: int | None = Field(None, ge=0, description="预置救援人员（人）")


class DoneBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1, max_length=100, description="who reports it done")
    figures: DoneFigures = Field(default_factory=DoneFigures)
    on_behalf: bool = False
    reason: str | None = Field(None, max_length=500)


@router.post("/api/v1/obligations/{obligation_id}/done")
async def report_done(request: Request, obligation_id: str) -> Response:
    """Report a task done (§4.5 "1262": people moved, forces pre-positioned), with its figures: by the
    department, or by the duty office on its behalf with a reason. Repeating it changes nothing."""
    runtime = rt(request)
    principal = await runtime.gate.require(request, "ack")
    body = await parse_body(DoneBody, request)
    figures = {k: float(v) for k, v in body.figures.model_dump(exclude_none=True).items()}
    try:
        result = await runtime.acks.done_by_principal(
            principal, obligation_id, body.by, figures, body.on_behalf, body.reason
        )
    except Forbidden as exc:
        await runtime.gate.deny(request, principal, exc.field, exc.problem)
        raise
    return JSONResponse(
        {
            "obligation_id": result.obligation_id,
            "state": result.state,
            "already": result.status == "already",
            "done_at": datetime.fromtimestamp(result.acknowledged_at, UTC).isoformat()
            if result.acknowledged_at
            else None,
            "done_by": result.acknowledged_by,
            "figures": figures if result.status != "already" else None,
        }
    )


@router.get("/ack/{obligation_id}")
async def ack_page(request: Request, obligation_id: str, exp: str = "", sig: str = "") -> Response:
    runtime = rt(request)
    problem = runtime.ack.check(obligation_id, exp, sig, time.time())
    found = await runtime.store.get_obligation(obligation_id) if problem is None else None
    if problem is None and found is None:
        problem = "no such obligation"
    if problem is not None or found is None:
        return HTMLResponse(ackpage.refused(problem or ""), status_code=403)
    return HTMLResponse(ackpage.confirm(found, runtime.config))


@router.post("/ack/{obligation_id}")
async def ack_link(request: Request, obligation_id: str, exp: str = "", sig: str = "") -> Response:
    runtime = rt(request)
    problem = runtime.ack.check(obligation_id, exp, sig, time.time())
    if problem is not None:
        return HTMLResponse(ackpage.refused(problem), status_code=403)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    result = await runtime.acks.by_link(obligation_id, form.get("by", [""])[0])
    return HTMLResponse(ackpage.done(result), status_code=200 if result.status in ("acknowledged", "already") else 409)


@router.post("/api/v1/inbound/sms")
async def sms_reply(request: Request, token: str | None = None) -> Response:
    """The SMS gateway's inbound webhook: a reply such as "确认 1234" acknowledges obligation 1234,
    if it comes from the number that obligation's SMS went to."""
    runtime = rt(request)
    await _gateway_token(request, runtime, runtime.settings.inbound_token or runtime.settings.receipt_token, token)
    try:
        data = json.loads(await request.body())
        sender, text = str(data["from"]), str(data["text"])
    except (ValueError, KeyError, TypeError):
        raise InvalidRequest("body", "expected {from, text}") from None
    return _answer(await runtime.acks.by_sms_reply(sender, text))


@router.post("/api/v1/receipts/{channel}")
async def receipt(request: Request, channel: str, token: str | None = None) -> Response:
    runtime = rt(request)
    await _gateway_token(request, runtime, runtime.settings.receipt_token, token)
    if channel not in ("sms", "voice"):
        raise NotFound("channel", f"no receipts for {channel!r}")
    try:
        data = json.loads(await request.body())
        provider_id = str(data["message_id" if channel == "sms" else "call_id"])
        status = str(data["status"])
    except (ValueError, KeyError, TypeError):
        raise InvalidRequest("body", "expected {message_id|call_id, status}") from None
    matched = await runtime.acks.receipt(channel, provider_id, status, str(data.get("keypress", "")))
    # An unmatched receipt is kept: it may have overtaken the send outcome that names its id.
    return JSONResponse({"recorded": True, "matched": matched})


async def _gateway_token(request: Request, runtime: Runtime, expected: str | None, given: str | None) -> None:
    """Gateways call back with ``?token=``; outside dev mode a token must be configured and match."""
    problem = None
    if expected is None:
        problem = None if runtime.gate.dev else "set WARNROUTE_RECEIPT_TOKEN: gateway callbacks need a token"
    elif given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        problem = "gateway token missing or wrong"
    if problem is not None:
        await runtime.gate.deny(request, None, "token", problem)


def _answer(result: AckResult) -> Response:
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
