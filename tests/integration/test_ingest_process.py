"""The embedded store's ingest batches, claims, outcomes and receipts written by a process of their own
(router/store/process.py), as the server writes them: what crosses to it comes back the same, batches share
commits, its ids and audit chain interleave with the parent's writes, and a failure or death of the child
loses nothing that was answered and leaves nothing leased that no one holds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import pickle
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client import CollectorRegistry

from router.audit.chain import verify
from router.delivery.feed import FeedHub
from router.errors import StoreUnavailable
from router.ingest.service import IngestService, SentWindow
from router.metrics import Metrics
from router.plan.config import RoutingConfig
from router.store import ClaimedNotification, IngestOutcome, IngestRecord, ObligationRow, SqliteStore
from router.store.base import Drafted
from router.store.process import Decoder, Encoder, WriterStopped, _ingest, _waiting_batches
from tests.support.messages import issue_clock, json_message

T = TypeVar("T")


@contextlib.asynccontextmanager
async def _service(path: Path, config: RoutingConfig) -> AsyncIterator[tuple[SqliteStore, IngestService]]:
    """A store whose ingest batches and outbox writes a process of their own makes, and the service over it;
    closed after, whatever the test found."""
    clock = issue_clock(json_message())
    store = SqliteStore(path, clock=clock, writer_process=True)
    await store.open()
    try:
        yield (
            store,
            IngestService(
                config,
                store,
                Metrics(CollectorRegistry()),
                FeedHub(),
                lambda: None,
                clock=clock,
                sent_window=SentWindow(max_ahead=86400.0),
            ),
        )
    finally:
        await store.close()


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


def _records(config: RoutingConfig, count: int, late: float = 0.0) -> list[IngestRecord]:
    """What ingest writes for ``count`` warnings of two counties and three colours, received ``late`` seconds
    after their issue."""

    async def build() -> list[IngestRecord]:
        out: list[IngestRecord] = []

        class Keep(SqliteStore):
            async def ingest(self, record: IngestRecord):  # type: ignore[no-untyped-def]
                out.append(record)
                raise StoreUnavailable("kept, not written")

        issued = issue_clock(json_message())
        service = IngestService(
            config,
            Keep(Path("/nonexistent")),
            Metrics(CollectorRegistry()),
            FeedHub(),
            lambda: None,
            clock=lambda: issued() + late,
            sent_window=SentWindow(max_ahead=86400.0),
        )
        for i in range(count):
            severity = ("blue", "yellow", "orange")[i % 3]
            code, sender, hazard = (
                ("530324", "罗平县气象台", "rainstorm") if i % 2 else ("530326", "会泽县气象台", "gale")
            )
            message = json_message(
                identifier=f"w{i}",
                severity=severity,
                hazard=hazard,
                areas=[code],
                sender=sender,
                sender_code=code + "41600000",
            )
            with pytest.raises(StoreUnavailable):
                await service.submit(message)
        return out

    return asyncio.run(build())


def _shape(o: ObligationRow) -> tuple[object, ...]:
    return (
        o.department,
        o.jurisdiction,
        o.kind,
        o.task,
        o.clause,
        o.mandatory,
        o.channels,
        o.ladder,
        o.ack_mode,
        o.head,
        o.opening,
    )


def test_records_cross_to_the_writer_process_exactly_as_ingest_made_them(config: RoutingConfig) -> None:
    """Every field of every record and obligation arrives as it was. Warnings received on time cross by their
    classification's pattern, each pattern once; warnings received an hour late (their ladders' first steps
    written as notifications at once) cross obligation by obligation, each shape once. The batches after
    the first carry tokens for what the child already holds."""
    on_time, late = _records(config, 12), _records(config, 4, late=3600.0)
    assert all(isinstance(r.obligations, Drafted) for r in on_time)
    assert all(isinstance(r.obligations, tuple) for r in late) and all(r.notifications for r in late)
    records = on_time[:6] + late[:2] + on_time[6:] + late[2:]
    assert sum(len(r.obligations) for r in records) > 16 * 30
    encoder, decoder = Encoder(), Decoder()
    first = encoder.encode(records[:8], 1.5, 60.0)
    now, lease, back = decoder.decode(pickle.loads(first))
    assert (now, lease, back) == (1.5, 60.0, records[:8])
    again = encoder.encode(records[:8], 2.5, None)  # the same patterns and shapes: none crosses again
    assert len(again) < len(first) / 2
    assert decoder.decode(pickle.loads(again)) == (2.5, None, records[:8])
    assert decoder.decode(pickle.loads(encoder.encode(records[8:], 3.0, None)))[2] == records[8:]
    patterns = {id(r.obligations.pattern): r.obligations.pattern for r in on_time if isinstance(r.obligations, Drafted)}
    assert len(decoder.patterns) == len(patterns) < 12  # a classification's warnings share one
    held = {shape for p in decoder.patterns.values() for shape in p.shapes}
    assert held == {_shape(o) for r in on_time for o in r.obligations}
    shapes = {_shape(o) for r in late for o in r.obligations}
    assert len(decoder.shapes) == len(shapes) and set(decoder.shapes.values()) == shapes


def test_the_writer_process_shares_commits_and_its_ids_and_chain_interleave_with_the_parents(
    config: RoutingConfig, tmp_path: Path
) -> None:
    """200 concurrent warnings in fewer batches than warnings; between them, the parent's own writes (a
    report's notifications, acknowledgements); every seq once, and the audit chain intact from its first
    link to its last."""
    path = tmp_path / "db.sqlite"

    async def scenario() -> int:
        async with _service(path, config) as (store, service):
            assert store.writer_process is not None
            batches = 0
            original = store.writer_process.ingest

            async def counting(
                records: list[IngestRecord], now: float, lease: float | None
            ) -> tuple[list[IngestOutcome], list[ClaimedNotification]]:
                nonlocal batches
                batches += 1
                return await original(records, now, lease)

            store.writer_process.ingest = counting  # type: ignore[method-assign]
            taken: list[ClaimedNotification] = []
            store.hand_over(60, taken.extend)  # the child writes the orange signals' §4.3 reports' notifications
            first = await asyncio.gather(*(service.submit(json_message(identifier=f"a{i}")) for i in range(100)))
            some = [o.id for o in first[0].outcome.obligations[:3]]
            acks = [store.acknowledge(oid, "web", "duty", at=time.time()) for oid in some]
            # Claims write the openings' notifications (the child, too); acknowledgements are the parent's own.
            claims = [store.claim_notifications(now=1e12, limit=50, lease_seconds=60) for _ in range(10)]
            more = [service.submit(json_message(identifier=f"b{i}", severity="orange")) for i in range(100)]
            acked, claims_made, later = await asyncio.gather(
                asyncio.gather(*acks), asyncio.gather(*claims), asyncio.gather(*more)
            )
            assert [a.status for a in acked] == ["acknowledged"] * 3
            assert all(r.outcome.status == "created" for r in [*first, *later])
            assert len(taken) == 100 * 4  # each orange signal's two HQs, by webhook and SMS
            claimed = [c for batch in claims_made for c in batch]
            for _ in range(20):  # a claim opens a bounded number of obligations: claim until none is left
                more_claimed = await store.claim_notifications(now=1e12, limit=5000, lease_seconds=60)
                if not more_claimed:
                    break
                claimed += more_claimed
            written = _rows(path, "SELECT id FROM notifications")
            assert sorted(c.id for c in [*taken, *claimed]) == sorted(str(r[0]) for r in written)  # each once
            # Every warning's ladders opened with what its routing said they would: none went missing.
            routed = _rows(path, "SELECT detail FROM audit WHERE kind = 'routed'")
            assert len(written) == sum(json.loads(str(r[0]))["notifications"] for r in routed) > 200 * 4
        return batches

    batches = run(scenario)
    assert batches < 200
    assert _rows(path, "SELECT COUNT(*) FROM warnings")[0][0] == 200
    for table in ("warnings", "obligations", "notifications", "audit"):
        seqs = [r[0] for r in _rows(path, f"SELECT seq FROM {table} ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1)), table
    audit = _rows(path, "SELECT seq, at, kind, warning_id, obligation_id, detail, prev, hash FROM audit ORDER BY seq")
    assert verify(audit).ok  # type: ignore[arg-type]
    assert {r[2] for r in audit} >= {"received", "routed", "acknowledged"}


def test_a_warning_is_written_ahead_of_the_dispatchers_writes_that_queued_before_it(
    config: RoutingConfig, tmp_path: Path
) -> None:
    """Ten claims of the dispatcher are asked for, one after another, and then a warning arrives: the warning is
    committed and answered behind the first claim or two, not behind the four the writer process could
    hold at once. (One dispatcher's write is at the writer process at a time; a warning that comes meanwhile
    goes ahead of the rest, which keep their order.)"""
    path = tmp_path / "db.sqlite"

    async def scenario() -> list[str]:
        async with _service(path, config) as (store, service):
            await service.submit(json_message(identifier="w0"))  # its classification seen: the next routes at once
            done: list[str] = []

            async def claim(label: str) -> None:
                await store.claim_notifications(now=1e12, limit=50, lease_seconds=60)
                done.append(label)

            async def warning() -> None:
                accepted = await service.submit(json_message(identifier="w1"))
                assert accepted.outcome.status == "created"
                done.append("w1")

            claims = []
            for i in range(1, 11):  # one after another: the store takes each up before the next is asked
                claims.append(asyncio.create_task(claim(f"c{i}")))
                await asyncio.sleep(0)
            await asyncio.gather(*claims, asyncio.create_task(warning()))
            return done

    done = run(scenario)
    assert sorted(done) == sorted(["w1", *(f"c{i}" for i in range(1, 11))])
    assert done.index("w1") < done.index("c4"), done  # behind c1, perhaps c2 (it had begun), never c3 and on
    assert [label for label in done if label != "w1"] == [f"c{i}" for i in range(1, 11)]  # claims in order


def test_closing_the_store_answers_every_write_asked_before_it_while_the_dispatchers_writes_wait_their_turn(
    config: RoutingConfig, tmp_path: Path
) -> None:
    """Five claims are asked for one after another, then a warning, and the store is closed at once: the
    dispatcher's later claims are still waiting for their turn at the writer process when the close comes.
    Every one of them and the warning is answered (written), none is left hanging."""
    path = tmp_path / "db.sqlite"

    async def scenario() -> list[object]:
        async with _service(path, config) as (store, service):
            await service.submit(json_message(identifier="w0"))
            asked: list[asyncio.Task[object]] = []
            for _ in range(5):
                asked.append(asyncio.create_task(store.claim_notifications(now=1e12, limit=50, lease_seconds=60)))
                await asyncio.sleep(0)
            asked.append(asyncio.create_task(service.submit(json_message(identifier="w1"))))
            await asyncio.sleep(0)
        return list(await asyncio.wait_for(asyncio.gather(*asked, return_exceptions=True), timeout=30))

    answered = run(scenario)
    assert all(isinstance(a, list) for a in answered[:5]), answered
    assert answered[5].outcome.status == "created"  # type: ignore[attr-defined]
    assert _rows(path, "SELECT identifier FROM warnings ORDER BY seq") == [("w0",), ("w1",)]


def test_a_batch_the_writer_process_cannot_write_is_undone_and_the_next_is_written(
    config: RoutingConfig, tmp_path: Path
) -> None:
    """The child's transaction fails after the warning and obligation rows went in (the audit chain's insert
    is refused): the caller hears the child's words, nothing of the batch stays, and the store goes on."""
    path = tmp_path / "db.sqlite"

    async def scenario() -> None:
        async with _service(path, config) as (_, service):
            with sqlite3.connect(path) as db:
                db.execute(
                    "CREATE TRIGGER refuse BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
                )
            with pytest.raises(sqlite3.IntegrityError, match="audit refused"):
                await service.submit(json_message())
            with sqlite3.connect(path) as db:
                db.execute("DROP TRIGGER refuse")
            accepted = await service.submit(json_message(identifier="53032441600000_20260715080500"))
            assert accepted.outcome.status == "created"

    run(scenario)
    assert _rows(path, "SELECT identifier FROM warnings") == [("53032441600000_20260715080500",)]
    assert _rows(path, "SELECT COUNT(*) FROM shapes") == _rows(
        path, "SELECT COUNT(DISTINCT shape_seq) FROM obligations"
    )


