"""The store's writer: one task and one connection for every write, transactions that never interleave.

Ingest requests waiting at the same moment share one transaction (group commit), which is what lets one
process take many warnings a second with tens of rows each; other writes waiting together share one
commit too, each in its own savepoint. Reads use a second connection and never block on the writer. Row
ids are assigned here, inside the transaction, so a batch is written with a handful of ``executemany``
calls. Where several processes share one database, ``_begin`` serialises their write transactions (and
re-reads where each table ends), so ids, the audit chain and every escalation step stay single-file.
The audit chain is appended here, inside the caller's transaction. On SQLite the transactions run on a
thread of the writer's own, statement after statement without a hop back to the serving loop; the
loop hands each batch over once and hears its outcome once (``_on_writer``). The server's SQLite store
has its busiest writes made by a process of their own (``_elsewhere``, :mod:`router.store.process`): ingest
batches, and the outbox's claims, outcomes and receipts (``ELSEWHERE``); this loop sends them there, in
the order they came, and waits for them before a write of its own.

A subclass says how to connect and how to begin a write transaction (sqlite.py, postgres.py); what is
written is :mod:`router.store.sql`'s.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import structlog

from router.audit.chain import GENESIS, link
from router.errors import StoreUnavailable
from router.store.base import ClaimedNotification, Pattern
from router.store.reads import Db, SqlReads, fetch
from router.store.schema import MIGRATIONS, SHAPE_COLUMNS, shape_digest

log = structlog.get_logger("warnroute.store")
AuditEvent = tuple[float, str, str | None, str | None, dict[str, Any]]  # at, kind, warning_id, obligation_id, detail
Job = Callable[[Db], Awaitable[Any]]
ELSEWHERE_DEPTH = 4  # transactions at the other writer at once: it starts the next as it commits one
# Warnings per batch at the other writer, at least: requests that came together are answered in parts, so
# they come back in parts and keep the other writer busy, instead of all waiting for one batch (then all for
# the next). A burst (a Kafka poll) is split in ``ELSEWHERE_DEPTH`` parts.
ELSEWHERE_BATCH = 16
INSERT_AUDIT = (
    "INSERT INTO audit (seq, at, kind, warning_id, obligation_id, detail, prev, hash) VALUES (?,?,?,?,?,?,?,?)"
)


@dataclass(frozen=True, slots=True)
class _Failed:
    exc: Exception


class Elsewhere(Protocol):
    """Another connection's writer, in a process of its own (:class:`router.store.process.WriterProcess`)."""

    async def ingest(
        self, records: list[Any], now: float, lease: float | None
    ) -> tuple[list[Any], list[ClaimedNotification]]:
        """A batch of ingest records in one transaction: outcomes, and the reports leased for the dispatcher."""
        ...

    async def job(self, name: str, arguments: dict[str, Any]) -> Any:
        """The store's write ``name`` (one of ``Writer.ELSEWHERE``) with ``arguments``, in one transaction."""
        ...


