"""The live department feed: per-subscriber bounded queues, counted drops, fan-out after commit.

A subscriber that falls behind loses live events (counted) but misses nothing: every event is an
obligation in the store, and the pull API with a cursor (and the SSE stream's ``Last-Event-ID``)
replays from where it stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

QUEUE_SIZE = 256


class FeedHub:
    def __init__(self, on_drop: Callable[[], None] = lambda: None) -> None:
        self._subscribers: dict[tuple[str, str], set[asyncio.Queue[dict[str, Any]]]] = {}
        self._on_drop = on_drop

    def subscribe(self, jurisdiction: str, department: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._subscribers.setdefault((jurisdiction, department), set()).add(queue)
        return queue

    def unsubscribe(self, jurisdiction: str, department: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        subscribers = self._subscribers.get((jurisdiction, department))
        if subscribers is not None:
            subscribers.discard(queue)
            if not subscribers:
                del self._subscribers[(jurisdiction, department)]

    def following(self) -> bool:
        """Whether anyone follows any feed now."""
        return bool(self._subscribers)

    def listened(self, jurisdiction: str, department: str) -> bool:
        """Whether anyone follows this department's feed now (events are built only then)."""
        return (jurisdiction, department) in self._subscribers

    def publish(self, jurisdiction: str, department: str, event: dict[str, Any]) -> None:
        for queue in self._subscribers.get((jurisdiction, department), ()):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._on_drop()

    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())
