"""The shared store: PostgreSQL through psycopg 3, for several warnroute instances on one database.

The store's SQL is written once (sql.py, reads.py) in the dialect both databases speak; the
connection here answers the same calls as aiosqlite's and translates on the way: ``?`` becomes
``%s``, SQLite's two-argument ``MIN`` becomes ``LEAST``, and migrations get PostgreSQL's types
(64-bit integers, double-precision times).

Several instances write to one database. Every write transaction begins with a transaction-level
advisory lock, so write transactions are taken one at a time across instances; inside it the store
re-reads where the tables and the audit chain end. That is what keeps ids, the hash chain and the
escalation steps single-file: a due step is selected and advanced inside one such transaction, so
it fires exactly once whichever instance takes it. A notification leased by an instance that died
becomes due again when its lease runs out.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import psycopg

from router.errors import StoreUnavailable
from router.store.reads import Db, Result
from router.store.sql import SqlStore

WRITE_LOCK = 0x77726E74  # "wrnt": the advisory lock every write transaction takes


class PostgresStore(SqlStore):
    shared = True
    database = "postgres"

    def __init__(self, url: str, *, batch_max: int = 256, clock: Callable[[], float] = time.time) -> None:
        super().__init__(batch_max=batch_max, clock=clock)
        self.url = url

    async def _connect(self, *, reader: bool = False, readonly: bool = False) -> Db:
        async def connect() -> psycopg.AsyncConnection[Any]:
            conn = await psycopg.AsyncConnection.connect(
                self.url,
                autocommit=True,
                connect_timeout=10,
                application_name="warnroute-" + ("reads" if reader else "writer"),
            )
            if readonly:
                await conn.execute("SET default_transaction_read_only = on")
            return conn

        return PgConnection(connect, await connect(), reads=reader)

    async def lead(self, name: str) -> bool:
        """Whether this process leads ``name`` among the instances (a session advisory lock on the reads
        connection: it passes to another instance when this one's connection ends)."""
        async with self._read.execute("SELECT pg_try_advisory_lock(hashtext(?))", (name,)) as cur:
            row = await cur.fetchone()
        return bool(row and row[0])

    async def _begin(self, db: Db) -> None:
        await db.execute("BEGIN")
        await db.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")

    def unavailable(self, exc: Exception) -> str | None:
        if isinstance(exc, psycopg.errors.DiskFull):
            return "the PostgreSQL server's disk is full"
        if isinstance(exc, psycopg.errors.InsufficientResources):
            return "the PostgreSQL server is out of resources"
        if isinstance(exc, psycopg.OperationalError):  # the connection was lost or cannot be made
            return "the PostgreSQL server cannot be reached"
        return None

    def _ddl(self, statement: str) -> str:
        statement = re.sub(r"\bREAL\b", "DOUBLE PRECISION", statement)
        return re.sub(r"\bINTEGER\b", "BIGINT", statement)


class Row(tuple[Any, ...]):
    """A result row by position or by column name (as ``aiosqlite.Row``)."""

    names: dict[str, int]

    def __new__(cls, values: Iterable[Any], names: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row.names = names
        return row

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self.names[key] if isinstance(key, str) else key)

    def keys(self) -> list[str]:
        return list(self.names)


class Execution:
    """``db.execute(...)``: awaited, or used as ``async with … as cursor`` (both as aiosqlite allows)."""

    def __init__(self, owner: PgConnection, sql: str, params: Sequence[Any]) -> None:
        self.owner, self.sql, self.params = owner, sql, params

    async def run(self) -> Result:
        if not self.owner.reads:
            return await self._once()
        try:  # a read is its own transaction: one the server cut is asked again on a new connection
            return await self._once()
        except psycopg.OperationalError:
            try:
                return await self._once()
            except psycopg.OperationalError as exc:
                raise StoreUnavailable("the PostgreSQL server cannot be reached") from exc

    async def _once(self) -> Result:
        conn = await self.owner.live()
        async with conn.cursor() as cur:
            await cur.execute(self.sql, self.params or None)
            if cur.description is None:
                return Result([], cur.rowcount)
            names = {column.name: i for i, column in enumerate(cur.description)}
            return Result([Row(r, names) for r in await cur.fetchall()], cur.rowcount)

    def __await__(self) -> Any:
        return self.run().__await__()

    async def __aenter__(self) -> Result:
        return await self.run()

    async def __aexit__(self, *exc: object) -> None:
        return None


class PgConnection:
    """A psycopg connection answering aiosqlite's calls; after the server restarts (or the network drops)
    the next statement opens a new connection. A transaction the break cut short fails as a whole; on the
    reads connection (``reads``: every statement its own transaction) the statement is asked once more."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[psycopg.AsyncConnection[Any]]],
        conn: psycopg.AsyncConnection[Any],
        *,
        reads: bool = False,
    ) -> None:
        self.connect, self.conn, self.reads = connect, conn, reads

    async def live(self) -> psycopg.AsyncConnection[Any]:
        if self.conn.closed or self.conn.broken:
            self.conn = await self.connect()
        return self.conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Execution:
        return Execution(self, translate(sql), list(params))

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return (await self.execute(sql, params).run()).rows

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            conn = await self.live()
            async with conn.cursor() as cur:
                await cur.executemany(translate(sql), rows)

    async def close(self) -> None:
        await self.conn.close()


@functools.lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """SQLite's placeholders and the one scalar function PostgreSQL spells otherwise."""
    sql = sql.replace("%", "%%").replace("?", "%s")
    return re.sub(r"\bMIN\((\w+), %s\)", r"LEAST(\1, %s)", sql)
