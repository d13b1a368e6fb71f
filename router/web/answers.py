"""What every HTTP area shares: the runtime of a request, JSON error answers, body parsing, header limits.

Errors are JSON ``{"error", "field", "problem"}``. Services raise :class:`router.errors.Refused` and
:class:`router.errors.InvalidMessage` subclasses; :func:`install_errors` maps each to its status by type.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from router.access.gate import Denied
from router.app import Runtime
from router.errors import (
    Conflict,
    Forbidden,
    InvalidMessage,
    InvalidRequest,
    NotFound,
    Refused,
    StoreUnavailable,
    TooLarge,
)

Body = TypeVar("Body", bound=BaseModel)
STORE_RETRY_AFTER = 5  # seconds a sender is asked to wait when the store cannot write
REFUSED_STATUS: tuple[tuple[type[Refused], int], ...] = (
    (NotFound, 404),
    (Forbidden, 403),
    (Conflict, 409),
    (InvalidRequest, 422),
)


def rt(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def error(status: int, kind: str, field: str, problem: str) -> JSONResponse:
    return JSONResponse({"error": kind, "field": field, "problem": problem}, status_code=status)


async def parse_body(model: type[Body], request: Request) -> Body:
    """The JSON body as ``model``; InvalidRequest naming the first field that failed validation."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidRequest(".".join(str(p) for p in first["loc"]) or "body", first["msg"]) from None


def install_errors(app: FastAPI) -> None:
    @app.exception_handler(Denied)
    async def on_denied(_request: Request, exc: Denied) -> Response:
        kind = "unauthenticated" if exc.status == 401 else "forbidden" if exc.status == 403 else "unavailable"
        response = error(exc.status, kind, exc.field, exc.problem)
        if exc.status == 401:
            response.headers["www-authenticate"] = 'Bearer realm="warnroute"'
        return response

    @app.exception_handler(Refused)
    async def on_refused(_request: Request, exc: Refused) -> Response:
        status = next((code for kind, code in REFUSED_STATUS if isinstance(exc, kind)), 422)
        return error(status, exc.kind, exc.field, exc.problem)

    @app.exception_handler(StoreUnavailable)
    async def on_unavailable(_request: Request, exc: StoreUnavailable) -> Response:
        response = error(503, "store_unavailable", "store", exc.problem)
        response.headers["retry-after"] = str(STORE_RETRY_AFTER)
        return response

    @app.exception_handler(InvalidMessage)
    async def on_invalid(_request: Request, exc: InvalidMessage) -> Response:
        return error(413 if isinstance(exc, TooLarge) else 422, exc.kind, exc.field, exc.problem)


class Direct(APIRoute):
    """A route whose endpoint takes the request and returns its response itself, called directly: none of
    FastAPI's parameter solving or response serialising runs per request (FastAPI's custom route class). Its
    OpenAPI operation is declared as any other's. For the hot path (ingest), whose endpoint reads its body
    itself."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return endpoint


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
