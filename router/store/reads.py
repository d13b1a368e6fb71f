"""The store's reads: warnings, feeds, reports, the dashboard, principals.

They use their own connection, which never waits on the writer, and never write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from router.access.roles import Principal
from router.audit.chain import AuditRow
from router.store.base import FeedEntry
from router.store.schema import EPOCH, SEQ_OF_ID, of_warning, seq_args

Db = Any


class Result:
    """A statement's rows and row count, answered as aiosqlite's cursor answers them."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self.rows, self.rowcount = rows, rowcount

    async def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None

    async def fetchall(self) -> list[Any]:
        return self.rows

    async def __aiter__(self) -> AsyncIterator[Any]:
        for row in self.rows:
            yield row


CHUNK = 500  # keys per IN list: within every database's limit on parameters
EPOCHS = 64  # feed epochs per read (``SqlReads._by_epoch``): 65,536 obligations' index entries at most
OF_DEPARTMENT = "o.shape_seq IN (SELECT seq FROM shapes WHERE jurisdiction = ? AND department = ?)"


async def fetch(db: Db, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """The rows of one query in one call to the database (a cursor's execute, fetch and close are a
    round trip to aiosqlite's thread each; on a busy event loop each waits for a turn)."""
    return list(await db.execute_fetchall(sql, params))


async def many(db: Db, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """``executemany`` when there is anything to write (an empty one is a round trip all the same)."""
    if rows:
        await db.executemany(sql, rows)


async def rows_in(db: Db, sql: str, keys: Sequence[Any], before: Sequence[Any] = ()) -> AsyncIterator[Any]:
    """The rows of ``sql`` whose ``{keys}`` is an IN list of ``keys``, read ``CHUNK`` keys at a time (one read
    per chunk, never one per key); ``before``: the parameters that come before the list."""
    for i in range(0, len(keys), CHUNK):
        chunk = list(keys[i : i + CHUNK])
        for row in await fetch(db, sql.format(keys=",".join("?" * len(chunk))), [*before, *chunk]):
            yield row


"""A connection: aiosqlite's, or the PostgreSQL adapter that answers the same calls (postgres.py)."""


class SqlReads:
    """The read half of ``SqlStore`` (a mixin: the store opens the connection)."""

    _reader: Db | None

    @property
    def _read(self) -> Db:
        if self._reader is None:
            raise RuntimeError("store is not open")
        return self._reader

    async def lineage_of(self, identifiers: list[str]) -> tuple[str, str, str] | None:
        if not identifiers:
            return None
        marks = ",".join("?" * len(identifiers))
        async with self._read.execute(
            f"SELECT lineage, warning_json, told_json, seq FROM warnings WHERE identifier IN ({marks})"
            " ORDER BY seq DESC LIMIT 1",
            identifiers,
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        told = str(row[2])
        if not told:  # what the lineage was told is this warning's own obligations, in order
            async with self._read.execute(
                f"SELECT o.action_json FROM warnings x JOIN obligations_full o ON {of_warning('o', 'x')}"
                " WHERE x.seq = ? ORDER BY o.seq",
                (row[3],),
            ) as cur:
                told = "[" + ",".join([str(r[0]) async for r in cur]) + "]"
        return (row[0], row[1], told)

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
            " o.acknowledged_by, o.closed_at, o.deadline, o.ladder, o.ack_mode, o.next_step_at, o.escalated_at,"
            " o.breached_at, o.ack_method, o.ack_reason, o.opens, o.opening, o.done_at, o.done_by, o.done_json"
            f" FROM warnings x JOIN obligations_full o ON {of_warning('o', 'x')}"
            " WHERE x.seq = ? ORDER BY o.seq",
            (w["seq"],),
        ) as cur:
            obligations = [dict(r) async for r in cur]
        async with self._read.execute(
            "SELECT n.id, n.obligation_seq, n.channel, n.state, n.attempts, n.provider_id, n.last_error, n.created_at,"
            " n.sent_at, n.delivered_at, n.purpose, n.to_department, n.to_jurisdiction FROM warnings x"
            f" JOIN obligations o ON {of_warning('o', 'x')} JOIN notifications n ON n.obligation_seq = o.seq"
            " WHERE x.seq = ? ORDER BY n.seq",
            (w["seq"],),
        ) as cur:
            notifications: dict[int, list[dict[str, Any]]] = {}
            async for r in cur:
                notifications.setdefault(r["obligation_seq"], []).append(
                    {k: r[k] for k in r.keys() if k != "obligation_seq"}  # noqa: SIM118 - a Row iterates values
                )
        for o in obligations:  # an opening not claimed yet: its notifications are pending, as its shape says
            if o["opens"]:  # below 0: its obligation closed (a lift, an Update) before any was sent
                state = "pending" if o["opens"] > 0 else "cancelled"
                notifications[o["seq"]] = unclaimed(o["id"], o["opening"], o["created_at"], state) + notifications.get(
                    o["seq"], []
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
                    "created_at": iso_time(o["created_at"]),
                    "sent_at": iso_time(o["sent_at"]),
                    "delivered_at": iso_time(o["delivered_at"]),
                    "acknowledged_at": iso_time(o["acknowledged_at"]),
                    "acknowledged_by": o["acknowledged_by"],
                    "ack_method": o["ack_method"],
                    "ack_reason": o["ack_reason"],
                    "ack_mode": o["ack_mode"],
                    "ladder": o["ladder"],
                    "deadline": iso_time(o["deadline"]),
                    "next_step_at": iso_time(o["next_step_at"]),
                    "escalated_at": iso_time(o["escalated_at"]),
                    "breached_at": iso_time(o["breached_at"]),
                    "closed_at": iso_time(o["closed_at"]),
                    "done_at": iso_time(o["done_at"]),
                    "done_by": o["done_by"],
                    "done_figures": orjson.loads(o["done_json"]) if o["done_json"] else None,
                    "notifications": [
                        {
                            **n,
                            "created_at": iso_time(n["created_at"]),
                            "sent_at": iso_time(n["sent_at"]),
                            "delivered_at": iso_time(n["delivered_at"]),
                        }
                        for n in notifications.get(o["seq"], [])
                    ],
                }
                for o in obligations
            ],
        }

    async def feed(self, jurisdiction: str, department: str, after: int, limit: int) -> list[FeedEntry]:
        rows = await self._by_epoch(
            "SELECT o.seq, o.id, w.identifier, o.state, o.action_json, w.warning_json, w.status FROM obligations_full o"
            f" JOIN warnings w ON w.seq = o.warning_seq WHERE {OF_DEPARTMENT} AND o.seq > ?",
            (jurisdiction, department, after),
            after + 1,
            limit,
        )
        return [
            FeedEntry(r[0], r[1], r[2], r[3], orjson.loads(r[4]), orjson.loads(r[5]), r[6] != "actual") for r in rows
        ]

    async def _by_epoch(
        self, sql: str, params: Sequence[Any], start: int | None, limit: int, *, newest_first: bool = False
    ) -> list[Any]:
        """The first ``limit`` rows of ``sql`` (over ``obligations_full o``, ending with its WHERE clause) in
        seq order from seq ``start`` on (``newest_first``: backwards from the newest, ``start`` None), read
        ``EPOCHS`` feed epochs at a time through the feed's index (migration 14)."""
        async with self._read.execute("SELECT MAX(seq) FROM obligations") as cur:
            row = await cur.fetchone()
        head = int(row[0]) // EPOCH if row and row[0] is not None else -1
        order = "DESC" if newest_first else ""
        epoch = head if newest_first else (start or 0) // EPOCH
        out: list[Any] = []
        while len(out) < limit and 0 <= epoch <= head:
            window = (
                range(epoch, max(epoch - EPOCHS, -1), -1)
                if newest_first
                else range(epoch, min(epoch + EPOCHS, head + 1))
            )
            marks = ",".join(str(e) for e in window)  # ints of our own making
            async with self._read.execute(
                f"{sql} AND (o.seq / {EPOCH}) IN ({marks}) ORDER BY o.seq {order} LIMIT ?",
                (*params, limit - len(out)),
            ) as cur:
                out += await cur.fetchall()
            epoch = window[-1] + (-1 if newest_first else 1)
        return out

    async def routed_after(self, after: int, limit: int) -> list[tuple[str, str, str, FeedEntry]]:
        """Every department's obligations past cursor ``after``, in order: (jurisdiction, department, lineage,
        entry)."""
        async with self._read.execute(
            "SELECT o.seq, o.id, w.identifier, o.state, o.action_json, w.warning_json, w.status, o.jurisdiction,"
            " o.department, w.lineage FROM obligations_full o JOIN warnings w ON w.seq = o.warning_seq WHERE o.seq > ?"
            " ORDER BY o.seq LIMIT ?",
            (after, limit),
        ) as cur:
            return [
                (
                    r[7],
                    r[8],
                    r[9],
                    FeedEntry(r[0], r[1], r[2], r[3], orjson.loads(r[4]), orjson.loads(r[5]), r[6] != "actual"),
                )
                async for r in cur
            ]

    async def cursor(self, name: str) -> int:
        async with self._read.execute("SELECT value FROM cursors WHERE name = ?", (name,)) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for table in ("obligations", "notifications"):
            async with self._read.execute(f"SELECT state, COUNT(*) FROM {table} GROUP BY state") as cur:
                out[table] = {state: count async for state, count in cur}
        async with self._read.execute(  # openings not claimed: pending notifications (cancelled: closed before)
            "SELECT s.opening, o.opens > 0, COUNT(*) FROM obligations o JOIN shapes s ON s.seq = o.shape_seq"
            " WHERE o.opens <> 0 GROUP BY s.opening, o.opens > 0"
        ) as cur:
            async for opening, waiting, count in cur:
                n = len(orjson.loads(opening)) * int(count) if opening else 0
                state = "pending" if waiting else "cancelled"
                if n:
                    out["notifications"][state] = out["notifications"].get(state, 0) + n
        async with self._read.execute("SELECT COUNT(*) FROM warnings") as cur:
            row = await cur.fetchone()
        out["warnings"] = {"total": int(row[0]) if row else 0}
        return out

    async def recent_sends(self, since: float, channels: list[str]) -> list[tuple[str, str, str, float]]:
        if not channels:
            return []
        marks = ", ".join("?" for _ in channels)
        async with self._read.execute(
            "SELECT n.channel, COALESCE(n.to_department, s.department), COALESCE(n.to_jurisdiction, s.jurisdiction),"
            " n.sent_at FROM notifications n LEFT JOIN obligations o ON o.seq = n.obligation_seq"
            " LEFT JOIN shapes s ON s.seq = o.shape_seq"
            f" WHERE n.sent_at >= ? AND n.channel IN ({marks}) ORDER BY n.sent_at",
            (since, *channels),
        ) as cur:
            return [(str(r[0]), str(r[1]), str(r[2]), float(r[3])) async for r in cur]

    async def next_due(self) -> float | None:
        """When the nearest ladder step is due, or earlier (a read: an idle scheduler never takes the write lock):
        the nearest of the warnings' nearest steps (migration 15), which may be one already taken or closed."""
        async with self._read.execute("SELECT MIN(next_at) FROM warnings WHERE next_at IS NOT NULL") as cur:
            row = await cur.fetchone()
        return float(row[0]) if row and row[0] is not None else None

    async def audit_rows(self, after: int = 0, limit: int = 10_000) -> list[AuditRow]:
        async with self._read.execute(
            "SELECT seq, at, kind, warning_id, obligation_id, detail, prev, hash FROM audit WHERE seq > ?"
            " ORDER BY seq LIMIT ?",
            (after, limit),
        ) as cur:
            return [(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) async for r in cur]

    async def get_obligation(self, obligation_id: str | None = None, seq: int | None = None) -> dict[str, Any] | None:
        """One obligation by id or by its short number, with its warning's id and headline."""
        if obligation_id is not None:
            found = await self._obligations(f"o.seq IN ({SEQ_OF_ID})", seq_args(obligation_id), 1)
        else:
            found = await self._obligations("o.seq = ?", (seq,), 1)
        return found[0] if found else None

    async def obligations_of(self, jurisdiction: str, department: str, limit: int) -> list[dict[str, Any]]:
        """A department's obligations in one jurisdiction, newest first, as ``get_obligation`` gives each."""
        return await self._obligations(
            "o.jurisdiction = ? AND o.department = ? ORDER BY o.seq DESC", (jurisdiction, department), limit
        )

    async def _obligations(self, where: str, args: tuple[Any, ...], limit: int) -> list[dict[str, Any]]:
        async with self._read.execute(
            "SELECT o.seq, o.id, o.department, o.jurisdiction, o.kind, o.state, o.action_json, o.deadline,"
            " o.acknowledged_at, o.acknowledged_by, o.ack_method, o.ack_mode, w.identifier, w.warning_json"
            f" FROM obligations_full o JOIN warnings w ON w.seq = o.warning_seq WHERE {where} LIMIT ?",
            (*args, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [
            {
                "seq": r["seq"],
                "id": r["id"],
                "department": r["department"],
                "jurisdiction": r["jurisdiction"],
                "kind": r["kind"],
                "state": r["state"],
                "action": orjson.loads(r["action_json"]),
                "deadline": iso_time(r["deadline"]),
                "acknowledged_at": iso_time(r["acknowledged_at"]),
                "acknowledged_by": r["acknowledged_by"],
                "ack_method": r["ack_method"],
                "ack_mode": r["ack_mode"],
                "warning_id": r["identifier"],
                "headline": orjson.loads(r["warning_json"]).get("headline"),
            }
            for r in rows
        ]

    async def canaries(self, jurisdiction: str, department: str) -> list[tuple[str, float, float | None, float | None]]:
        """The self-test recipient's latest obligations, newest first: (channel, created, sent, delivered)."""
        rows = await self._by_epoch(
            f"SELECT o.channels, o.created_at, o.sent_at, o.delivered_at FROM obligations_full o WHERE {OF_DEPARTMENT}",
            (jurisdiction, department),
            None,
            500,
            newest_first=True,
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def reports(self, since: float, until: float, jurisdictions: list[str] | None = None) -> list[dict[str, Any]]:
        """Situation reports observed in [since, until), oldest first (``jurisdictions``: only theirs), each as
        filed with ``received_at``, ``filed_by`` and ``replaced_by`` (None: it stands)."""
        where = "observed_at >= ? AND observed_at < ?"
        params: list[Any] = [since, until]
        if jurisdictions is not None:
            if not jurisdictions:
                return []
            where += f" AND jurisdiction IN ({','.join('?' * len(jurisdictions))})"
            params += jurisdictions
        async with self._read.execute(
            f"SELECT report_json, received_at, filed_by, replaced_by FROM reports WHERE {where}"
            " ORDER BY observed_at, seq",
            params,
        ) as cur:
            return [
                {**orjson.loads(r[0]), "received_at": iso_time(r[1]), "filed_by": r[2], "replaced_by": r[3]}
                async for r in cur
            ]

    async def report_feed(
        self, jurisdiction: str, department: str, after: int, limit: int, newest_first: bool = False
    ) -> list[dict[str, Any]]:
        """Reports sent to one office (its feed, DESIGN §13), in the order filed after cursor ``after`` (or the
        latest first): each as filed, with its cursor, the clauses it was sent under and ``replaced_by``."""
        async with self._read.execute(
            "SELECT r.seq, r.report_json, r.received_at, r.filed_by, r.replaced_by, k.clauses FROM report_copies k"
            " JOIN reports r ON r.seq = k.report_seq WHERE k.jurisdiction = ? AND k.department = ? AND k.report_seq > ?"
            f" ORDER BY k.report_seq{' DESC' if newest_first else ''} LIMIT ?",
            (jurisdiction, department, after, limit),
        ) as cur:
            return [
                {
                    "cursor": int(r[0]),
                    "report": {**orjson.loads(r[1]), "received_at": iso_time(r[2]), "filed_by": r[3]},
                    "replaced_by": r[4],
                    "clauses": orjson.loads(r[5]),
                }
                async for r in cur
            ]

    async def report_deliveries(self, report_id: str) -> tuple[str, list[dict[str, Any]]] | None:
        """(the reporting jurisdiction, who the report was sent to under which clauses, with each notification's
        state); None: no such report."""
        async with self._read.execute("SELECT seq, jurisdiction FROM reports WHERE id = ?", (report_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        sent: dict[tuple[str, str], list[dict[str, Any]]] = {}
        async with self._read.execute(
            "SELECT to_jurisdiction, to_department, id, channel, state, attempts, sent_at, delivered_at, last_error"
            " FROM notifications WHERE report_seq = ? ORDER BY seq",
            (row[0],),
        ) as cur:
            async for r in cur:
                sent.setdefault((r[0], r[1]), []).append(
                    {
                        "id": r[2],
                        "channel": r[3],
                        "state": r[4],
                        "attempts": r[5],
                        "sent_at": iso_time(r[6]),
                        "delivered_at": iso_time(r[7]),
                        "last_error": r[8],
                    }
                )
        async with self._read.execute(
            "SELECT jurisdiction, department, clauses FROM report_copies WHERE report_seq = ?"
            " ORDER BY jurisdiction, department",
            (row[0],),
        ) as cur:
            copies = [
                {
                    "jurisdiction": r[0],
                    "department": r[1],
                    "clauses": orjson.loads(r[2]),
                    "notifications": sent.get((r[0], r[1]), []),
                }
                async for r in cur
            ]
        return str(row[1]), copies

    async def principal(self, principal_id: str) -> tuple[Principal, str] | None:
        """An active principal and its secret's digest."""
        async with self._read.execute(
            "SELECT id, name, role, jurisdiction, department, signing_key_ref, secret_sha256 FROM principals"
            " WHERE id = ? AND revoked_at IS NULL",
            (principal_id,),
        ) as cur:
            r = await cur.fetchone()
        return (Principal(r[0], r[1], r[2], r[3], r[4], r[5]), str(r[6])) if r else None

    async def principals(self) -> list[dict[str, Any]]:
        async with self._read.execute(
            "SELECT id, name, role, jurisdiction, department, signing_key_ref, created_at, revoked_at"
            " FROM principals ORDER BY created_at"
        ) as cur:
            return [
                {
                    "id": r[0],
                    "name": r[1],
                    "role": r[2],
                    "jurisdiction": r[3],
                    "department": r[4],
                    "signing_key": r[5],
                    "created_at": iso_time(r[6]),
                    "revoked_at": iso_time(r[7]),
                }
                async for r in cur
            ]

    async def version(self) -> int:
        """A number that grows with every change worth showing (the audit log's length)."""
        async with self._read.execute("SELECT COALESCE(MAX(seq), 0) FROM audit") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def board(self, since: float, limit: int = 200) -> list[dict[str, Any]]:
        """Warnings with an obligation still open, or issued since ``since``, newest first, with their
        obligations (the self-test recipient's canaries left out)."""
        async with self._read.execute(
            "SELECT w.seq, w.identifier, w.warning_json, w.status, w.lineage FROM warnings w"
            " WHERE w.sender != 'warnroute-canary' AND (w.received_at >= ? OR w.next_at IS NOT NULL AND EXISTS"
            f" (SELECT 1 FROM obligations o WHERE {of_warning()} AND o.next_step_at IS NOT NULL))"
            " ORDER BY w.seq DESC LIMIT ?",
            (iso_time(since), limit),
        ) as cur:
            warnings = await cur.fetchall()
        if not warnings:
            return []
        seqs = [w[0] for w in warnings]
        marks = ",".join("?" * len(seqs))
        by_warning: dict[int, list[dict[str, Any]]] = {}
        async with self._read.execute(
            "SELECT o.warning_seq, o.id, o.department, o.jurisdiction, o.kind, o.clause, o.mandatory, o.state,"
            " o.deadline, o.sent_at, o.delivered_at, o.acknowledged_at, o.acknowledged_by, o.ack_method, o.ack_reason,"
            " o.ack_mode, o.escalated_at,"
            " o.breached_at, o.start_at, o.task, o.seq, o.done_at, o.done_json FROM warnings x"
            f" JOIN obligations_full o ON {of_warning('o', 'x')} WHERE x.seq IN ({marks}) ORDER BY o.seq",
            seqs,
        ) as cur:
            rows = await cur.fetchall()
        held = await self._held([r[20] for r in rows])
        for r in rows:
            by_warning.setdefault(r[0], []).append(
                {
                    "id": r[1],
                    "department": r[2],
                    "jurisdiction": r[3],
                    "kind": r[4],
                    "clause": r[5],
                    "mandatory": bool(r[6]),
                    "state": r[7],
                    "deadline": r[8],
                    "sent_at": r[9],
                    "delivered_at": r[10],
                    "acknowledged_at": r[11],
                    "acknowledged_by": r[12],
                    "ack_method": r[13],
                    "ack_reason": r[14],
                    "ack_mode": r[15],
                    "escalated_at": r[16],
                    "breached_at": r[17],
                    "start_at": r[18],
                    "task": r[19],
                    "held": held.get(r[20]),
                    "done_at": r[21],
                    "done_figures": orjson.loads(r[22]) if r[22] else None,
                }
            )
        return [
            {
                "identifier": w[1],
                "warning": orjson.loads(w[2]),
                "drill": w[3] != "actual",
                "lineage": w[4],
                "obligations": by_warning.get(w[0], []),
            }
            for w in warnings
        ]

    async def period(self, since: float, until: float) -> list[dict[str, Any]]:
        """Real warnings received in [since, until) (no drills, no canaries), oldest first, each with its
        obligations' place, kind, state and times, and a task's figures when done."""
        async with self._read.execute(
            "SELECT seq, identifier, warning_json, lineage FROM warnings WHERE status = 'actual'"
            " AND sender != 'warnroute-canary' AND received_at >= ? AND received_at < ? ORDER BY seq",
            (iso_time(since), iso_time(until)),
        ) as cur:
            warnings = await cur.fetchall()
        by_warning: dict[int, list[dict[str, Any]]] = {}
        seqs = [w[0] for w in warnings]
        async for r in rows_in(
            self._read,
            "SELECT o.warning_seq, o.id, o.jurisdiction, o.department, o.kind, o.state, o.ack_mode, o.deadline,"
            " o.acknowledged_at, o.delivered_at, o.done_at, o.done_json FROM warnings x"
            f" JOIN obligations_full o ON {of_warning('o', 'x')} WHERE x.seq IN ({{keys}}) ORDER BY o.seq",
            seqs,
        ):
            by_warning.setdefault(r[0], []).append(
                {
                    "id": r[1],
                    "jurisdiction": r[2],
                    "department": r[3],
                    "kind": r[4],
                    "state": r[5],
                    "ack_mode": r[6],
                    "deadline": r[7],
                    "acknowledged_at": r[8],
                    "delivered_at": r[9],
                    "done_at": r[10],
                    "done_figures": orjson.loads(r[11]) if r[11] else None,
                }
            )
        return [
            {
                "identifier": w[1],
                "warning": orjson.loads(w[2]),
                "lineage": w[3],
                "obligations": by_warning.get(w[0], []),
            }
            for w in warnings
        ]

    async def _held(self, obligation_seqs: list[int]) -> dict[int, str]:
        """Where one of these obligations' notifications waits for a provider's window (its limit, or
        warnroute's count of it), or moved on because the window reopens after the deadline: obligation seq
        → the reason recorded (the latest)."""
        out: dict[int, str] = {}
        async for seq, error in rows_in(
            self._read,
            "SELECT obligation_seq, last_error FROM notifications WHERE state IN ('pending', 'failed')"
            " AND (last_error LIKE 'waiting for%' OR last_error LIKE '%over the%')"
            " AND obligation_seq IN ({keys}) ORDER BY seq",
            obligation_seqs,
        ):
            out[int(seq)] = str(error)
        return out

    async def history(self, query: str, limit: int = 100) -> list[dict[str, Any]]:
        """Warnings whose identifier, sender or headline contains ``query``, newest first."""
        escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        async with self._read.execute(
            "SELECT w.identifier, w.warning_json, w.status, w.received_at,"
            f" (SELECT COUNT(*) FROM obligations o WHERE {of_warning()}),"
            f" (SELECT COUNT(*) FROM obligations o WHERE {of_warning()} AND o.breached_at IS NOT NULL)"
            " FROM warnings w WHERE w.sender != 'warnroute-canary' AND (w.identifier LIKE ? ESCAPE '\\'"
            " OR w.sender LIKE ? ESCAPE '\\' OR w.warning_json LIKE ? ESCAPE '\\') ORDER BY w.seq DESC LIMIT ?",
            (like, like, like, limit),
        ) as cur:
            return [
                {
                    "identifier": r[0],
                    "warning": orjson.loads(r[1]),
                    "drill": r[2] != "actual",
                    "received_at": r[3],
                    "obligations": r[4],
                    "breached": r[5],
                }
                async for r in cur
            ]

    async def ack_latencies(self, limit: int = 5000) -> dict[str, list[float]]:
        """Seconds from issue to acknowledgement per department, over the latest acknowledged obligations."""
        out: dict[str, list[float]] = {}
        async with self._read.execute(
            "SELECT department, acknowledged_at - start_at FROM obligations_full WHERE acknowledged_at IS NOT NULL"
            " AND start_at IS NOT NULL AND department != 'canary' ORDER BY seq DESC LIMIT ?",
            (limit,),
        ) as cur:
            async for dept, seconds in cur:
                out.setdefault(dept, []).append(max(float(seconds), 0.0))
        return out

    async def events_of(self, warning_id: str) -> list[dict[str, Any]]:
        async with self._read.execute(
            "SELECT seq, at, kind, obligation_id, detail FROM audit WHERE warning_id = ? ORDER BY seq", (warning_id,)
        ) as cur:
            return [
                {"seq": r[0], "at": r[1], "kind": r[2], "obligation_id": r[3], "detail": orjson.loads(r[4])}
                async for r in cur
            ]

    async def deadlines(self) -> tuple[float | None, float | None]:
        """(nearest deadline, nearest step) among obligations with something still scheduled."""
        async with self._read.execute(
            f"SELECT MIN(o.deadline), MIN(o.next_step_at) FROM warnings w CROSS JOIN obligations o"
            f" WHERE w.next_at IS NOT NULL AND {of_warning()} AND o.next_step_at IS NOT NULL"
        ) as cur:
            row = await cur.fetchone()
        return (row[0], row[1]) if row else (None, None)


def iso_time(epoch: float | None) -> str | None:
    """Epoch seconds as ISO 8601 in UTC (None stays None)."""
    return datetime.fromtimestamp(epoch, UTC).isoformat() if epoch is not None else None


def unclaimed(obligation_id: str, opening: str, created_at: float, state: str) -> list[dict[str, Any]]:
    """The notifications of an obligation's opening not claimed (so not written), read as their rows would be."""
    return [
        {
            "id": obligation_id + s[0],
            "channel": s[1],
            "state": state,
            "attempts": 0,
            "provider_id": None,
            "last_error": None,
            "created_at": created_at,
            "sent_at": None,
            "delivered_at": None,
            "purpose": s[2],
            "to_department": s[3] if len(s) > 3 else None,
            "to_jurisdiction": s[4] if len(s) > 4 else None,
        }
        for s in (orjson.loads(opening) if opening else [])
    ]
