"""A store, the ingest service and the escalation scheduler on one manual clock (no sleeping)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry

from router.delivery.feed import FeedHub
from router.ingest.service import IngestService
from router.metrics import Metrics
from router.obligations.scheduler import Scheduler
from router.plan.config import RoutingConfig
from tests.support.backends import Backend

T = TypeVar("T")
ISSUED = "2026-07-15T08:00:00+08:00"
T0 = 1784073600.0  # ISSUED as epoch seconds
MIN = 60.0


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def at(self, minutes: float) -> None:
        self.t = T0 + minutes * MIN


class World:
    """A store, the ingest service and the scheduler on one manual clock."""

    def __init__(self, config: RoutingConfig, where: Path | Backend) -> None:
        self.config, self.clock = config, Clock()
        self.backend = where if isinstance(where, Backend) else Backend("sqlite", str(where / "db.sqlite"))

    async def start(self) -> World:
        self.store = self.backend.store(clock=self.clock)
        await self.store.open()
        metrics = Metrics(CollectorRegistry())
        self.service = IngestService(self.config, self.store, metrics, FeedHub(), lambda: None, clock=self.clock)
        self.scheduler = Scheduler(self.store, self.config, metrics, lambda: None, clock=self.clock)
        return self

    async def restart(self) -> None:
        await self.store.close()
        await self.start()

    async def at(self, minutes: float) -> int:
        """Move the clock and run one scheduler pass."""
        self.clock.at(minutes)
        return await self.scheduler.pass_once()

    async def obligation(self, warning_id: str, department: str, kind: str = "respond") -> dict[str, Any]:
        found = await self.store.get_warning(warning_id)
        assert found is not None
        return next(
            o
            for o in found["obligations"]
            if o["action"]["department"] == department
            and o["action"]["kind"] == kind
            and o["action"]["jurisdiction"] == "530324"
        )


def run(config: RoutingConfig, where: Path | Backend, scenario: Callable[[World], Awaitable[T]]) -> T:
    """Run ``scenario`` in a world on ``where``: a backend, or a directory for a SQLite file."""

    async def main() -> T:
        world = await World(config, where).start()
        try:
            return await scenario(world)
        finally:
            await world.store.close()

    return asyncio.run(main())
