"""Liveness, readiness (a dead-man check on the workers) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from router.web.answers import rt

router = APIRouter()


@router.get("/", include_in_schema=False)
async def root() -> Response:
    return RedirectResponse("/ui/", status_code=303)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    ok, why = rt(request).ready()
    return JSONResponse({"ready": ok, "reason": why}, status_code=200 if ok else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(generate_latest(rt(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)
