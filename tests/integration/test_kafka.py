"""Kafka mode against a real Apache Kafka broker: warnings in from the ingest topic, committed only once
durable, dead letters with their reasons, actions out per department, acknowledgements in."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.test_crash import BURST, COUNTIES, KILL_AFTER, burst_message
from tests.support.kafkabroker import Broker
from tests.support.kafkakit import committed, committed_everything, json_of, kafka_stack, produce, read_topic
from tests.support.messages import json_message, now_iso
from tests.support.procs import Stack, drained, wait_for


@pytest.fixture
def stack(tmp_path: Path, kafka_broker: Broker) -> Iterator[Stack]:
    s = kafka_stack(tmp_path, kafka_broker, shrink=4)
    try:
        yield s
    finally:
        s.stop()


def env(stack: Stack, name: str) -> str:
    return stack.serve_env["WARNROUTE_KAFKA_" + name]


def warning(i: int, sent: str, **fields: str) -> bytes:
    return json_message(identifier=f"53032441600000_k{i:04d}", headline=f"kafka {i}", sent=sent, **fields)


def total(stack: Stack) -> int:
    return int(httpx.get(f"{stack.api}/api/v1/summary", timeout=10).json()["warnings"]["total"])


def stored(stack: Stack, identifier: str) -> Any:
    """The stored warning with its obligations (GET /api/v1/warnings/{id}), or None while it is not there."""
    response = httpx.get(f"{stack.api}/api/v1/warnings/{identifier}", timeout=10)
    return response.json() if response.status_code == 200 else None


def test_warnings_from_the_ingest_topic_are_routed_and_committed_and_actions_published(
    stack: Stack, kafka_broker: Broker
) -> None:
    sent = now_iso()
    records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = [
        (f"53032441600000_k{i:04d}".encode(), warning(i, sent), []) for i in range(10)
    ]
    records[3] = (b"poison", b"<alert><oops", [("origin", b"test")])  # malformed, in the middle
    orange = json_message(
        identifier="53032441600000_korange", severity="orange", headline="罗平县暴雨橙色预警信号", sent=sent
    )
    records.append((b"53032441600000_korange", orange, []))
    produce(kafka_broker.bootstrap, env(stack, "INGEST_TOPIC"), records)

    # Every good record behind the poison one is routed.
    for i in (0, 1, 2, 4, 5, 6, 7, 8, 9):
        wait_for(lambda i=i: stored(stack, f"53032441600000_k{i:04d}"), timeout=30)
    routed = wait_for(lambda: stored(stack, "53032441600000_korange"), timeout=30)

    # The poison record is on the dead-letter topic: original key, bytes and headers, and the reason.
    dead = read_topic(kafka_broker.bootstrap, env(stack, "DEAD_LETTER_TOPIC"), 1)
    assert len(dead) == 1
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert dead[0].value == b"<alert><oops" and dead[0].key == b"poison" and headers["origin"] == "test"
    assert headers["warnroute-kind"] == "malformed" and headers["warnroute-reason"]
    assert headers["warnroute-source"].startswith(env(stack, "INGEST_TOPIC") + "/")

    # Offsets are committed once everything is durable.
    wait_for(lambda: committed_everything(kafka_broker.bootstrap, env(stack, "INGEST_TOPIC"), env(stack, "GROUP")))

    # The orange rainstorm's §4.3 direct report reaches the flood-control HQ's action topic.
    obligations = {o["id"]: o for o in routed["obligations"]}
    flood = [o for o in obligations.values() if o["action"]["department"] == "flood_drought_hq"]
    assert flood
    actions = read_topic(kafka_broker.bootstrap, env(stack, "ACTION_PREFIX") + "flood_drought_hq", 1)
    mine = [json_of(r) for r in actions if json_of(r)["warning_id"] == "53032441600000_korange"]
    assert {m["obligation_id"] for m in mine} == {o["id"] for o in flood}
    report = next(m for m in mine if m["action"]["kind"] == "direct_report")
    assert "4.3" in report["action"]["clauses"] and report["action"]["due_at"] and report["action"]["text"]
    assert report["jurisdiction"] == "530324" and report["warning"]["severity"] == "orange"
    assert report["warning"]["id"] == "53032441600000_korange" and report["warning"]["headline"]
    assert all(r.key == b"53032441600000_korange" for r in actions if json_of(r)["warning_id"].endswith("korange"))


def test_an_acknowledgement_record_acknowledges_only_the_departments_own_obligation(
    stack: Stack, kafka_broker: Broker
) -> None:
    produce(kafka_broker.bootstrap, env(stack, "INGEST_TOPIC"), [(b"k1", warning(1, now_iso()), [])])
    routed = wait_for(lambda: stored(stack, "53032441600000_k0001"), timeout=30)
    obligations = routed["obligations"]
    first, second = obligations[0], obligations[1]
    ack = {
        "obligation_id": first["id"],
        "jurisdiction": first["action"]["jurisdiction"],
        "department": first["action"]["department"],
        "by": "值班员 李",
    }
    forged = {**ack, "obligation_id": second["id"]}  # names the first department, not the second's owner
    assert second["action"]["department"] != first["action"]["department"]
    produce(
        kafka_broker.bootstrap,
        env(stack, "ACK_TOPIC"),
        [(b"a", orjson.dumps(forged), []), (b"a", orjson.dumps(ack), []), (b"a", b"not json", [])],
    )

    def state_of(oid: str) -> Any:
        again = stored(stack, "53032441600000_k0001")
        assert again is not None
        return next(o for o in again["obligations"] if o["id"] == oid)

    done = wait_for(lambda: (o := state_of(first["id"]))["state"] == "acknowledged" and o, timeout=30)
    assert done["acknowledged_by"] == "值班员 李" and done["ack_method"] == "kafka"
    assert state_of(second["id"])["state"] != "acknowledged"
    audit = httpx.get(f"{stack.api}/api/v1/warnings/53032441600000_k0001/report", timeout=10)
    assert audit.status_code == 200
    metrics = httpx.get(f"{stack.api}/metrics", timeout=10).text
    assert 'warnroute_kafka_acks_total{result="refused"} 1.0' in metrics
    assert 'warnroute_kafka_acks_total{result="invalid"} 1.0' in metrics


def test_a_broker_restart_mid_stream_loses_nothing(tmp_path: Path) -> None:
    """The broker is stopped while the router is part-way through a backlog it has not committed, is
    down (its port refuses), and comes back as a new process: every record is routed exactly once."""
    broker = Broker(tmp_path / "broker").start()
    stack = kafka_stack(tmp_path / "router", broker, shrink=4, dispatch=False)
    try:
        sent = now_iso()
        topic = env(stack, "INGEST_TOPIC")
        first = 1200
        produce(broker.bootstrap, topic, [(f"a{i}".encode(), warning(i, sent), []) for i in range(first)])
        wait_for(lambda: total(stack) >= 20, timeout=60, step=0.02)
        done_before, written = committed(broker.bootstrap, topic, env(stack, "GROUP"))
        taken_before = total(stack)
        assert broker.popen is not None
        old_pid = broker.popen.pid
        broker.stop()
        assert written == first and done_before < first and taken_before < first, (
            f"the backlog was taken before the broker stopped ({taken_before} stored, {done_before} committed): "
            "nothing was tested"
        )
        assert broker.popen.poll() is not None
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", broker.port), timeout=1).close()
        # While the broker is down the router goes on answering, and commits nothing new.
        assert httpx.get(f"{stack.api}/api/v1/summary", timeout=10).status_code == 200
        broker.start()
        assert broker.popen.pid != old_pid
        produce(broker.bootstrap, topic, [(f"b{i}".encode(), warning(i, sent), []) for i in range(first, first + 60)])
        wait_for(lambda: total(stack) == first + 60, timeout=120, step=0.2)
        wait_for(lambda: committed_everything(broker.bootstrap, topic, env(stack, "GROUP")), timeout=60)
        with httpx.Client(timeout=10) as client:
            for i in (0, first - 1, first, first + 59):  # both ends of both halves
                assert client.get(f"{stack.api}/api/v1/warnings/53032441600000_k{i:04d}").status_code == 200
        assert total(stack) == first + 60  # the records taken again after the restart were known duplicates
        metrics = httpx.get(f"{stack.api}/metrics", timeout=10).text
        retries = next(line for line in metrics.splitlines() if line.startswith("warnroute_kafka_batch_retries_total"))
        print(
            f"\nbroker restart: stopped with {taken_before}/{first} stored and {done_before} committed; "
            f"{first + 60} routed once each after it; {retries}"
        )
    finally:
        stack.stop()
        broker.stop()


@pytest.fixture
def small_batches(tmp_path: Path, kafka_broker: Broker) -> Iterator[Stack]:
    """Records taken 25 a poll, each batch committed once durable: a burst is many commits, so a kill can
    land in the middle of it however fast each is."""
    s = kafka_stack(tmp_path, kafka_broker, extra_env={"WARNROUTE_KAFKA_BATCH": "25"}, shrink=4)
    try:
        yield s
    finally:
        s.stop()


def test_kill_9_mid_burst_every_warning_routed_once_and_every_notification_once(
    small_batches: Stack, kafka_broker: Broker
) -> None:
    stack = small_batches
    sent = now_iso()
    topic = env(stack, "INGEST_TOPIC")
    produce(kafka_broker.bootstrap, topic, [(f"burst{i}".encode(), burst_message(i, sent), []) for i in range(BURST)])

    wait_for(lambda: total(stack) >= KILL_AFTER, timeout=60, step=0.02)
    assert stack.router is not None
    stack.router.kill9()
    killed_at, written = committed(kafka_broker.bootstrap, topic, env(stack, "GROUP"))
    assert written == BURST and killed_at < BURST, "the burst was done before the kill: nothing was tested"
    stack.start_router()
    wait_for(lambda: total(stack) == BURST, timeout=120)
    wait_for(lambda: committed_everything(kafka_broker.bootstrap, topic, env(stack, "GROUP")), timeout=30)

    with httpx.Client(timeout=30) as client:
        drained(stack.api)
        expected: set[str] = set()
        obligations: dict[str, str] = {}
        for i in range(BURST):
            identifier = f"{COUNTIES[i % len(COUNTIES)]}41600000_burst_{i:04d}"
            doc = client.get(f"{stack.api}/api/v1/warnings/{identifier}").json()
            obligations |= {o["id"]: o["action"]["department"] for o in doc["obligations"]}
            expected |= {n["id"] for o in doc["obligations"] for n in o["notifications"]}
        received: dict[str, dict[str, int]] = client.get(f"{stack.sim.url}/received").json()
        assert total(stack) == BURST  # each warning routed once: the records taken again were duplicates
    keys = {k for channel in received.values() for k in channel}
    assert keys == expected  # every notification reached its receiver; repeats are known by their key
    # Every obligation reached its department's action topic (a repeat carries the same obligation id).
    topics = sorted({env(stack, "ACTION_PREFIX") + d for d in obligations.values()})
    published = {json_of(r)["obligation_id"] for r in read_topic(kafka_broker.bootstrap, topics, len(obligations))}
    assert published == set(obligations)
    print(
        f"\nkafka crash test: {killed_at} of {BURST} records committed at kill -9; "
        f"{len(expected)} notifications, each received"
    )


def test_a_lineage_keyed_together_is_routed_in_order_across_batches(stack: Stack, kafka_broker: Broker) -> None:
    """An Alert, its upgrade and its all-clear under one key, behind a crowd of other keys: the upgrade
    finds its Alert (not flagged unknown), and the all-clear cancels what is open."""
    sent = now_iso()
    crowd: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = [
        (f"c{i}".encode(), warning(200 + i, sent), [])
        for i in range(600)  # more than one batch
    ]
    alert = json_message(identifier="53032441600000_lin0", severity="yellow", sent=sent)
    upgrade = json_message(
        identifier="53032441600000_lin1",
        severity="orange",
        msg_type="update",
        references=["53032441600000_lin0"],
        sent=sent,
    )
    lift = json_message(
        identifier="53032441600000_lin2",
        severity="orange",
        msg_type="update",
        all_clear=True,
        references=["53032441600000_lin1"],
        headline="罗平县暴雨橙色预警信号解除",
        sent=sent,
    )
    key = b"53032441600000_lin0"
    records = [*crowd[:300], (key, alert, []), *crowd[300:], (key, upgrade, []), (key, lift, [])]
    produce(kafka_broker.bootstrap, env(stack, "INGEST_TOPIC"), records)
    lifted = wait_for(lambda: stored(stack, "53032441600000_lin2"), timeout=60)
    upgraded = stored(stack, "53032441600000_lin1")
    assert upgraded["reference_unknown"] is False and lifted["reference_unknown"] is False
    assert upgraded["lineage"] == lifted["lineage"] == "53032441600000_lin0"
    first = stored(stack, "53032441600000_lin0")
    assert {o["state"] for o in first["obligations"]} <= {"cancelled", "acknowledged", "delivered", "superseded"}
    assert any(o["state"] == "cancelled" for o in first["obligations"])


def test_a_report_on_the_report_topic_is_filed_as_over_http_and_a_poison_one_is_dead_lettered(
    stack: Stack, kafka_broker: Broker
) -> None:
    observed = now_iso(-300)

    def report(identifier: str, **fields: Any) -> dict[str, Any]:
        return {
            "schema": "warnroute.report/1",
            "id": identifier,
            "kind": "losses",
            "jurisdiction": "530324",
            "department": "government",
            "areas": ["530324102"],
            "observed_at": observed,
            "figures": {"dead": 1, "injured": 2, "people_moved": 40},
            "text": "板桥镇山洪",
            **fields,
        }

    over_http = httpx.post(f"{stack.api}/api/v1/reports", json=report("r-http"), timeout=10)
    assert over_http.status_code == 201, over_http.text
    produce(
        kafka_broker.bootstrap,
        env(stack, "REPORT_TOPIC"),
        [
            (b"530324", orjson.dumps(report("r-neg", figures={"dead": -2})), [("origin", b"test")]),
            (b"530324", b"{not json", []),
            (b"530324", orjson.dumps(report("r-kafka")), []),
        ],
    )

    def filed() -> dict[str, Any] | None:
        reports = httpx.get(f"{stack.api}/api/v1/reports", timeout=10).json()["reports"]
        return {r["id"]: r for r in reports} if "r-kafka" in {r["id"] for r in reports} else None

    reports = wait_for(filed, timeout=30)
    assert "r-neg" not in reports

    def same(r: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in r.items() if k not in ("id", "received_at")}

    assert same(reports["r-kafka"]) == same(reports["r-http"])  # arrived as one over HTTP does
    dead = read_topic(kafka_broker.bootstrap, env(stack, "DEAD_LETTER_TOPIC"), 2)
    why = [{k: v.decode() for k, v in d.headers} for d in dead]
    negative = next(h for h in why if h.get("origin") == "test")
    assert negative["warnroute-field"] == "figures.dead" and "negative" in negative["warnroute-reason"]
    assert negative["warnroute-source"].startswith(env(stack, "REPORT_TOPIC") + "/")
    assert any(h["warnroute-field"] != "figures.dead" and h["warnroute-reason"] for h in why)
    wait_for(
        lambda: committed_everything(
            kafka_broker.bootstrap, env(stack, "REPORT_TOPIC"), env(stack, "GROUP") + ".reports"
        )
    )
