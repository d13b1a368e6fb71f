"""Routes of the web pages and the JSON they read. Registered by ``router.api.create_app``."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from router.access.gate import SESSION_COOKIE
from router.access.roles import DEV, Principal
from router.app import Runtime
from router.audit.report import board_reason, held_reason
from router.domain.reports import FIGURES, KIND_FIGURES, KIND_NAMES
from router.plan.config import RoutingConfig
from router.reports.rollup import glance, totals

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")
RECENT_SECONDS = 24 * 3600.0
PING_SECONDS = 0.5


def install(app: FastAPI, rt: Callable[[Request], Runtime]) -> None:
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")

    async def viewer(request: Request) -> Principal | None:
        """The signed-in principal, or None (the page then sends the browser to the login page)."""
        runtime = rt(request)
        if runtime.gate.dev:
            return DEV
        try:
            return await runtime.gate.who(request)
        except Exception:
            return None

    def page(request: Request, name: str, principal: Principal, **extra: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"principal": principal, "dev": rt(request).gate.dev, **extra})

    @app.get("/ui/login", response_class=HTMLResponse)
    async def login_page(request: Request, problem: str = "") -> HTMLResponse:
        return templates.TemplateResponse(request, "login.html", {"problem": problem, "dev": rt(request).gate.dev})

    @app.post("/ui/login")
    async def login(request: Request) -> Response:
        runtime = rt(request)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        principal = await runtime.gate.login(form.get("token", [""])[0])
        if principal is None:
            await runtime.gate.record_denial(request, None, "bad token at the login page", 401)
            return RedirectResponse("/ui/login?problem=token", status_code=303)
        target = "/ui/department" if principal.role == "department" else "/ui/"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            runtime.gate.sessions.issue(principal.id, time.time()),
            max_age=int(runtime.gate.sessions.ttl),
            httponly=True,
            samesite="strict",
            secure=runtime.settings.tls_cert is not None,
            path="/",
        )
        return response

    @app.post("/ui/logout")
    async def logout() -> Response:
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/ui/", response_class=HTMLResponse)
    async def dashboard(request: Request) -> Response:
        principal = await viewer(request)
        if principal is None:
            return RedirectResponse("/ui/login", status_code=303)
        if principal.role == "department":
            return RedirectResponse("/ui/department", status_code=303)
        if principal.role == "publisher":
            return HTMLResponse("publishers have no pages", status_code=403)
        return page(request, "dashboard.html", principal)

    @app.get("/ui/department", response_class=HTMLResponse)
    async def department_page(request: Request, jurisdiction: str = "", department: str = "") -> Response:
        principal = await viewer(request)
        if principal is None:
            return RedirectResponse("/ui/login", status_code=303)
        if principal.role == "department":
            jurisdiction, department = principal.jurisdiction or "", principal.department or ""
        elif principal.role == "publisher":
            return HTMLResponse("publishers have no pages", status_code=403)
        return page(request, "department.html", principal, jurisdiction=jurisdiction, department=department)

    @app.get("/ui/history", response_class=HTMLResponse)
    async def history_page(request: Request) -> Response:
        principal = await viewer(request)
        if principal is None:
            return RedirectResponse("/ui/login", status_code=303)
        if principal.role not in ("duty_office", "admin", "dev"):
            return HTMLResponse("only the duty office sees the history", status_code=403)
        return page(request, "history.html", principal)

    # -- the JSON the pages read -----------------------------------------------------------------

    @app.get("/api/v1/dashboard")
    async def board(request: Request) -> JSONResponse:
        runtime = rt(request)
        await runtime.gate.require(request, "read_warning")
        now = time.time()
        warnings = await runtime.store.board(now - RECENT_SECONDS)
        for w in warnings:
            for o in w["obligations"]:
                if o["breached_at"] or (o["deadline"] and o["deadline"] < now and o["state"] not in DONE):
                    o["reason"] = board_reason(o)
                if o.get("held") and o["state"] not in DONE:  # why it has not gone yet, before any deadline
                    why = held_reason(o["held"])
                    o["reason"] = f"{o['reason']}; {why}" if o.get("reason") else why
        latencies = await runtime.store.ack_latencies()
        reported = totals(await runtime.store.reports(now - RECENT_SECONDS, now + DAY), runtime.config.city)
        c = runtime.config
        places = [code for code, j in c.jurisdictions.items() if j.level in ("county", "zone")]
        return JSONResponse(
            {
                "now": now,
                "city": glance(warnings, reported, places, covers(c), now),
                "warnings": warnings,
                "names": names(runtime),
                "latency": {
                    d: {"n": len(v), "median": statistics.median(v), "p90": _p90(v)} for d, v in latencies.items()
                },
            }
        )

    @app.get("/api/v1/history")
    async def history(request: Request, q: str = Query("", max_length=100)) -> JSONResponse:
        runtime = rt(request)
        await runtime.gate.require(request, "read_warning")
        return JSONResponse({"items": await runtime.store.history(q), "names": names(runtime)})

    @app.get("/api/v1/me/obligations")
    async def mine(request: Request, jurisdiction: str = "", department: str = "") -> JSONResponse:
        """A department's own obligations (a department token sees only its own, whatever it asks)."""
        runtime = rt(request)
        principal = await runtime.gate.require(request, "feed")
        if principal.role == "department":
            jurisdiction, department = principal.jurisdiction or "", principal.department or ""
        items = await runtime.store.obligations_of(jurisdiction, department, 1000)
        return JSONResponse(
            {
                "now": time.time(),
                "jurisdiction": jurisdiction,
                "department": department,
                "items": items,
                "received": await runtime.store.report_feed(jurisdiction, department, 0, 20, newest_first=True),
                "names": names(runtime),
                "report_kinds": REPORT_KINDS,
                "townships": dict(place.townships) if (place := runtime.config.jurisdictions.get(jurisdiction)) else {},
            }
        )

    @app.get("/api/v1/dashboard/stream")
    async def changes(request: Request) -> StreamingResponse:
        """``changed`` whenever anything worth showing happened (the pages then read again)."""
        runtime = rt(request)
        await runtime.gate.require(request, "feed")

        async def events() -> AsyncIterator[str]:
            last = -1
            quiet = 0.0
            while True:
                version = await runtime.store.version()
                if version != last:
                    last = version
                    quiet = 0.0
                    yield f"event: changed\ndata: {json.dumps({'version': version})}\n\n"
                elif quiet >= 15:
                    quiet = 0.0
                    yield ": keep-alive\n\n"
                await asyncio.sleep(PING_SECONDS)
                quiet += PING_SECONDS

        return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-cache"})


