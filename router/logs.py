"""structlog configuration: JSON lines in production, console on a TTY; context bound per unit of work."""

from __future__ import annotations

import logging
import sys

import orjson
import structlog


def configure(json_logs: bool | None = None, level: int = logging.INFO) -> None:
    """JSON lines are rendered by orjson and written as bytes (structlog's fast path: a line per routed warning
    is written while warnings arrive by the hundred a second); the console's lines are printed."""
    as_json = json_logs if json_logs is not None else not sys.stderr.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(serializer=orjson.dumps) if as_json else structlog.dev.ConsoleRenderer()
    )
    factory: structlog.typing.WrappedLogger = (
        structlog.BytesLoggerFactory(sys.stderr.buffer) if as_json else structlog.PrintLoggerFactory(sys.stderr)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
