"""The action relay: every obligation the store records, published to its department's action topic.

The store is the outbox: the relay reads obligations past its cursor (kept in the store), publishes
them through the idempotent producer, waits for the broker's acknowledgement, and only then moves
the cursor. A crash between the two publishes the last batch again, so consumers treat
``obligation_id`` (also the ``warnroute-obligation`` header) as the record's identity. Records are
keyed by the warning's lineage (the first Alert's identifier), so a warning and its Updates and lift
stay in order on one partition. Where instances share a database, one of them relays (the one that
holds the relay's lock); the others stand by.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import structlog
from aiokafka import AIOKafkaProducer

from router.metrics import Metrics
from router.store import FeedEntry, SqlStore
from router.stream.settings import KafkaSettings
from router.worker import Runs, Worker

log = structlog.get_logger("warnroute.kafka")
CURSOR = "kafka_actions"
BATCH = 500


def action_message(
    jurisdiction: str, department: str, lineage: str, entry: FeedEntry, ack_topic: str
) -> dict[str, Any]:
    """What the department must do: its action (text, clauses, deadline, kind), the warning, how to acknowledge."""
    warning = entry.warning
    return {
        "obligation_id": entry.obligation_id,
        "warning_id": entry.warning_id,
        "lineage": lineage,
        "jurisdiction": jurisdiction,
        "department": department,
        "drill": entry.drill,
        "action": entry.action,
        "warning": {
            key: warning.get(key)
            for key in (
                "id",
                "sender",
                "issued_at",
                "status",
                "msg_type",
                "product",
                "hazard",
                "hazard_name",
                "severity",
                "level",
                "headline",
                "onset",
                "expires",
            )
        },
        "acknowledge": {
            "topic": ack_topic,
            "record": {"obligation_id": entry.obligation_id, "jurisdiction": jurisdiction, "department": department},
        },
    }


class ActionRelay(Runs):
    def __init__(
        self,
        settings: KafkaSettings,
        store: SqlStore,
        producer: AIOKafkaProducer,
        metrics: Metrics,
        poll_seconds: float = 1.0,
    ) -> None:
        self.settings, self.store, self.producer, self.metrics = settings, store, producer, metrics
        self.poll_seconds = poll_seconds
        self.worker = Worker("kafka_relay", self._step, poll=poll_seconds)
        self._after: int | None = None  # where this instance got to; read from the store on taking the lead

    async def _step(self) -> bool:
        """Publish the next batch, if this instance leads the relay; True when the batch was full."""
        try:
            if not await self.store.lead(CURSOR):  # another instance relays (a shared database)
                self._after = None
                return False
            if self._after is None:
                self._after = await self.store.cursor(CURSOR)
            self._after, moved = await self.publish_after(self._after)
        except Exception:
            self._after = None  # the store's cursor is what was surely published
            raise
        return moved >= BATCH

    async def publish_after(self, after: int) -> tuple[int, int]:
        """Publish one batch of obligations past ``after``; returns (the new cursor, how many)."""
        rows = await self.store.routed_after(after, BATCH)
        if not rows:
            return after, 0
        sent = []
        for jurisdiction, department, lineage, entry in rows:
            message = action_message(jurisdiction, department, lineage, entry, self.settings.ack_topic)
            sent.append(
                await self.producer.send(
                    self.settings.action_topic(department),
                    value=orjson.dumps(message),
                    key=lineage.encode(),
                    headers=[("warnroute-obligation", entry.obligation_id.encode())],
                )
            )
        await asyncio.gather(*sent)
        cursor = rows[-1][3].seq
        await self.store.set_cursor(CURSOR, cursor)
        self.metrics.actions_published.inc(len(rows))
        return cursor, len(rows)
