"""Benchmark: Kafka mode against the same broker's raw ceiling, measured in one run.

    python -m bench.bench_kafka [--warnings 10000] [--paced 20] [--seconds 15] [--skip-postgres]

A real single-node broker (tests/kafkabroker.py) and, for the shared store, a real PostgreSQL server
(tests/pgserver.py), all on 127.0.0.1. Warnings are yellow gale signals (44 obligations each).
1. Raw passthrough: an aiokafka consumer group (manual commit per batch) copying the same records from
   one topic to another through an idempotent producer: records/s.
2. Raw store (DESIGN §11): the same messages' bytes and 45 narrow rows each (ids of at most 24 bytes, one
   index beside the primary key), 256 warnings per transaction, a schema of its own, on a connection
   opened as the store's (SQLite; PostgreSQL): warnings/s.
3. warnroute Kafka mode (``warnroute serve`` processes, dispatcher off: routing and persisting only):
   a burst of ``--warnings`` produced at once, timed until the group has committed every record (a
   commit follows only the durable write of the warning, its decision and every obligation): on SQLite
   with one instance, on PostgreSQL with one and with two instances. RSS per instance.
4. End to end: ``--paced`` warnings/s for ``--seconds`` into one idle SQLite instance; latency from the
   produce call to the department's action record arriving on its action topic: p50/p99.
Ratio: warnroute's rate / the slower of the passthrough and the raw store (DESIGN §11).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.bench_ingest import message, rss_mb
from bench.rawstore import raw_rows
from router.store import PostgresStore, SqliteStore
from tests.support.kafkabroker import Broker
from tests.support.kafkakit import kafka_env, partitions_of
from tests.support.pgserver import Postgres
from tests.support.procs import start_stack

WARM_UP = 30  # warnings routed before the latency run, over every ingest partition
ACTION_DEPARTMENT = "emergency_management"  # every yellow gale in a county reaches it (§4.4, §5.2)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def produce_all(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5)
    await producer.start()
    started = time.perf_counter()
    try:
        sent = [await producer.send(topic, value=v, key=k) for k, v in records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def passthrough(bootstrap: str, records: list[tuple[bytes, bytes]], partitions: int) -> float:
    """Records/s: consume → produce → commit, the shape of warnroute's loop with nothing in between."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(t, partitions, 1) for t in ("raw.in", "raw.out")])
    await admin.close()
    await produce_all(bootstrap, "raw.in", records)
    consumer = AIOKafkaConsumer(
        "raw.in", bootstrap_servers=bootstrap, group_id="raw", enable_auto_commit=False, auto_offset_reset="earliest"
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5)
    await consumer.start()
    await producer.start()
    moved, started = 0, 0.0
    try:
        while moved < len(records):
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            if not started and batches:
                started = time.perf_counter()
            sends = [await producer.send("raw.out", value=r.value, key=r.key) for rs in batches.values() for r in rs]
            await asyncio.gather(*sends)
            if batches:
                await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batches.items()})
            moved += len(sends)
        return moved / (time.perf_counter() - started)
    finally:
        await producer.stop()
        await consumer.stop()


async def produce_and_wait(bootstrap: str, topic: str, group: str, records: list[tuple[bytes, bytes]]) -> float:
    """Produce ``records``, then watch ``group``'s committed offsets on ``topic`` every 0.1 s until they cover
    every record (at most 600 s): when they did. One watching client for the whole burst: a client started
    for every look would take a good part of a core from what is measured."""
    await produce_all(bootstrap, topic, records)
    watcher = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await watcher.start()
    try:
        partitions = await partitions_of(watcher, topic)
        deadline = time.perf_counter() + 600
        while time.perf_counter() < deadline:
            done = sum([await watcher.committed(tp) or 0 for tp in partitions])
            if done >= len(records):
                break
            await asyncio.sleep(0.1)
        return time.perf_counter()
    finally:
        await watcher.stop()


def burst(tmp: Path, broker: Broker, n: int, tag: str, database_url: str | None, instances: int) -> dict[str, float]:
    env = {**kafka_env(broker), "WARNROUTE_DISPATCH": "0"}
    if database_url:
        env["WARNROUTE_DATABASE_URL"] = database_url
    stack = start_stack(tmp / tag, extra_env=env)
    others = [stack.start_another(f"{tag}{i}") for i in range(1, instances)]
    try:
        time.sleep(3)  # every instance has joined the group and holds its partitions
        topic, group = env["WARNROUTE_KAFKA_INGEST_TOPIC"], env["WARNROUTE_KAFKA_GROUP"]
        records = [(f"{tag}-{i}".encode(), message(i, tag)) for i in range(n)]
        started = time.perf_counter()
        elapsed = asyncio.run(produce_and_wait(broker.bootstrap, topic, group, records)) - started
        assert stack.router is not None
        procs = [stack.router, *others]
        return {
            "seconds": elapsed,
            "warnings_per_s": n / elapsed,
            "rss_mb_max": max(rss_mb(p.popen.pid) for p in procs),
        }
    finally:
        for proc in others:
            proc.stop()
        stack.stop()


