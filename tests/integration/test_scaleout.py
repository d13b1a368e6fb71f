"""Several instances on Apache Kafka and one PostgreSQL database, all real: two routers in one consumer
group with one killed mid-burst, and the database restarted under a running router."""

from __future__ import annotations

import secrets
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_crash import COUNTIES, burst_message
from tests.support.kafkabroker import Broker
from tests.support.kafkakit import committed_everything, json_of, kafka_env, produce, read_topic
from tests.support.messages import now_iso
from tests.support.pgserver import Postgres
from tests.support.procs import drained, start_stack, wait_for

BURST = 1200
KILL_AFTER = 300


def identifier(i: int) -> str:
    return f"{COUNTIES[i % len(COUNTIES)]}41600000_burst_{i:04d}"


def burst(numbers: range, sent: str) -> list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]:
    """Burst warnings as Kafka records keyed by their identifier (their lineage)."""
    return [(identifier(i).encode(), burst_message(i, sent), []) for i in numbers]


# Deadlines and ladder steps ten times the plan's: however long the drain of ~100,000 notifications takes on
# a busy machine, only the first rungs (at +0) fall due, so every notification is one made at acceptance.
SLOW = 10


def shared_env(broker: Broker, database_url: str) -> dict[str, str]:
    return {
        **kafka_env(broker),
        "WARNROUTE_DATABASE_URL": database_url,
        "WARNROUTE_LEASE_SECONDS": "20",  # a dead instance's claimed notifications are due again after this
        "WARNROUTE_ACK_KEY": secrets.token_hex(32),  # one key for every instance's acknowledgement links
    }


def summary(api: str) -> dict[str, dict[str, int]]:
    return httpx.get(f"{api}/api/v1/summary", timeout=30).json()  # type: ignore[no-any-return]


def test_two_instances_one_killed_mid_burst_route_every_warning_once_and_send_every_notification(
    tmp_path: Path, kafka_broker: Broker, postgres_server: Postgres
) -> None:
    stack = start_stack(tmp_path, shrink=SLOW, extra_env=shared_env(kafka_broker, postgres_server.create_database()))
    second = stack.start_another("b")
    try:
        topic = stack.serve_env["WARNROUTE_KAFKA_INGEST_TOPIC"]
        sent = now_iso()
        started = time.monotonic()
        produce(
            kafka_broker.bootstrap, topic, [(identifier(i).encode(), burst_message(i, sent), []) for i in range(BURST)]
        )
        wait_for(lambda: summary(second.url)["warnings"]["total"] >= KILL_AFTER, timeout=120, step=0.05)
        assert stack.router is not None
        stack.router.kill9()  # the first instance, holding partitions, leases and perhaps the write lock
        killed_at = summary(second.url)["warnings"]["total"]
        assert killed_at < BURST, "the burst was done before the kill: nothing was tested"

        wait_for(lambda: summary(second.url)["warnings"]["total"] == BURST, timeout=300, step=0.5)
        routed_in = time.monotonic() - started
        wait_for(lambda: committed_everything(kafka_broker.bootstrap, topic, stack.serve_env["WARNROUTE_KAFKA_GROUP"]))
        drained(second.url, timeout=600)
        assert summary(second.url)["warnings"]["total"] == BURST  # each routed once, whichever instance took it

        expected: set[str] = set()
        obligations: dict[str, str] = {}
        with httpx.Client(timeout=30) as client:
            for i in range(BURST):
                doc = client.get(f"{second.url}/api/v1/warnings/{identifier(i)}").json()
                assert doc["obligations"], identifier(i)  # every obligation persisted with its warning
                obligations |= {o["id"]: o["action"]["department"] for o in doc["obligations"]}
                expected |= {n["id"] for o in doc["obligations"] for n in o["notifications"]}
            received: dict[str, dict[str, int]] = client.get(f"{stack.sim.url}/received").json()
        keys = {k for channel in received.values() for k in channel}
        assert keys == expected  # every notification reached its receiver, none unknown
        repeats = sum(n - 1 for channel in received.values() for n in channel.values())
        prefix = stack.serve_env["WARNROUTE_KAFKA_ACTION_PREFIX"]
        topics = sorted({prefix + d for d in obligations.values()})
        published = {json_of(r)["obligation_id"] for r in read_topic(kafka_broker.bootstrap, topics, len(obligations))}
        assert published == set(obligations)
        print(
            f"\nscale-out: {killed_at}/{BURST} stored at kill -9, all routed in {routed_in:.0f} s; "
            f"{len(obligations)} obligations, {len(expected)} notifications received "
            f"({repeats} repeats recognised by idempotency key)"
        )
    finally:
        second.stop()
        stack.stop()


