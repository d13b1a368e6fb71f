"""The canary: on a schedule, a Test message through every configured channel to the self-test recipient.

Each canary is an ordinary warning record (status Test, so every notification says it is a drill)
with one obligation per channel, done when its delivery comes back (a provider receipt, or the
endpoint accepting it). ``warnroute_canary_age_seconds{channel}`` is how long ago a canary last came
back; ``warnroute_canary_missing{channel}`` is 1 while the last one is overdue, and a warning is logged.
A channel whose canary does not come back is a channel that would not deliver a real warning.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import orjson
import structlog

from router.metrics import Metrics
from router.plan.config import RoutingConfig
from router.store import IngestRecord, NotificationRow, ObligationRow, SqlStore

log = structlog.get_logger("warnroute.canary")
DEPARTMENT = "canary"
SENDER = "warnroute-canary"
NO_RECEIPTS = frozenset({"email", "wecom", "dingtalk", "feishu"})
"""Channels whose providers confirm acceptance only: for them, accepted is as far back as a canary comes."""


def canary_record(config: RoutingConfig, channels: Iterable[str], now: float, timeout: float) -> IngestRecord:
    """A Test warning with one obligation per channel, each due back within ``timeout`` seconds."""
    issued = datetime.fromtimestamp(now, UTC)
    identifier = f"canary-{issued.strftime('%Y%m%dT%H%M%S.%f')}"
    key = hashlib.sha256(identifier.encode()).hexdigest()[:20]
    due = datetime.fromtimestamp(now + timeout, UTC).isoformat()
    warning = {
        "id": identifier,
        "sender": SENDER,
        "product": "signal",
        "hazard": "other",
        "hazard_name": "通道自检",
        "jurisdiction": config.city,
        "areas": [config.city],
        "msg_type": "alert",
        "status": "test",
        "issued_at": issued.isoformat(),
        "headline": "warnroute 通道自检（测试消息，无需处理）",
    }
    obligations, notifications = [], []
    for i, channel in enumerate(channels):
        oid = f"{key}.{i:03d}"
        action = {
            "department": DEPARTMENT,
            "jurisdiction": config.city,
            "kind": "canary",
            "clause": "self-test",
            "text": f"通道自检：{channel}",
            "mandatory": False,
            "channels": [channel],
            "due_at": due,  # last: the store keeps the rest once, as for every action (the deadline follows it)
        }
        obligations.append(
            ObligationRow(
                oid,
                DEPARTMENT,
                config.city,
                "canary",
                None,
                "self-test",
                False,
                due,
                orjson.dumps(action).decode(),
                now,
                now + timeout,
                (channel,),
                None,
                "delivery",
                0,
                now + timeout,
            )
        )
        notifications.append(NotificationRow(f"{oid}.{channel}", oid, channel, now, 1))
    text = orjson.dumps(warning).decode()
    return IngestRecord(
        sender=SENDER,
        identifier=identifier,
        sent=issued.isoformat(),
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        lineage=identifier,
        received_at=issued.isoformat(),
        product="signal",
        hazard="other",
        severity=None,
        jurisdiction=config.city,
        status="test",
        msg_type="alert",
        reference_unknown=False,
        warning_json=text,
        decision_json=orjson.dumps({"warning": warning, "drill": True, "notes": ["canary"]}).decode(),
        told_json="[]",
        obligations=tuple(obligations),
        notifications=tuple(notifications),
        opened=len(notifications),
    )


class Canary:
    def __init__(
        self,
        store: SqlStore,
        config: RoutingConfig,
        metrics: Metrics,
        channels: Iterable[str],
        every: float,
        timeout: float,
        on_commit: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        wanted = config.departments[DEPARTMENT].channels if DEPARTMENT in config.departments else []
        available = set(channels)
        self.channels = tuple(c for c in wanted if c in available)
        self.store, self.config, self.metrics = store, config, metrics
        self.every, self.timeout, self.on_commit, self.clock = every, timeout, on_commit, clock
        self._last_sent = 0.0

    async def run(self) -> None:
        """Send every ``every`` seconds; look for what came back a few times in between."""
        while True:
            if self.clock() - self._last_sent >= self.every:
                await self.send()
            await asyncio.sleep(min(5.0, self.every / 2))
            await self.check()

    async def send(self) -> None:
        if not self.channels:
            return
        now = self.clock()
        self._last_sent = now
        await self.store.ingest(canary_record(self.config, self.channels, now, self.timeout))
        self.on_commit()

    async def check(self) -> dict[str, bool]:
        """Per channel: True while a canary older than the timeout has not come back, nor any sent after it.
        Updates the metrics."""
        now = self.clock()
        rows: dict[str, list[tuple[float, float | None]]] = {}
        for channel, created, sent, delivered in await self.store.canaries(self.config.city, DEPARTMENT):
            back = delivered if delivered is not None or channel not in NO_RECEIPTS else sent
            rows.setdefault(channel, []).append((created, back))
        missing: dict[str, bool] = {}
        for channel, history in rows.items():  # newest first
            came_back = [back for _, back in history if back is not None]
            newest_back = next((created for created, back in history if back is not None), None)
            overdue = [c for c, back in history if back is None and now - c > self.timeout]
            late = bool(overdue) and (newest_back is None or max(overdue) > newest_back)
            missing[channel] = late
            self.metrics.canary_missing.labels(channel).set(1 if late else 0)
            if came_back:
                self.metrics.canary_age.labels(channel).set(now - max(came_back))
            if late:
                log.warning("canary_missing", channel=channel, overdue_seconds=round(now - max(overdue) - self.timeout))
        return missing
