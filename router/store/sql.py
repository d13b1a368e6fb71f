"""What the store writes, over SQL shared by SQLite (sqlite.py) and PostgreSQL (postgres.py).

Ingest (a warning, its decision, obligations and notifications in one transaction), the outbox
(claims, attempt outcomes, receipts), acknowledgements, escalation steps and principals, each a job of
the writer (:mod:`router.store.writer`). Obligation states move only as
:func:`router.domain.obligation.transition` says; the store applies its result and decides nothing.
The SQL is the common dialect of both (``?`` placeholders; the PostgreSQL connection translates).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import orjson

from router.access.roles import Principal
from router.domain.obligation import ACK_MODES, CLOSABLE_STATES, OPEN_STATES, Event, OpenObligation, transition
from router.store.base import (
    SHAPE_OF,
    AckResult,
    ClaimedNotification,
    Drafted,
    IngestOutcome,
    IngestRecord,
    NotificationOutcome,
    NotificationRow,
    ObligationRow,
    Pattern,
    ReportOutcome,
    ReportRecord,
    StepResult,
    action_text,
)
from router.store.reads import Db, fetch, many, rows_in
from router.store.schema import OBLIGATION_ID, SEQ_OF_ID, SHAPE_COLUMNS, of_warning, seq_args, shape_digest
from router.store.writer import AuditEvent, Writer

_CLOSABLE = ",".join(f"'{s}'" for s in CLOSABLE_STATES)


def _compile_advance(event: Event) -> str:
    """One UPDATE that applies ``transition(state, event, ack_mode)`` for every open state and ack mode
    (the domain's table written out as SQL ``CASE``s, so the store decides nothing of its own)."""
    states = " ".join(f"WHEN '{s}' THEN '{transition(s, event).state}'" for s in OPEN_STATES)
    stopping = ",".join(f"'{m}'" for m in ACK_MODES if transition("pending", event, m).stops_ladder)
    mode = "(SELECT ack_mode FROM shapes WHERE shapes.seq = obligations.shape_seq)"
    stops = f"CASE WHEN {mode} IN ({stopping}) THEN NULL ELSE next_step_at END" if stopping else "next_step_at"
    recorded = ",".join(f"'{s}'" for s in OPEN_STATES if transition(s, event).recorded)
    delivered = ", delivered_at = COALESCE(delivered_at, ?)" if event is Event.DELIVERED else ""
    return (
        f"UPDATE obligations SET sent_at = COALESCE(sent_at, ?){delivered},"
        f" state = CASE state {states} ELSE state END, next_step_at = {stops}"
        " WHERE seq = (SELECT obligation_seq FROM notifications WHERE id = ? AND purpose = 'action')"
        f" AND state IN ({recorded})"
    )


ADVANCE = {event: _compile_advance(event) for event in (Event.SENT, Event.DELIVERED)}

INSERT_WARNINGS = (
    "INSERT INTO warnings (seq, identifier, sender, sent, content_hash, lineage, received_at, product, hazard,"
    " severity, jurisdiction, status, msg_type, reference_unknown, warning_json, decision_json, told_json, okey,"
    " created, start, due, first_obligation, last_obligation, opens, next_at)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
WARNING_OPENS = 23  # where a warning's row has its most urgent opening (migration 15), before its nearest step
# An obligation's row names only the columns it has a value for: binding a NULL (or a bool) costs sqlite3 a
# search for an adapter, several times what binding a number or a text costs. Its id, when it was written and
# (mostly) its deadline's text and its clock's start are its warning's (migration 13): the row leaves them out.
# ``ingest_rows`` makes a row of ``SHARED_ROW`` values; one whose id (a record without the warning's prefix:
# the canary's), deadline or start is its own has those three after them.
INSERT_OBLIGATIONS = (
    "INSERT INTO obligations (seq, warning_seq, shape_seq, deadline, next_step, next_step_at, opens, ordinal, state)"
    " VALUES (?,?,?,?,?,?,?,?,'pending')"
)
INSERT_OBLIGATIONS_OWN = (
    "INSERT INTO obligations (seq, warning_seq, shape_seq, deadline, next_step, next_step_at, opens, ordinal, id,"
    " due_at, start_at, state) VALUES (?,?,?,?,?,?,?,?,?,?,?,'pending')"
)
SHARED_ROW = 8  # the values of a row whose id, deadline and start are its warning's
OPENS = 6  # where a row from ``ingest_rows`` has whether (and how urgently) its ladder opens
INSERT_SHAPES = (
    f"INSERT INTO shapes (seq, sha, {', '.join(SHAPE_COLUMNS)}) VALUES ({','.join('?' * (len(SHAPE_COLUMNS) + 2))})"
)
# The warnings whose obligations' openings ``_open`` looks at (migration 15: enough to hold the ``limit`` most
# urgent, since each has at least one), and what it leaves them with once it has claimed what it took.
OPENING = "SELECT seq, first_obligation, last_obligation FROM warnings WHERE opens > 0 ORDER BY opens, seq LIMIT ?"
OPENED = (
    "UPDATE warnings SET opens = COALESCE((SELECT MIN(o.opens) FROM obligations o WHERE"
    f" {of_warning('o', 'warnings')} AND o.opens > 0), 0) WHERE seq IN (SELECT seq FROM ({OPENING}) x)"
)
# The warnings whose obligations' steps ``fire_due`` looks at (migration 15), and what it leaves them with.
STEPPING = (
    "SELECT seq, first_obligation, last_obligation FROM warnings WHERE next_at IS NOT NULL AND next_at <= ?"
    " ORDER BY next_at, seq LIMIT ?"
)
STEPPED = (
    "UPDATE warnings SET next_at = (SELECT MIN(o.next_step_at) FROM obligations o WHERE"
    f" {of_warning('o', 'warnings')}) WHERE seq IN (SELECT seq FROM ({STEPPING}) x)"
)
UNOPENED = "opens = CASE WHEN opens > 0 THEN -1 ELSE opens END"  # closed before its opening was claimed
LINEAGE = f"seq IN (SELECT o.seq FROM warnings w JOIN obligations o ON {of_warning()} WHERE w.lineage = ?)"
INSERT_NOTIFICATIONS = (
    "INSERT INTO notifications (seq, id, obligation_seq, channel, state, next_attempt_at, created_at,"
    " priority, purpose, to_department, to_jurisdiction) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)
# An opening's notifications, pending: an obligation's own send (its purpose "action", to the obligation's
# recipient), and one to someone else (an escalation's copy).
INSERT_OPENED = (
    "INSERT INTO notifications (seq, id, obligation_seq, channel, next_attempt_at, created_at, priority, state,"
    " purpose) VALUES (?,?,?,?,?,?,?,'pending','action')"
)
INSERT_OPENED_TO = (
    "INSERT INTO notifications (seq, id, obligation_seq, channel, next_attempt_at, created_at, priority, purpose,"
    " to_department, to_jurisdiction, state) VALUES (?,?,?,?,?,?,?,?,?,?,'pending')"
)

INSERT_HANDED = (  # a §4.3 report's opening, leased to this process's dispatcher in its warning's transaction
    "INSERT INTO notifications (seq, id, obligation_seq, channel, state, next_attempt_at, created_at,"
    " priority, purpose, to_department, to_jurisdiction, lease_until) VALUES (?,?,?,?,'sending',?,?,?,?,?,?,?)"
)
SHAPE_DIGESTS = "shape digests"  # a pattern's memo of its shapes' digests and values (``SqlStore._shapes``)
HANDED_KINDS = frozenset({"direct_report", "phone_report"})  # DESIGN §4 rule 1: nothing of ours may delay them

EARLY_RECEIPT = (  # a receipt before the send outcome that names its message: kept until that outcome lands
    "INSERT INTO early_receipts (channel, provider_id, delivered, at, confirmed) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (channel, provider_id) DO UPDATE SET delivered = excluded.delivered,"
    " at = excluded.at, confirmed = excluded.confirmed"
)
RECEIPT_DELIVERED = (
    "UPDATE notifications SET state = 'delivered', delivered_at = COALESCE(delivered_at, ?)"
    " WHERE id = ? AND state IN ('sent', 'sending', 'delivered')"
)
RECEIPT_FAILED = (
    "UPDATE notifications SET state = 'failed', last_error = 'provider reported non-delivery'"
    " WHERE id = ? AND state = 'sent'"
)
STEP_NOW = (  # a message not delivered, or a channel failed for good: the obligation's next step is due now
    "UPDATE obligations SET next_step_at = MIN(next_step_at, ?) WHERE next_step_at IS NOT NULL AND seq ="
    " (SELECT obligation_seq FROM notifications WHERE id = ? AND purpose = 'action')"
)
STEP_NOW_WARNING = (  # ... and its warning's nearest step is no later (migration 15); after ``STEP_NOW``
    "UPDATE warnings SET next_at = CASE WHEN next_at <= ? THEN next_at ELSE ? END WHERE seq ="
    " (SELECT o.warning_seq FROM notifications n JOIN obligations o ON o.seq = n.obligation_seq"
    " WHERE n.id = ? AND n.purpose = 'action' AND o.next_step_at IS NOT NULL)"
)


class Receipt(NamedTuple):
    channel: str
    provider_id: str
    delivered: bool
    at: float
    confirmed: bool


class SqlStore(Writer):
    """``router.store.base.Store`` over SQL. ``open()`` before use, ``close()`` after."""

    # What the dispatcher writes while warnings arrive (and gives back): with a writer process, written there
    # in the order asked (``Writer``).
    ELSEWHERE = frozenset({"_claim", "_record_outcomes", "_receipt_batch", "_release", "_unlease"})

    # -- ingest --------------------------------------------------------------------------------

    async def ingest(self, record: IngestRecord) -> IngestOutcome:
        outcome: IngestOutcome = await self._submit("ingest", record)
        return outcome

    async def _ingest_batch(self, db: Db, records: list[IngestRecord]) -> list[IngestOutcome]:
        now = self.clock()
        marks = ",".join("?" * len(records))
        existing: dict[tuple[str, str], tuple[int, str, str]] = {}
        for seq, sender, identifier, sent, content_hash in await fetch(
            db,
            f"SELECT seq, sender, identifier, sent, content_hash FROM warnings WHERE identifier IN ({marks})",
            [r.identifier for r in records],
        ):
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
        shapes = await self._shapes(db, [r for _, r in new])
        warning_rows, obligation_rows, notification_rows, cursors = ingest_rows(new, now, self._ids, shapes)
        handed = self._hand(new, warning_rows, obligation_rows, now) if self._hand_lease is not None else []
        await db.executemany(INSERT_WARNINGS, warning_rows)
        await many(db, INSERT_OBLIGATIONS, [row for row in obligation_rows if len(row) == SHARED_ROW])
        await many(db, INSERT_OBLIGATIONS_OWN, [row for row in obligation_rows if len(row) > SHARED_ROW])
        await many(db, INSERT_NOTIFICATIONS, notification_rows)
        if handed:
            await db.executemany(INSERT_HANDED, [row for row, _ in handed])
        cancelled: dict[str, int] = {}
        events: list[AuditEvent] = []
        for seq, r in new:
            detail: dict[str, Any] = {
                "lineage": r.lineage,
                "status": r.status,
                "msg_type": r.msg_type,
                "obligations": len(r.obligations),
                "notifications": r.opened,
                "reference_unknown": r.reference_unknown,
            }
            received = {"sender": r.sender, "sent": r.sent, "content_sha256": r.content_hash}
            events += [(now, "received", r.identifier, None, received), (now, "routed", r.identifier, None, detail)]
            if r.lifts_lineage is not None:
                cancelled[r.identifier] = await self._close_lineage(db, r.lifts_lineage, seq, now)
                lifted = {"lineage": r.lineage, "cancelled": cancelled[r.identifier]}
                events.append((now, "lifted", r.identifier, None, lifted))
            if r.updates_lineage is not None and r.obligations:
                superseded = await self._supersede(db, r, seq, now)
                if superseded:
                    events.append((now, "superseded", r.identifier, None, {"obligations": superseded}))
        await self._audit(db, events)
        if handed and (cancelled or any(e[1] == "superseded" for e in events)):
            # A lift or an Update later in this batch may have closed what was handed: only what is still leased goes.
            by_id = {c.id: c for _, c in handed}
            async for (nid,) in rows_in(
                db, "SELECT id FROM notifications WHERE state = 'sending' AND id IN ({keys})", list(by_id)
            ):
                self._handing.append(by_id[nid])
        else:
            self._handing += [c for _, c in handed]
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

    def _hand(
        self,
        new: list[tuple[int, IngestRecord]],
        warning_rows: list[tuple[Any, ...]],
        obligation_rows: list[tuple[Any, ...]],
        now: float,
    ) -> list[tuple[tuple[Any, ...], ClaimedNotification]]:
        """The opening notifications of the new §4.3 direct and phone reports, leased to this process's
        dispatcher (``hand_over``): their rows (``INSERT_HANDED``) and what the dispatcher sends. Their
        obligations' rows in ``obligation_rows`` are marked opened, and their warnings' in ``warning_rows`` keep
        the most urgent opening left."""
        assert self._hand_lease is not None
        lease = now + self._hand_lease
        out: list[tuple[tuple[Any, ...], ClaimedNotification]] = []
        index = 0
        for w, (_, r) in enumerate(new):
            warning: dict[str, Any] | None = None
            first, index = index, index + len(r.obligations)
            obligations = r.obligations
            if isinstance(obligations, Drafted):  # the pattern knows which: only those are built
                chosen = [(i, obligations.row(i)) for i in laid_rows(obligations.pattern).handed]
            else:
                chosen = [(i, o) for i, o in enumerate(obligations) if o.opens and o.opening and o.kind in HANDED_KINDS]
            for i, o in chosen:
                row = obligation_rows[first + i]
                obligation_rows[first + i] = (*row[:OPENS], 0, *row[OPENS + 1 :])
                warning = warning if warning is not None else orjson.loads(r.warning_json)
                action = orjson.loads(action_text(o))
                sends = opening_sends(o.opening)
                for (suffix, channel, purpose, *to), seq in zip(
                    sends, self._ids("notifications", len(sends)), strict=True
                ):
                    nid = o.id + suffix
                    out.append(
                        (
                            (seq, nid, row[0], channel, now, now, 0 if o.mandatory else 1, purpose, *to, lease),
                            ClaimedNotification(
                                nid,
                                o.id,
                                channel,
                                0,
                                to[0] or o.department,
                                to[1] or o.jurisdiction,
                                action,
                                warning,
                                r.status != "actual",
                                now,
                                purpose,
                                (o.department, o.jurisdiction),
                                o.deadline,
                                row[0],
                            ),
                        )
                    )
            if warning is not None:
                row = warning_rows[w]
                opens = min((c[OPENS] for c in obligation_rows[first:index] if c[OPENS]), default=0)
                warning_rows[w] = (*row[:WARNING_OPENS], opens, *row[WARNING_OPENS + 1 :])
        return out

    async def _shapes(self, db: Db, records: list[IngestRecord]) -> list[int]:
        """Each obligation's shape (what obligations of one classification share), in order: found by its
        content digest, or written now. A changed text is another digest: old obligations keep theirs. The
        shapes of a pattern's obligations (``Drafted``) are worked out once per pattern, and once all of them
        are known committed, kept for its next warnings."""
        memo, laid = self._digests, self._pattern_shapes
        if len(memo) > 100_000:
            memo.clear()
        if len(laid) > 1_000:  # as many as the writer's process holds (``router.store.process.PATTERNS_MAX``)
            laid.clear()
        digests: list[tuple[str, tuple[Any, ...]]] = []
        parts: list[list[int] | tuple[int, int]] = []  # per record: its shapes' seqs, or where its digests are
        patterns: list[Pattern | None] = []
        for r in records:
            obligations = r.obligations
            drafted = obligations if isinstance(obligations, Drafted) else None
            pattern = drafted.pattern if drafted is not None else None
            patterns.append(pattern)
            if drafted is not None and pattern is not None:
                known_seqs = laid.get(id(pattern))
                if known_seqs is not None and known_seqs[0] is pattern:
                    parts.append(known_seqs[1])
                    continue
                of_pattern: list[tuple[str, tuple[Any, ...]]] | None = pattern.memo.get(SHAPE_DIGESTS)
                if of_pattern is None:
                    of_pattern = pattern.memo[SHAPE_DIGESTS] = [
                        self._digest(shape, drafted.row(i)) for i, shape in enumerate(pattern.shapes)
                    ]
                parts.append((len(digests), len(digests) + len(of_pattern)))
                digests += of_pattern
                continue
            first = len(digests)
            for o in obligations:
                digests.append(self._digest(shape_values(o) if o.action_json else SHAPE_OF(o), o))
            parts.append((first, len(digests)))
        unique = dict(digests)
        committed = self._shape_seqs
        known: dict[str, int] = {d: committed[d] for d in unique if d in committed}
        keys = [d for d in unique if d not in known]
        async for sha, seq in rows_in(db, "SELECT sha, seq FROM shapes WHERE sha IN ({keys})", keys):
            known[str(sha)] = int(seq)
        missing = [d for d in keys if d not in known]
        if missing:
            rows = []
            for seq, digest in zip(self._ids("shapes", len(missing)), missing, strict=True):
                known[digest] = seq
                rows.append((seq, digest, *unique[digest]))
            await db.executemany(INSERT_SHAPES, rows)
        self._shapes_seen.update(known)  # remembered once this transaction commits (a shape is never removed)
        out: list[int] = []
        for part, pattern in zip(parts, patterns, strict=True):
            if isinstance(part, list):
                out += part
                continue
            seqs = [known[d] for d, _ in digests[part[0] : part[1]]]
            if pattern is not None and all(d in committed for d, _ in digests[part[0] : part[1]]):
                laid[id(pattern)] = (pattern, seqs)  # every one committed before: they stay what they are
            out += seqs
        return out

    def _digest(self, key: tuple[Any, ...], o: ObligationRow) -> tuple[str, tuple[Any, ...]]:
        """The digest and values of ``o``'s shape, remembered by ``key`` (its shape's fields, as they come)."""
        found = self._digests.get(key)
        if found is None:
            values = shape_values(o)
            found = self._digests[key] = (shape_digest(values), values)
        return found

    async def _close_lineage(self, db: Db, lineage: str, lift_seq: int, now: float) -> int:
        """A lift closes the lineage's open obligations as cancelled, and their unsent notifications."""
        cur = await db.execute(
            f"UPDATE obligations SET state = 'cancelled', closed_at = ?, next_step_at = NULL, {UNOPENED}"
            f" WHERE {LINEAGE}"
            f" AND warning_seq < ? AND state IN ({_CLOSABLE})",
            (now, lineage, lift_seq),
        )
        count = int(cur.rowcount)
        await db.execute(
            "UPDATE notifications SET state = 'cancelled' WHERE state IN ('pending', 'sending') AND obligation_seq IN"
            f" (SELECT seq FROM obligations WHERE {LINEAGE} AND state = 'cancelled')",
            (lineage,),
        )
        return count

    async def _supersede(self, db: Db, r: IngestRecord, seq: int, now: float) -> list[str]:
        """Open obligations of the lineage that the Update gives again (same department, place, kind and
        task) are superseded by the new ones: their pending steps and unsent notifications stop."""
        keys = [f"{o.department}|{o.jurisdiction}|{o.kind}|{o.task or ''}" for o in r.obligations]
        marks = ",".join("?" * len(keys))
        async with db.execute(
            f"UPDATE obligations SET state = 'superseded', closed_at = ?, next_step_at = NULL, {UNOPENED}"
            f" WHERE {LINEAGE}"
            f" AND warning_seq < ? AND state IN ({_CLOSABLE}) AND shape_seq IN (SELECT seq FROM shapes WHERE"
            f" (department || '|' || jurisdiction || '|' || kind || '|' || COALESCE(task, '')) IN ({marks}))"
            " RETURNING seq",
            (now, r.updates_lineage, seq, *keys),
        ) as cur:
            seqs = [int(row[0]) for row in await cur.fetchall()]
        await db.executemany(
            "UPDATE notifications SET state = 'cancelled' WHERE obligation_seq = ? AND state IN ('pending', 'sending')",
            [(s,) for s in seqs],
        )
        return [str(row[0]) async for row in rows_in(db, "SELECT id FROM obligations_full WHERE seq IN ({keys})", seqs)]

    async def _obligations_of(self, db: Db, warning_seq: int) -> tuple[ObligationRow, ...]:
        async with db.execute(
            "SELECT o.id, o.department, o.jurisdiction, o.kind, o.task, o.clause, o.mandatory, o.due_at, o.action_json"
            f" FROM warnings x JOIN obligations_full o ON {of_warning('o', 'x')} WHERE x.seq = ? ORDER BY o.seq",
            (warning_seq,),
        ) as cur:
            return tuple([ObligationRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8]) async for r in cur])

    # -- the outbox ----------------------------------------------------------------------------

    async def claim_notifications(self, now: float, limit: int, lease_seconds: float) -> list[ClaimedNotification]:
        # Every claim leases until a time of its own, so that what one claim leased can be told apart (``_unlease``).
        self._leased_until = until = max(now + lease_seconds, math.nextafter(self._leased_until, math.inf))
        job = functools.partial(self._claim, now=now, limit=limit, until=until)
        claimed: tuple[list[ClaimedNotification], list[Any]] = await self._submit("job", job)
        reports, rows = claimed
        # Every notification of one warning carries the same warning: decoded once, shared (read only).
        warnings: dict[str, dict[str, Any]] = {}
        return reports + [
            ClaimedNotification(
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                orjson.loads(r[7]),
                warnings.get(r[8]) or warnings.setdefault(r[8], orjson.loads(r[8])),
                r[9] != "actual",
                r[10],
                r[11],
                (r[12], r[13]),
                r[14] or 0.0,
                r[15],
            )
            for r in rows
        ]

    async def _claim(self, db: Db, now: float, limit: int, until: float) -> tuple[list[ClaimedNotification], list[Any]]:
        """Lease what is due at ``now`` until ``until`` (``claim_notifications``): the reports' notifications, and
        the rows the others become once the write lock is let go (each warning's text once: rows of one warning
        share it)."""
        if self.shared:  # a process that died holding a lease: its notifications are due again
            await db.execute(
                "UPDATE notifications SET state = 'pending', lease_until = NULL"
                " WHERE state = 'sending' AND lease_until < ?",
                (now,),
            )
        await self._open(db, limit)
        rows = await fetch(
            db,
            "SELECT n.seq, n.id, o.id, n.channel, n.attempts, COALESCE(n.to_department, o.department),"
            " COALESCE(n.to_jurisdiction, o.jurisdiction), o.action_json, w.warning_json, w.status,"
            " n.next_attempt_at, n.purpose, o.department, o.jurisdiction, o.deadline, o.seq FROM notifications n"
            " JOIN obligations_full o ON o.seq = n.obligation_seq"
            " JOIN warnings w ON w.seq = o.warning_seq"
            " WHERE n.state = 'pending' AND n.next_attempt_at <= ?"
            " ORDER BY n.priority, n.next_attempt_at, n.seq LIMIT ?",
            (now, limit),
        )
        reports = await self._claim_reports(db, now, max(limit // 4, 1))
        await many(
            db,
            "UPDATE notifications SET state = 'sending', lease_until = ? WHERE seq = ?",
            [(until, r[0]) for r in rows] + [(until, seq) for seq, _ in reports],
        )
        texts: dict[str, str] = {}
        rows = [(*r[:8], texts.setdefault(r[8], r[8]), *r[9:]) for r in rows]
        return [c for _, c in reports], rows

    async def _claim_reports(self, db: Db, now: float, limit: int) -> list[tuple[int, ClaimedNotification]]:
        """The reports' notifications due (DESIGN §13): each with its report and the clauses it is sent under."""
        rows = await fetch(
            db,
            "SELECT n.seq, n.id, r.id, n.channel, n.attempts, n.to_department, n.to_jurisdiction, r.report_json,"
            " n.next_attempt_at, n.priority, k.clauses FROM notifications n"
            " JOIN reports r ON r.seq = n.report_seq"
            " JOIN report_copies k ON k.report_seq = n.report_seq AND k.jurisdiction = n.to_jurisdiction"
            " AND k.department = n.to_department"
            " WHERE n.report_seq IS NOT NULL AND n.state = 'pending' AND n.next_attempt_at <= ?"
            " ORDER BY n.priority, n.next_attempt_at, n.seq LIMIT ?",
            (now, limit),
        )
        out = []
        for r in rows:
            report = orjson.loads(r[7])
            clauses = orjson.loads(r[10])
            action = {"kind": "report_copy", "clause": clauses[0], "clauses": clauses, "urgent": int(r[9]) == 0}
            about = (str(report["department"]), str(report["jurisdiction"]))
            claimed = ClaimedNotification(
                r[1], r[2], r[3], r[4], r[5], r[6], action, {}, False, r[8], "report", about, report=report
            )
            out.append((int(r[0]), claimed))
        return out

    async def _open(self, db: Db, limit: int) -> None:
        """Write the notifications of up to ``limit`` obligations whose ladders opened (mandatory ones first, then
        in the order they came): each its shape's opening, due since the obligation was created. The claim
        that follows in the same transaction takes them in its order, so nothing is claimed twice or lost. They
        are found through their warnings (migration 15), which then keep the most urgent opening left."""
        rows = await fetch(
            db,
            f"SELECT o.seq, {OBLIGATION_ID}, o.shape_seq, COALESCE(o.created_at, w.created), o.opens FROM ({OPENING}) x"
            f" CROSS JOIN obligations o CROSS JOIN warnings w WHERE {of_warning('o', 'x')} AND w.seq = x.seq"
            " AND o.opens > 0 ORDER BY o.opens, o.seq LIMIT ?",
            (limit, limit),
        )
        if rows:
            await self._write_openings(db, rows)
        await db.execute(OPENED, (limit,))  # what is left (none, where they closed before they were claimed)

    async def _write_openings(self, db: Db, rows: list[Any]) -> None:
        """The notifications of the openings ``_open`` found: (seq, id, shape, created, opens) each."""
        openings = await self._openings(db, {int(r[2]) for r in rows})
        sends = [
            (int(r[0]), str(r[1]) + suffix, channel, float(r[3]), int(r[4]) - 1, purpose, department, jurisdiction)
            for r in rows
            for suffix, channel, purpose, department, jurisdiction in openings[int(r[2])]
        ]
        ids = self._ids("notifications", len(sends))
        pending = [
            (seq, nid, o, channel, at, at, priority, purpose, department, jurisdiction)
            for seq, (o, nid, channel, at, priority, purpose, department, jurisdiction) in zip(ids, sends, strict=True)
        ]
        # An obligation's own send names no recipient (its obligation's is it): no NULLs bound (``INSERT_OBLIGATIONS``).
        await many(db, INSERT_OPENED + " ON CONFLICT DO NOTHING", [n[:7] for n in pending if n[7] == "action"])
        await many(db, INSERT_OPENED_TO + " ON CONFLICT DO NOTHING", [n for n in pending if n[7] != "action"])
        await db.executemany("UPDATE obligations SET opens = 0 WHERE seq = ?", [(r[0],) for r in rows])

    async def _openings(
        self, db: Db, shapes: set[int]
    ) -> dict[int, list[tuple[str, str, str, str | None, str | None]]]:
        """What obligations of these shapes open with: (id suffix, channel, purpose, department, jurisdiction)."""
        memo = self._opening_of
        missing = [s for s in shapes if s not in memo]
        async for seq, opening in rows_in(db, "SELECT seq, opening FROM shapes WHERE seq IN ({keys})", missing):
            memo[int(seq)] = opening_sends(opening)
        if len(memo) > 100_000:
            memo.clear()  # a shape never changes: forgetting costs a read
        return {s: memo.get(s, []) for s in shapes}

    async def record_outcomes(self, outcomes: list[NotificationOutcome]) -> None:
        """Apply a batch of attempt outcomes in one transaction, a few ``executemany`` calls in all."""
        await self._submit("job", functools.partial(self._record_outcomes, outcomes=outcomes))

    async def _record_outcomes(self, db: Db, outcomes: list[NotificationOutcome]) -> None:
        retry = [(o.next_attempt_at, o.error, o.id) for o in outcomes if o.state == "retry"]
        wait = [(o.next_attempt_at, o.error, o.id) for o in outcomes if o.state == "wait"]
        failed = [o for o in outcomes if o.state == "failed"]
        done = [o for o in outcomes if o.state in ("sent", "delivered")]
        await many(
            db,
            "UPDATE notifications SET state = 'pending', attempts = attempts + 1, next_attempt_at = ?,"
            " lease_until = NULL, last_error = ? WHERE id = ? AND state = 'sending'",
            retry,
        )
        await many(  # waiting for a provider's window is not an attempt
            db,
            "UPDATE notifications SET state = 'pending', next_attempt_at = ?, lease_until = NULL, last_error = ?"
            " WHERE id = ? AND state = 'sending'",
            wait,
        )
        await many(
            db,
            "UPDATE notifications SET state = 'failed', attempts = attempts + ?, lease_until = NULL,"
            " last_error = ? WHERE id = ? AND state = 'sending'",
            [(int(o.attempted), o.error, o.id) for o in failed],
        )
        # A channel that failed for good: the ladder's next step fires now rather than at its time.
        await self._step_now(db, [(o.at, o.id) for o in failed])
        await many(  # no NULL bound for a send not yet known delivered (``INSERT_OBLIGATIONS``)
            db,
            "UPDATE notifications SET state = ?, attempts = attempts + 1, lease_until = NULL,"
            " provider_id = ?, sent_at = ?,"
            " delivered_at = CASE WHEN ? = 'delivered' THEN COALESCE(delivered_at, ?) ELSE delivered_at END,"
            " last_error = NULL WHERE id = ? AND state = 'sending'",
            [(o.state, o.provider_id, o.at, o.state, o.at, o.id) for o in done],
        )
        await self._advance(db, [(o.id, o.state, o.at) for o in done])
        events: list[AuditEvent] = []
        if done or failed:
            ids = [o.id for o in (*done, *failed) if o.owner is None]
            owners = await self._owners(db, ids) if ids else {}
            owners.update({o.id: o.owner for o in (*done, *failed) if o.owner is not None})
            for o in (*done, *failed):
                warning_id, obligation_id, detail = _audit_owner(o.id, owners.get(o.id))
                if o.state == "failed":
                    detail["error"] = o.error
                elif o.provider_id:
                    detail["provider_id"] = o.provider_id
                kind = {"sent": "sent", "delivered": "delivered", "failed": "send_failed"}[o.state]
                events.append((o.at, kind, warning_id, obligation_id, detail))
        await self._audit(db, events)
        sent: dict[str, list[str]] = {}  # provider id → the notifications its message carried
        for o in done:
            if o.state == "sent" and o.provider_id is not None:
                sent.setdefault(o.provider_id, []).append(o.id)
        if sent and (await fetch(db, "SELECT COUNT(*) FROM early_receipts"))[0][0]:
            for provider_id, notification_ids in sent.items():
                await self._apply_early_receipt(db, notification_ids, provider_id)

    async def _step_now(self, db: Db, failed: list[tuple[float, str]]) -> None:
        """(when, notification id) of sends that failed: their obligations' next steps are due then."""
        await many(db, STEP_NOW, failed)
        await many(db, STEP_NOW_WARNING, [(at, at, nid) for at, nid in failed])

    async def _owners(self, db: Db, notification_ids: list[str]) -> dict[str, tuple[str, str, str, str]]:
        """notification id → (warning id, obligation id, channel, purpose)."""
        out: dict[str, tuple[str, str, str, str]] = {}
        async for nid, wid, oid, channel, purpose in rows_in(
            db,
            f"SELECT n.id, w.identifier, {OBLIGATION_ID}, n.channel, n.purpose FROM notifications n"
            " JOIN obligations o ON o.seq = n.obligation_seq JOIN warnings w ON w.seq = o.warning_seq"
            " WHERE n.id IN ({keys})",
            notification_ids,
        ):
            out[nid] = (wid, oid, channel, purpose)
        async for nid, rid, channel in rows_in(
            db,
            "SELECT n.id, r.id, n.channel FROM notifications n JOIN reports r ON r.seq = n.report_seq"
            " WHERE n.id IN ({keys})",
            [n for n in notification_ids if n not in out],
        ):
            out[nid] = ("", rid, channel, "report")
        return out

    async def _advance(self, db: Db, updates: list[tuple[str, str, float]]) -> None:
        """Record sent/delivered (notification id, state, at) on the obligations the notifications serve
        (never on a duty-office alert), one statement each: ``ADVANCE`` is compiled from
        :func:`router.domain.obligation.transition`, which decides each new state and whether the ladder
        stops; each state keeps its own timestamp."""
        # In the order given: the first timestamp of each state is the one kept (COALESCE).
        for state, run in itertools.groupby(updates, key=lambda u: u[1]):
            event = Event(state)
            rows = [(at, at, nid) if event is Event.DELIVERED else (at, nid) for nid, _, at in run]
            await db.executemany(ADVANCE[event], rows)

    async def _apply_early_receipt(self, db: Db, notification_ids: list[str], provider_id: str) -> None:
        """A receipt that came before the outcome of the message it names: for every notification carried."""
        async with db.execute(
            "DELETE FROM early_receipts WHERE provider_id = ? AND channel ="
            " (SELECT channel FROM notifications WHERE id = ?) RETURNING delivered, at, confirmed",
            (provider_id, notification_ids[0]),
        ) as cur:
            row = await cur.fetchone()
        if row is not None:
            for notification_id in notification_ids:
                await self._receipt(db, notification_id, bool(row[0]), float(row[1]), bool(row[2]))

    async def record_receipt(
        self, channel: str, provider_id: str, delivered: bool, at: float, confirmed: bool = False
    ) -> str | None:
        """Apply a provider's receipt to every notification its message carried; one that beats the send
        outcome is kept until that outcome lands. Receipts waiting together are written together
        (``_receipt_batch``): a handful of statements for all of them, not several for each."""
        issued: str | None = await self._submit("receipt", Receipt(channel, provider_id, delivered, at, confirmed))
        return issued

    async def _receipt_batch(self, db: Db, receipts: list[Receipt]) -> list[Any]:
        """Receipts in one transaction, set by set; what each warning was issued at (the receipt's answer).
        The same as applying them one by one in order (``_one_receipt``), which is what a batch does when
        it names one message twice or carries a confirmed call (whose acknowledgement is audited between
        the receipts' own events), or when the set-based write fails (each then alone in a savepoint)."""
        keys = [(r.channel, r.provider_id) for r in receipts]
        if len(set(keys)) < len(keys) or any(r.confirmed and r.delivered for r in receipts):
            return await self._receipts_one_by_one(db, receipts)
        saved, head = dict(self._next), self._head
        await db.execute("SAVEPOINT receipts")
        try:
            out = await self._receipts_together(db, receipts)
        except Exception:
            await db.execute("ROLLBACK TO SAVEPOINT receipts")
            self._next, self._head = saved, head
            await db.execute("RELEASE SAVEPOINT receipts")
            return await self._receipts_one_by_one(db, receipts)
        await db.execute("RELEASE SAVEPOINT receipts")
        return out

    async def _receipts_one_by_one(self, db: Db, receipts: list[Receipt]) -> list[Any]:
        return await self._jobs(db, [functools.partial(self._one_receipt, receipt=r) for r in receipts])

    async def _receipts_together(self, db: Db, receipts: list[Receipt]) -> list[Any]:
        wanted = {(r.channel, r.provider_id) for r in receipts}
        carried: dict[tuple[str, str], list[tuple[str, Any]]] = {}
        for named in sorted({r.channel for r in receipts}):  # by channel: the (channel, provider id) index finds them
            async for nid, channel, provider_id, sent in rows_in(
                db,
                "SELECT n.id, n.channel, n.provider_id, w.sent FROM notifications n"
                " LEFT JOIN obligations o ON o.seq = n.obligation_seq LEFT JOIN warnings w ON w.seq = o.warning_seq"
                " WHERE n.channel = ? AND n.provider_id IN ({keys}) ORDER BY n.seq",
                sorted({r.provider_id for r in receipts if r.channel == named}),
                before=(named,),
            ):
                if (channel, provider_id) in wanted:
                    carried.setdefault((channel, provider_id), []).append((nid, sent))
        early = [r for r in receipts if (r.channel, r.provider_id) not in carried]
        if early:
            await db.executemany(
                EARLY_RECEIPT, [(r.channel, r.provider_id, int(r.delivered), r.at, int(r.confirmed)) for r in early]
            )
        owners = await self._owners(db, [nid for rows in carried.values() for nid, _ in rows])
        delivered: list[tuple[float, str]] = []
        failed: list[tuple[str]] = []
        failed_steps: list[tuple[float, str]] = []
        events: list[AuditEvent] = []
        for r in receipts:
            for nid, _ in carried.get((r.channel, r.provider_id), ()):
                warning_id, obligation_id, detail = _audit_owner(nid, owners.get(nid))
                detail["by"] = "provider receipt"
                if r.delivered:
                    delivered.append((r.at, nid))
                    events.append((r.at, "delivered", warning_id, obligation_id, detail))
                else:
                    failed.append((nid,))
                    failed_steps.append((r.at, nid))
                    events.append(
                        (r.at, "send_failed", warning_id, obligation_id, {**detail, "error": "not delivered"})
                    )
        if delivered:
            await db.executemany(RECEIPT_DELIVERED, delivered)
            await self._advance(db, [(nid, "delivered", at) for at, nid in delivered])
        if failed:
            await db.executemany(RECEIPT_FAILED, failed)
            await self._step_now(db, failed_steps)
        await self._audit(db, events)
        out: list[Any] = []
        for r in receipts:
            rows = carried.get((r.channel, r.provider_id))
            out.append(None if not rows or rows[0][1] is None else str(rows[0][1]))
        return out

    async def _one_receipt(self, db: Db, receipt: Receipt) -> str | None:
        async with db.execute(
            "SELECT n.id, w.sent FROM notifications n LEFT JOIN obligations o ON o.seq = n.obligation_seq"
            " LEFT JOIN warnings w ON w.seq = o.warning_seq WHERE n.channel = ? AND n.provider_id = ?"
            " ORDER BY n.seq",
            (receipt.channel, receipt.provider_id),
        ) as cur:
            rows = await cur.fetchall()
        if not rows:
            await db.execute(
                EARLY_RECEIPT,
                (receipt.channel, receipt.provider_id, int(receipt.delivered), receipt.at, int(receipt.confirmed)),
            )
            return None
        for row in rows:
            await self._receipt(db, row[0], receipt.delivered, receipt.at, receipt.confirmed)
        return None if rows[0][1] is None else str(rows[0][1])

    async def _receipt(self, db: Db, notification_id: str, delivered: bool, at: float, confirmed: bool = False) -> None:
        owner = (await self._owners(db, [notification_id])).get(notification_id)
        warning_id, obligation_id, detail = _audit_owner(notification_id, owner)
        purpose = owner[3] if owner is not None else ""
        detail["by"] = "provider receipt"
        if delivered:
            await db.execute(RECEIPT_DELIVERED, (at, notification_id))
            await self._advance(db, [(notification_id, "delivered", at)])
            await self._audit(db, [(at, "delivered", warning_id, obligation_id, detail)])
            if confirmed and obligation_id is not None and purpose == "action":
                # A person answered and pressed the confirm key: the phone report is done.
                await self._ack(db, obligation_id, "voice_keypress", "callee", at, None)
        else:
            await db.execute(RECEIPT_FAILED, (notification_id,))
            await self._step_now(db, [(at, notification_id)])
            await self._audit(
                db, [(at, "send_failed", warning_id, obligation_id, {**detail, "error": "not delivered"})]
            )

    # -- acknowledgements ----------------------------------------------------------------------

    async def acknowledge(
        self,
        obligation_id: str,
        method: str,
        by: str,
        at: float,
        reason: str | None = None,
        principal: str | None = None,
    ) -> AckResult:
        """Acknowledge an obligation; repeating it changes nothing and says so (idempotent)."""

        async def job(db: Db) -> AckResult:
            return await self._ack(db, obligation_id, method, by, at, reason, principal)

        result: AckResult = await self._submit("job", job)
        return result

    async def _ack(
        self,
        db: Db,
        obligation_id: str,
        method: str,
        by: str,
        at: float,
        reason: str | None,
        principal: str | None = None,
    ) -> AckResult:
        async with db.execute(
            "SELECT o.state, s.ack_mode, o.acknowledged_at, o.acknowledged_by, o.ack_method, w.identifier, o.seq"
            " FROM obligations o JOIN shapes s ON s.seq = o.shape_seq JOIN warnings w ON w.seq = o.warning_seq"
            f" WHERE o.seq IN ({SEQ_OF_ID})",
            seq_args(obligation_id),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return AckResult("not_found", obligation_id, problem=f"no obligation {obligation_id!r}")
        state, mode, acked_at, acked_by, acked_method, warning_id, seq = row
        move = transition(state, Event.ACKNOWLEDGED, mode, method)
        if move.refused == "already":
            return AckResult("already", obligation_id, state, acked_at, acked_by, acked_method)
        if move.refused:
            return AckResult(move.refused, obligation_id, state, problem=move.problem)
        await db.execute(
            "UPDATE obligations SET state = ?, acknowledged_at = ?, acknowledged_by = ?, ack_method = ?,"
            " ack_reason = ?, next_step_at = NULL WHERE seq = ?",
            (move.state, at, by, method, reason, seq),
        )
        detail: dict[str, Any] = {"by": by, "method": method, "was": state}
        if reason:
            detail["reason"] = reason
        if principal:
            detail["principal"] = principal
        await self._audit(db, [(at, "acknowledged", warning_id, obligation_id, detail)])
        return AckResult("acknowledged", obligation_id, move.state, at, by, method)

    async def report_done(
        self,
        obligation_id: str,
        by: str,
        figures: dict[str, float],
        at: float,
        reason: str | None = None,
        principal: str | None = None,
    ) -> AckResult:
        """Record that what an obligation asks was done, with its figures (it is acknowledged too, if it was
        not); repeating it changes nothing and says so."""

        async def job(db: Db) -> AckResult:
            async with db.execute(
                "SELECT o.state, w.identifier, o.deadline, o.done_at, o.done_by, o.seq FROM obligations o"
                f" JOIN warnings w ON w.seq = o.warning_seq WHERE o.seq IN ({SEQ_OF_ID})",
                seq_args(obligation_id),
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                return AckResult("not_found", obligation_id, problem=f"no obligation {obligation_id!r}")
            state, warning_id, deadline, done_at, done_by, seq = row
            move = transition(state, Event.DONE)
            if move.refused == "already":
                return AckResult("already", obligation_id, state, done_at, done_by, "done")
            if move.refused:
                return AckResult(move.refused, obligation_id, state, problem=move.problem)
            await db.execute(
                "UPDATE obligations SET state = ?, done_at = ?, done_by = ?, done_json = ?, next_step_at = NULL,"
                " acknowledged_at = COALESCE(acknowledged_at, ?), acknowledged_by = COALESCE(acknowledged_by, ?),"
                " ack_method = COALESCE(ack_method, 'done'), ack_reason = COALESCE(ack_reason, ?) WHERE seq = ?",
                (move.state, at, by, orjson.dumps(figures).decode(), at, by, reason, seq),
            )
            detail: dict[str, Any] = {"by": by, "figures": figures, "was": state}
            if deadline is not None and at > deadline:
                detail["late_seconds"] = round(at - deadline)
            if reason:
                detail["reason"] = reason
            if principal:
                detail["principal"] = principal
            await self._audit(db, [(at, "done", warning_id, obligation_id, detail)])
            return AckResult("acknowledged", obligation_id, move.state, at, by, "done")

        result: AckResult = await self._submit("job", job)
        return result

    # -- the escalation scheduler's store side ---------------------------------------------------

    async def fire_due(
        self, now: float, limit: int, decide: Callable[[OpenObligation], StepResult]
    ) -> list[StepResult]:
        """Due ladder steps: select, decide (pure), and apply with the step advance in one transaction.

        The step index advances in the same transaction that writes the step's notifications and
        events, so a crash before the commit leaves the step due (it fires after the restart) and a
        crash after it leaves it done (it never fires twice). The due steps are found through their
        warnings' nearest steps (migration 15), which are then set to what is left.
        """

        async def job(db: Db) -> list[StepResult]:
            async with db.execute(
                f"SELECT o.seq, {OBLIGATION_ID}, s.department, s.jurisdiction, s.kind, s.channels, s.ladder,"
                " o.next_step, COALESCE(o.start_at, w.start), o.deadline, w.identifier, o.state"
                f" FROM ({STEPPING}) x CROSS JOIN obligations o CROSS JOIN warnings w CROSS JOIN shapes s"
                f" WHERE {of_warning('o', 'x')} AND w.seq = x.seq AND s.seq = o.shape_seq"
                " AND o.next_step_at IS NOT NULL AND o.next_step_at <= ? ORDER BY o.next_step_at LIMIT ?",
                (now, limit, now, limit),
            ) as cur:
                rows = await cur.fetchall()
            results = [
                decide(
                    OpenObligation(
                        r[0],
                        r[1],
                        r[2],
                        r[3],
                        r[4],
                        tuple(c for c in r[5].split(",") if c),
                        r[6] or "",
                        r[7] or 0,
                        r[8],
                        r[9],
                        r[10],
                    )
                )
                for r in rows
            ]
            state_of = {r[0]: (str(r[11]), float(r[9])) for r in rows}
            warning_of = {r[0]: (r[10], r[1]) for r in rows}
            sends: list[tuple[NotificationRow, int]] = []
            events: list[AuditEvent] = []
            for res in results:
                sends += [(n, res.obligation_seq) for n in res.sends]
                wid, oid = warning_of[res.obligation_seq]
                events += [(now, kind, wid, oid, detail) for kind, detail in res.events]
            new_ids = self._ids("notifications", len(sends))
            await db.executemany(
                INSERT_NOTIFICATIONS + " ON CONFLICT DO NOTHING",
                [notification_row(seq, n, o, now) for seq, (n, o) in zip(new_ids, sends, strict=True)],
            )
            await db.executemany(
                "UPDATE obligations SET next_step = ?, next_step_at = ?,"
                " escalated_at = CASE WHEN ? THEN COALESCE(escalated_at, ?) ELSE escalated_at END,"
                " breached_at = CASE WHEN ? THEN ? ELSE breached_at END, state = ? WHERE seq = ?",
                [_step_params(r, *state_of[r.obligation_seq], now) for r in results],
            )
            await db.execute(STEPPED, (now, limit))
            await self._audit(db, events)
            return results

        results: list[StepResult] = await self._submit("job", job)
        return results

    async def set_cursor(self, name: str, value: int) -> None:
        async def job(db: Db) -> None:
            await db.execute(
                "INSERT INTO cursors (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

        await self._submit("job", job)

    async def record_event(self, kind: str, detail: dict[str, Any], at: float) -> None:
        async def job(db: Db) -> None:
            await self._audit(db, [(at, kind, None, None, detail)])

        await self._submit("job", job)

    # -- situation reports -----------------------------------------------------------------------

    async def file_report(self, record: ReportRecord, at: float) -> ReportOutcome:
        """File a situation report with its audit event in one transaction; the report it replaces (the same
        office and kind, not replaced yet) is marked replaced in it too. Nothing is written when refused."""

        async def job(db: Db) -> ReportOutcome:
            async with db.execute("SELECT content_hash FROM reports WHERE id = ?", (record.id,)) as cur:
                row = await cur.fetchone()
            if row is not None:
                if row[0] == record.content_hash:
                    return ReportOutcome("duplicate", record.id)
                return ReportOutcome(
                    "conflict", record.id, "id", f"report {record.id!r} was already filed, differently"
                )
            if record.replaces is not None:
                async with db.execute(
                    "SELECT jurisdiction, department, kind, replaced_by FROM reports WHERE id = ?", (record.replaces,)
                ) as cur:
                    old = await cur.fetchone()
                if old is None:
                    return ReportOutcome("not_found", record.id, "replaces", f"no report {record.replaces!r}")
                if (old[0], old[1], old[2]) != (record.jurisdiction, record.department, record.kind):
                    return ReportOutcome(
                        "conflict", record.id, "replaces", f"report {record.replaces!r} is another office's or kind's"
                    )
                if old[3] is not None:
                    return ReportOutcome(
                        "conflict", record.id, "replaces", f"report {record.replaces!r} was replaced by {old[3]!r}"
                    )
                await db.execute("UPDATE reports SET replaced_by = ? WHERE id = ?", (record.id, record.replaces))
            seq = self._ids("reports", 1)[0]
            await db.execute(
                "INSERT INTO reports (seq, id, kind, jurisdiction, department, observed_at, received_at, filed_by,"
                " content_hash, replaces, report_json) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    seq,
                    record.id,
                    record.kind,
                    record.jurisdiction,
                    record.department,
                    record.observed_at,
                    at,
                    record.filed_by,
                    record.content_hash,
                    record.replaces,
                    record.report_json,
                ),
            )
            await db.executemany(
                "INSERT INTO report_copies (report_seq, jurisdiction, department, clauses) VALUES (?,?,?,?)",
                [(seq, *copy) for copy in record.copies],
            )
            ids = self._ids("notifications", len(record.sends))
            await db.executemany(
                "INSERT INTO notifications (seq, id, report_seq, channel, state, next_attempt_at, created_at, priority,"
                " purpose, to_department, to_jurisdiction) VALUES (?,?,?,?,'pending',?,?,?,'report',?,?)",
                [
                    (n, s.id, seq, s.channel, at, at, s.priority, s.department, s.jurisdiction)
                    for n, s in zip(ids, record.sends, strict=True)
                ],
            )
            await self._audit(db, [(at, "report_filed", None, None, record.audit)])
            return ReportOutcome("created", record.id)

        outcome: ReportOutcome = await self._submit("job", job)
        return outcome

    # -- principals ------------------------------------------------------------------------------

    async def add_principal(self, principal: Principal, secret_sha256: str, at: float) -> None:
        async def job(db: Db) -> None:
            await db.execute(
                "INSERT INTO principals (id, name, role, jurisdiction, department, secret_sha256, signing_key_ref,"
                " created_at) VALUES (?,?,?,?,?,?,?,?)",
                (
                    principal.id,
                    principal.name,
                    principal.role,
                    principal.jurisdiction,
                    principal.department,
                    secret_sha256,
                    principal.signing_key_ref,
                    at,
                ),
            )
            await self._audit(db, [(at, "token_created", None, None, principal.public())])

        await self._submit("job", job)

    async def revoke_principal(self, principal_id: str, at: float) -> bool:
        async def job(db: Db) -> bool:
            cur = await db.execute(
                "UPDATE principals SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (at, principal_id)
            )
            if cur.rowcount:
                await self._audit(db, [(at, "token_revoked", None, None, {"id": principal_id})])
            return bool(cur.rowcount)

        done: bool = await self._submit("job", job)
        return done


def _audit_owner(
    notification_id: str, owner: tuple[str, str, str, str] | None
) -> tuple[str | None, str | None, dict[str, Any]]:
    """(warning id, obligation id, detail) of an audit event about a notification: a report's names its report."""
    if owner is None:
        return None, None, {"notification": notification_id, "channel": ""}
    warning_id, obligation_id, channel, purpose = owner
    detail: dict[str, Any] = {"notification": notification_id, "channel": channel}
    if purpose != "action":
        detail["purpose"] = purpose
    if purpose == "report":
        detail["report"] = obligation_id
        return None, None, detail
    return warning_id, obligation_id, detail


def _step_params(r: StepResult, state: str, deadline: float, now: float) -> tuple[Any, ...]:
    """The row update of one fired step: the domain's transition says the state (breach before escalation)."""
    if r.breached:
        state = transition(state, Event.BREACHED).state
    elif r.escalated:
        state = transition(state, Event.ESCALATED).state
    return (r.next_step, r.next_step_at, r.escalated, now, r.breached, min(deadline, now), state, r.obligation_seq)


def ingest_rows(
    new: list[tuple[int, IngestRecord]], now: float, ids: Callable[[str, int], range], shapes: list[int]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]], dict[str, tuple[int, ...]]]:
    """The rows of the warnings, obligations and notifications that ``new`` (warning seq, record) writes,
    with ids from ``ids(table, n)`` and each obligation's shape from ``shapes`` (in order), and each
    warning's obligation seqs (its feed cursors)."""
    shape = iter(shapes)
    warning_rows: list[tuple[Any, ...]] = []
    obligation_rows: list[tuple[Any, ...]] = []
    notification_rows: list[tuple[Any, ...]] = []
    cursors: dict[str, tuple[int, ...]] = {}
    for seq, r in new:
        obligations = r.obligations
        okey = r.okey if obligations else None
        seqs = ids("obligations", len(obligations))  # a warning's obligations: one run of seqs (migration 14)
        cursors[r.identifier] = tuple(seqs)
        if isinstance(obligations, Drafted) and obligations:  # laid out by its pattern: rows without building them
            warning_rows.append(
                _warning_row(seq, r, okey, now, *_drafted_rows(obligations, seq, seqs, shape, obligation_rows))
            )
            continue
        start, due = shared_by(obligations)
        # An obligation's id is its warning's prefix and its ordinal (where the record gives a prefix); when it
        # was written is its warning's. The warning keeps its most urgent opening and its nearest step.
        opens, next_at = 0, None
        obligation_seq = dict(zip((o.id for o in obligations), seqs, strict=True))
        for ordinal, o in enumerate(obligations):
            rank = (1 if o.mandatory else 2) if o.opens else 0
            step = o.next_step_at
            row = (obligation_seq[o.id], seq, next(shape), o.deadline, o.next_step, step, rank, ordinal)
            if okey is not None and o.due_at == due and o.start_at == start:
                obligation_rows.append(row)
            else:
                obligation_rows.append((*row, None if okey is not None else o.id, o.due_at, o.start_at))
            if rank and (not opens or rank < opens):
                opens = rank
            if step is not None and (next_at is None or step < next_at):
                next_at = step
        warning_rows.append(_warning_row(seq, r, okey, now, start, due, seqs, opens, next_at))
        for n, n_seq in zip(r.notifications, ids("notifications", len(r.notifications)), strict=True):
            notification_rows.append(notification_row(n_seq, n, obligation_seq[n.obligation_id], now))
    return warning_rows, obligation_rows, notification_rows, cursors


class LaidRows(NamedTuple):
    """What the store works out once per ``Pattern``: per obligation (its deadline's index, its next step's
    offset, that step, how urgently its ladder opens: 1 mandatory, 2 not, 0 not at all), how many obligations
    each deadline has (in order of first use), the most urgent opening of all, and which obligations are §4.3
    reports whose openings ingest hands to the dispatcher."""

    each: tuple[tuple[int, float | None, int | None, int], ...]
    counts: tuple[tuple[int, int], ...]
    opens: int
    handed: tuple[int, ...]


LAID_ROWS = "laid rows"  # a pattern's memo of its ``LaidRows``


def laid_rows(p: Pattern) -> LaidRows:
    found: LaidRows | None = p.memo.get(LAID_ROWS)
    if found is None:
        ranks = [(1 if shape[5] else 2) if opens else 0 for shape, opens in zip(p.shapes, p.opens, strict=True)]
        found = p.memo[LAID_ROWS] = LaidRows(
            tuple(zip(p.timing, p.offsets, p.steps, ranks, strict=True)),
            tuple(Counter(p.timing).items()),
            min((rank for rank in ranks if rank), default=0),
            tuple(
                i
                for i, (shape, opens) in enumerate(zip(p.shapes, p.opens, strict=True))
                if opens and shape[10] and shape[2] in HANDED_KINDS
            ),
        )
    return found


def _drafted_rows(
    d: Drafted, seq: int, seqs: range, shape: Iterator[int], obligation_rows: list[tuple[Any, ...]]
) -> tuple[float, str, range, int, float]:
    """``ingest_rows`` for a pattern's obligations (``d``, not empty): their rows appended to
    ``obligation_rows``; the start and most common deadline their warning keeps, their most urgent opening and
    their nearest step (as ``shared_by`` and the row by row loop work them out)."""
    laid, start, deadlines = laid_rows(d.pattern), d.start, d.deadlines
    tally: dict[str, int] = {}
    for t, n in laid.counts:
        tally[deadlines[t][1]] = tally.get(deadlines[t][1], 0) + n
    due = max(tally, key=tally.__getitem__)  # the first of the most common, as ``Counter.most_common`` says
    for ordinal, ((t, offset, step, rank), o_seq) in enumerate(zip(laid.each, seqs, strict=True)):
        deadline, due_at = deadlines[t]
        row = (o_seq, seq, next(shape), deadline, step, deadline if offset is None else start + offset, rank, ordinal)
        obligation_rows.append(row if due_at == due else (*row, None, due_at, start))
    return start, due, seqs, laid.opens, d.soonest()


def _warning_row(
    seq: int,
    r: IngestRecord,
    okey: str | None,
    now: float,
    start: float | None,
    due: str | None,
    seqs: range,
    opens: int,
    next_at: float | None,
) -> tuple[Any, ...]:
    """A new warning's row, in ``INSERT_WARNINGS``'s order."""
    return (
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
        okey,
        now,
        start,
        due,
        seqs[0] if seqs else None,
        seqs[-1] if seqs else None,
        opens,
        next_at,
    )


def opening_sends(opening: str) -> list[tuple[str, str, str, str | None, str | None]]:
    """A shape's opening (``router.ingest.service.opening_json``): (id suffix, channel, purpose, department,
    jurisdiction) of each send, the last two None for the obligation's own."""
    return [
        (s[0], s[1], s[2], s[3] if len(s) > 3 else None, s[4] if len(s) > 4 else None)
        for s in (orjson.loads(opening) if opening else [])
    ]


def shared_by(obligations: Sequence[ObligationRow]) -> tuple[float | None, str | None]:
    """What a warning's obligations share, kept once on the warning (migration 13) beside their ids' prefix:
    their clocks' start and their most common deadline."""
    if not obligations:
        return None, None
    return obligations[0].start_at, Counter(o.due_at for o in obligations).most_common(1)[0][0]


def notification_row(seq: int, n: NotificationRow, obligation_seq: int, now: float) -> tuple[Any, ...]:
    """A pending notification's row, in ``INSERT_NOTIFICATIONS``'s order."""
    return (
        seq,
        n.id,
        obligation_seq,
        n.channel,
        "pending",
        n.next_attempt_at,
        now,
        n.priority,
        n.purpose,
        n.to_department,
        n.to_jurisdiction,
    )


def shape_values(o: ObligationRow) -> tuple[Any, ...]:
    """An obligation's shape, in ``SHAPE_COLUMNS`` order; its head is its action's JSON before the deadline."""
    if o.action_json:
        tail = f'"{o.due_at}"}}'
        if not o.action_json.endswith(tail) or (o.head and len(o.head) + len(tail) != len(o.action_json)):
            raise ValueError(f"obligation {o.id}: its action does not end with its deadline")
        head = o.head or o.action_json[: len(o.action_json) - len(tail)]
    elif o.head:
        head = o.head
    else:
        raise ValueError(f"obligation {o.id}: it has no action")
    channels = ",".join(o.channels)
    return (
        o.department,
        o.jurisdiction,
        o.kind,
        o.task,
        o.clause,
        int(o.mandatory),
        channels,
        o.ladder,
        o.ack_mode,
        head,
        o.opening,
    )
