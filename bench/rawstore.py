"""The raw building block under the store: the rows warnroute writes, inserted directly.

``warnroute_records`` builds exactly what warnroute would write for some messages (parsed, routed and laid out
by warnroute itself, before any timing); ``raw_rows`` then times only inserting those rows, in the
store's batch shape and statements, on the store's own connection, bypassing everything else.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from router.ingest.service import ingest_record
from router.parsers import parse_message
from router.plan.config import RoutingConfig
from router.routing.route import route
from router.store import IngestRecord, SqlStore
from router.store.sql import INSERT_NOTIFICATIONS, INSERT_OBLIGATIONS, INSERT_WARNINGS, ingest_rows
from router.store.writer import INSERT_AUDIT


def warnroute_records(config: RoutingConfig, messages: Sequence[bytes]) -> list[IngestRecord]:
    """What warnroute writes for each message (each a new warning)."""
    out = []
    for data in messages:
        warning = parse_message(data, config)
        decision = route(warning, config, now=datetime.now(UTC))
        out.append(ingest_record(config, warning, decision, warning.id, False, time.time()))
    return out


async def raw_rows(store: SqlStore, rows_of: Sequence[IngestRecord], batch: int = 256) -> float:
    """Warnings/s for inserting the rows of ``rows_of`` (warnings, obligations, notifications and the two
    audit events each), ``batch`` warnings per transaction, on the store's own connection (SQLite: WAL,
    synchronous=FULL; PostgreSQL: the write lock). ``store`` is not opened; its database must be empty."""
    db = await store._connect()
    await store._migrate(db)
    counters = {table: itertools.count(1) for table in ("warnings", "obligations", "notifications", "audit")}

    def ids(table: str, n: int) -> range:
        first = next(counters[table])
        for _ in range(n - 1):
            next(counters[table])
        return range(first, first + n)

    now = time.time()
    batches = []
    for start in range(0, len(rows_of), batch):
        new = [(ids("warnings", 1)[0], r) for r in rows_of[start : start + batch]]
        warnings, obligations, notifications, _ = ingest_rows(new, now, ids)
        audit = [
            (seq, now, kind, r.identifier, None, "{}", "0" * 64, "0" * 64)
            for r in rows_of[start : start + batch]
            for kind, seq in zip(("received", "routed"), ids("audit", 2), strict=True)
        ]
        batches.append((warnings, obligations, notifications, audit))
    began = time.perf_counter()
    for warnings, obligations, notifications, audit in batches:
        await store._begin(db)
        await db.executemany(INSERT_WARNINGS, warnings)
        await db.executemany(INSERT_OBLIGATIONS, obligations)
        await db.executemany(INSERT_NOTIFICATIONS, notifications)
        await db.executemany(INSERT_AUDIT, audit)
        await db.execute("COMMIT")
    elapsed = time.perf_counter() - began
    await db.close()
    return len(rows_of) / elapsed
