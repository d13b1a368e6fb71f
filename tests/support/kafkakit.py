"""Producing to and reading from the real broker in tests, and a router stack in Kafka mode."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.support.kafkabroker import Broker
from tests.support.procs import Stack, start_stack


def kafka_env(broker: Broker, prefix: str | None = None) -> dict[str, str]:
    """The router's Kafka settings with topic and group names of their own (tests share one broker)."""
    p = prefix or "t" + secrets.token_hex(4)
    return {
        "WARNROUTE_KAFKA_BOOTSTRAP": broker.bootstrap,
        "WARNROUTE_KAFKA_GROUP": f"{p}.router",
        "WARNROUTE_KAFKA_INGEST_TOPIC": f"{p}.warnings",
        "WARNROUTE_KAFKA_DEAD_LETTER_TOPIC": f"{p}.warnings.dead",
        "WARNROUTE_KAFKA_ACK_TOPIC": f"{p}.acks",
        "WARNROUTE_KAFKA_REPORT_TOPIC": f"{p}.reports",
        "WARNROUTE_KAFKA_ACTION_PREFIX": f"{p}.actions.",
        "WARNROUTE_KAFKA_PARTITIONS": "3",
    }


def kafka_stack(tmp: Path, broker: Broker, extra_env: dict[str, str] | None = None, **kwargs: Any) -> Stack:
    return start_stack(tmp, extra_env={**kafka_env(broker), **(extra_env or {})}, **kwargs)


def produce(
    bootstrap: str,
    topic: str,
    records: Sequence[tuple[bytes | None, bytes, Sequence[tuple[str, bytes]]]],
    **options: Any,
) -> None:
    """Send (key, value, headers) records and wait until the broker has every one."""

    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, **options)
        await producer.start()
        try:
            sent = [await producer.send(topic, value=v, key=k, headers=h) for k, v, h in records]
            await asyncio.gather(*sent)
        finally:
            await producer.stop()

    asyncio.run(run())


def read_topic(bootstrap: str, topic: str | list[str], at_least: int, timeout: float = 30.0) -> list[Any]:
    """Every record on ``topic`` (or topics) from the beginning, once at least ``at_least`` are there (bounded)."""

    async def run() -> list[Any]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            deadline = time.monotonic() + timeout
            topics = [topic] if isinstance(topic, str) else topic
            consumer.assign([tp for name in topics for tp in await partitions_of(consumer, name)])
            await consumer.seek_to_beginning()
            out: list[Any] = []
            while len(out) < at_least and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=300)
                for records in batches.values():
                    out.extend(records)
            # Anything else already there (a duplicate would show here).
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out.extend(records)
            return out
        finally:
            await consumer.stop()

    return asyncio.run(run())


def committed(bootstrap: str, topic: str, group: str) -> tuple[int, int]:
    """(offsets ``group`` has committed, records ever written), summed over the partitions of ``topic``."""

    async def run() -> tuple[int, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = await partitions_of(consumer, topic)
            ends = await consumer.end_offsets(partitions)
            done = [await consumer.committed(tp) or 0 for tp in partitions]
            return sum(done), sum(ends.values())
        finally:
            await consumer.stop()

    return asyncio.run(run())


def committed_everything(bootstrap: str, topic: str, group: str) -> bool:
    done, written = committed(bootstrap, topic, group)
    return done == written > 0


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The topic's partitions (a client that has not asked about the topic yet must fetch its metadata)."""
    for _ in range(50):
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return [TopicPartition(topic, p) for p in sorted(partitions)]
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise AssertionError(f"topic {topic} does not exist")


def json_of(record: Any) -> Any:
    return orjson.loads(record.value)