def test_a_writer_process_killed_holding_a_batch_fails_that_batch_and_the_next_starts_another(
    config: RoutingConfig, tmp_path: Path
) -> None:
    """The child is killed (SIGKILL, by its pid) while it waits for the database's write lock: its caller
    hears the store is unavailable (nothing was written), the next warning starts a new child and lands, and
    a child killed between batches is replaced as quietly."""
    path = tmp_path / "db.sqlite"

    async def scenario() -> None:
        async with _service(path, config) as (store, service):
            assert store.writer_process is not None
            first = store.writer_process.pid
            assert first is not None
            blocker = sqlite3.connect(path, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")  # the child's BEGIN waits for it (busy_timeout)
            pending = asyncio.create_task(service.submit(json_message(identifier="held")))
            await asyncio.sleep(0.5)
            os.kill(first, signal.SIGKILL)
            with pytest.raises(
                StoreUnavailable, match=r"writer process stopped .*if it was written, the answer is .duplicate."
            ):
                await pending
            blocker.execute("ROLLBACK")
            blocker.close()
            landed = await service.submit(json_message(identifier="after"))
            assert landed.outcome.status == "created"
            second = store.writer_process.pid
            assert second not in (None, first)
            assert second is not None
            os.kill(second, signal.SIGKILL)
            await asyncio.sleep(0.2)
            again = await service.submit(json_message(identifier="later"))
            assert again.outcome.status == "created"
            assert store.writer_process.pid not in (None, first, second)

    run(scenario)
    assert _rows(path, "SELECT identifier FROM warnings ORDER BY seq") == [("after",), ("later",)]


def test_reports_leased_by_a_writer_that_died_before_answering_are_claimed_again(
    config: RoutingConfig, tmp_path: Path
) -> None:
    """The child committed an orange signal's batch, leasing its §4.3 direct reports to this process's
    dispatcher, then died before it answered: the caller hears the store is unavailable, nothing is handed
    over, and the leased reports are due again at once (claimed as usual), under the keys they were
    written with."""
    path = tmp_path / "db.sqlite"

    async def scenario() -> None:
        async with _service(path, config) as (store, service):
            assert store.writer_process is not None
            taken: list[ClaimedNotification] = []
            store.hand_over(60, taken.extend)
            writes = store.writer_process.ingest

            async def commits_then_dies(records: list[IngestRecord], now: float, lease: float | None) -> object:
                await writes(records, now, lease)
                raise WriterStopped("the store's writer process stopped (exit code -9) while writing")

            store.writer_process.ingest = commits_then_dies  # type: ignore[assignment,method-assign]
            with pytest.raises(StoreUnavailable, match="writer process stopped"):
                await service.submit(json_message(identifier="orange", severity="orange"))
            assert taken == []
            claimed = await store.claim_notifications(now=1e12, limit=1000, lease_seconds=60)
            direct = {(c.department, c.channel) for c in claimed if c.action["kind"] == "direct_report"}
            assert direct == {
                ("flood_drought_hq", "webhook"),
                ("flood_drought_hq", "sms"),
                ("geohazard_hq", "webhook"),
                ("geohazard_hq", "sms"),
            }

    run(scenario)


def run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(factory())


def test_what_a_claim_leased_before_the_writer_process_died_unanswered_is_due_again_at_once(
    tmp_path: Path, config: RoutingConfig
) -> None:
    """A claim the child committed (notifications opened and leased) and then died before answering: the
    dispatcher hears the store is unavailable; what that claim leased is not left leased to no one until a
    restart, but claimed by the next claim, under the same ids; a claim that was answered keeps its lease."""
    path = tmp_path / "db.sqlite"

    async def scenario() -> None:
        async with _service(path, config) as (store, service):
            assert store.writer_process is not None
            for i in range(3):
                await service.submit(json_message(identifier=f"gale{i}", hazard="gale"))
            kept = await store.claim_notifications(now=1e12, limit=5, lease_seconds=60)
            assert len(kept) == 5
            writes = store.writer_process.job
            lost: list[str] = []

            async def commits_then_dies(name: str, arguments: dict[str, Any]) -> object:
                reports, rows = await writes(name, arguments)
                lost.extend([c.id for c in reports] + [str(r[1]) for r in rows])
                raise WriterStopped("the store's writer process stopped (exit code -9) while writing")

            store.writer_process.job = commits_then_dies  # type: ignore[method-assign]
            with pytest.raises(StoreUnavailable, match="writer process stopped"):
                await store.claim_notifications(now=1e12, limit=20, lease_seconds=60)
            store.writer_process.job = writes  # type: ignore[method-assign]
            assert len(lost) == 20
            again = await store.claim_notifications(now=1e12 + 1, limit=20, lease_seconds=60)
            assert sorted(c.id for c in again) == sorted(lost)
            assert {c.id for c in kept}.isdisjoint(lost)
            sending = _rows(path, "SELECT COUNT(*) FROM notifications WHERE state = 'sending'")[0][0]
            assert sending == 5 + 20  # the answered claim's five are still leased

    run(scenario)


REFUSE_W5 = (
    "CREATE TRIGGER refuse BEFORE INSERT ON audit WHEN NEW.warning_id = 'w5'"
    " BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
)


def test_batches_that_waited_for_the_writer_process_are_committed_together_each_answered_as_alone(
    config: RoutingConfig, tmp_path: Path
) -> None:
    """Four batches of two warnings wait for the writer process together: they are written in one transaction,
    each batch answered with its own outcomes and at its own time. With one of them that cannot be written
    (its second warning's audit row is refused), that batch alone fails, with the database's words; the
    three others are written each in a transaction of its own, and the chain holds."""
    path = tmp_path / "db.sqlite"
    records = _records(config, 16)
    encoder, decoder = Encoder(), Decoder()
    sent = [encoder.encode(records[i : i + 2], 100.0 + i, None) for i in range(0, 16, 2)]
    batches = [decoder.decode(pickle.loads(data)) for data in sent]

    async def scenario() -> tuple[list[Any], int, list[Any], int]:
        made = SqliteStore(path)
        await made.open()
        await made.close()
        clock = [0.0]
        store = SqliteStore(path, clock=lambda: clock[0])
        store.own_thread, store.alternating = False, True
        db = await store._connect()
        transactions = 0
        transaction = store._transaction

        async def counted(db: Any, job: Any) -> Any:
            nonlocal transactions
            transactions += 1
            return await transaction(db, job)

        store._transaction = counted  # type: ignore[method-assign]
        try:
            together = [pickle.loads(reply) for reply in await _ingest(store, db, clock, batches[:4])]
            alone = transactions
            await db.execute(REFUSE_W5.replace("w5", "w13"))  # outside a transaction: made at once
            apart = [pickle.loads(reply) for reply in await _ingest(store, db, clock, batches[4:])]
        finally:
            await db.close()
        return together, alone, apart, transactions - alone

    together, one, apart, five = run(scenario)
    assert one == 1  # four batches, one commit
    assert [ok for ok, _ in together] == [True] * 4
    assert [[row[0] for row in rows] for _, (rows, _) in together] == [["created", "created"]] * 4
    assert five == 1 + 4  # the group undone, then each batch alone
    assert [ok for ok, _ in apart] == [True, True, False, True]
    assert "audit refused" in str(apart[2][1])
    assert _rows(path, "SELECT identifier FROM warnings ORDER BY seq") == [(f"w{i}",) for i in (*range(12), 14, 15)]
    received = _rows(path, "SELECT warning_id, at FROM audit WHERE kind = 'received' ORDER BY seq")
    assert received == [(f"w{i}", 100.0 + i - i % 2) for i in (*range(12), 14, 15)]  # each batch its own time
    audit = _rows(path, "SELECT seq, at, kind, warning_id, obligation_id, detail, prev, hash FROM audit ORDER BY seq")
    assert verify(audit).ok  # type: ignore[arg-type]
    for table in ("warnings", "obligations", "audit"):
        seqs = [r[0] for r in _rows(path, f"SELECT seq FROM {table} ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1)), table


def test_the_writer_process_gathers_only_the_ingest_batches_already_waiting_and_keeps_the_write_that_ends_them(
    config: RoutingConfig,
) -> None:
    """Three ingest batches, a claim, and a fourth batch wait in the pipe behind the batch being taken: the three
    are gathered, the claim is returned to be written next, and the fourth stays for after it. A stop met
    while gathering says so."""
    records = _records(config, 5)
    encoder, decoder = Encoder(), Decoder()
    parent, child = multiprocessing.Pipe()
    try:
        sent = [encoder.encode([r], 1.0, None) for r in records]
        claim = pickle.dumps(("job", "_claim", {"now": 1.0, "limit": 5, "until": 2.0}))
        for data in (*sent[1:4], claim, sent[4]):
            parent.send_bytes(data)
        batches = [decoder.decode(pickle.loads(sent[0]))]
        after = _waiting_batches(child, decoder, batches)
        assert after == ("job", "_claim", {"now": 1.0, "limit": 5, "until": 2.0})
        assert [b[2][0].identifier for b in batches] == ["w0", "w1", "w2", "w3"]
        assert pickle.loads(child.recv_bytes())[-1][0][1] == "w4"  # still there, in order
        parent.send_bytes(b"")
        assert _waiting_batches(child, decoder, batches[:1]) is None
        assert not child.poll()
    finally:
        parent.close()
        child.close()


def test_warnings_that_queue_while_the_writer_process_waits_for_the_lock_are_each_answered_for_themselves(
    config: RoutingConfig, tmp_path: Path
) -> None:
    """The database is held by another connection while four warnings arrive one after another: they wait at
    the writer process, which then writes them together. The one whose audit row is refused fails alone,
    with the database's words; the other three are created; and the store goes on."""
    path = tmp_path / "db.sqlite"

    async def scenario() -> list[object]:
        async with _service(path, config) as (_, service):
            await service.submit(json_message(identifier="w0"))
            with sqlite3.connect(path) as db:
                db.execute(REFUSE_W5.replace("w5", "w3"))
            blocker = sqlite3.connect(path, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")  # the child waits for it (busy_timeout), the others queue behind
            asked = []
            for i in range(1, 5):
                asked.append(asyncio.create_task(service.submit(json_message(identifier=f"w{i}"))))
                await asyncio.sleep(0.1)  # each its own batch
            blocker.execute("ROLLBACK")
            blocker.close()
            answered: list[object] = list(await asyncio.gather(*asked, return_exceptions=True))
            answered.append(await service.submit(json_message(identifier="w5")))
            return answered

    answered = run(scenario)
    assert [getattr(a, "outcome", None) and a.outcome.status for a in answered] == [  # type: ignore[attr-defined]
        "created",
        "created",
        None,
        "created",
        "created",
    ]
    assert isinstance(answered[2], sqlite3.IntegrityError) and "audit refused" in str(answered[2])
    assert _rows(path, "SELECT identifier FROM warnings ORDER BY seq") == [(f"w{i}",) for i in (0, 1, 2, 4, 5)]
