"""The embedded store's busiest transactions in a process of their own, on a core of their own.

One Python process serves requests and writes: a transaction of sixteen warnings took twice its CPU in
wall time, waiting for the interpreter lock that serving held. So the SQLite store writes in a child
process (``WriterProcess``) its ingest batches and the outbox's claims, outcomes and receipts
(``SqlStore.ELSEWHERE``: what the dispatcher writes while warnings arrive), and keeps the other writes
(acknowledgements, reports, the ladders' steps) on the parent's writer thread. The parent's write loop
sends the child up to ``ELSEWHERE_DEPTH`` transactions at once (it starts the next as it commits one), in
the order they came, except that only one of the dispatcher's writes is at the child at a time and an
ingest batch that comes while the next waits goes ahead of it (``Writer._job_slot``: a warning waits behind
one claim at most). The child commits the ingest batches that wait for it together, in one transaction, each
written as it would be alone (``_ingest``): a commit's fixed cost (the lock, the ids read again, the sync to
disk) is shared by however many warnings came while the last was written, and the first of them never waits
for more to come. The parent runs a write of its own only once the child has answered all it was sent, so the
two connections never wait for SQLite's write lock. Each re-reads where ids and the audit chain end
before it writes (``Writer._ends``).

What crosses is narrow. A new warning whose obligations all open on time is laid out by its
classification's ``Pattern`` (every obligation's shape, deadline and next step): the pattern crosses once
per child, and then each such warning's obligations cross as its token, the warning's key, its start and
its deadlines. Otherwise an obligation's shape (what obligations of one classification share, the long
action text among it) crosses once per child, as a token, and each obligation as its id, its clocks and
its token (``encode``). The child builds the same ``IngestRecord`` again (``decode``) and
writes it with the same code as the parent would (``SqlStore._ingest_batch``). It answers with what the
parent does not hold: each record's status, cancelled count and feed cursors, and the §4.3 reports it
leased for the parent's dispatcher. A claim, outcome or receipt write crosses as the store method's name
and its arguments, and its result comes back as the parent's own write would return it.

The child ignores SIGINT and SIGTERM: it stops when its parent says so, or when its parent's end of the
pipe closes (the parent died). If it dies, what it held fails (its waiters hear the store is unavailable,
and a client that retries gets ``duplicate`` if it had committed), what it may have leased (the reports of
a batch, the notifications of a claim) is released, and the next write starts a new child.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import multiprocessing
import operator
import os
import pickle
import signal
import socket
import struct
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from router.errors import StoreUnavailable
from router.heap import settle_heap
from router.store.base import (
    OWN,
    SHAPE_OF,
    ClaimedNotification,
    Drafted,
    IngestOutcome,
    IngestRecord,
    ObligationRow,
    Pattern,
)

if TYPE_CHECKING:
    from router.store.reads import Db
    from router.store.sql import SqlStore

log = structlog.get_logger("warnroute.store")

RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(IngestRecord))
OBLIGATIONS = RECORD_FIELDS.index("obligations")
FIELDS_OF = operator.attrgetter(*RECORD_FIELDS)  # a record's fields, in order
# ObligationRow's fields that its shape fixes, and those of its own (the rest).
TOKENS_MAX = 50_000  # shapes remembered per child; past it both sides start again (a config reloaded many times)
PATTERNS_MAX = 1_000  # patterns remembered per child (``Pattern``, ~45 KB each there), likewise
INGEST, JOB = "ingest", "job"  # what a message to the child asks: write a batch (``Encoder``), or a store's write
GROUP_RECORDS = 256  # at most this many warnings of batches that waited are committed together (``_ingest``)
FRAME = struct.Struct("!i")  # a ``multiprocessing.connection.Connection`` message's length, before it


class WriterStopped(StoreUnavailable):
    """The writer's process died holding a batch: whether that batch committed is unknown."""

    undone = False


