"""The raw building block under the store: what the machine's database does, whatever warnroute writes.

DESIGN §11: the store's block is the message bytes plus 45 narrow rows per warning (integers and ids of at
most 24 bytes, one index beside the primary key) in batches of 256 warnings per transaction. The schema is
fixed here and never follows warnroute's own; only the connection is the store's (SQLite in WAL with
synchronous=FULL, or PostgreSQL), so both sides of a ratio run on the same database settings.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from router.store import SqlStore

ROWS_PER_WARNING = 45
SCHEMA = (
    "CREATE TABLE raw_message (seq INTEGER PRIMARY KEY, body BLOB NOT NULL)",
    "CREATE TABLE raw_row (seq INTEGER PRIMARY KEY, message INTEGER NOT NULL, kind INTEGER NOT NULL,"
    " state INTEGER NOT NULL, due INTEGER NOT NULL, id TEXT NOT NULL, ref TEXT NOT NULL)",
    "CREATE INDEX raw_row_due ON raw_row (state, due)",
)
INSERT_MESSAGE = "INSERT INTO raw_message (seq, body) VALUES (?, ?)"
INSERT_ROW = "INSERT INTO raw_row (seq, message, kind, state, due, id, ref) VALUES (?, ?, ?, ?, ?, ?, ?)"


async def raw_rows(
    store: SqlStore, messages: Sequence[bytes], batch: int = 256, rows_per: int = ROWS_PER_WARNING
) -> float:
    """Warnings/s for writing each message's bytes and ``rows_per`` narrow rows, ``batch`` warnings per
    transaction, on a connection opened as the store opens its own. ``store`` is not opened; its database
    must be empty."""
    db = await store._connect()
    for statement in SCHEMA:
        ddl = store._ddl(statement)
        await db.execute(ddl.replace("BLOB", "BYTEA") if store.shared else ddl)  # PostgreSQL's word for bytes
    now = int(time.time())
    batches = []
    row = 0
    for start in range(0, len(messages), batch):
        bodies, rows = [], []
        for seq in range(start + 1, min(start + batch, len(messages)) + 1):
            bodies.append((seq, messages[seq - 1]))
            ref = f"{seq:020d}"  # 20 bytes
            for k in range(rows_per):
                row += 1
                rows.append((row, seq, k % 7, 0, now + 1800, f"{ref}.{k:03d}", ref))  # ids of 24 bytes
        batches.append((bodies, rows))
    began = time.perf_counter()
    for bodies, rows in batches:
        await db.execute("BEGIN")
        await db.executemany(INSERT_MESSAGE, bodies)
        await db.executemany(INSERT_ROW, rows)
        await db.execute("COMMIT")
    elapsed = time.perf_counter() - began
    await db.close()
    return len(messages) / elapsed