BACKLOG = 800  # long enough that the database stops part-way through it, however fast ingest has become


def test_a_postgresql_restart_under_a_running_router_loses_nothing(tmp_path: Path, kafka_broker: Broker) -> None:
    """The database is stopped while the router is part-way through a backlog (the router sees its writes
    refused), comes back as a new server process, and every warning is routed once and every one of its
    notifications reaches its receiver."""
    server = Postgres().start()
    stack = start_stack(tmp_path, shrink=SLOW, extra_env=shared_env(kafka_broker, server.create_database()))
    try:
        topic = stack.serve_env["WARNROUTE_KAFKA_INGEST_TOPIC"]
        sent = now_iso()
        produce(kafka_broker.bootstrap, topic, burst(range(BACKLOG), sent))
        wait_for(lambda: summary(stack.api)["warnings"]["total"] >= 10, timeout=60, step=0.05)
        taken_before, old_pid = summary(stack.api)["warnings"]["total"], server.pid
        server.stop()  # fast shutdown: every connection of the router is cut
        assert taken_before < BACKLOG, "the backlog was routed before the database stopped: nothing was tested"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
        log = tmp_path / "serve.log"
        # The router's writes were refused, with the reason, while it still had records in hand.
        wait_for(lambda: "the PostgreSQL server cannot be reached" in log.read_text(errors="replace"), timeout=60)
        down = httpx.get(f"{stack.api}/api/v1/summary", timeout=30)
        assert down.status_code == 503, down.text  # a read says why too, instead of a bare 500
        assert down.json() == {
            "error": "store_unavailable",
            "field": "store",
            "problem": "the PostgreSQL server cannot be reached",
        }
        server.start()
        assert server.pid != old_pid
        produce(kafka_broker.bootstrap, topic, burst(range(BACKLOG, BACKLOG + 100), sent))
        wait_for(lambda: summary(stack.api)["warnings"]["total"] == BACKLOG + 100, timeout=240, step=0.5)
        wait_for(lambda: committed_everything(kafka_broker.bootstrap, topic, stack.serve_env["WARNROUTE_KAFKA_GROUP"]))
        drained(stack.api, timeout=300)
        assert httpx.get(f"{stack.api}/readyz", timeout=10).status_code == 200
        expected: set[str] = set()
        with httpx.Client(timeout=30) as client:
            for i in range(BACKLOG + 100):
                doc = client.get(f"{stack.api}/api/v1/warnings/{identifier(i)}").json()
                assert doc["obligations"], identifier(i)
                expected |= {n["id"] for o in doc["obligations"] for n in o["notifications"]}
            received: dict[str, dict[str, int]] = client.get(f"{stack.sim.url}/received").json()
        assert summary(stack.api)["warnings"]["total"] == BACKLOG + 100
        assert {k for channel in received.values() for k in channel} == expected  # every one delivered
        print(
            f"\npostgresql restart: stopped with {taken_before}/{BACKLOG} routed; {BACKLOG + 100} routed once each, "
            f"{len(expected)} notifications delivered"
        )
    finally:
        stack.stop()
        server.remove()