class Encoder:
    """The parent's side of what crosses: it remembers which shapes and patterns the child holds."""

    def __init__(self) -> None:
        self.tokens: dict[tuple[Any, ...], int] = {}
        self.patterns: dict[int, tuple[Pattern, int]] = {}  # by the pattern's id (it is kept, so the id is its own)

    def encode(self, records: list[IngestRecord], now: float, lease: float | None) -> bytes:
        tokens, patterns, new, laid = self.tokens, self.patterns, {}, {}
        reset = len(tokens) > TOKENS_MAX or len(patterns) > PATTERNS_MAX
        if reset:
            tokens.clear()
            patterns.clear()
        out = []
        for r in records:
            fields = list(FIELDS_OF(r))
            obligations = r.obligations
            if isinstance(obligations, Drafted):  # its pattern's token, and what is this warning's own
                pattern = obligations.pattern
                known_pattern = patterns.get(id(pattern))
                if known_pattern is None:
                    known_pattern = patterns[id(pattern)] = (pattern, len(patterns))
                    laid[known_pattern[1]] = pattern.wire()
                fields[OBLIGATIONS] = (known_pattern[1], obligations.key, obligations.start, obligations.deadlines)
                out.append(fields)
                continue
            keys = list(map(SHAPE_OF, obligations))
            known = list(map(tokens.get, keys))
            if None in known:  # a shape the child has not been sent
                for i, token in enumerate(known):
                    if token is None:
                        token = tokens.get(keys[i])
                        if token is None:
                            token = tokens[keys[i]] = len(tokens)
                            new[token] = keys[i]
                        known[i] = token
            fields[OBLIGATIONS] = (list(map(OWN, obligations)), known)
            out.append(fields)
        return pickle.dumps((INGEST, now, lease, reset, new, laid, out), protocol=pickle.HIGHEST_PROTOCOL)


class Decoder:
    """The child's side: the shapes and patterns it was sent, by token."""

    def __init__(self) -> None:
        self.shapes: dict[int, tuple[Any, ...]] = {}
        self.patterns: dict[int, Pattern] = {}

    def decode(self, message: tuple[Any, ...]) -> tuple[float, float | None, list[IngestRecord]]:
        """An ``INGEST`` message's (unpickled) records."""
        _, now, lease, reset, new, laid, records = message
        if reset:
            self.shapes.clear()
            self.patterns.clear()
        self.shapes.update(new)
        self.patterns.update((token, Pattern(*wire)) for token, wire in laid.items())
        shapes, patterns = self.shapes, self.patterns
        out = []
        for fields in records:
            obligations = fields[OBLIGATIONS]
            if len(obligations) == 4:  # a pattern's token, the key, the start and the deadlines
                token, key, start, deadlines = obligations
                fields[OBLIGATIONS] = Drafted(patterns[token], key, start, deadlines)
            else:
                own, known = obligations
                fields[OBLIGATIONS] = tuple(
                    ObligationRow._make((w[0], *s[:6], *w[1:5], *s[6:9], w[5], w[6], *s[9:], w[7]))
                    for w, s in zip(own, map(shapes.__getitem__, known), strict=True)
                )
            out.append(IngestRecord(*fields))
        return now, lease, out


def answer(outcomes: list[IngestOutcome], handed: list[ClaimedNotification]) -> bytes:
    """What the child says of a committed batch: per record what the parent does not hold."""
    rows = [
        (o.status, o.cancelled, o.problem, o.obligation_seqs, o.obligations if o.status == "duplicate" else None)
        for o in outcomes
    ]
    return done((rows, handed))


def done(result: Any) -> bytes:
    """What the child says of a store's write it committed: what the write returned."""
    return pickle.dumps((True, result), protocol=pickle.HIGHEST_PROTOCOL)


def result_of(data: bytes) -> Any:
    """The parent's reading of ``done``; raises what the child could not write."""
    ok, result = pickle.loads(data)
    if not ok:
        raise result
    return result


def failure(exc: Exception) -> bytes:
    """What the child says of a batch it could not write (its transaction undone): the exception itself when
    it crosses, else its words."""
    try:
        return pickle.dumps((False, exc), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))


def outcomes_of(data: bytes, records: list[IngestRecord]) -> tuple[list[IngestOutcome], list[ClaimedNotification]]:
    """The parent's reading of the child's answer: the outcomes ``SqlStore.ingest`` gives, and the handed reports.
    Raises what the child could not write."""
    rows, handed = result_of(data)
    outcomes = [
        IngestOutcome(
            status,
            r.identifier,
            (r.obligations if status == "created" else obligations or ()),
            cancelled,
            problem,
            seqs,
        )
        for r, (status, cancelled, problem, seqs, obligations) in zip(records, rows, strict=True)
    ]
    return outcomes, handed