class Writer(SqlReads):
    """The writer and the reads of one database. ``open()`` before use, ``close()`` after."""

    shared = False  # True: other processes write to the same database (PostgreSQL)
    database = "sqlite"  # which words of a ``ByDatabase`` migration are this database's
    own_thread = False  # True: write transactions run on a thread of the writer's own (``_on_writer``)
    alternating = False  # True: another connection writes between this one's transactions (``process.py``)
    ELSEWHERE: frozenset[str] = frozenset()  # the writes (methods taking the connection) ``_elsewhere`` may make

    def __init__(self, *, batch_max: int = 256, clock: Callable[[], float] = time.time) -> None:
        self.batch_max = batch_max
        self.clock = clock
        self._writer: Db | None = None
        self._reader: Db | None = None
        self._queue: asyncio.Queue[tuple[str, Any, asyncio.Future[Any]] | None] = asyncio.Queue()
        # Writes taken off the queue while a dispatcher's write waited for its turn at the other writer
        # (``_job_slot``): the write loop takes them before the queue, in order.
        self._stash: collections.deque[tuple[str, Any, asyncio.Future[Any]] | None] = collections.deque()
        self._jobs_away: set[asyncio.Task[None]] = set()  # the dispatcher's write at the other writer (one at most)
        self._task: asyncio.Task[None] | None = None
        self._next: dict[str, int] = {}
        self._head = GENESIS
        self.last_write_at = 0.0
        self._leased_until = 0.0  # the end of the last claim's lease (``SqlStore.claim_notifications``)
        self._digests: dict[tuple[Any, ...], tuple[str, tuple[Any, ...]]] = {}  # shape fields → digest, values
        self._shape_seqs: dict[str, int] = {}  # digest → seq of shapes known committed
        self._shapes_seen: dict[str, int] = {}  # digest → seq found or written in the open transaction
        # A pattern's (``router.store.base.Pattern``) shapes' seqs, once every one is known committed; by its id
        self._pattern_shapes: dict[int, tuple[Pattern, list[int]]] = {}
        self._opening_of: dict[int, list[tuple[str, str, str, str | None, str | None]]] = {}  # shape seq → opening
        # §4.3 reports that ingest claimed for this process's dispatcher (``hand_over``): leased in the
        # open transaction, handed over once it commits, so their first send waits for no claim.
        self._hand_lease: float | None = None
        self._take: Callable[[list[ClaimedNotification]], None] | None = None
        self._handing: list[ClaimedNotification] = []
        self._writing_later: set[asyncio.Task[Any]] = set()  # ``_later``'s writes, until written
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # Ingest batches and the ``ELSEWHERE`` writes made by another writer (``router.store.process``), awaited
        # on the serving loop.
        self._elsewhere: Elsewhere | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self, *, owner: bool = True) -> None:
        """Open for writing. ``owner``: this process alone runs the outbox of this database, so what it had
        leased before a crash is due again (administrative commands open with ``owner=False``; with a
        shared database an expired lease is what makes a notification due again)."""
        if self.own_thread:
            self._thread_loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._thread_loop.run_forever, name="store-writer", daemon=True)
            self._thread.start()
        try:
            self._writer = await self._on_writer(self._prepare(owner))
        except BaseException:
            self._stop_thread()
            raise
        self._reader = await self._connect(reader=True)
        self._task = asyncio.create_task(self._write_loop(), name="store-writer")

    async def _prepare(self, owner: bool) -> Db:
        db = await self._connect()
        try:
            await self._migrate(db)
            await self._fill_digests(db)
            await self._ends(db)
            if owner and not self.shared:
                await db.execute(
                    "UPDATE notifications SET state = 'pending', lease_until = NULL WHERE state = 'sending'"
                )
        except BaseException:  # a migration that failed: its transaction and the connection go with it
            with contextlib.suppress(Exception):
                await db.close()
            raise
        return db

    async def open_readonly(self) -> None:
        """Reads only (reports, audit checks) beside a running server: no writer, no migration, no lease reset."""
        self._reader = await self._connect(reader=True, readonly=True)

    async def _connect(self, *, reader: bool = False, readonly: bool = False) -> Db:
        raise NotImplementedError

    async def lead(self, name: str) -> bool:  # noqa: ARG002 - a shared database's stores use the name
        """Whether this process leads ``name`` (work one instance does for all). Alone on a database: yes."""
        return True

    async def _begin(self, db: Db) -> None:
        """Start a write transaction (the subclass says how: SQLite takes the database lock up front)."""
        raise NotImplementedError

    async def _ends(self, db: Db) -> None:
        """Where each table's ids end and the audit chain's head: read at open, and in every write
        transaction of a shared database (other processes write too)."""
        async with db.execute(
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM warnings), (SELECT COALESCE(MAX(seq), 0) FROM obligations),"
            " (SELECT COALESCE(MAX(seq), 0) FROM notifications), (SELECT COALESCE(MAX(seq), 0) FROM shapes),"
            " (SELECT COALESCE(MAX(seq), 0) FROM reports)"
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        self._next.update(
            {
                "warnings": int(row[0]) + 1,
                "obligations": int(row[1]) + 1,
                "notifications": int(row[2]) + 1,
                "shapes": int(row[3]) + 1,
                "reports": int(row[4]) + 1,
            }
        )
        await self._audit_tail(db)

    async def close(self) -> None:
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        if self._reader is not None:
            await self._reader.close()
        if self._writer is not None:
            await self._on_writer(self._writer.close())
        self._reader = self._writer = None
        self._stop_thread()

    def _stop_thread(self) -> None:
        if self._thread_loop is not None and self._thread is not None:
            self._thread_loop.call_soon_threadsafe(self._thread_loop.stop)
            self._thread.join(timeout=10)
            self._thread_loop.close()
        self._thread_loop = self._thread = None

    async def _migrate(self, db: Db) -> int:
        """Apply the migrations this database has not had; how many it took."""
        await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        async with db.execute("SELECT MAX(version) FROM schema_version") as cur:
            row = await cur.fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        for version, step in enumerate(MIGRATIONS[current:], start=current + 1):
            script = step if isinstance(step, str) else getattr(step, self.database)
            await self._begin(db)
            async with db.execute("SELECT COUNT(*) FROM schema_version WHERE version = ?", (version,)) as cur:
                row = await cur.fetchone()
            if row is not None and row[0]:  # another process migrated it meanwhile
                await db.execute("COMMIT")
                continue
            for statement in (s.strip() for s in script.split(";")):
                if statement:
                    await db.execute(self._ddl(statement))
            await db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            await db.execute("COMMIT")
        return len(MIGRATIONS) - current

    def _ddl(self, statement: str) -> str:
        """A migration statement in this database's words (SQLite's are the source)."""
        return statement

    async def _fill_digests(self, db: Db) -> None:
        """Shapes carried over by a migration get the content digest new ones are written with (the digest
        is computed here: SQLite has no SHA-256 of its own)."""
        async with db.execute(f"SELECT seq, {', '.join(SHAPE_COLUMNS)} FROM shapes WHERE sha IS NULL") as cur:
            rows = await cur.fetchall()
        if not rows:
            return
        await self._begin(db)
        await db.executemany(
            "UPDATE shapes SET sha = ? WHERE seq = ? AND sha IS NULL",
            [(shape_digest(tuple(r[1:])), r[0]) for r in rows],
        )
        await db.execute("COMMIT")

    def hand_over(self, lease_seconds: float, take: Callable[[list[ClaimedNotification]], None] | None) -> None:
        if not self.shared:
            self._hand_lease, self._take = (lease_seconds, take) if take is not None else (None, None)

    async def release(self, ids: list[str]) -> None:
        await self._submit("job", functools.partial(self._release, ids=ids))

    async def _release(self, db: Db, ids: list[str]) -> None:
        await db.executemany(
            "UPDATE notifications SET state = 'pending', lease_until = NULL WHERE id = ? AND state = 'sending'",
            [(i,) for i in ids],
        )

    async def _unlease(self, db: Db, until: float) -> None:
        """Release what is leased until exactly ``until``: what one claim leased."""
        await db.execute(
            "UPDATE notifications SET state = 'pending', lease_until = NULL"
            " WHERE state = 'sending' AND lease_until = ?",
            (until,),
        )

    def _unlease_soon(self, until: float) -> None:
        """``_unlease``, without waiting for it (a write queued behind whatever is queued now)."""
        self._later(self._submit("job", functools.partial(self._unlease, until=until)))

    def _release_soon(self, ids: list[str]) -> None:
        """``release`` these, without waiting for it (a write queued behind whatever is queued now)."""
        self._later(self.release(ids))

    def _later(self, write: Coroutine[Any, Any, Any]) -> None:
        """A write queued behind whatever is queued now, not waited for (its failure is logged)."""
        task = asyncio.create_task(write)
        self._writing_later.add(task)
        task.add_done_callback(self._written_later)

    def _written_later(self, task: asyncio.Task[Any]) -> None:
        self._writing_later.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("release_failed", error=str(task.exception()))

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
        elsewhere: set[asyncio.Task[None]] = set()  # transactions at the other writer, until answered
        while True:
            item = self._stash.popleft() if self._stash else await self._queue.get()
            if item is None:
                if elsewhere:
                    await asyncio.wait(elsewhere)
                return
            batch = [item]
            while len(batch) < self.batch_max and (self._stash or not self._queue.empty()):
                nxt = self._stash.popleft() if self._stash else self._queue.get_nowait()
                if nxt is None:
                    await self._queue.put(None)
                    break
                batch.append(nxt)
            ingests = [(p, f) for k, p, f in batch if k == "ingest"]
            receipts = [(p, f) for k, p, f in batch if k == "receipt"]
            others = [(p, f) for k, p, f in batch if k == "job"]
            if self._elsewhere is not None:
                if ingests:
                    await self._send_elsewhere(db, ingests, elsewhere)
                if receipts:
                    batch_of = functools.partial(self._receipt_batch, receipts=[p for p, _ in receipts])
                    await self._job_elsewhere(db, batch_of, [f for _, f in receipts], elsewhere, each=True)
                    receipts = []
                kept = []
                for job, future in others:
                    if self._movable(job):
                        await self._job_elsewhere(db, job, [future], elsewhere, each=False)
                    else:
                        kept.append((job, future))
                others = kept
            elif ingests:
                records = [p for p, _ in ingests]
                await self._run(db, [f for _, f in ingests], functools.partial(self._ingest_batch, records=records))
            if receipts or others:
                if elsewhere:  # one writer at a time: this connection's transaction follows the other's
                    await asyncio.wait(elsewhere)
                told, jobs = [p for p, _ in receipts], [job for job, _ in others]
                futures = [f for _, f in receipts] + [f for _, f in others]
                await self._run(db, futures, functools.partial(self._receipts_and_jobs, receipts=told, jobs=jobs))

    async def _send_elsewhere(
        self, db: Db, ingests: list[tuple[Any, asyncio.Future[Any]]], elsewhere: set[asyncio.Task[None]]
    ) -> None:
        """Ingest records to the other writer in ``ELSEWHERE_DEPTH`` batches of at least ``ELSEWHERE_BATCH``,
        each a task of ``elsewhere`` until it is answered; returns once fewer than ``ELSEWHERE_DEPTH`` batches
        wait there."""
        size = max(ELSEWHERE_BATCH, -(-len(ingests) // ELSEWHERE_DEPTH))
        for start in range(0, len(ingests), size):
            part = ingests[start : start + size]
            job = functools.partial(self._ingest_elsewhere, records=[p for p, _ in part])
            await self._to_elsewhere(db, [f for _, f in part], job, elsewhere)

    def _movable(self, job: Job) -> bool:
        """Whether ``job`` is one of this store's ``ELSEWHERE`` writes, with its arguments named."""
        return (
            isinstance(job, functools.partial)
            and getattr(job.func, "__self__", None) is self
            and job.func.__name__ in self.ELSEWHERE
            and not job.args
        )

    async def _job_elsewhere(
        self,
        db: Db,
        job: functools.partial[Any],
        futures: list[asyncio.Future[Any]],
        elsewhere: set[asyncio.Task[None]],
        *,
        each: bool,
    ) -> None:
        """``job`` (an ``ELSEWHERE`` write) to the other writer; ``each``: it answers each of ``futures`` (a list),
        else the one. One such write at the other writer at a time (``_job_slot``)."""
        await self._job_slot(db, elsewhere)
        job = functools.partial(self._write_elsewhere, job=job, each=each)
        await self._to_elsewhere(db, futures, job, elsewhere, away=self._jobs_away)

    async def _job_slot(self, db: Db, elsewhere: set[asyncio.Task[None]]) -> None:
        """Wait until no dispatcher's write (a claim, outcomes, receipts) is at the other writer. Ingest batches
        that come meanwhile are sent at once, ahead of the write waiting here; anything else waits its turn in
        order (``_stash``). So a warning waits there behind one of the dispatcher's writes at most, not
        behind the several a busy dispatcher would otherwise have queued before it. The store stopping (None)
        goes back to the queue's end, as the write loop puts it, and this waits for the write away alone."""
        while self._jobs_away:
            getter = asyncio.ensure_future(self._queue.get())
            await asyncio.wait({getter, *self._jobs_away}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()  # nothing is taken off the queue (``Queue.get`` gives up cleanly) unless it was already
                await asyncio.wait({getter})
            if getter.cancelled():
                continue
            taken = [getter.result()]
            while taken[-1] is not None and not self._queue.empty():
                taken.append(self._queue.get_nowait())
            stopping = taken[-1] is None
            if stopping:
                taken.pop()
                await self._queue.put(None)
            self._stash += [item for item in taken if item is not None and item[0] != "ingest"]
            ingests = [(item[1], item[2]) for item in taken if item is not None and item[0] == "ingest"]
            if ingests:
                await self._send_elsewhere(db, ingests, elsewhere)
            if stopping:
                if self._jobs_away:
                    await asyncio.wait(set(self._jobs_away))
                return

    async def _to_elsewhere(
        self,
        db: Db,
        futures: list[asyncio.Future[Any]],
        job: Job,
        elsewhere: set[asyncio.Task[None]],
        away: set[asyncio.Task[None]] | None = None,
    ) -> None:
        """One transaction to the other writer (``job`` has it made there), a task of ``elsewhere`` (and of
        ``away``) until it is answered, after those sent before; returns once fewer than ``ELSEWHERE_DEPTH``
        wait there."""
        elsewhere.add(task := asyncio.create_task(self._run(db, futures, job, local=False)))
        task.add_done_callback(elsewhere.discard)
        if away is not None:
            away.add(task)
            task.add_done_callback(away.discard)
        while len(elsewhere) >= ELSEWHERE_DEPTH:
            await asyncio.wait(elsewhere, return_when=asyncio.FIRST_COMPLETED)

    async def _write_elsewhere(self, db: Db, job: functools.partial[Any], each: bool) -> list[Any]:  # noqa: ARG002 - a Job
        assert self._elsewhere is not None
        result = await self._elsewhere.job(job.func.__name__, job.keywords)
        return list(result) if each else [result]

    async def _receipts_and_jobs(self, db: Db, receipts: list[Any], jobs: list[Job]) -> list[Any]:
        """Providers' receipts (set by set, ``_receipt_batch``) and other writes, in one transaction."""
        if not receipts and len(jobs) == 1:  # alone in its transaction: if it fails, the transaction is undone
            return [await jobs[0](db)]
        out = await self._receipt_batch(db, receipts) if receipts else []
        return out + await self._jobs(db, jobs)

    async def _jobs(self, db: Db, jobs: list[Job]) -> list[Any]:
        """Several writes in one transaction (one commit), each inside its own savepoint: one that fails
        is undone alone and its caller hears why; the others commit."""
        out: list[Any] = []
        for job in jobs:
            saved, head = dict(self._next), self._head
            await db.execute("SAVEPOINT job")
            try:
                out.append(await job(db))
            except Exception as exc:
                await db.execute("ROLLBACK TO SAVEPOINT job")
                self._next, self._head = saved, head
                out.append(_Failed(self._told(exc)))
            await db.execute("RELEASE SAVEPOINT job")
        return out

    async def _run(self, db: Db, futures: list[asyncio.Future[Any]], job: Job, *, local: bool = True) -> None:
        """One write transaction (``local``: on this connection; else ``job`` has it written elsewhere, and
        awaits it on this loop); ``job`` returns one result per future (or ``_Failed``)."""
        try:
            result = await (self._on_writer(self._transaction(db, job)) if local else job(db))
        except Exception as caught:  # the whole transaction failed: every waiter hears why
            exc = self._told(caught)
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            return
        self.last_write_at = self.clock()
        self._keep_shapes()
        if self._handing:
            handed, self._handing = self._handing, []
            try:
                assert self._take is not None
                self._take(handed)
            except Exception:  # not taken: due again at once, claimed as usual
                log.exception("handover_failed", count=len(handed))
                self._release_soon([c.id for c in handed])
        for future, value in zip(futures, result, strict=True):
            if future.done():
                continue
            if isinstance(value, _Failed):
                future.set_exception(value.exc)
            else:
                future.set_result(value)

    def _keep_shapes(self) -> None:
        """After a commit: the shapes its transaction found or wrote are known committed."""
        if self._shapes_seen:
            if len(self._shape_seqs) > 100_000:
                self._shape_seqs.clear()
            self._shape_seqs.update(self._shapes_seen)
            self._shapes_seen.clear()

    async def _transaction(self, db: Db, job: Job) -> Any:
        """Begin, ``job``, commit; on failure everything the writer counted in it is undone and it raises."""
        saved, head = dict(self._next), self._head
        try:
            await self._begin(db)
            if self.shared or self.alternating or self._elsewhere is not None:  # others write too: ids read again
                await self._ends(db)
            else:
                await self._audit_tail(db)
            result = await job(db)
            await db.execute("COMMIT")
        except Exception:
            self._next, self._head = saved, head
            self._shapes_seen.clear()
            self._handing.clear()
            self._opening_of.clear()  # a shape written in this transaction is not there: its seq may be reused
            with contextlib.suppress(Exception):
                await db.execute("ROLLBACK")
            raise
        return result

    async def _on_writer(self, transaction: Coroutine[Any, Any, Any]) -> Any:
        """Run a transaction on the writer's own thread when it has one: its statements follow one
        another there without waiting, each, for a turn of the loop that serves requests."""
        if self._thread_loop is None:
            return await transaction
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(transaction, self._thread_loop))

    async def _ingest_elsewhere(self, db: Db, records: list[Any]) -> list[Any]:  # noqa: ARG002 - a Job
        """Have ``_elsewhere`` write a batch of ingest records; its reports leased for this process's dispatcher
        are handed over as a local batch's are."""
        assert self._elsewhere is not None
        outcomes, handed = await self._elsewhere.ingest(records, self.clock(), self._hand_lease)
        self._handing += handed
        return outcomes

    async def _audit_tail(self, db: Db) -> None:
        """Where the chain ends, read inside the write transaction: an administrative command beside the
        server (``warnroute token``) may have appended to it."""
        rows = await fetch(db, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        row = rows[0] if rows else None
        self._next["audit"], self._head = (int(row[0]) + 1, str(row[1])) if row else (1, GENESIS)

    async def _audit(self, db: Db, events: list[AuditEvent]) -> None:
        """Append events to the hash chain, inside the caller's transaction."""
        if not events:
            return
        rows = []
        prev = self._head
        for seq, (at, kind, warning_id, obligation_id, detail) in zip(
            self._ids("audit", len(events)), events, strict=True
        ):
            text = orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode()
            digest = link(prev, seq, at, kind, warning_id, obligation_id, text)
            rows.append((seq, at, kind, warning_id, obligation_id, text, prev, digest))
            prev = digest
        await db.executemany(INSERT_AUDIT, rows)
        self._head = prev

    def room(self) -> str | None:
        """Why the store should take no new work now (its disk is below the reserve kept for work already
        accepted), or None. Asked before a warning is accepted."""
        return None

    def unavailable(self, exc: Exception) -> str | None:  # noqa: ARG002 - the databases' stores read it
        """``exc`` in words when it means the store cannot write now (a full disk, a lost database), else
        None (a bug, or a conflict the caller handles)."""
        return None

    def _told(self, exc: Exception) -> Exception:
        """What a waiter hears of a failed write: StoreUnavailable when the store cannot write now."""
        why = self.unavailable(exc)
        if why is None:
            return exc
        log.warning("store_unavailable", problem=why)
        told = StoreUnavailable(why)
        told.__cause__ = exc
        return told

    def backlog(self) -> int:
        """Writes waiting for the writer: how far behind the store is."""
        return self._queue.qsize() + len(self._stash)

    def _ids(self, table: str, n: int) -> range:
        start = self._next[table]
        self._next[table] = start + n
        return range(start, start + n)

    async def _ingest_batch(self, db: Db, records: list[Any]) -> list[Any]:
        """Write a batch of ingest records in the writer's transaction; one outcome per record."""
        raise NotImplementedError

    async def _receipt_batch(self, db: Db, receipts: list[Any]) -> list[Any]:
        """Apply a batch of providers' receipts in the writer's transaction; one answer per receipt."""
        raise NotImplementedError
