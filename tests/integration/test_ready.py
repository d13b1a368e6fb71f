"""``/readyz`` is a dead-man check: it fails when the dispatcher or the escalation scheduler stalls."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from router.app import Runtime
from router.settings import Settings


def ready_of(
    dispatcher_age: float, scheduler_age: float, stopped: str | None = None, short: str | None = None
) -> tuple[bool, str]:
    """What a runtime whose loops last beat that many seconds ago (one perhaps ended), on a store whose
    disk is short (``short``: why) or not, says of itself."""

    async def scenario() -> tuple[bool, str]:
        rt = Runtime(Settings(poll_seconds=0.5, scheduler_poll=1.0, call_timeout=10.0))
        now = time.time()
        rt.store = SimpleNamespace(room=lambda: short)  # type: ignore[assignment]
        rt.dispatcher = SimpleNamespace(heartbeat=now - dispatcher_age)  # type: ignore[assignment]
        rt.scheduler = SimpleNamespace(heartbeat=now - scheduler_age)  # type: ignore[assignment]
        for name in ("dispatcher", "scheduler"):
            rt._tasks.append(asyncio.create_task(asyncio.sleep(0 if name == stopped else 60), name=name))
        await asyncio.sleep(0.01)
        try:
            return rt.ready()
        finally:
            for task in rt._tasks:
                task.cancel()

    return asyncio.run(scenario())


def test_ready_while_both_loops_beat() -> None:
    assert ready_of(1, 1) == (True, "ok")


def test_not_ready_when_the_scheduler_is_silent() -> None:
    assert ready_of(1, 60) == (False, "scheduler silent for 60 s")


def test_not_ready_when_the_dispatcher_is_silent_or_a_loop_stopped() -> None:
    assert ready_of(30, 1) == (False, "dispatcher silent for 30 s")
    assert ready_of(1, 1, stopped="scheduler") == (False, "scheduler stopped")


def test_not_ready_while_the_store_is_short_of_disk() -> None:
    why = "the disk holding the store (/data) has 3.0 MiB free, below the 64 MiB kept for warnings already accepted"
    assert ready_of(1, 1, short=why) == (False, why)