class WriterProcess:
    """The parent's handle on the child: started at open, and again by the next write after it died. Used on
    the loop that serves requests: a write is encoded there and its answer read there as soon as it comes,
    with no thread to wake (the parent's end of the pipe is an asyncio stream; the child's, a blocking
    ``Connection``, whose framing the stream writes and reads). Writes may be sent before the last is
    answered: the child makes them in order, and answers in order. ``writer.Elsewhere`` is what it does."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._process: multiprocessing.process.BaseProcess | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self._answers: collections.deque[asyncio.Future[bytes]] = collections.deque()
        self._encoder = Encoder()
        self._starting = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        """Start the child now (else the next batch starts it)."""
        async with self._starting:
            if self._writer is None or not self._alive():
                await self._start()

    async def _start(self) -> asyncio.StreamWriter:
        await self._forget()
        process, sock = await asyncio.to_thread(_spawn, self.path)
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        self._process, self._writer, self._encoder = process, writer, Encoder()
        self._reading = asyncio.create_task(self._read(reader), name="store-writer-answers")
        log.info("writer_process_started", pid=process.pid)
        return writer

    async def _read(self, reader: asyncio.StreamReader) -> None:
        """The child's answers, in the order of the batches sent; when it stops, what it held fails."""
        try:
            while True:
                (size,) = FRAME.unpack(await reader.readexactly(FRAME.size))
                answer = await reader.readexactly(size)
                self._answers.popleft().set_result(answer)
        except (OSError, asyncio.IncompleteReadError):
            code = self._process.exitcode if self._process is not None else None
            if self._answers:
                log.error("writer_process_stopped", exitcode=code, writes=len(self._answers))
            while self._answers:
                self._answers.popleft().set_exception(
                    WriterStopped(f"the store's writer process stopped (exit code {code}) while writing it")
                )

    async def ingest(
        self, records: list[IngestRecord], now: float, lease: float | None
    ) -> tuple[list[IngestOutcome], list[ClaimedNotification]]:
        """Have the child write ``records`` in one transaction."""
        return outcomes_of(await self._send(lambda: self._encoder.encode(records, now, lease)), records)

    async def job(self, name: str, arguments: dict[str, Any]) -> Any:
        """Have the child make the store's write ``name`` with ``arguments``, in one transaction."""
        message = pickle.dumps((JOB, name, arguments), protocol=pickle.HIGHEST_PROTOCOL)
        return result_of(await self._send(lambda: message))

    async def _send(self, encode: Callable[[], bytes]) -> bytes:
        """Send what ``encode`` makes (once the child is there: a new child holds no shapes) and await the answer."""
        async with self._starting:  # one child at a time, however many writes find it gone
            writer = self._writer if self._writer is not None and self._alive() else await self._start()
        answered: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        data = encode()
        self._answers.append(answered)
        writer.write(FRAME.pack(len(data)) + data)
        with contextlib.suppress(OSError):  # the child is gone: the reader fails what it held
            await writer.drain()
        return await answered

    def _alive(self) -> bool:
        return self._process is not None and self._process.is_alive() and not self._writer_closing()

    def _writer_closing(self) -> bool:
        return self._writer is None or self._writer.is_closing() or self._reading is None or self._reading.done()

    async def _forget(self) -> None:
        if self._writer is not None:
            self._writer.close()
        process, self._process, self._writer = self._process, None, None
        if process is not None:
            await asyncio.to_thread(_reap, process)
        if self._reading is not None:
            await self._reading  # the child has exited: its end is closed, and what it held has failed
            self._reading = None

    async def close(self) -> None:
        """Stop the child: it finishes the batches it holds (none, when the write loop has stopped), then exits."""
        if self._writer is not None:
            with contextlib.suppress(OSError):
                self._writer.write(FRAME.pack(0))  # an empty message: stop
                await self._writer.drain()
        await self._forget()


def _spawn(path: Path) -> tuple[multiprocessing.process.BaseProcess, socket.socket]:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    parent, child = ctx.Pipe()
    process = ctx.Process(target=main, args=(child, str(path)), name="store-ingest", daemon=True)
    process.start()
    child.close()
    sock = socket.socket(fileno=os.dup(parent.fileno()))  # a socket pair's end: the parent's stream
    parent.close()
    return process, sock


