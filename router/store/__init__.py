"""Durable storage of warnings, decisions, obligations and the notification outbox.

``Store`` (base.py) is the repository interface; ``SqlStore`` (sql.py) implements it over SQL,
with ``SqliteStore`` (sqlite.py, the embedded default) and ``PostgresStore`` (postgres.py, shared by
several instances) saying how to connect; schema.py holds the versioned migrations, reads.py the reads.
The store applies what the domain decides (``router.domain.obligation.transition``) and keeps no rule of
its own.

Imports the domain and the audit chain; never a channel, a service or an entrypoint.
"""

from pathlib import Path

from router.store.base import (
    AckResult,
    ClaimedNotification,
    FeedEntry,
    IngestOutcome,
    IngestRecord,
    NotificationOutcome,
    NotificationRow,
    ObligationRow,
    ReportOutcome,
    ReportRecord,
    ReportSend,
    StepResult,
    Store,
    action_text,
)
from router.store.postgres import PostgresStore
from router.store.sql import SqlStore
from router.store.sqlite import SqliteStore


def make_store(
    data_dir: Path, database_url: str | None = None, *, reserve_bytes: int = 0, writer_process: bool = False
) -> SqlStore:
    """PostgreSQL when a database URL is given (instances share it), else SQLite in ``data_dir``, refusing
    new warnings while its disk has less than ``reserve_bytes`` free, and writing them in a process of their
    own with ``writer_process`` (a server's store; ``router.store.process``)."""
    if database_url:
        return PostgresStore(database_url)
    return SqliteStore(data_dir / "warnroute.db", reserve_bytes=reserve_bytes, writer_process=writer_process)


__all__ = [
    "AckResult",
    "ClaimedNotification",
    "FeedEntry",
    "IngestOutcome",
    "IngestRecord",
    "NotificationOutcome",
    "NotificationRow",
    "ObligationRow",
    "PostgresStore",
    "ReportOutcome",
    "ReportRecord",
    "ReportSend",
    "SqlStore",
    "SqliteStore",
    "StepResult",
    "Store",
    "action_text",
    "make_store",
]
