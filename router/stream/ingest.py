"""The ingest consumer: warnings from the ingest topic, committed only once the store has their decisions.

Each poll takes up to ``batch`` records. Records with the same key (publishers key by lineage, the
first identifier of an Alert and its Updates) are routed one after another, in offset order; other
keys run concurrently, so the store's group commit sees many warnings at once. Only when every
record of the batch is durable (routed, a duplicate, or dead-lettered) are the batch's offsets
committed. A failure before that (the store, the dead-letter topic) commits nothing: the consumer
seeks back and takes the batch again after a capped backoff, and what was already stored comes back
as a duplicate, which creates nothing.

A record that cannot be accepted (bad input, a conflicting reuse of an identifier, a missing or
wrong signature) goes to the dead-letter topic with its original key, bytes and headers, plus
``warnroute-kind``, ``warnroute-field``, ``warnroute-reason`` and ``warnroute-source``
(topic/partition/offset), and the records behind it carry on.

Outside dev mode a record must carry ``x-warnroute-publisher`` (a publisher's token id),
``x-warnroute-timestamp`` and ``x-warnroute-signature`` (the same HMAC as HTTP ingest); the replay
window is measured against the broker's append time of the record.

Up to ``DEPTH`` batches are in hand at once (one is routed while the one before is written); their
offsets are committed in order, each only once it and every batch before it are durable, and a key's
records in a later batch wait for that key's records in the earlier one. The rebalance listener waits
until everything in hand is committed before the partitions go.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from typing import Any, Literal

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition

from router.access.gate import Gate
from router.access.roles import Principal
from router.errors import InvalidMessage
from router.ingest.service import IngestService
from router.metrics import Metrics
from router.stream.settings import KafkaSettings
from router.worker import backoff

log = structlog.get_logger("warnroute.kafka")
LOG_APPEND_TIME = 1
RETRY_CAP = 30.0
DEPTH = 2  # batches in hand at once: routing of one overlaps the store's write of the one before
# Records routed and not yet written, at most: a poll's records are routed a part at a time, and each part
# is written while the next is routed. (Routed all at once, the first write would wait for the last routing.)
ROUTING_AHEAD = 128
Batch = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


class Rejected(Exception):
    """A record that will never be accepted as it stands: it goes to the dead-letter topic."""

    def __init__(self, kind: str, field: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.field, self.reason = kind, field, reason


class IngestConsumer:
    def __init__(
        self,
        settings: KafkaSettings,
        service: IngestService,
        producer: AIOKafkaProducer,
        gate: Gate,
        metrics: Metrics,
    ) -> None:
        self.settings, self.service, self.producer, self.gate, self.metrics = settings, service, producer, gate, metrics
        self.consumer = AIOKafkaConsumer(
            **settings.client_options(),
            group_id=settings.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=settings.batch,
        )
        self.heartbeat = time.time()
        self._in_hand = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._committed: dict[TopicPartition, int] = {}
        self.revoking = False  # a rebalance waits: take nothing more, commit what is in hand
        self._routing = asyncio.Semaphore(ROUTING_AHEAD)
        self._tails: dict[Any, asyncio.Task[None]] = {}  # each key's latest lane, for the next batch to follow

    async def start(self) -> None:
        self.consumer.subscribe([self.settings.ingest_topic], listener=_FinishFirst(self))
        await self.consumer.start()

    def stop(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        async with self._in_hand:  # what is in hand is finished and committed first
            await self.consumer.stop()

    async def run(self) -> None:
        """Take batches and commit them in order. Up to ``DEPTH`` batches are in hand at once, so one batch
        is routed while the one before it is being written; a batch's offsets are committed only after it
        and every batch before it are durable."""
        failures = 0
        in_hand: deque[tuple[asyncio.Task[None], Batch]] = deque()
        while not self._stopping.is_set() or in_hand:
            self.heartbeat = time.time()
            batches: Batch = {}
            if not self._stopping.is_set() and not self.revoking:
                wait = 0 if in_hand and in_hand[0][0].done() else (20 if in_hand else 500)
                batches = await self.consumer.getmany(timeout_ms=wait, max_records=self.settings.batch)
            if batches:
                if not in_hand:
                    await self._in_hand.acquire()  # a rebalance waits until what is in hand is committed
                in_hand.append((asyncio.create_task(self._take(batches)), batches))
            while in_hand and (len(in_hand) >= DEPTH or in_hand[0][0].done() or not batches):
                task, taken = in_hand.popleft()
                try:
                    await task
                    offsets = {tp: records[-1].offset + 1 for tp, records in taken.items() if records}
                    await self.consumer.commit(offsets)
                    self._committed.update(offsets)
                    failures = 0
                except Exception as exc:
                    failures += 1
                    await self._take_again([taken, *(b for _, b in in_hand)], [t for t, _ in in_hand], exc, failures)
                    in_hand.clear()
                if not in_hand:
                    self._in_hand.release()
            if not batches:
                self._measure_lag()

    async def _take_again(
        self, batches: list[Batch], running: list[asyncio.Task[None]], exc: Exception, failures: int
    ) -> None:
        """Nothing of ``batches`` is committed: wait for the rest in hand, seek back, back off."""
        self.metrics.kafka_retries.inc()
        await asyncio.gather(*running, return_exceptions=True)
        first: dict[TopicPartition, int] = {}
        for taken in batches:
            for tp, records in taken.items():
                if records:
                    first[tp] = min(first.get(tp, records[0].offset), records[0].offset)
        for tp, offset in first.items():
            if tp in self.consumer.assignment():
                self.consumer.seek(tp, offset)
        delay = backoff(failures, RETRY_CAP)
        log.warning("kafka_batch_retry", error=type(exc).__name__, detail=str(exc)[:300], in_seconds=delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)

    async def _take(self, batches: Batch) -> None:
        lanes: dict[Any, list[ConsumerRecord[bytes, bytes]]] = defaultdict(list)
        for tp, records in batches.items():
            for record in records:
                # Unkeyed records keep their partition's order; keyed ones only their key's.
                lanes[(tp, record.key) if record.key is not None else tp].append(record)
        tasks = []
        for key, lane in lanes.items():
            # The same key in the batch before this one (still in hand) goes first.
            task = asyncio.create_task(self._lane(lane, self._tails.get(key)))
            self._tails[key] = task
            task.add_done_callback(functools.partial(self._untail, key))
            tasks.append(task)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise failed[0]

    def _untail(self, key: Any, task: asyncio.Task[None]) -> None:
        if self._tails.get(key) is task:
            del self._tails[key]

    async def _lane(self, records: list[ConsumerRecord[bytes, bytes]], after: asyncio.Task[None] | None) -> None:
        if after is not None:
            await after  # its failure fails this lane too: an Update must not be routed before its Alert
        for record in records:
            try:
                async with self._routing:
                    await self._one(record)
            except Rejected as rejected:
                await self._dead_letter(record, rejected)

    async def _one(self, record: ConsumerRecord[bytes, bytes]) -> None:
        body = record.value
        if not body:
            raise Rejected("invalid", "value", "the record has no value")
        if not self.gate.dev:
            await self._check_signature(record, body)
        try:
            accepted = await self.service.submit(body)
        except InvalidMessage as exc:
            raise Rejected(exc.kind, exc.field, exc.problem) from exc
        if accepted.outcome.status == "conflict":
            raise Rejected("conflict", "identifier", accepted.outcome.problem)

    async def _check_signature(self, record: ConsumerRecord[bytes, bytes], body: bytes) -> None:
        await signed_by(self.gate, record, body, "x-warnroute-publisher", "publisher")

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], rejected: Rejected) -> None:
        await dead_letter(self.producer, self.settings.dead_letter_topic, record, rejected, self.metrics)

    def _measure_lag(self) -> None:
        """Records behind the newest on the partitions held (high-water mark of the last fetch − committed)."""
        lag = 0
        for tp in self.consumer.assignment():
            end, done = self.consumer.highwater(tp), self._committed.get(tp)
            if end is not None and done is not None:
                lag += max(0, end - done)
        self.metrics.consumer_lag.set(lag)


async def dead_letter(
    producer: AIOKafkaProducer,
    topic: str,
    record: ConsumerRecord[bytes, bytes],
    rejected: Rejected,
    metrics: Metrics,
) -> None:
    """``record`` to the dead-letter ``topic``: its key, bytes and headers, and why (``warnroute-kind``,
    ``-field``, ``-reason``) and whence (``warnroute-source``: topic/partition/offset); counted and logged."""
    source = f"{record.topic}/{record.partition}/{record.offset}"
    headers = [
        *(h for h in record.headers if not h[0].startswith("warnroute-")),
        ("warnroute-kind", rejected.kind.encode()),
        ("warnroute-field", rejected.field.encode()),
        ("warnroute-reason", rejected.reason.encode()),
        ("warnroute-source", source.encode()),
    ]
    await producer.send_and_wait(topic, value=record.value, key=record.key, headers=headers)
    metrics.dead_letters.labels(rejected.kind).inc()
    log.info("kafka_dead_letter", source=source, kind=rejected.kind, field=rejected.field, reason=rejected.reason)


async def signed_by(
    gate: Gate, record: ConsumerRecord[bytes, bytes], body: bytes, header: str, role: Literal["publisher", "principal"]
) -> Principal:
    """The principal a record names in ``header`` (a publisher, or any principal filing a report), when its
    signature over ``body`` holds; else the refusal is recorded as over HTTP and the record Rejected."""
    headers = record_headers(record.headers)
    named = headers.get(header)
    where = f"{record.topic}/{record.partition}/{record.offset}"
    if not named:
        what = "a publisher's token id" if role == "publisher" else "the filing office's token id"
        status, problem, who = 401, f"{header} ({what}) is required", "anonymous"
    else:
        who = named
        principal = await (gate.publisher(named) if role == "publisher" else gate.principal(named))
        if principal is None:
            status, problem = 401, f"unknown or revoked {role}"
        else:
            at = record.timestamp / 1000 if record.timestamp_type == LOG_APPEND_TIME else time.time()
            refused = gate.signature_refusal(
                principal, headers.get("x-warnroute-timestamp"), headers.get("x-warnroute-signature"), body, at
            )
            if refused is None:
                return principal
            status, problem = refused
    await gate.record_refusal(who, "KAFKA", where, problem, status)
    raise Rejected("signature", "signature", problem)


def record_headers(headers: Iterable[tuple[str, bytes]]) -> dict[str, str]:
    out = {}
    for key, value in headers:
        with contextlib.suppress(UnicodeDecodeError):
            out[key.lower()] = value.decode()
    return out


class _FinishFirst(ConsumerRebalanceListener):  # type: ignore[misc]
    """Before partitions are taken away, take nothing more and wait until what is in hand is committed."""

    def __init__(self, owner: IngestConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.owner.revoking = True
        try:
            async with self.owner._in_hand:
                log.info("kafka_partitions_revoked", partitions=sorted(str(tp) for tp in revoked))
        finally:
            self.owner.revoking = False

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("kafka_partitions_assigned", partitions=sorted(str(tp) for tp in assigned))