def _reap(process: multiprocessing.process.BaseProcess) -> None:
    """Wait for the child to exit (its end of the pipe is closed, or it was told to stop), then kill it by its
    pid if it has not."""
    process.join(timeout=10)
    if process.is_alive():
        process.kill()
        process.join(timeout=5)


def main(conn: Connection, path: str) -> None:
    """The child: one writer connection; a transaction per store's write it is sent, and one for the ingest
    batches waiting together; until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C is for the parent, which stops the child
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    asyncio.run(_serve(conn, Path(path)))


async def _serve(conn: Connection, path: Path) -> None:
    from router.store.sqlite import SqliteStore

    clock = [0.0]  # the time the batch being written was sent at (its message's ``now``)
    store = SqliteStore(path, clock=lambda: clock[0])
    store.own_thread = False
    store.alternating = True
    decoder = Decoder()
    db = await store._connect()
    settle_heap()  # once the store's modules are imported and its connection made: what the child lives with
    try:
        while True:
            try:
                data = conn.recv_bytes()
            except EOFError:  # the parent is gone
                return
            if not data:  # told to stop
                return
            message = pickle.loads(data)
            if message[0] == JOB:
                conn.send_bytes(await _job(store, db, message[1], message[2]))
                continue
            batches = [decoder.decode(message)]
            after = _waiting_batches(conn, decoder, batches)
            for reply in await _ingest(store, db, clock, batches):
                conn.send_bytes(reply)
            if after is None:  # told to stop, or the parent is gone, while the batches waited
                return
            if after:
                conn.send_bytes(await _job(store, db, after[1], after[2]))
    finally:
        await db.close()
        conn.close()


Batch = tuple[float, float | None, list[IngestRecord]]  # a decoded ``INGEST`` message: its now, lease and records


def _waiting_batches(conn: Connection, decoder: Decoder, batches: list[Batch]) -> tuple[Any, ...] | None:
    """Add to ``batches`` the ingest batches already sent and waiting, up to ``GROUP_RECORDS`` records in all, to
    be committed together (``_ingest``). Returns the message that ended it if it is a store's write (a
    ``JOB``), None if it said stop or the parent is gone, else ()."""
    count = len(batches[0][2])
    while count < GROUP_RECORDS and conn.poll():
        try:
            data = conn.recv_bytes()
        except EOFError:
            return None
        if not data:
            return None
        message = pickle.loads(data)
        if message[0] == JOB:
            return tuple(message)
        batches.append(decoder.decode(message))
        count += len(batches[-1][2])
    return ()


async def _ingest(store: SqlStore, db: Db, clock: list[float], batches: list[Batch]) -> list[bytes]:
    """Each batch's answer. Batches that waited for the one before are written in one transaction (one commit),
    each as it would be alone (its own time and lease). If that transaction fails, each is written in one of its
    own, so a batch fails only for what fails alone."""
    if len(batches) > 1:
        with contextlib.suppress(Exception):  # undone (``Writer._transaction``): each is written alone below
            written = await store._transaction(db, functools.partial(_batches, store, clock, batches))
            store._keep_shapes()
            return [answer(outcomes, handed) for outcomes, handed in written]
    replies = []
    for batch in batches:
        try:
            written = await store._transaction(db, functools.partial(_batches, store, clock, [batch]))
        except Exception as exc:
            replies.append(failure(exc))
            continue
        store._keep_shapes()
        replies += [answer(outcomes, handed) for outcomes, handed in written]
    return replies


async def _batches(
    store: SqlStore, clock: list[float], batches: list[Batch], db: Db
) -> list[tuple[list[IngestOutcome], list[ClaimedNotification]]]:
    """Write the batches in the transaction begun: each one's outcomes, and the reports it leased to hand over."""
    written = []
    for now, lease, records in batches:
        clock[0], store._hand_lease = now, lease
        outcomes = await store._ingest_batch(db, records)
        handed, store._handing = store._handing, []
        written.append((outcomes, handed))
    return written


async def _job(store: SqlStore, db: Db, name: str, arguments: dict[str, Any]) -> bytes:
    """One of the store's ``ELSEWHERE`` writes, in a transaction of its own: what it returned, or why not."""
    try:
        if name not in store.ELSEWHERE:
            raise ValueError(f"{name!r} is not a write the store's writer process makes")
        result = await store._transaction(db, functools.partial(getattr(store, name), **arguments))
    except Exception as exc:
        return failure(exc)
    return done(result)
