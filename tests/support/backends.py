"""The stores the store suites run against: SQLite on a real file (its ingest batches and the outbox's writes
made on the writer's thread, or by a process of their own as the server's are), PostgreSQL on a real server."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from router.store import PostgresStore, SqliteStore, SqlStore


@dataclass(frozen=True)
class Backend:
    name: str
    location: str  # the SQLite file, or the PostgreSQL database URL
    writer_process: bool = False  # SQLite: ingest and the outbox written by a process of their own (a server's)

    def store(self, clock: Callable[[], float] = time.time) -> SqlStore:
        """A store on this backend's one database (a second call is the same database after a restart)."""
        if self.name == "sqlite":
            return SqliteStore(Path(self.location), clock=clock, writer_process=self.writer_process)
        return PostgresStore(self.location, clock=clock)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """What a query over the database returns, read directly (not through the store)."""
        if self.name == "sqlite":
            with sqlite3.connect(self.location) as db:
                return db.execute(sql).fetchall()
        with psycopg.connect(self.location) as conn:
            return conn.execute(sql).fetchall()
