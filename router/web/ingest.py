"""HTTP ingest: ``POST /api/v1/warnings`` (publishers; signed outside dev mode)."""

from __future__ import annotations

import operator
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from router.errors import Conflict
from router.parsers.xmlsafe import MAX_BYTES
from router.store import ObligationRow
from router.store.base import Drafted, Pattern, ordinal
from router.web.answers import Direct, error, rt

DRAIN_BYTES = 8 * MAX_BYTES  # an oversized body is read this far before the 413
INGEST_TYPES = ("application/cap+xml", "application/xml", "text/xml", "application/json")
ANSWERED = ("id", "department", "jurisdiction", "kind", "task", "clause", "mandatory", "due_at")  # of each obligation
SHARED_OF = operator.itemgetter(1, 2, 3, 4, 5, 6)  # an ``ObligationRow``'s department … mandatory: its action's
_shared_json: dict[tuple[Any, ...], bytes] = {}  # those fields as JSON members, once per action
ANSWER_FORM = "ingest answer"  # a pattern's memo of its obligations as the answer lists them

router = APIRouter(route_class=Direct)


@router.post("/api/v1/warnings", status_code=202)
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
    chunks = request.stream()
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > MAX_BYTES:
        return await _too_large(chunks, 0)
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > MAX_BYTES:
            return await _too_large(chunks, len(body))
    await runtime.gate.check_signature(request, principal, bytes(body))
    accepted = await runtime.service.submit(bytes(body))
    outcome = accepted.outcome
    if outcome.status == "conflict":
        raise Conflict("identifier", outcome.problem)
    answer: dict[str, Any] = {
        "warning_id": accepted.warning.id,
        "status": outcome.status,
        "drill": accepted.warning.drill,
        "obligations": _listed(outcome.obligations),
    }
    if accepted.decision is not None:
        answer["reference_unknown"] = accepted.decision.reference_unknown
        answer["cancelled_obligations"] = outcome.cancelled
        answer["notes"] = list(accepted.decision.notes)
    return Response(
        orjson.dumps(answer), status_code=202 if outcome.status == "created" else 200, media_type="application/json"
    )


def _listed(obligations: Sequence[ObligationRow]) -> orjson.Fragment | list[orjson.Fragment]:
    """The obligations as the answer lists them. Those a pattern laid out (``Drafted``) fill in the pattern's
    list, written once per pattern, with the warning's key and deadlines."""
    if not isinstance(obligations, Drafted):
        return [_answered(o) for o in obligations]
    form: bytes | None = obligations.pattern.memo.get(ANSWER_FORM)
    if form is None:
        form = obligations.pattern.memo[ANSWER_FORM] = _answer_form(obligations.pattern)
    values = {b"d%d" % t: due.encode() for t, (_, due) in enumerate(obligations.deadlines)}
    values[b"k"] = obligations.key.encode()
    return orjson.Fragment(form % values)


def _answer_form(pattern: Pattern) -> bytes:
    """A pattern's obligations as the answer lists them, as a ``%`` form: ``k`` the key, ``d<n>`` deadline n."""
    listed = []
    for i, (shape, t) in enumerate(zip(pattern.shapes, pattern.timing, strict=True)):
        members = _members(shape[:6]).replace(b"%", b"%%")
        listed.append(b'{"id":"%%(k)s%s",%s,"due_at":"%%(d%d)s"}' % (ordinal(i).encode(), members, t))
    return b"[" + b",".join(listed) + b"]"


def _members(shared: tuple[Any, ...]) -> bytes:
    """An action's department … mandatory as JSON members, once per action."""
    members = _shared_json.get(shared)
    if members is None:
        if len(_shared_json) > 10_000:
            _shared_json.clear()
        members = _shared_json[shared] = orjson.dumps(dict(zip(ANSWERED[1:7], shared, strict=True)))[1:-1]
    return members


def _answered(o: ObligationRow) -> orjson.Fragment:
    """An obligation as the answer lists it (``ANSWERED``): what its action's obligations share is serialised
    once. Its id (hex digits, a dot and digits) and deadline (ISO 8601) need no escaping in JSON."""
    members = _members(SHARED_OF(o))
    return orjson.Fragment(b'{"id":"%s",%s,"due_at":"%s"}' % (o.id.encode(), members, o.due_at.encode()))


async def _too_large(chunks: AsyncIterator[bytes], read: int) -> Response:
    """413, after reading (and dropping) the rest of the body up to ``DRAIN_BYTES`` in all: a client that
    sends its whole body before reading the answer then reads the 413 instead of a broken pipe. Past that
    bound the connection is closed."""
    async for chunk in chunks:
        read += len(chunk)
        if read > DRAIN_BYTES:
            break
    return error(413, "too_large", "body", f"over the {MAX_BYTES}-byte limit; nothing was accepted")