DONE = ("acknowledged", "done", "cancelled", "superseded")
DAY = 86400.0
REPORT_KINDS = [
    {
        "kind": kind.value,
        "name": KIND_NAMES[kind],
        "figures": [
            {"key": k, "name": FIGURES[k].name, "unit": FIGURES[k].unit, "whole": FIGURES[k].whole} for k in keys
        ],
    }
    for kind, keys in KIND_FIGURES.items()
]
"""What the report form offers: each kind with its figures (labels and units), as the model checks them."""


def covers(c: RoutingConfig) -> dict[str, tuple[str, ...]]:
    """Area code → the places on the map it covers: the city all of them, a county itself and the zone that
    follows it, a township its county (and that county's followers)."""
    places = tuple(code for code, j in c.jurisdictions.items() if j.level in ("county", "zone"))
    out: dict[str, tuple[str, ...]] = {c.city: places}
    for code in places:
        out[code] = (code, *c.followers.get(code, ()))
    for town, county in c.township_county.items():
        out[town] = out.get(county, (county,))
    return out


def names(runtime: Runtime) -> dict[str, dict[str, dict[str, str]]]:
    c = runtime.config
    return {
        "departments": {k: {"zh": d.zh, "en": d.en} for k, d in c.departments.items()},
        "jurisdictions": {k: {"zh": j.zh, "en": j.zh} for k, j in c.jurisdictions.items()},
    }


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
