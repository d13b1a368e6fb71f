"""The store, on a real SQLite file and on a real PostgreSQL server: atomic ingest, dedupe, conflicts, group
commit, outbox, leases, restart, migrations."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from router.delivery.feed import FeedHub
from router.domain.reports import SituationReport
from router.ingest.service import IngestService, SentWindow
from router.metrics import Metrics
from router.plan.config import RoutingConfig
from router.store import ClaimedNotification, NotificationOutcome, SqlStore, reads
from router.store.schema import EPOCH, MIGRATIONS
from tests.support.backends import Backend
from tests.support.messages import EXAMPLES, issue_clock, json_message

T = TypeVar("T")


def run(factory: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(factory())  # type: ignore[arg-type]


async def _service(backend: Backend, config: RoutingConfig) -> tuple[SqlStore, IngestService]:
    from prometheus_client import CollectorRegistry

    clock = issue_clock(json_message())  # messages arrive as they are issued
    store = backend.store(clock=clock)
    await store.open()
    # The scenarios send a lineage's later messages (issued hours on) without moving the clock.
    window = SentWindow(max_ahead=86400.0)
    return store, IngestService(
        config, store, Metrics(CollectorRegistry()), FeedHub(), lambda: None, clock=clock, sent_window=window
    )


def test_ingest_writes_warning_obligations_and_outbox_atomically(config: RoutingConfig, backend: Backend) -> None:
    async def scenario() -> None:
        store, service = await _service(backend, config)
        accepted = await service.submit(json_message(severity="orange"))
        assert accepted.outcome.status == "created"
        stored = await store.get_warning(accepted.warning.id)
        assert stored is not None
        assert len(stored["obligations"]) == len(accepted.outcome.obligations) > 30
        assert all(o["state"] == "pending" for o in stored["obligations"])
        pushed = [o for o in stored["obligations"] if o["notifications"]]
        assert {n["channel"] for o in pushed for n in o["notifications"]} <= {"webhook", "sms", "voice"}
        await store.close()

    run(scenario)
    if backend.name == "sqlite":
        assert backend.rows("PRAGMA journal_mode")[0][0] == "wal"
    assert backend.rows("SELECT MAX(version) FROM schema_version")[0][0] == len(MIGRATIONS)


def test_same_message_twice_creates_nothing_new(config: RoutingConfig, backend: Backend) -> None:
    async def scenario() -> None:
        store, service = await _service(backend, config)
        first = await service.submit(json_message())
        again = await service.submit(json_message())
        assert again.outcome.status == "duplicate"
        assert [o.id for o in again.outcome.obligations] == [o.id for o in first.outcome.obligations]
        assert (await store.counts())["warnings"]["total"] == 1
        await store.close()

    run(scenario)


def test_identifier_reused_for_another_message_is_a_conflict(config: RoutingConfig, backend: Backend) -> None:
    async def scenario() -> None:
        store, service = await _service(backend, config)
        await service.submit(json_message())
        clash = await service.submit(json_message(sent="2026-07-15T09:00:00+08:00"))
        assert clash.outcome.status == "conflict"
        assert "already used" in clash.outcome.problem
        assert (await store.counts())["warnings"]["total"] == 1
        await store.close()

    run(scenario)


THREAD_OR_SERVER = pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)


@THREAD_OR_SERVER  # the writer's own batches (a process's: test_writer_process.py)
def test_concurrent_ingests_share_commits_and_all_land(config: RoutingConfig, backend: Backend) -> None:
    """Group commit: 200 concurrent submissions, every one durable, fewer transactions than requests."""

    async def scenario() -> int:
        store, service = await _service(backend, config)
        commits = 0
        original = store._ingest_batch

        async def counting(db: object, records: list[object]) -> object:
            nonlocal commits
            commits += 1
            return await original(db, records)  # type: ignore[arg-type]

        store._ingest_batch = counting  # type: ignore[assignment, method-assign]
        messages = [json_message(identifier=f"53032441600000_{i}") for i in range(200)]
        results = await asyncio.gather(*(service.submit(m) for m in messages))
        assert all(r.outcome.status == "created" for r in results)
        await store.close()
        return commits

    commits = run(scenario)
    assert commits < 200
    assert backend.rows("SELECT COUNT(*) FROM warnings")[0][0] == 200


def test_update_finds_its_lineage_in_the_store_after_restart(config: RoutingConfig, backend: Backend) -> None:
    async def scenario() -> None:
        store, service = await _service(backend, config)
        await service.submit((EXAMPLES / "01-luoping-rainstorm-blue-signal.cap.xml").read_bytes())
        await store.close()
        store, service = await _service(backend, config)  # a fresh process: no memory
        orange = await service.submit((EXAMPLES / "02-luoping-rainstorm-orange-upgrade.cap.xml").read_bytes())
        assert orange.decision is not None and not orange.decision.reference_unknown
        kinds = {o.kind for o in orange.outcome.obligations}
        assert "inform" in kinds and "direct_report" in kinds
        await store.close()

    run(scenario)


def test_lift_cancels_open_obligations_and_unsent_notifications(config: RoutingConfig, backend: Backend) -> None:
    async def scenario() -> None:
        store, service = await _service(backend, config)
        blue = await service.submit((EXAMPLES / "01-luoping-rainstorm-blue-signal.cap.xml").read_bytes())
        await service.submit((EXAMPLES / "02-luoping-rainstorm-orange-upgrade.cap.xml").read_bytes())
        await service.submit((EXAMPLES / "03-luoping-rainstorm-red-upgrade.cap.xml").read_bytes())
        lift = await service.submit((EXAMPLES / "08-luoping-rainstorm-lift.cap.xml").read_bytes())
        assert lift.outcome.cancelled > 0
        stored = await store.get_warning(blue.warning.id)
        assert stored is not None
        # Closed: cancelled by the lift, or superseded earlier when an upgrade asked the same again.
        assert "cancelled" in {o["state"] for o in stored["obligations"]}
        assert {o["state"] for o in stored["obligations"]} <= {"cancelled", "superseded"}
        lifted = await store.get_warning(lift.warning.id)
        assert lifted is not None and {o["action"]["kind"] for o in lifted["obligations"]} == {"lift"}
        assert {o["state"] for o in lifted["obligations"]} == {"pending"}
        counts = await store.counts()
        assert counts["notifications"]["cancelled"] > 0
        await store.close()

    run(scenario)


def test_outbox_claims_lease_and_leased_work_of_a_dead_process_is_due_again(
    config: RoutingConfig, backend: Backend
) -> None:
    """SQLite (one process owns the file): a restart makes what it had leased due again. PostgreSQL (shared
    by instances): a restart must not take another instance's work; an expired lease makes it due again."""

    async def scenario() -> None:
        store, service = await _service(backend, config)
        await service.submit(json_message())
        first = await store.claim_notifications(now=1e12, limit=5, lease_seconds=60)
        assert len(first) == 5
        again = await store.claim_notifications(now=1e12, limit=1000, lease_seconds=60)
        assert not {c.id for c in first} & {c.id for c in again}  # leased work is not claimed twice
        await store.close()
        store = backend.store()
        await store.open()  # a restart
        after = await store.claim_notifications(now=1e12, limit=1000, lease_seconds=60)
        if backend.name == "sqlite":
            assert {c.id for c in first} <= {c.id for c in after}
        else:
            assert not {c.id for c in first} & {c.id for c in after}
            expired = await store.claim_notifications(now=1e12 + 61, limit=1000, lease_seconds=60)
            assert {c.id for c in first} <= {c.id for c in expired}
        await store.close()

    run(scenario)


