"""The embedded store: one SQLite file in WAL mode through aiosqlite (the default; no server needed)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import aiosqlite

from router.store.reads import Db
from router.store.sql import SqlStore


class SqliteStore(SqlStore):
    def __init__(self, path: Path, *, batch_max: int = 256, clock: Callable[[], float] = time.time) -> None:
        super().__init__(batch_max=batch_max, clock=clock)
        self.path = path

    async def _connect(self, *, reader: bool = False, readonly: bool = False) -> Db:
        if readonly:
            db = await aiosqlite.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = await aiosqlite.connect(self.path, isolation_level=None)
        pragmas = ["busy_timeout=10000"]
        if not reader:
            pragmas = ["journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", *pragmas]
        for pragma in pragmas:
            await db.execute(f"PRAGMA {pragma}")
        if reader:
            db.row_factory = aiosqlite.Row
        return db

    async def _begin(self, db: Db) -> None:
        await db.execute("BEGIN IMMEDIATE")  # the write lock up front: no upgrade deadlock with a reader
