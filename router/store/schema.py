"""Versioned schema migrations for the SQLite store: each step runs once, in order, in a transaction."""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

SHAPE_COLUMNS = (
    "department",
    "jurisdiction",
    "kind",
    "task",
    "clause",
    "mandatory",
    "channels",
    "ladder",
    "ack_mode",
    "head",
    "opening",
)
"""What obligations of one classification share, stored once in ``shapes`` (migration 8; ``opening``,
migration 9: what the ladder sends when an obligation of this shape opens on time, as JSON
``[[id suffix, channel, purpose, department, jurisdiction], ...]``, the last two only for an alert)."""


def shape_digest(values: tuple[Any, ...]) -> str:
    """The content key of a shape: SHA-256 over its values in ``SHAPE_COLUMNS`` order (128 bits, hex)."""
    text = "\x1f".join("" if v is None else str(int(v)) if isinstance(v, bool) else str(v) for v in values)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


OBLIGATION_ID = (
    "COALESCE(o.id, w.okey || '.' || CASE WHEN o.ordinal < 1000 THEN substr(CAST(1000 + o.ordinal AS TEXT), 2)"
    " ELSE CAST(o.ordinal AS TEXT) END)"
)
"""An obligation's id in SQL over ``obligations o`` joined to its ``warnings w`` (migration 13): its own, or its
warning's prefix and its ordinal as Python's ``f"{okey}.{ordinal:03d}"`` writes it."""

EPOCH = 1024
"""Obligations per feed epoch (migration 14): the feed's index is by epoch first (``seq / EPOCH``), so a commit
dirties the few pages of the newest epoch's entries instead of one page per department's run of entries."""


def of_warning(o: str = "o", w: str = "w") -> str:
    """SQL: the obligation ``o`` is one of warning ``w``'s (migration 14). A warning's obligations are written
    together, so their seqs are the run ``first_obligation`` to ``last_obligation``: the rows are found by
    their primary key, and ``warning_seq`` is checked too."""
    return f"{o}.seq BETWEEN {w}.first_obligation AND {w}.last_obligation AND +{o}.warning_seq = {w}.seq"


SEQ_OF_ID = (
    "SELECT seq FROM obligations WHERE id = ? UNION ALL SELECT o.seq FROM warnings w"
    f" JOIN obligations o ON {of_warning()} WHERE w.okey = ? AND o.ordinal = ?"
)
"""The seq of the obligation with an id: its own (written before migration 13), or its warning's prefix and
its ordinal (``seq_args(id)`` gives the arguments)."""


def split_id(obligation_id: str) -> tuple[str, int] | None:
    """(prefix, ordinal) of an id written as ``f"{prefix}.{ordinal:03d}"``, or None."""
    okey, _, digits = obligation_id.rpartition(".")
    if not okey or not (digits.isascii() and digits.isdigit()) or f"{int(digits):03d}" != digits:
        return None
    return okey, int(digits)


def seq_args(obligation_id: str) -> tuple[str, str, int]:
    """The arguments of ``SEQ_OF_ID`` for an id: itself, then its prefix and ordinal (none: "", -1)."""
    return (obligation_id, *(split_id(obligation_id) or ("", -1)))


class ByDatabase(NamedTuple):
    """A migration whose words differ between the databases (SQLite cannot alter a column's constraints)."""

    sqlite: str
    postgres: str


_OBLIGATION_COLUMNS_12 = (
    "seq, id, warning_seq, due_at, state, created_at, sent_at, delivered_at, acknowledged_at, closed_at,"
    " acknowledged_by, start_at, deadline, next_step, next_step_at, escalated_at, breached_at, ack_method,"
    " ack_reason, shape_seq, opens, done_at, done_by, done_json"
)


def _obligations_table(name: str, *, unique_id: bool) -> str:
    """The obligations table as migrations 13 and 14 rebuild it on SQLite (which cannot alter a column's
    constraints): a row's own id, where it has one, unique in the column (13) or through a partial index (14)."""
    return f"""
    CREATE TABLE {name} (
        seq INTEGER PRIMARY KEY,
        id TEXT{" UNIQUE" if unique_id else ""},
        warning_seq INTEGER NOT NULL REFERENCES warnings (seq),
        due_at TEXT,
        state TEXT NOT NULL,
        created_at REAL,
        sent_at REAL,
        delivered_at REAL,
        acknowledged_at REAL,
        closed_at REAL,
        acknowledged_by TEXT,
        start_at REAL,
        deadline REAL,
        next_step INTEGER,
        next_step_at REAL,
        escalated_at REAL,
        breached_at REAL,
        ack_method TEXT,
        ack_reason TEXT,
        shape_seq INTEGER,
        opens INTEGER NOT NULL DEFAULT 0,
        done_at REAL,
        done_by TEXT,
        done_json TEXT,
        ordinal INTEGER
    );"""