def test_outcomes_and_receipts_move_obligations_forward(config: RoutingConfig, backend: Backend) -> None:
    async def scenario() -> None:
        store, service = await _service(backend, config)
        accepted = await service.submit(json_message())
        claimed = await store.claim_notifications(now=1e12, limit=1000, lease_seconds=60)
        sms = next(c for c in claimed if c.channel == "sms")
        web = next(c for c in claimed if c.channel == "webhook")
        await store.record_outcomes(
            [
                NotificationOutcome(sms.id, "sent", 100.0, provider_id="sms-1"),
                NotificationOutcome(web.id, "delivered", 100.0, provider_id=web.id),
            ]
        )
        assert await store.record_receipt("sms", "sms-1", True, 101.0) == "2026-07-15T08:00:00+08:00"
        assert await store.record_receipt("sms", "nope", True, 101.0) is None
        stored = await store.get_warning(accepted.warning.id)
        assert stored is not None
        states = {o["id"]: o for o in stored["obligations"]}
        assert states[sms.obligation_id]["state"] == "delivered"
        assert states[sms.obligation_id]["sent_at"] and states[sms.obligation_id]["delivered_at"]
        assert states[web.obligation_id]["state"] == "delivered"
        await store.close()

    run(scenario)


@pytest.mark.parametrize("twice", [False, True], ids=["together", "one-by-one"])
def test_receipts_waiting_together_each_reach_every_notification_their_message_carried(
    config: RoutingConfig, backend: Backend, twice: bool
) -> None:
    """Four receipts arrive at once: two messages delivered (one carried two notifications), one not
    delivered, one naming a message whose send outcome has not landed. Written together (a handful of
    statements for all four) or, when one message is named twice, one by one: the same states, the same
    answers, one audit event per notification, and the chain holds."""
    from router.audit.verify import verify_store

    async def scenario() -> None:
        store, service = await _service(backend, config)
        await service.submit(json_message())
        claimed = await store.claim_notifications(now=1e12, limit=1000, lease_seconds=60)
        common = Counter(n.channel for n in claimed).most_common(1)[0][0]
        a, b, c, d = [n for n in claimed if n.channel == common][:4]
        await store.record_outcomes(
            [
                NotificationOutcome(a.id, "sent", 100.0, provider_id="m-1"),
                NotificationOutcome(b.id, "sent", 100.0, provider_id="m-2"),
                NotificationOutcome(c.id, "sent", 100.0, provider_id="m-3"),
                NotificationOutcome(d.id, "sent", 100.0, provider_id="m-2"),  # one message, two notifications
            ]
        )
        together: list[int] = []
        real = store._receipts_together

        async def counted(db: Any, receipts: Any) -> Any:
            together.append(len(receipts))
            return await real(db, receipts)

        store._receipts_together = counted  # type: ignore[method-assign]
        receipts = [("m-1", True), ("m-2", True), ("m-3", False), ("m-late", True)]
        if twice:
            receipts.append(("m-1", True))
        answers = await asyncio.gather(*(store.record_receipt(common, m, ok, 101.0) for m, ok in receipts))
        issued = "2026-07-15T08:00:00+08:00"
        assert answers[:4] == [issued, issued, issued, None]
        if not backend.writer_process:  # a writer process's statements are its own, not spied on from here
            assert together == ([] if twice else [4])
        states = dict(backend.rows("SELECT id, state FROM notifications WHERE provider_id LIKE 'm-%'"))
        assert states == {a.id: "delivered", b.id: "delivered", c.id: "failed", d.id: "delivered"}
        assert backend.rows("SELECT provider_id, delivered FROM early_receipts") == [("m-late", 1)]
        details = [(r[2], json.loads(r[5])) for r in await store.audit_rows()]
        events = [(kind, d["notification"]) for kind, d in details if d.get("by") == "provider receipt"]
        expected = [("delivered", a.id), ("delivered", b.id), ("delivered", d.id), ("send_failed", c.id)]
        if twice:
            expected.append(("delivered", a.id))
        assert sorted(events) == sorted(expected)
        stored = await store.get_warning(json.loads(json_message())["identifier"])
        assert stored is not None
        obligations = {o["id"]: o for o in stored["obligations"]}
        assert obligations[a.obligation_id]["state"] == "delivered"
        assert obligations[d.obligation_id]["state"] == "delivered"
        assert obligations[c.obligation_id]["state"] == "sent"  # not delivered: its next step is due now
        steps = backend.rows(
            "SELECT o.next_step_at FROM obligations o JOIN notifications n ON n.obligation_seq = o.seq"
            f" WHERE n.id = '{c.id}' AND n.purpose = 'action'"
        )
        assert steps and all(at is not None and at <= 101.0 for (at,) in steps)
        assert (await verify_store(store)).ok
        await store.close()

    run(scenario)


