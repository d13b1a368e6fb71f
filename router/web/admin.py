"""Administration: API tokens and configuration reload (admin only)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from router.access.tokens import issue_token
from router.errors import ConfigError, InvalidRequest, NotFound
from router.web.answers import parse_body, rt

router = APIRouter()


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    role: str
    jurisdiction: str | None = None
    department: str | None = None
    signing_key: str | None = Field(None, description="publishers: env:NAME or file:PATH of the ingest signing key")


@router.post("/api/v1/tokens", status_code=201)
async def create_token(request: Request) -> Response:
    """Create an API token (admin). The token is in this answer only; the store keeps its digest."""
    runtime = rt(request)
    await runtime.gate.require(request, "tokens")
    body = await parse_body(TokenBody, request)
    try:
        principal, token = await issue_token(
            runtime.store, runtime.config, body.name, body.role, body.jurisdiction, body.department, body.signing_key
        )
    except ValueError as exc:
        raise InvalidRequest("body", str(exc)) from None
    return JSONResponse({**principal.public(), "token": token}, status_code=201)


@router.get("/api/v1/tokens")
async def list_tokens(request: Request) -> dict[str, Any]:
    runtime = rt(request)
    await runtime.gate.require(request, "tokens")
    return {"tokens": await runtime.store.principals()}


@router.delete("/api/v1/tokens/{token_id}")
async def revoke_token(request: Request, token_id: str) -> Response:
    runtime = rt(request)
    await runtime.gate.require(request, "tokens")
    if not await runtime.store.revoke_principal(token_id, time.time()):
        raise NotFound("token", f"no active token {token_id!r}")
    runtime.gate.forget(token_id)
    return JSONResponse({"revoked": token_id})


@router.post("/api/v1/admin/reload")
async def reload(request: Request) -> Response:
    """Load the configuration again (admin); on any problem the running one stays, and the answer lists why."""
    runtime = rt(request)
    principal = await runtime.gate.require(request, "reload")
    try:
        digest = await runtime.reload(principal.id)
    except ConfigError as exc:
        return JSONResponse({"error": "invalid_config", "problems": [str(p) for p in exc.problems]}, status_code=422)
    return JSONResponse({"reloaded": True, "sha256": digest})