async def end_to_end(broker: Broker, env: dict[str, str], rate: float, seconds: float) -> list[float]:
    """Produce → the department's action record: one latency per warning."""
    produced: dict[str, float] = {}
    arrived: dict[str, float] = {}
    topic = env["WARNROUTE_KAFKA_ACTION_PREFIX"] + ACTION_DEPARTMENT
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    await consumer.start()
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    if not partitions:
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(partitions)
    await consumer.seek_to_end()

    async def listen() -> None:
        while True:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                now = time.perf_counter()
                for r in records:
                    arrived.setdefault(json.loads(r.value)["warning_id"], now)

    listener = asyncio.create_task(listen())
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        # Warm-up (not measured): the router has joined its group, every ingest partition has a settled
        # leader (keys spread over all of them) and the action relay is publishing.
        warm = set()
        for i in range(WARM_UP):
            body = message(i, "warm")
            identifier = json.loads(body)["identifier"]
            warm.add(identifier)
            await producer.send_and_wait(env["WARNROUTE_KAFKA_INGEST_TOPIC"], value=body, key=identifier.encode())
        deadline = time.perf_counter() + 60
        while not warm <= arrived.keys() and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        n = int(rate * seconds)
        for i in range(n):
            body = message(i, "e2e")
            identifier = json.loads(body)["identifier"]
            produced[identifier] = time.perf_counter()
            await producer.send_and_wait(env["WARNROUTE_KAFKA_INGEST_TOPIC"], value=body, key=identifier.encode())
            await asyncio.sleep(max(0.0, produced[identifier] + 1 / rate - time.perf_counter()))
        deadline = time.perf_counter() + 60
        while len(arrived) < n and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
    finally:
        await producer.stop()
        listener.cancel()
        await consumer.stop()
    return [(arrived[k] - produced[k]) * 1000 for k in produced if k in arrived]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--warnings", type=int, default=10_000)
    parser.add_argument("--paced", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="warnroute-bench-kafka-"))
    results: dict[str, Any] = {"warnings": args.warnings}
    broker = Broker(tmp / "broker").start()
    server = Postgres().start() if not args.skip_postgres else None
    try:
        records = [(f"raw-{i}".encode(), message(i, "raw")) for i in range(args.warnings)]
        results["raw_passthrough_per_s"] = asyncio.run(passthrough(broker.bootstrap, records, 6))
        same = [message(i, "raw") for i in range(args.warnings)]  # bytes and 45 narrow rows each (DESIGN §11)
        results["raw_sqlite_warnings_per_s"] = asyncio.run(raw_rows(SqliteStore(tmp / "raw.db"), same))
        sqlite = burst(tmp, broker, args.warnings, "sqlite1", None, 1)
        results["sqlite_1_instance"] = sqlite
        ceiling = min(results["raw_passthrough_per_s"], results["raw_sqlite_warnings_per_s"])
        results["sqlite_vs_ceiling"] = sqlite["warnings_per_s"] / ceiling

        env = {**kafka_env(broker), "WARNROUTE_DISPATCH": "0"}
        stack = start_stack(tmp / "e2e", extra_env=env)
        try:
            time.sleep(3)
            latencies = asyncio.run(end_to_end(broker, env, args.paced, args.seconds))
        finally:
            stack.stop()
        results["e2e_records"] = len(latencies)
        results["e2e_p50_ms"] = statistics.median(latencies)
        results["e2e_p99_ms"] = pct(latencies, 0.99)
        results["e2e_max_ms"] = max(latencies)

        if server is not None:
            results["raw_postgres_warnings_per_s"] = asyncio.run(
                raw_rows(PostgresStore(server.create_database()), same)
            )
            pg_ceiling = min(results["raw_passthrough_per_s"], results["raw_postgres_warnings_per_s"])
            for instances in (1, 2):
                run = burst(tmp, broker, args.warnings, f"pg{instances}", server.create_database(), instances)
                results[f"postgres_{instances}_instances"] = run
                results[f"postgres_{instances}_vs_ceiling"] = run["warnings_per_s"] / pg_ceiling
    finally:
        if server is not None:
            server.remove()
        broker.stop()
    print(json.dumps(results, indent=2))
    one = results["sqlite_1_instance"]
    lines = [
        f"raw passthrough {results['raw_passthrough_per_s']:.0f} records/s",
        f"raw SQLite rows {results['raw_sqlite_warnings_per_s']:.0f} warnings/s",
        f"warnroute SQLite x1 {one['warnings_per_s']:.0f}/s ({results['sqlite_vs_ceiling']:.2f} of the ceiling)",
        f"{args.warnings} routed and persisted in {one['seconds']:.1f} s, RSS {one['rss_mb_max']:.0f} MB",
        f"produce -> action record p50 {results['e2e_p50_ms']:.1f} ms, p99 {results['e2e_p99_ms']:.1f} ms"
        f" (max {results['e2e_max_ms']:.1f} ms)",
    ]
    for instances in (1, 2):
        measured = results.get(f"postgres_{instances}_instances")
        if measured:
            ratio = results[f"postgres_{instances}_vs_ceiling"]
            lines.append(
                f"warnroute PostgreSQL x{instances} {measured['warnings_per_s']:.0f}/s ({ratio:.2f} of the ceiling)"
            )
    print("\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
