"""The one loop every background worker runs: step, then wait for a wake-up or the poll, until stopped.

The dispatcher, the escalation scheduler, the Kafka action relay and the Kafka acknowledgement consumer
are each a ``step`` under a :class:`Worker`. A step returns True when it has more to do at once (a full
batch); otherwise the worker waits until ``wake()`` or ``poll`` seconds. The wake-up is cleared before the
step runs, so a wake that arrives during the step is never lost. A step that raises is logged and tried
again after :func:`backoff` (capped, jittered, growing with consecutive failures): a store or broker that
is unwell slows the loop down, it never ends it. ``heartbeat`` is when the last step began (readiness
watches it).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("warnroute.worker")

BACKOFF_CAP = 30.0


def backoff(failures: int, cap: float = BACKOFF_CAP) -> float:
    """Seconds to wait after ``failures`` consecutive failures: 0.5 s doubling, capped, with jitter."""
    return min(cap, 0.5 * 2.0**failures) * random.uniform(0.5, 1.0)


class Worker:
    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[bool]],
        *,
        poll: float,
        clock: Callable[[], float] = time.time,
        retry_after: Callable[[int], float] = backoff,
    ) -> None:
        self.name, self.step, self.poll, self.clock, self.retry_after = name, step, poll, clock, retry_after
        self.heartbeat = clock()
        self.stopping = False
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self.stopping = True
        self._wake.set()

    async def run(self) -> None:
        failures = 0
        while not self.stopping:
            self.heartbeat = self.clock()
            self._wake.clear()  # before the step: a wake during it makes the wait below return at once
            try:
                more = await self.step()
                failures = 0
            except Exception as exc:  # unwell, not over: say so and try again later
                failures += 1
                delay = self.retry_after(failures)
                log.warning(
                    f"{self.name}_step_failed", error=type(exc).__name__, detail=str(exc)[:300], in_seconds=delay
                )
                await self._sleep(delay)
                continue
            if not more:
                await self._sleep(self.poll)

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if woken or stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)


class Runs:
    """A part whose loop is one :class:`Worker` (``self.worker``): its heartbeat, wake-up, stop and run."""

    worker: Worker

    @property
    def heartbeat(self) -> float:
        return self.worker.heartbeat

    def wake(self) -> None:
        self.worker.wake()

    def stop(self) -> None:
        self.worker.stop()

    async def run(self) -> None:
        await self.worker.run()
