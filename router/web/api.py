"""The HTTP interface: one router per area, on one app whose lifespan enters the composition root.

Areas: ingest (``ingest.py``), situation reports (``situation.py``), warnings, reports and the audit check
(``reports.py``), obligations (acknowledgements and receipts, ``obligations.py``), feeds (``feeds.py``),
admin (``admin.py``), health (``health.py``), and the pages (``pages/``). Handlers only translate: parse,
call a service, let ``answers.install_errors`` map its exceptions by type. Nothing happens at import;
nothing partial is ever written.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, FastAPI
from fastapi.telemetry import TelemetryConfig

from router.app import Runtime
from router.plan.config import RoutingConfig
from router.settings import Settings
from router.web import admin, feeds, health, ingest, obligations, reports, situation
from router.web.answers import HeaderLimits, install_errors, rt
from router.web.pages.views import install as install_pages


def create_app(
    settings: Settings, config: RoutingConfig | None = None, *, started: Callable[[], None] = lambda: None
) -> FastAPI:
    """The app; ``config``, if given, is the already validated configuration (else it is loaded). ``started``
    is called once the runtime is up, before the first request (the server settles its heap there)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Runtime(settings, config) as runtime:
            app.state.runtime = runtime
            started()
            yield

    # FastAPI's own OpenTelemetry spans, metrics and logs are off: warnroute's metrics are Prometheus's
    # (``/metrics``) and its logs structlog's; asking per request whether a provider is set costs every request.
    off: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    app = FastAPI(title="warnroute", version="0.1.0", lifespan=lifespan, telemetry=off)
    app.add_middleware(HeaderLimits)
    install_errors(app)
    for area in (ingest, situation, reports, obligations, feeds):
        _add(app, area.router)
    install_pages(app, rt)
    for area in (health, admin):
        _add(app, area.router)
    return app


def _add(app: FastAPI, area: APIRouter) -> None:
    """An area's routes on the app's own table, so that ``app.routes`` lists every path (recent FastAPI
    keeps an included router as one opaque entry). The areas use no prefix and no router dependencies."""
    app.router.routes.extend(area.routes)
