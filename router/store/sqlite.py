"""The embedded store: SQLite in WAL mode through aiosqlite, one writer task with group commit.

Every write goes through one writer task and its own connection, so transactions never
interleave; ingest requests waiting at the same moment share one transaction (group commit), which
is what lets one process take a thousand warnings a second with tens of rows each. Reads use a
second connection and never block on the writer (WAL). Row ids are assigned here, by the single
writer, so a batch is written with a handful of ``executemany`` calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from router.store.base import (
    ClaimedNotification,
    FeedEntry,
    IngestOutcome,
    IngestRecord,
    NotificationOutcome,
    ObligationRow,
)
from router.store.schema import MIGRATIONS

_OPEN_STATES = ("pending", "sent", "delivered")
Job = Callable[[aiosqlite.Connection], Awaitable[Any]]


class SqliteStore:
    """SQLite implementation of ``router.store.base.Store``. ``open()`` before use, ``close()`` after."""

    def __init__(self, path: Path, *, batch_max: int = 256, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.batch_max = batch_max
        self.clock = clock
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[tuple[str, Any, asyncio.Future[Any]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._next: dict[str, int] = {}
        self.last_write_at = 0.0

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await aiosqlite.connect(self.path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=10000"):
            await self._writer.execute(f"PRAGMA {pragma}")
        await self._migrate(self._writer)
        for table in ("warnings", "obligations", "notifications"):
            async with self._writer.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {table}") as cur:
                row = await cur.fetchone()
                self._next[table] = int(row[0]) + 1 if row else 1
        # One process owns this file: whatever it had leased before a crash is due again.
        await self._writer.execute(
            "UPDATE notifications SET state = 'pending', lease_until = NULL WHERE state = 'sending'"
        )
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        await self._reader.execute("PRAGMA busy_timeout=10000")
        self._reader.row_factory = aiosqlite.Row
        self._task = asyncio.create_task(self._write_loop(), name="store-writer")

    async def close(self) -> None:
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        async with db.execute("SELECT MAX(version) FROM schema_version") as cur:
            row = await cur.fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            await db.execute("BEGIN IMMEDIATE")
            for statement in (s.strip() for s in script.split(";")):
                if statement:
                    await db.execute(statement)
            await db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            await db.execute("COMMIT")

    # -- the writer ----------------------------------------------------------------------------

    async def _submit(self, kind: str, payload: Any) -> Any:
        if self._task is None or self._task.done():
            raise RuntimeError("store is not open")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put((kind, payload, future))
        return await future

    async def _write_loop(self) -> None:
        assert self._writer is not None
        db = self._writer
        while True:
            item = await self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.batch_max and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    await self._queue.put(None)
                    break
                batch.append(nxt)
            ingests = [(p, f) for k, p, f in batch if k == "ingest"]
            others = [(p, f) for k, p, f in batch if k == "job"]
            if ingests:
                records = [p for p, _ in ingests]
                await self._run(db, [f for _, f in ingests], functools.partial(self._ingest_batch, records=records))
            for job, future in others:
                await self._run(db, [future], job, single=True)

    async def _run(
        self, db: aiosqlite.Connection, futures: list[asyncio.Future[Any]], job: Job, single: bool = False
    ) -> None:
        saved = dict(self._next)
        try:
            await db.execute("BEGIN IMMEDIATE")
            result = await job(db)
            await db.execute("COMMIT")
        except Exception as exc:  # the whole transaction failed: every waiter hears why
            self._next = saved
            with contextlib.suppress(aiosqlite.Error):
                await db.execute("ROLLBACK")
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            return
        self.last_write_at = self.clock()
        results = [result] if single else result
        for future, value in zip(futures, results, strict=True):
            if not future.done():
                future.set_result(value)

    def _ids(self, table: str, n: int) -> range:
        start = self._next[table]
        self._next[table] = start + n
        return range(start, start + n)

    # -- ingest --------------------------------------------------------------------------------

    async def ingest(self, record: IngestRecord) -> IngestOutcome:
        outcome: IngestOutcome = await self._submit("ingest", record)
        return outcome

    async def _ingest_batch(self, db: aiosqlite.Connection, records: list[IngestRecord]) -> list[IngestOutcome]:
        now = self.clock()
        marks = ",".join("?" * len(records))
        existing: dict[tuple[str, str], tuple[int, str, str]] = {}
        async with db.execute(
            f"SELECT seq, sender, identifier, sent, content_hash FROM warnings WHERE identifier IN ({marks})",
            [r.identifier for r in records],
        ) as cur:
            async for seq, sender, identifier, sent, content_hash in cur:
                existing[(sender, identifier)] = (seq, sent, content_hash)
        outcomes: list[IngestOutcome | None] = []
        new: list[tuple[int, IngestRecord]] = []
        for record in records:
            key = (record.sender, record.identifier)
            if key in existing:
                seq, sent, content_hash = existing[key]
                if sent == record.sent and content_hash == record.content_hash:
                    outcomes.append(IngestOutcome("duplicate", record.identifier, await self._obligations_of(db, seq)))
                else:
                    outcomes.append(
                        IngestOutcome(
                            "conflict",
                            record.identifier,
                            problem=f"identifier {record.identifier!r} of {record.sender!r} was already used for "
                            f"a different message (sent {sent})",
                        )
                    )
                continue
            seq = self._ids("warnings", 1)[0]
            existing[key] = (seq, record.sent, record.content_hash)
            new.append((seq, record))
            outcomes.append(None)
        warning_rows, obligation_rows, notification_rows = [], [], []
        cursors: dict[str, tuple[int, ...]] = {}
        for seq, r in new:
            warning_rows.append(
                (
                    seq,
                    r.identifier,
                    r.sender,
                    r.sent,
                    r.content_hash,
                    r.lineage,
                    r.received_at,
                    r.product,
                    r.hazard,
                    r.severity,
                    r.jurisdiction,
                    r.status,
                    r.msg_type,
                    int(r.reference_unknown),
                    r.warning_json,
                    r.decision_json,
                    r.told_json,
                )
            )
            obligation_seq = dict(
                zip((o.id for o in r.obligations), self._ids("obligations", len(r.obligations)), strict=True)
            )
            cursors[r.identifier] = tuple(obligation_seq.values())
            for o in r.obligations:
                obligation_rows.append(
                    (
                        obligation_seq[o.id],
                        o.id,
                        seq,
                        r.lineage,
                        o.department,
                        o.jurisdiction,
                        o.kind,
                        o.task,
                        o.clause,
                        int(o.mandatory),
                        o.due_at,
                        o.action_json,
                        "pending",
                        now,
                    )
                )
            for n, n_seq in zip(r.notifications, self._ids("notifications", len(r.notifications)), strict=True):
                notification_rows.append(
                    (
                        n_seq,
                        n.id,
                        obligation_seq[n.obligation_id],
                        n.channel,
                        "pending",
                        n.next_attempt_at,
                        now,
                        n.priority,
                    )
                )
        await db.executemany(
            "INSERT INTO warnings (seq, identifier, sender, sent, content_hash, lineage, received_at, product, hazard,"
            " severity, jurisdiction, status, msg_type, reference_unknown, warning_json, decision_json, told_json)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            warning_rows,
        )
        await db.executemany(
            "INSERT INTO obligations (seq, id, warning_seq, lineage, department, jurisdiction, kind, task, clause,"
            " mandatory, due_at, action_json, state, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            obligation_rows,
        )
        await db.executemany(
            "INSERT INTO notifications (seq, id, obligation_seq, channel, state, next_attempt_at, created_at,"
            " priority) VALUES (?,?,?,?,?,?,?,?)",
            notification_rows,
        )
        cancelled: dict[str, int] = {}
        for seq, r in new:
            if r.lifts_lineage is not None:
                cancelled[r.identifier] = await self._close_lineage(db, r.lifts_lineage, seq, now)
        it = iter(new)
        result: list[IngestOutcome] = []
        for outcome in outcomes:
            if outcome is not None:
                result.append(outcome)
                continue
            _, r = next(it)
            result.append(
                IngestOutcome(
                    "created",
                    r.identifier,
                    r.obligations,
                    cancelled.get(r.identifier, 0),
                    obligation_seqs=cursors.get(r.identifier, ()),
                )
            )
        return result

    async def _close_lineage(self, db: aiosqlite.Connection, lineage: str, lift_seq: int, now: float) -> int:
        """A lift closes the lineage's open obligations as cancelled, and their unsent notifications."""
        cur = await db.execute(
            "UPDATE obligations SET state = 'cancelled', closed_at = ? WHERE lineage = ? AND warning_seq < ?"
            " AND state IN ('pending', 'sent', 'delivered')",
            (now, lineage, lift_seq),
        )
        count = cur.rowcount
        await db.execute(
            "UPDATE notifications SET state = 'cancelled' WHERE state IN ('pending', 'sending') AND obligation_seq IN"
            " (SELECT seq FROM obligations WHERE lineage = ? AND state = 'cancelled')",
            (lineage,),
        )
        return count

    async def _obligations_of(self, db: aiosqlite.Connection, warning_seq: int) -> tuple[ObligationRow, ...]:
        async with db.execute(
            "SELECT id, department, jurisdiction, kind, task, clause, mandatory, due_at, action_json FROM obligations"
            " WHERE warning_seq = ? ORDER BY seq",
            (warning_seq,),
        ) as cur:
            return tuple([ObligationRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8]) async for r in cur])

    # -- reads ---------------------------------------------------------------------------------

    @property
    def _read(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RuntimeError("store is not open")
        return self._reader

    async def lineage_of(self, identifiers: list[str]) -> tuple[str, str, str] | None:
        if not identifiers:
            return None
        marks = ",".join("?" * len(identifiers))
        async with self._read.execute(
            f"SELECT lineage, warning_json, told_json FROM warnings WHERE identifier IN ({marks})"
            " ORDER BY seq DESC LIMIT 1",
            identifiers,
        ) as cur:
            row = await cur.fetchone()
        return (row[0], row[1], row[2]) if row else None

    async def get_warning(self, identifier: str) -> dict[str, Any] | None:
        async with self._read.execute(
            "SELECT seq, identifier, sender, sent, received_at, lineage, reference_unknown, warning_json, decision_json"
            " FROM warnings WHERE identifier = ? ORDER BY seq DESC LIMIT 1",
            (identifier,),
        ) as cur:
            w = await cur.fetchone()
        if w is None:
            return None
        async with self._read.execute(
            "SELECT o.seq, o.id, o.state, o.action_json, o.created_at, o.sent_at, o.delivered_at, o.acknowledged_at,"
            " o.acknowledged_by, o.closed_at FROM obligations o WHERE o.warning_seq = ? ORDER BY o.seq",
            (w["seq"],),
        ) as cur:
            obligations = [dict(r) async for r in cur]
        async with self._read.execute(
            "SELECT n.id, n.obligation_seq, n.channel, n.state, n.attempts, n.provider_id, n.last_error, n.created_at,"
            " n.sent_at, n.delivered_at FROM notifications n JOIN obligations o ON o.seq = n.obligation_seq"
            " WHERE o.warning_seq = ? ORDER BY n.seq",
            (w["seq"],),
        ) as cur:
            notifications: dict[int, list[dict[str, Any]]] = {}
            async for r in cur:
                notifications.setdefault(r["obligation_seq"], []).append(
                    {k: r[k] for k in r.keys() if k != "obligation_seq"}  # noqa: SIM118 - a Row iterates values
                )
        return {
            "identifier": w["identifier"],
            "sender": w["sender"],
            "sent": w["sent"],
            "received_at": w["received_at"],
            "lineage": w["lineage"],
            "reference_unknown": bool(w["reference_unknown"]),
            "warning": orjson.loads(w["warning_json"]),
            "decision": {
                **orjson.loads(w["decision_json"]),
                "actions": [orjson.loads(o["action_json"]) for o in obligations],
            },
            "obligations": [
                {
                    "id": o["id"],
                    "state": o["state"],
                    "action": orjson.loads(o["action_json"]),
                    "created_at": _iso(o["created_at"]),
                    "sent_at": _iso(o["sent_at"]),
                    "delivered_at": _iso(o["delivered_at"]),
                    "acknowledged_at": _iso(o["acknowledged_at"]),
                    "acknowledged_by": o["acknowledged_by"],
                    "closed_at": _iso(o["closed_at"]),
                    "notifications": [
                        {
                            **n,
                            "created_at": _iso(n["created_at"]),
                            "sent_at": _iso(n["sent_at"]),
                            "delivered_at": _iso(n["delivered_at"]),
                        }
                        for n in notifications.get(o["seq"], [])
                    ],
                }
                for o in obligations
            ],
        }

    async def feed(self, jurisdiction: str, department: str, after: int, limit: int) -> list[FeedEntry]:
        async with self._read.execute(
            "SELECT o.seq, o.id, w.identifier, o.state, o.action_json, w.warning_json, w.status FROM obligations o"
            " JOIN warnings w ON w.seq = o.warning_seq WHERE o.jurisdiction = ? AND o.department = ? AND o.seq > ?"
            " ORDER BY o.seq LIMIT ?",
            (jurisdiction, department, after, limit),
        ) as cur:
            return [
                FeedEntry(r[0], r[1], r[2], r[3], orjson.loads(r[4]), orjson.loads(r[5]), r[6] != "actual")
                async for r in cur
            ]

    async def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for table in ("obligations", "notifications"):
            async with self._read.execute(f"SELECT state, COUNT(*) FROM {table} GROUP BY state") as cur:
                out[table] = {state: count async for state, count in cur}
        async with self._read.execute("SELECT COUNT(*) FROM warnings") as cur:
            row = await cur.fetchone()
        out["warnings"] = {"total": int(row[0]) if row else 0}
        return out

    # -- the outbox ----------------------------------------------------------------------------

    async def claim_notifications(self, now: float, limit: int, lease_seconds: float) -> list[ClaimedNotification]:
        async def job(db: aiosqlite.Connection) -> list[ClaimedNotification]:
            async with db.execute(
                "SELECT n.seq, n.id, o.id, n.channel, n.attempts, o.department, o.jurisdiction, o.action_json,"
                " w.warning_json, w.status, n.next_attempt_at FROM notifications n"
                " JOIN obligations o ON o.seq = n.obligation_seq"
                " JOIN warnings w ON w.seq = o.warning_seq"
                " WHERE n.state = 'pending' AND n.next_attempt_at <= ?"
                " ORDER BY n.priority, n.next_attempt_at, n.seq LIMIT ?",
                (now, limit),
            ) as cur:
                rows = await cur.fetchall()
            await db.executemany(
                "UPDATE notifications SET state = 'sending', lease_until = ? WHERE seq = ?",
                [(now + lease_seconds, r[0]) for r in rows],
            )
            return [
                ClaimedNotification(
                    r[1], r[2], r[3], r[4], r[5], r[6], orjson.loads(r[7]), orjson.loads(r[8]), r[9] != "actual", r[10]
                )
                for r in rows
            ]

        claimed: list[ClaimedNotification] = await self._submit("job", job)
        return claimed

    async def record_outcomes(self, outcomes: list[NotificationOutcome]) -> None:
        """Apply a batch of attempt outcomes in one transaction, a few ``executemany`` calls in all."""

        async def job(db: aiosqlite.Connection) -> None:
            retry = [(o.next_attempt_at, o.error, o.id) for o in outcomes if o.state == "retry"]
            failed = [o for o in outcomes if o.state == "failed"]
            done = [o for o in outcomes if o.state in ("sent", "delivered")]
            await db.executemany(
                "UPDATE notifications SET state = 'pending', attempts = attempts + 1, next_attempt_at = ?,"
                " lease_until = NULL, last_error = ? WHERE id = ? AND state = 'sending'",
                retry,
            )
            await db.executemany(
                "UPDATE notifications SET state = 'failed', attempts = attempts + 1, lease_until = NULL,"
                " last_error = ? WHERE id = ? AND state = 'sending'",
                [(o.error, o.id) for o in failed],
            )
            await db.executemany(
                "UPDATE obligations SET state = 'failed' WHERE state = 'pending' AND seq ="
                " (SELECT obligation_seq FROM notifications WHERE id = ?)",
                [(o.id,) for o in failed],
            )
            await db.executemany(
                "UPDATE notifications SET state = ?, attempts = attempts + 1, lease_until = NULL,"
                " provider_id = ?, sent_at = ?, delivered_at = COALESCE(delivered_at, ?), last_error = NULL"
                " WHERE id = ? AND state = 'sending'",
                [(o.state, o.provider_id, o.at, o.at if o.state == "delivered" else None, o.id) for o in done],
            )
            # Obligations move forward only: pending → sent → delivered.
            await db.executemany(
                "UPDATE obligations SET state = ?, sent_at = COALESCE(sent_at, ?),"
                " delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END"
                " WHERE seq = (SELECT obligation_seq FROM notifications WHERE id = ?)"
                " AND (state = 'pending' OR (state = 'sent' AND ? = 'delivered'))",
                [(o.state, o.at, o.state, o.at, o.id, o.state) for o in done],
            )
            sent = {o.provider_id: o.id for o in done if o.state == "sent" and o.provider_id is not None}
            if sent:
                async with db.execute("SELECT COUNT(*) FROM early_receipts") as cur:
                    row = await cur.fetchone()
                if row is not None and row[0]:
                    for provider_id, notification_id in sent.items():
                        await self._apply_early_receipt(db, notification_id, provider_id)

        await self._submit("job", job)

    async def _advance_obligation(self, db: aiosqlite.Connection, notification_id: str, state: str, at: float) -> None:
        """Move the obligation forward (never back): pending → sent → delivered."""
        allowed = ("pending",) if state == "sent" else ("pending", "sent")
        column = "sent_at" if state == "sent" else "delivered_at"
        await db.execute(
            f"UPDATE obligations SET state = ?, {column} = ?, sent_at = COALESCE(sent_at, ?)"
            f" WHERE seq = (SELECT obligation_seq FROM notifications WHERE id = ?)"
            f" AND state IN ({','.join('?' * len(allowed))})",
            (state, at, at, notification_id, *allowed),
        )

    async def _apply_early_receipt(self, db: aiosqlite.Connection, notification_id: str, provider_id: str) -> None:
        async with db.execute(
            "DELETE FROM early_receipts WHERE provider_id = ? AND channel ="
            " (SELECT channel FROM notifications WHERE id = ?) RETURNING delivered, at, confirmed",
            (provider_id, notification_id),
        ) as cur:
            row = await cur.fetchone()
        if row is not None:
            await self._receipt(db, notification_id, bool(row[0]), float(row[1]), bool(row[2]))

    async def record_receipt(
        self, channel: str, provider_id: str, delivered: bool, at: float, confirmed: bool = False
    ) -> str | None:
        """Apply a provider's receipt; one that beats the send outcome is kept until that outcome lands."""

        async def job(db: aiosqlite.Connection) -> str | None:
            async with db.execute(
                "SELECT n.id, w.sent FROM notifications n JOIN obligations o ON o.seq = n.obligation_seq"
                " JOIN warnings w ON w.seq = o.warning_seq WHERE n.channel = ? AND n.provider_id = ?",
                (channel, provider_id),
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                await db.execute(
                    "INSERT OR REPLACE INTO early_receipts (channel, provider_id, delivered, at, confirmed)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (channel, provider_id, int(delivered), at, int(confirmed)),
                )
                return None
            await self._receipt(db, row[0], delivered, at, confirmed)
            return str(row[1])

        issued: str | None = await self._submit("job", job)
        return issued

    async def _receipt(
        self, db: aiosqlite.Connection, notification_id: str, delivered: bool, at: float, confirmed: bool = False
    ) -> None:
        if delivered:
            await db.execute(
                "UPDATE notifications SET state = 'delivered', delivered_at = COALESCE(delivered_at, ?)"
                " WHERE id = ? AND state IN ('sent', 'sending', 'delivered')",
                (at, notification_id),
            )
            await self._advance_obligation(db, notification_id, "delivered", at)
            if confirmed:  # a person answered and pressed the confirm key: the phone report is done
                await db.execute(
                    "UPDATE obligations SET state = 'acknowledged', acknowledged_at = COALESCE(acknowledged_at, ?),"
                    " acknowledged_by = 'voice_keypress' WHERE seq = (SELECT obligation_seq FROM notifications"
                    " WHERE id = ?) AND state IN ('pending', 'sent', 'delivered')",
                    (at, notification_id),
                )
        else:
            await db.execute(
                "UPDATE notifications SET state = 'failed', last_error = 'provider reported non-delivery'"
                " WHERE id = ? AND state = 'sent'",
                (notification_id,),
            )


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat()