_MIGRATION_13_SHARED = """
    ALTER TABLE warnings ADD COLUMN okey TEXT;
    ALTER TABLE warnings ADD COLUMN created REAL;
    ALTER TABLE warnings ADD COLUMN start REAL;
    ALTER TABLE warnings ADD COLUMN due TEXT;
    CREATE UNIQUE INDEX warnings_okey ON warnings (okey) WHERE okey IS NOT NULL;
    DROP VIEW obligations_full;
"""
_OBLIGATIONS_FULL_13 = f"""
    CREATE VIEW obligations_full AS SELECT o.seq, {OBLIGATION_ID} AS id, o.warning_seq,
        COALESCE(o.due_at, w.due) AS due_at, o.state, COALESCE(o.created_at, w.created) AS created_at, o.sent_at,
        o.delivered_at, o.acknowledged_at, o.closed_at, o.acknowledged_by, COALESCE(o.start_at, w.start) AS start_at,
        o.deadline, o.next_step, o.next_step_at, o.escalated_at, o.breached_at, o.ack_method, o.ack_reason,
        o.shape_seq, o.opens, o.done_at, o.done_by, o.done_json, o.ordinal, s.department, s.jurisdiction, s.kind,
        s.task, s.clause, s.mandatory, s.channels, s.ladder, s.ack_mode,
        s.head || '"' || COALESCE(o.due_at, w.due) || '"}}' AS action_json, w.lineage, s.opening
        FROM obligations o JOIN shapes s ON s.seq = o.shape_seq JOIN warnings w ON w.seq = o.warning_seq
"""
_MIGRATION_13_VIEW = (
    """
    CREATE INDEX obligations_ordinal ON obligations (warning_seq, ordinal);"""
    + _OBLIGATIONS_FULL_13
)

_MIGRATION_14_SHARED = """
    ALTER TABLE warnings ADD COLUMN first_obligation INTEGER;
    ALTER TABLE warnings ADD COLUMN last_obligation INTEGER;
    UPDATE warnings SET first_obligation = (SELECT MIN(o.seq) FROM obligations o WHERE o.warning_seq = warnings.seq),
        last_obligation = (SELECT MAX(o.seq) FROM obligations o WHERE o.warning_seq = warnings.seq);
"""
_MIGRATION_14_INDEXES = f"""
    DROP INDEX notifications_due;
    CREATE UNIQUE INDEX obligations_id ON obligations (id) WHERE id IS NOT NULL;
    CREATE INDEX obligations_feed ON obligations ((seq / {EPOCH}), shape_seq, seq);
"""