def test_feed_pages_with_a_cursor(config: RoutingConfig, backend: Backend) -> None:
    async def scenario() -> None:
        store, service = await _service(backend, config)
        for i in range(3):
            await service.submit(json_message(identifier=f"53032441600000_{i}"))
        page = await store.feed("530324", "flood_drought_hq", 0, 2)
        rest = await store.feed("530324", "flood_drought_hq", page[-1].seq, 10)
        assert len(page) == 2 and len(rest) == 1
        assert [e.warning_id for e in page + rest] == [f"53032441600000_{i}" for i in range(3)]
        assert json.dumps(rest[0].action)
        assert await store.feed("530324", "education_sports", 0, 10)
        assert not await store.feed("530381", "flood_drought_hq", 0, 10)
        await store.close()

    run(scenario)


def test_a_feed_read_across_epochs_misses_nothing_and_repeats_nothing(
    config: RoutingConfig, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The feed's index is by epoch of 1,024 obligations (migration 14). 64 warnings in two counties make
    some 2,900 obligations over three epochs; read one epoch at a time, a department's feed paged seven at a
    time gives exactly its obligations in the order ingest answered them; its latest are all found too."""
    monkeypatch.setattr(reads, "EPOCHS", 1)

    async def scenario() -> None:
        store, service = await _service(backend, config)
        expected: list[str] = []
        for i in range(64):
            county = ("530324", "530381")[i % 2]
            accepted = await service.submit(
                json_message(identifier=f"{county}41600000_{i}", areas=[county], sender_code=f"{county}41600000")
            )
            expected += [
                o.id for o in accepted.outcome.obligations if (o.jurisdiction, o.department) == ("530324", "water")
            ]
        assert (await store.counts())["obligations"]["pending"] > 2 * EPOCH
        got: list[str] = []
        after = 0
        for _ in range(100):  # bounded: 7 a page
            page = await store.feed("530324", "water", after, 7)
            if not page:
                break
            got += [e.obligation_id for e in page]
            after = page[-1].seq
        assert got == expected and len(got) == 32  # one for each warning in 罗平县, none from the other county
        assert len(await store.canaries("530324", "water")) == 32
        await store.close()

    run(scenario)


@THREAD_OR_SERVER  # it fails the writer's own statements (a process's failure: test_writer_process.py)
def test_a_failed_transaction_writes_nothing(config: RoutingConfig, backend: Backend) -> None:
    """The disk fails after the batch's warning and obligation rows went in (the audit chain's insert
    raises): the whole transaction is undone, the caller hears why, and the store goes on."""
    ran: list[str] = []

    class FailingAtAudit:
        def __init__(self, db: Any) -> None:
            self.db = db

        def __getattr__(self, name: str) -> Any:
            return getattr(self.db, name)

        async def executemany(self, sql: str, rows: Any) -> Any:
            if sql.startswith("INSERT INTO audit"):
                raise OSError("disk I/O error")
            ran.append(sql.split("(")[0].strip())
            return await self.db.executemany(sql, rows)

    async def scenario() -> None:
        store, service = await _service(backend, config)
        real = store._ingest_batch

        async def failing(db: Any, records: Any) -> Any:
            return await real(FailingAtAudit(db), records)

        try:
            store._ingest_batch = failing  # type: ignore[method-assign]
            with pytest.raises(OSError, match="disk I/O error"):
                await service.submit(json_message())
            # Failed mid-batch, not before it: the shared texts, the warning and its obligations were written.
            assert ran == ["INSERT INTO shapes", "INSERT INTO warnings", "INSERT INTO obligations"]
            store._ingest_batch = real  # type: ignore[method-assign]
            accepted = await service.submit(json_message(identifier="53032441600000_20260715080500"))
            assert accepted.outcome.status == "created"
        finally:
            await store.close()

    run(scenario)
    assert backend.rows("SELECT identifier FROM warnings") == [("53032441600000_20260715080500",)]
    assert backend.rows("SELECT COUNT(DISTINCT warning_seq) FROM obligations")[0][0] == 1
    # Nothing of the undone transaction's shapes is left: each shape is one the stored warning uses.
    assert backend.rows("SELECT COUNT(*) FROM shapes") == backend.rows(
        "SELECT COUNT(DISTINCT shape_seq) FROM obligations"
    )


def test_a_receipt_that_overtakes_the_send_outcome_is_applied_when_it_lands(
    config: RoutingConfig, backend: Backend
) -> None:
    async def scenario() -> None:
        store, service = await _service(backend, config)
        accepted = await service.submit(json_message())
        claimed = await store.claim_notifications(now=1e12, limit=1000, lease_seconds=60)
        sms = next(c for c in claimed if c.channel == "sms")
        assert await store.record_receipt("sms", "sms-early", True, 100.5) is None  # before the outcome
        await store.record_outcomes([NotificationOutcome(sms.id, "sent", 100.0, provider_id="sms-early")])
        stored = await store.get_warning(accepted.warning.id)
        assert stored is not None
        obligation = next(o for o in stored["obligations"] if o["id"] == sms.obligation_id)
        assert obligation["state"] == "delivered"
        assert obligation["notifications"][0]["state"] == "delivered"
        await store.close()

    run(scenario)


def test_migrations_run_once_and_reopen_cleanly(config: RoutingConfig, backend: Backend) -> None:
    async def scenario() -> None:
        for _ in range(3):
            store = backend.store()
            await store.open()
            await store.close()

    run(scenario)
    # 2 adds early receipts and who acknowledged; 3 the claim priority; 4 ladders, acknowledgements, audit.
    assert [r[0] for r in backend.rows("SELECT version FROM schema_version ORDER BY version")] == list(
        range(1, len(MIGRATIONS) + 1)
    )


def test_mandatory_notifications_are_claimed_first(config: RoutingConfig, backend: Backend) -> None:
    """A backlog of ordinary notices never delays the §4.3 reports of a later warning."""

    async def scenario() -> list[str]:
        store, service = await _service(backend, config)
        await service.submit(json_message(identifier="blue-1"))
        await service.submit(json_message(identifier="blue-2"))
        await service.submit(json_message(identifier="red", severity="red"))
        first = await store.claim_notifications(now=1e12, limit=8, lease_seconds=60)
        await store.close()
        return [c.action["kind"] for c in first if c.action["mandatory"]] if len(first) == 8 else []

    kinds = run(scenario)
    assert len(kinds) == 8  # all eight claimed are mandatory, though two warnings came first
    assert "direct_report" in kinds


def test_writes_share_a_commit_but_one_that_fails_is_undone_alone(config: RoutingConfig, backend: Backend) -> None:
    from router.access.roles import Principal

    async def scenario() -> list[object]:
        store = backend.store()
        await store.open()
        bureau = Principal("p1", "罗平县气象台", "publisher")
        results = await asyncio.gather(
            store.add_principal(bureau, "a" * 64, 1.0),
            store.add_principal(bureau, "b" * 64, 2.0),  # the same id again: refused by the primary key
            store.record_event("config_loaded", {"sha256": "x"}, 3.0),
            return_exceptions=True,
        )
        await store.close()
        return list(results)

    first, second, event = run(scenario)
    assert first is None and event is None and isinstance(second, Exception)
    assert backend.rows("SELECT id, secret_sha256 FROM principals") == [("p1", "a" * 64)]
    kinds = [r[0] for r in backend.rows("SELECT kind FROM audit ORDER BY seq")]
    assert kinds == ["token_created", "config_loaded"]  # the refused write left no event and no gap
    assert [r[0] for r in backend.rows("SELECT seq FROM audit ORDER BY seq")] == [1, 2]


def test_an_obligations_first_sent_and_delivered_times_keep_their_order(
    config: RoutingConfig, backend: Backend
) -> None:
    """Outcomes recorded together keep their order: a webhook delivered at 100.0 and an SMS sent at 100.5
    leave the obligation sent and delivered at 100.0, never sent after it was delivered."""

    async def scenario() -> dict[str, Any]:
        store, service = await _service(backend, config)
        accepted = await service.submit(json_message(severity="orange"))  # §4.3: webhook and SMS at once
        claimed = await store.claim_notifications(now=1e12, limit=1000, lease_seconds=60)
        by_channel: dict[str, dict[str, Any]] = {}
        for c in claimed:
            by_channel.setdefault(c.obligation_id, {})[c.channel] = c
        obligation_id, channels = next((o, ch) for o, ch in by_channel.items() if {"webhook", "sms"} <= ch.keys())
        await store.record_outcomes(
            [
                NotificationOutcome(channels["webhook"].id, "delivered", 100.0, provider_id="w"),
                NotificationOutcome(channels["sms"].id, "sent", 100.5, provider_id="s"),
            ]
        )
        stored = await store.get_warning(accepted.warning.id)
        await store.close()
        assert stored is not None
        return next(o for o in stored["obligations"] if o["id"] == obligation_id)

    obligation = run(scenario)
    assert obligation["sent_at"] == obligation["delivered_at"] == datetime.fromtimestamp(100.0, UTC).isoformat()


def test_ingest_writes_no_notification_rows_and_a_claim_writes_each_opening_once(
    config: RoutingConfig, backend: Backend
) -> None:
    """The obligation is its own outbox (DESIGN §9): a routed warning writes no notification rows; its
    pending sends read as before; the claim writes and takes them once; a lift before any claim sends none."""

    async def scenario() -> None:
        store, service = await _service(backend, config)
        blue = await service.submit(json_message(identifier="blue"))
        assert backend.rows("SELECT COUNT(*) FROM notifications")[0][0] == 0
        stored = await store.get_warning(blue.warning.id)
        assert stored is not None
        waiting = [n for o in stored["obligations"] for n in o["notifications"]]
        assert waiting and {n["state"] for n in waiting} == {"pending"}
        assert all(n["id"].startswith(o["id"] + ".") for o in stored["obligations"] for n in o["notifications"])
        assert (await store.counts())["notifications"] == {"pending": len(waiting)}
        claimed = await store.claim_notifications(now=1e12, limit=1000, lease_seconds=60)
        assert sorted(c.id for c in claimed) == sorted(n["id"] for n in waiting)  # the same keys, each once
        assert backend.rows("SELECT COUNT(*) FROM notifications")[0][0] == len(waiting)
        assert await store.claim_notifications(now=1e12, limit=1000, lease_seconds=60) == []
        # A warning lifted before the dispatcher claimed anything of it: nothing of it is sent.
        other = await service.submit(json_message(identifier="other", severity="yellow"))
        await service.submit(json_message(identifier="other-lift", msg_type="cancel", references=["other"]))
        lifted = await store.get_warning(other.warning.id)
        assert lifted is not None
        assert {n["state"] for o in lifted["obligations"] for n in o["notifications"]} == {"cancelled"}
        left = await store.claim_notifications(now=1e12, limit=1000, lease_seconds=60)
        assert left and {c.action["kind"] for c in left} == {"lift"}  # the lift's own notices, nothing else
        await store.close()

    run(scenario)


def test_a_new_warnings_direct_reports_are_handed_to_this_processs_dispatcher_as_it_commits(
    config: RoutingConfig, backend: Backend
) -> None:
    """DESIGN §4 rule 1: the embedded store hands an orange rainstorm signal's §4.3 direct reports (罗平县's
    flood-control and geological-disaster HQs; config/warnings.yaml's ``direct_report`` ladder opens with
    their first channel and SMS at once) to this process's dispatcher, leased in the warning's own
    transaction; a claim takes everything else and never those; a restart makes them due again under the
    same keys. The shared store (other processes claim too) hands nothing over: its claim takes them."""
    expected = {  # (department, channel), written out from the ladder and config/departments.yaml
        ("flood_drought_hq", "webhook"),
        ("flood_drought_hq", "sms"),
        ("geohazard_hq", "webhook"),
        ("geohazard_hq", "sms"),
    }

    async def scenario() -> None:
        store, service = await _service(backend, config)
        taken: list[ClaimedNotification] = []
        store.hand_over(60, taken.extend)
        orange = await service.submit(json_message(identifier="orange", severity="orange"))
        claimed = await store.claim_notifications(now=1e12, limit=1000, lease_seconds=60)
        stored = await store.get_warning(orange.warning.id)
        assert stored is not None
        every = sorted(n["id"] for o in stored["obligations"] for n in o["notifications"])
        assert sorted([c.id for c in taken] + [c.id for c in claimed]) == every  # each once
        direct = [c for c in (claimed if store.shared else taken) if c.action["kind"] == "direct_report"]
        assert {(c.department, c.channel) for c in direct} == expected
        assert {c.jurisdiction for c in direct} == {"530324"} and {c.purpose for c in direct} == {"action"}
        if store.shared:
            assert taken == []
        else:
            assert taken == direct and {c.warning["id"] for c in taken} == {"orange"}
            states = {n["id"]: n["state"] for o in stored["obligations"] for n in o["notifications"]}
            assert {states[c.id] for c in taken} == {"sending"}
            assert await store.claim_notifications(now=1e12, limit=1000, lease_seconds=60) == []
            await store.close()
            store, service = await _service(backend, config)  # the restart: due again, the same keys
            again = await store.claim_notifications(now=1e12, limit=1000, lease_seconds=60)
            assert sorted(c.id for c in again) == sorted([c.id for c in taken] + [c.id for c in claimed])
            # A dispatcher that cannot take them: they are due again at once, claimed as usual.

            def refuse(_: list[ClaimedNotification]) -> None:
                raise RuntimeError("the dispatcher is gone")

            store.hand_over(60, refuse)
            red = await service.submit(json_message(identifier="red", severity="red"))
            later = await store.claim_notifications(now=1e12, limit=1000, lease_seconds=60)
            if not any(c.warning["id"] == "red" and c.action["kind"] == "direct_report" for c in later):
                later += await store.claim_notifications(now=1e12, limit=1000, lease_seconds=60)
            stored = await store.get_warning(red.warning.id)
            assert stored is not None
            every = sorted(n["id"] for o in stored["obligations"] for n in o["notifications"])
            assert sorted(c.id for c in later) == every
            # Stopped: the next warning's reports are claimed like the rest.
            store.hand_over(60, None)
            third = await service.submit(json_message(identifier="third", severity="orange"))
            last = await store.claim_notifications(now=1e12, limit=1000, lease_seconds=60)
            assert {c.channel for c in last if c.action["kind"] == "direct_report"} == {"webhook", "sms"}
            assert all(c.warning["id"] == third.warning.id for c in last)
        await store.close()

    run(scenario)


def test_a_reports_notifications_are_written_with_it_claimed_recorded_and_counted(
    config: RoutingConfig, backend: Backend
) -> None:
    """A filed report's notifications are in the outbox in its transaction (DESIGN §13): claimed once, their
    outcomes and receipts recorded, counted in the budgets' windows after a restart; a refused or repeated
    filing writes none."""
    from router.access.roles import Principal
    from router.errors import NotFound
    from router.reports.service import Reports

    filer = Principal("p-water", "罗平县水务局", "department", "530324", "water")
    body = {
        "schema": "warnroute.report/1",
        "id": "water-1",
        "kind": "water",
        "jurisdiction": "530324",
        "department": "water",
        "observed_at": "2026-07-15T07:30:00+08:00",
        "figures": {"rainfall_mm": 86.5},
    }

    async def scenario() -> None:
        store, _ = await _service(backend, config)
        reports = Reports(config, store, clock=lambda: datetime(2026, 7, 15, tzinfo=UTC).timestamp())
        assert (await reports.file(filer, SituationReport.model_validate(body)))[0].status == "created"
        # §4.1 to the county's and the city's meteorological bureaus, §2.1 to the county's flood HQ.
        to = {("meteorology", "530324"), ("meteorology", "530300"), ("flood_drought_hq", "530324")}
        claimed = await store.claim_notifications(now=1e12, limit=100, lease_seconds=60)
        mine = [c for c in claimed if c.purpose == "report"]
        assert {(c.department, c.jurisdiction) for c in mine} == to
        assert {c.obligation_id for c in mine} == {"water-1"} and {c.channel for c in mine} == {"webhook"}
        assert all(c.report is not None and c.report["figures"] == {"rainfall_mm": 86.5} for c in mine)
        assert not [c for c in await store.claim_notifications(1e12, 100, 60) if c.purpose == "report"]
        first, *rest = sorted(mine, key=lambda c: c.id)
        await store.record_outcomes(
            [NotificationOutcome(first.id, "sent", 100.0, provider_id="p-1")]
            + [NotificationOutcome(c.id, "delivered", 100.0, provider_id=c.id) for c in rest]
        )
        assert await store.record_receipt("webhook", "p-1", True, 101.0) is None  # a report has no warning
        found = await store.report_deliveries("water-1")
        assert found is not None and found[0] == "530324"
        assert {n["state"] for c in found[1] for n in c["notifications"]} == {"delivered"}
        before = backend.rows("SELECT COUNT(*) FROM notifications")[0][0]
        assert (await reports.file(filer, SituationReport.model_validate(body)))[0].status == "duplicate"
        with pytest.raises(NotFound):
            await reports.file(filer, SituationReport.model_validate({**body, "id": "water-2", "replaces": "nope"}))
        assert backend.rows("SELECT COUNT(*) FROM notifications")[0][0] == before
        await store.close()
        store = backend.store()
        await store.open()  # a restart: what was sent still counts in the destination's windows
        sends = await store.recent_sends(0.0, ["webhook"])
        assert {(d, j) for _, d, j, _ in sends} >= to
        await store.close()

    run(scenario)


def test_what_a_warnings_obligations_share_is_written_once_and_read_back_per_obligation(
    config: RoutingConfig, backend: Backend
) -> None:
    """An obligation's row keeps only its own: its id's prefix, its clock's start and the deadline most of
    its warning's obligations share live on the warning, yet every read, acknowledgement and report gives
    each obligation its own id and deadline as before."""

    async def scenario() -> None:
        store, service = await _service(backend, config)
        # A 12 h nowcast for 罗平县's 板桥镇, onset three hours after it is issued.
        nowcast = json_message(
            identifier="53030041600000_20260715080000",
            sender="曲靖市气象台",
            sender_code="53030041600000",
            product="nowcast",
            severity=None,
            onset="2026-07-15T11:00:00+08:00",
            areas=["530324102"],
            key_townships=["530324102"],
        )
        accepted = await service.submit(nowcast)
        ids = [o.id for o in accepted.outcome.obligations]
        prefix = ids[0].rsplit(".", 1)[0]
        # The ids the router hands out: the prefix, ".", the ordinal in three digits.
        assert ids == [f"{prefix}.{i:03d}" for i in range(len(ids))]
        deadlines = {o.id: o.deadline for o in accepted.outcome.obligations}
        assert len(set(deadlines.values())) > 1  # the 12-6-2 tasks come due at different times
        stored = await store.get_warning(accepted.warning.id)
        assert stored is not None
        assert {o["id"]: datetime.fromisoformat(o["deadline"]).timestamp() for o in stored["obligations"]} == deadlines
        last = ids[-1]
        one = await store.get_obligation(last)
        assert one is not None and one["id"] == last
        assert (await store.acknowledge(last, "link", "罗平县应急管理局", 200.0)).status == "acknowledged"
        # "prefix.7" names no obligation ("prefix.007" does): an id is matched as written, not as a number.
        assert len(ids) > 7
        assert (await store.acknowledge(f"{prefix}.7", "link", "x", 201.0)).status == "not_found"
        assert (await store.get_obligation(f"{prefix}.7")) is None
        assert (await store.get_obligation(f"{prefix}.{len(ids) + 5:03d}")) is None
        await store.close()

    run(scenario)
    # On disk: no obligation row repeats its id, and only the deadlines that differ from the common one
    # are on their rows.
    assert backend.rows("SELECT COUNT(*) FROM obligations WHERE id IS NOT NULL")[0][0] == 0
    (common,) = backend.rows("SELECT due FROM warnings")[0]
    own = [r[0] for r in backend.rows("SELECT due_at FROM obligations WHERE due_at IS NOT NULL")]
    assert own and common not in own
