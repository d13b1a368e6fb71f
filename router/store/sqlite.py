"""The embedded store: one SQLite file in WAL mode through aiosqlite (the default; no server needed)."""

from __future__ import annotations

import errno
import functools
import os
import sqlite3
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from router.store.process import WriterProcess, WriterStopped
from router.store.reads import Db, Result
from router.store.sql import HANDED_KINDS, SqlStore, opening_sends

MIB = 1024 * 1024
ROOM_TRUSTED = 0.25  # seconds: what a quarter second of warnings writes is far below a reserve's worth


class _Result(Result):
    """Also entered (``async with``) and awaited, as aiosqlite's ``execute`` is: already run."""

    async def __aenter__(self) -> _Result:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    def __await__(self) -> Generator[Any, None, _Result]:  # ``await db.execute(...)``: already run
        return self
        yield


class ThreadDb:
    """The writer's connection on the writer's own thread: plain sqlite3 called in place, answering the
    calls of aiosqlite's connection that the writer makes."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Result:
        cur = self.conn.execute(sql, params)
        rows = cur.fetchall() if cur.description is not None else []
        return _Result(rows, cur.rowcount)

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.conn.execute(sql, params).fetchall()

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    async def close(self) -> None:
        self.conn.close()


class SqliteStore(SqlStore):
    """``reserve_bytes``: free space on the database's filesystem kept for work already accepted
    (recording sends, acknowledgements, escalations); below it, new warnings are refused.
    ``writer_process``: ingest batches, and the outbox's claims, outcomes and receipts, are written by a
    process of their own (``router.store.process``), on another core than the one serving requests; the
    server's store does so."""

    own_thread = True

    def __init__(
        self,
        path: Path,
        *,
        batch_max: int = 256,
        clock: Callable[[], float] = time.time,
        reserve_bytes: int = 0,
        writer_process: bool = False,
    ) -> None:
        super().__init__(batch_max=batch_max, clock=clock)
        self.path = path
        self.reserve_bytes = reserve_bytes
        self._roomy_until = 0.0  # monotonic time until which the last reading of free space is trusted
        self.writer_process = WriterProcess(path) if writer_process else None

    async def open(self, *, owner: bool = True) -> None:
        await super().open(owner=owner)
        if self.writer_process is not None and owner:
            try:
                await self.writer_process.start()  # migrated: the child writes the current schema
            except BaseException:
                await self.close()
                raise
            self._elsewhere = self.writer_process

    async def close(self) -> None:
        try:
            await super().close()  # the write loop has stopped: the child holds no batch
        finally:
            if self.writer_process is not None:
                await self.writer_process.close()
            self._elsewhere = None

    async def _ingest_elsewhere(self, db: Db, records: list[Any]) -> list[Any]:
        """If the child died holding the batch, the §4.3 reports it may have leased to this process's
        dispatcher are due again at once (claimed as usual), committed or not: released by a write queued
        behind the batches still at the child."""
        try:
            return await super()._ingest_elsewhere(db, records)
        except WriterStopped:
            leased = [
                o.id + send[0]
                for r in records
                for o in r.obligations
                if o.opens and o.opening and o.kind in HANDED_KINDS
                for send in opening_sends(o.opening)
            ]
            if leased:
                self._release_soon(leased)
            raise

    async def _write_elsewhere(self, db: Db, job: functools.partial[Any], each: bool) -> list[Any]:
        """A claim the child did not answer (it died, say) may have committed: what it leased is due again at
        once, released by a write queued behind those still at the child (every claim leases until a time of
        its own)."""
        try:
            return await super()._write_elsewhere(db, job, each)
        except Exception:
            if job.func.__name__ == "_claim":
                self._unlease_soon(job.keywords["until"])
            raise

    def room(self) -> str | None:
        """A reading of at least twice the reserve is trusted for ``ROOM_TRUSTED`` seconds, not read again for
        every warning on the thread that serves them; nearer the reserve, every warning reads it again."""
        if self.reserve_bytes <= 0:
            return None
        now = time.monotonic()
        if now < self._roomy_until:
            return None
        try:
            fs = os.statvfs(self.path.parent)
        except OSError as exc:
            return f"the store's folder {self.path.parent} cannot be read: {exc.strerror}"
        free = fs.f_bavail * fs.f_frsize
        if free >= self.reserve_bytes:
            if free >= 2 * self.reserve_bytes:
                self._roomy_until = now + ROOM_TRUSTED
            return None
        return (
            f"the disk holding the store ({self.path.parent}) has {free / MIB:.1f} MiB free, below the "
            f"{self.reserve_bytes / MIB:.0f} MiB kept for warnings already accepted"
        )

    def unavailable(self, exc: Exception) -> str | None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"the disk holding the store ({self.path.parent}) is full"
        if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
            text = str(exc).lower()
            if "full" in text:  # SQLITE_FULL: "database or disk is full"
                return f"the disk holding the store ({self.path.parent}) is full"
            if "disk i/o error" in text or "unable to open" in text or "readonly" in text:
                return f"the store ({self.path}) cannot be written: {exc}"
        return None

    async def _connect(self, *, reader: bool = False, readonly: bool = False) -> Db:
        db: Db
        if readonly:
            db = await aiosqlite.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
        elif not reader:  # the writer's: opened, used and closed on the writer's thread (sqlite3 checks)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = ThreadDb(sqlite3.connect(self.path, isolation_level=None))
        else:
            db = await aiosqlite.connect(self.path, isolation_level=None)
        pragmas = ["busy_timeout=10000"]
        if not reader:
            pragmas = ["journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", *pragmas]
        for pragma in pragmas:
            await db.execute(f"PRAGMA {pragma}")
        if reader:
            db.row_factory = aiosqlite.Row
        return db

    async def _migrate(self, db: Db) -> int:
        """Migrations run with foreign keys off (SQLite's way to rebuild a table that others refer to); every
        reference is checked once they are applied, before anything else is written."""
        await db.execute("PRAGMA foreign_keys=OFF")
        try:
            applied = await super()._migrate(db)
        finally:
            await db.execute("PRAGMA foreign_keys=ON")
        if applied:
            async with db.execute("PRAGMA foreign_key_check") as cur:
                broken = await cur.fetchall()
            if broken:
                raise RuntimeError(f"the store ({self.path}) has {len(broken)} broken references after migrating")
        return applied

    async def _begin(self, db: Db) -> None:
        await db.execute("BEGIN IMMEDIATE")  # the write lock up front: no upgrade deadlock with a reader