MIGRATIONS: tuple[str | ByDatabase, ...] = (
    # 1: warnings, obligations, notification outbox.
    """
    CREATE TABLE warnings (
        seq INTEGER PRIMARY KEY,
        identifier TEXT NOT NULL,
        sender TEXT NOT NULL,
        sent TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        lineage TEXT NOT NULL,
        received_at TEXT NOT NULL,
        product TEXT NOT NULL,
        hazard TEXT NOT NULL,
        severity TEXT,
        jurisdiction TEXT NOT NULL,
        status TEXT NOT NULL,
        msg_type TEXT NOT NULL,
        reference_unknown INTEGER NOT NULL,
        warning_json TEXT NOT NULL,
        decision_json TEXT NOT NULL,
        told_json TEXT NOT NULL,
        UNIQUE (sender, identifier, sent)
    );
    CREATE INDEX warnings_identifier ON warnings (identifier);
    CREATE INDEX warnings_lineage ON warnings (lineage);
    CREATE TABLE obligations (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        warning_seq INTEGER NOT NULL REFERENCES warnings (seq),
        lineage TEXT NOT NULL,
        department TEXT NOT NULL,
        jurisdiction TEXT NOT NULL,
        kind TEXT NOT NULL,
        task TEXT,
        clause TEXT NOT NULL,
        mandatory INTEGER NOT NULL,
        due_at TEXT NOT NULL,
        action_json TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        sent_at REAL,
        delivered_at REAL,
        acknowledged_at REAL,
        closed_at REAL
    );
    CREATE INDEX obligations_feed ON obligations (jurisdiction, department, seq);
    CREATE INDEX obligations_lineage ON obligations (lineage, state);
    CREATE TABLE notifications (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        obligation_seq INTEGER NOT NULL REFERENCES obligations (seq),
        channel TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        lease_until REAL,
        provider_id TEXT,
        last_error TEXT,
        created_at REAL NOT NULL,
        sent_at REAL,
        delivered_at REAL
    );
    CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
    CREATE INDEX notifications_provider ON notifications (channel, provider_id);
    """,
    # 2: receipts that arrive before the send outcome naming their provider id is recorded.
    """
    CREATE TABLE early_receipts (
        channel TEXT NOT NULL,
        provider_id TEXT NOT NULL,
        delivered INTEGER NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (channel, provider_id)
    );
    ALTER TABLE early_receipts ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE obligations ADD COLUMN acknowledged_by TEXT;
    """,
    # 3: urgency first: mandatory obligations' notifications are claimed before the others.
    """
    ALTER TABLE notifications ADD COLUMN priority INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX notifications_claim ON notifications (state, priority, next_attempt_at);
    """,
    # 4: obligations climb escalation ladders to a deadline; acknowledgements say who, how and why;
    # notifications may go to the duty office; every step is an event in a hash-chained audit log.
    """
    ALTER TABLE obligations ADD COLUMN start_at REAL;
    ALTER TABLE obligations ADD COLUMN deadline REAL;
    ALTER TABLE obligations ADD COLUMN channels TEXT NOT NULL DEFAULT '';
    ALTER TABLE obligations ADD COLUMN ladder TEXT;
    ALTER TABLE obligations ADD COLUMN ack_mode TEXT NOT NULL DEFAULT 'required';
    ALTER TABLE obligations ADD COLUMN next_step INTEGER;
    ALTER TABLE obligations ADD COLUMN next_step_at REAL;
    ALTER TABLE obligations ADD COLUMN escalated_at REAL;
    ALTER TABLE obligations ADD COLUMN breached_at REAL;
    ALTER TABLE obligations ADD COLUMN ack_method TEXT;
    ALTER TABLE obligations ADD COLUMN ack_reason TEXT;
    CREATE INDEX obligations_next ON obligations (next_step_at) WHERE next_step_at IS NOT NULL;
    ALTER TABLE notifications ADD COLUMN purpose TEXT NOT NULL DEFAULT 'action';
    ALTER TABLE notifications ADD COLUMN to_department TEXT;
    ALTER TABLE notifications ADD COLUMN to_jurisdiction TEXT;
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        warning_id TEXT,
        obligation_id TEXT,
        detail TEXT NOT NULL,
        prev TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX audit_warning ON audit (warning_id);
    """,
    # 5: principals: API tokens by id with the SHA-256 of their secret, their role and scope.
    """
    CREATE TABLE principals (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        jurisdiction TEXT,
        department TEXT,
        secret_sha256 TEXT NOT NULL,
        signing_key_ref TEXT,
        created_at REAL NOT NULL,
        revoked_at REAL
    );
    """,
    # 6: named cursors of relays that follow the store (the Kafka action relay: the last obligation published).
    """
    CREATE TABLE cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    """,
    # 7: a notification has a provider id only once sent: index only those (nothing to index at ingest).
    """
    DROP INDEX notifications_provider;
    CREATE INDEX notifications_provider ON notifications (channel, provider_id) WHERE provider_id IS NOT NULL;
    """,
    # 8: what obligations of one classification share is stored once, keyed by content (a "shape": the
    # department, the place, the action's text and clause, its channels, ladder and acknowledgement mode);
    # an obligation row keeps its ids, times and state. ``obligations_full`` reads as the wide row did.
    # The digests are written by the store after the migration (``Writer._fill_digests``). An action's
    # stored JSON was its shape's head followed by its deadline: head = action_json less '"' due_at '"}'.
    """
    CREATE TABLE shapes (
        seq INTEGER PRIMARY KEY,
        sha TEXT UNIQUE,
        department TEXT NOT NULL,
        jurisdiction TEXT NOT NULL,
        kind TEXT NOT NULL,
        task TEXT,
        clause TEXT NOT NULL,
        mandatory INTEGER NOT NULL,
        channels TEXT NOT NULL,
        ladder TEXT,
        ack_mode TEXT NOT NULL,
        head TEXT NOT NULL
    );
    INSERT INTO shapes (seq, department, jurisdiction, kind, task, clause, mandatory, channels, ladder, ack_mode, head)
        SELECT ROW_NUMBER() OVER (ORDER BY d.department, d.jurisdiction, d.kind, d.head), d.department,
            d.jurisdiction, d.kind, d.task, d.clause, d.mandatory, d.channels, d.ladder, d.ack_mode, d.head
        FROM (SELECT DISTINCT department, jurisdiction, kind, task, clause, mandatory, channels, ladder, ack_mode,
            substr(action_json, 1, length(action_json) - length(due_at) - 3) AS head FROM obligations) d;
    CREATE INDEX shapes_who ON shapes (jurisdiction, department);
    ALTER TABLE obligations ADD COLUMN shape_seq INTEGER;
    UPDATE obligations SET shape_seq = (SELECT s.seq FROM shapes s WHERE s.jurisdiction = obligations.jurisdiction
        AND s.department = obligations.department AND s.kind = obligations.kind
        AND COALESCE(s.task, '') = COALESCE(obligations.task, '') AND s.clause = obligations.clause
        AND s.mandatory = obligations.mandatory AND s.channels = obligations.channels
        AND COALESCE(s.ladder, '') = COALESCE(obligations.ladder, '') AND s.ack_mode = obligations.ack_mode
        AND s.head = substr(obligations.action_json, 1,
            length(obligations.action_json) - length(obligations.due_at) - 3));
    DROP INDEX obligations_feed;
    DROP INDEX obligations_lineage;
    ALTER TABLE obligations DROP COLUMN lineage;
    ALTER TABLE obligations DROP COLUMN department;
    ALTER TABLE obligations DROP COLUMN jurisdiction;
    ALTER TABLE obligations DROP COLUMN kind;
    ALTER TABLE obligations DROP COLUMN task;
    ALTER TABLE obligations DROP COLUMN clause;
    ALTER TABLE obligations DROP COLUMN mandatory;
    ALTER TABLE obligations DROP COLUMN action_json;
    ALTER TABLE obligations DROP COLUMN channels;
    ALTER TABLE obligations DROP COLUMN ladder;
    ALTER TABLE obligations DROP COLUMN ack_mode;
    CREATE INDEX obligations_shape ON obligations (shape_seq, seq);
    CREATE INDEX obligations_warning ON obligations (warning_seq);
    CREATE VIEW obligations_full AS SELECT o.*, s.department, s.jurisdiction, s.kind, s.task, s.clause,
        s.mandatory, s.channels, s.ladder, s.ack_mode, s.head || '"' || o.due_at || '"}' AS action_json, w.lineage
        FROM obligations o JOIN shapes s ON s.seq = o.shape_seq JOIN warnings w ON w.seq = o.warning_seq;
    """,
    # 9: the obligation is its own outbox. Ingest writes no notification rows: an obligation whose ladder
    # opens on time is marked ``opens`` (1 mandatory, 2 not: the order it is claimed in) and what its
    # opening sends is its shape's; the dispatcher writes the notification when it claims it. An index on
    # a notification's obligation (a warning's notifications are read through it).
    """
    ALTER TABLE shapes ADD COLUMN opening TEXT NOT NULL DEFAULT '';
    ALTER TABLE obligations ADD COLUMN opens INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX obligations_opens ON obligations (opens, seq) WHERE opens > 0;
    CREATE INDEX notifications_obligation ON notifications (obligation_seq);
    DROP VIEW obligations_full;
    CREATE VIEW obligations_full AS SELECT o.*, s.department, s.jurisdiction, s.kind, s.task, s.clause,
        s.mandatory, s.channels, s.ladder, s.ack_mode, s.head || '"' || o.due_at || '"}' AS action_json, w.lineage,
        s.opening
        FROM obligations o JOIN shapes s ON s.seq = o.shape_seq JOIN warnings w ON w.seq = o.warning_seq;
    """,
    # 10: situation reports (DESIGN §13): each as filed (its normalised JSON), who filed it, and the later
    # report that replaced it (an update or a correction), if any.
    """
    CREATE TABLE reports (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        jurisdiction TEXT NOT NULL,
        department TEXT NOT NULL,
        observed_at REAL NOT NULL,
        received_at REAL NOT NULL,
        filed_by TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        replaces TEXT,
        replaced_by TEXT,
        report_json TEXT NOT NULL
    );
    CREATE INDEX reports_observed ON reports (observed_at);
    """,
    # 11: a task reported done (§4.5 "1262"): when, by whom, and its figures (people moved, forces
    # pre-positioned), beside its acknowledgement.
    """
    ALTER TABLE obligations ADD COLUMN done_at REAL;
    ALTER TABLE obligations ADD COLUMN done_by TEXT;
    ALTER TABLE obligations ADD COLUMN done_json TEXT;
    DROP VIEW obligations_full;
    CREATE VIEW obligations_full AS SELECT o.*, s.department, s.jurisdiction, s.kind, s.task, s.clause,
        s.mandatory, s.channels, s.ladder, s.ack_mode, s.head || '"' || o.due_at || '"}' AS action_json, w.lineage,
        s.opening
        FROM obligations o JOIN shapes s ON s.seq = o.shape_seq JOIN warnings w ON w.seq = o.warning_seq;
    """,
    # 12: situation reports are delivered too (DESIGN §13): a report's copies (who it was sent to, under
    # which clauses: their feeds) and its notifications, in the one outbox. A notification serves an
    # obligation or a report, so its obligation may be empty (the table is rebuilt: SQLite cannot drop a
    # NOT NULL); a partial index finds the reports' notifications due.
    """
    CREATE TABLE report_copies (
        report_seq INTEGER NOT NULL REFERENCES reports (seq),
        jurisdiction TEXT NOT NULL,
        department TEXT NOT NULL,
        clauses TEXT NOT NULL,
        PRIMARY KEY (jurisdiction, department, report_seq)
    );
    CREATE TABLE notifications_v12 (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        obligation_seq INTEGER REFERENCES obligations (seq),
        report_seq INTEGER REFERENCES reports (seq),
        channel TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        lease_until REAL,
        provider_id TEXT,
        last_error TEXT,
        created_at REAL NOT NULL,
        sent_at REAL,
        delivered_at REAL,
        priority INTEGER NOT NULL DEFAULT 1,
        purpose TEXT NOT NULL DEFAULT 'action',
        to_department TEXT,
        to_jurisdiction TEXT
    );
    INSERT INTO notifications_v12 (seq, id, obligation_seq, channel, state, attempts, next_attempt_at, lease_until,
        provider_id, last_error, created_at, sent_at, delivered_at, priority, purpose, to_department, to_jurisdiction)
        SELECT seq, id, obligation_seq, channel, state, attempts, next_attempt_at, lease_until, provider_id, last_error,
        created_at, sent_at, delivered_at, priority, purpose, to_department, to_jurisdiction FROM notifications;
    DROP TABLE notifications;
    ALTER TABLE notifications_v12 RENAME TO notifications;
    CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
    CREATE INDEX notifications_claim ON notifications (state, priority, next_attempt_at);
    CREATE INDEX notifications_provider ON notifications (channel, provider_id) WHERE provider_id IS NOT NULL;
    CREATE INDEX notifications_obligation ON notifications (obligation_seq);
    CREATE INDEX notifications_report ON notifications (state, next_attempt_at) WHERE report_seq IS NOT NULL
    """,
    # 13: an obligation's row keeps only what is its own; what all obligations of a warning share is the
    # warning's, once: their ids' prefix (``okey``: an obligation's id is the prefix, ".", and its ordinal in
    # at least three digits), when they were written (``created``), when their clocks start (``start``) and
    # the deadline most of them share (``due``). A row written from here on leaves ``id``, ``due_at``,
    # ``created_at`` and ``start_at`` NULL where its warning's serves; rows written before keep theirs. So
    # those columns may be NULL: SQLite rebuilds the table to say so, PostgreSQL alters the columns. A
    # (warning, ordinal) index finds an obligation by id and a warning's obligations (it replaces the index
    # on the warning alone). ``obligations_full`` reads every row as before.
    ByDatabase(
        sqlite=_MIGRATION_13_SHARED
        + _obligations_table("obligations_v13", unique_id=True)
        + """
    INSERT INTO obligations_v13 ("""
        + _OBLIGATION_COLUMNS_12
        + """)
        SELECT """
        + _OBLIGATION_COLUMNS_12
        + """ FROM obligations;
    DROP TABLE obligations;
    ALTER TABLE obligations_v13 RENAME TO obligations;
    CREATE INDEX obligations_next ON obligations (next_step_at) WHERE next_step_at IS NOT NULL;
    CREATE INDEX obligations_shape ON obligations (shape_seq, seq);
    CREATE INDEX obligations_opens ON obligations (opens, seq) WHERE opens > 0;
    """
        + _MIGRATION_13_VIEW,
        postgres=_MIGRATION_13_SHARED
        + """
    ALTER TABLE obligations ALTER COLUMN id DROP NOT NULL;
    ALTER TABLE obligations ALTER COLUMN due_at DROP NOT NULL;
    ALTER TABLE obligations ALTER COLUMN created_at DROP NOT NULL;
    ALTER TABLE obligations ADD COLUMN ordinal INTEGER;
    DROP INDEX obligations_warning;
    """
        + _MIGRATION_13_VIEW,
    ),
    # 14: fewer index entries per obligation row, which is what writing a warning costs most. An id is unique
    # only where a row has one (rows written before migration 13): new rows, which leave it NULL, add no entry.
    # A warning's obligations are the run of seqs from ``first_obligation`` to ``last_obligation`` (written
    # together), so they are found by the primary key and the (warning, ordinal) index goes. The feed's index
    # is by epoch of 1,024 seqs first (``schema.EPOCH``): a commit's entries fall on the few pages of the newest
    # epoch, not one page per department's run. A notification's (state, next attempt) index goes too: the
    # claim's (state, priority, next attempt) serves every read it served. ``obligations_full`` is unchanged.
    ByDatabase(
        sqlite=_MIGRATION_14_SHARED
        + """
    DROP VIEW obligations_full;"""
        + _obligations_table("obligations_v14", unique_id=False)
        + """
    INSERT INTO obligations_v14 ("""
        + _OBLIGATION_COLUMNS_12
        + """, ordinal)
        SELECT """
        + _OBLIGATION_COLUMNS_12
        + """, ordinal FROM obligations;
    DROP TABLE obligations;
    ALTER TABLE obligations_v14 RENAME TO obligations;
    CREATE INDEX obligations_next ON obligations (next_step_at) WHERE next_step_at IS NOT NULL;
    CREATE INDEX obligations_opens ON obligations (opens, seq) WHERE opens > 0;
    """
        + _MIGRATION_14_INDEXES
        + _OBLIGATIONS_FULL_13,
        postgres=_MIGRATION_14_SHARED
        + """
    ALTER TABLE obligations DROP CONSTRAINT obligations_id_key;
    DROP INDEX obligations_ordinal;
    DROP INDEX obligations_shape;
    """
        + _MIGRATION_14_INDEXES,
    ),
    # 15: what is due is found through the warning, not through an index entry for each obligation (two fewer
    # entries for each obligation written): ``opens``, the most urgent opening of its obligations not claimed
    # yet (1 mandatory, 2 not; 0 none), and ``next_at``, no later than its obligations' nearest ladder step
    # (NULL: none is scheduled). Both may lag when obligations close (the claim and the scheduler, which read
    # the warning's run of obligations, set them right); neither is ever later than what it stands for. A
    # partial index on each finds the warnings; the obligations' own indexes on them go.
    f"""
    ALTER TABLE warnings ADD COLUMN opens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE warnings ADD COLUMN next_at REAL;
    UPDATE warnings SET opens = (SELECT MIN(o.opens) FROM obligations o WHERE {of_warning("o", "warnings")}
        AND o.opens > 0) WHERE seq IN (SELECT warning_seq FROM obligations WHERE opens > 0);
    UPDATE warnings SET next_at = (SELECT MIN(o.next_step_at) FROM obligations o WHERE {of_warning("o", "warnings")})
        WHERE seq IN (SELECT warning_seq FROM obligations WHERE next_step_at IS NOT NULL);
    DROP INDEX obligations_opens;
    DROP INDEX obligations_next;
    CREATE INDEX warnings_opens ON warnings (opens, seq) WHERE opens > 0;
    CREATE INDEX warnings_next ON warnings (next_at) WHERE next_at IS NOT NULL;
    """,
)
