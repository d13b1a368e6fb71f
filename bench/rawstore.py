"""The raw building block under the store: the same rows warnroute writes, inserted directly."""

from __future__ import annotations

import json
import time

from router.store import SqlStore


async def raw_rows(store: SqlStore, warnings: int, obligations: int, batch: int = 256) -> float:
    """Warnings/s for inserting the same rows the store writes, in the store's batch shape, on the store's
    own connection and transaction (SQLite: WAL, synchronous=FULL; PostgreSQL: the write lock), bypassing
    everything else of warnroute. ``store`` is not opened; the database must be empty."""
    db = await store._connect()
    await store._migrate(db)
    action = json.dumps({"department": "x" * 16, "text": "某" * 120, "channels": ["feed", "webhook", "sms"]})
    warning_json = "w" * 1200
    w_seq = o_seq = n_seq = 0
    start = time.perf_counter()
    for first in range(0, warnings, batch):
        rows_w, rows_o, rows_n = [], [], []
        for i in range(first, min(first + batch, warnings)):
            w_seq += 1
            rows_w.append(
                (
                    w_seq,
                    f"id-{i}",
                    "sender",
                    "2026",
                    "h" * 64,
                    f"id-{i}",
                    "now",
                    "signal",
                    "gale",
                    "yellow",
                    "530324",
                    "actual",
                    "alert",
                    0,
                    warning_json,
                    warning_json,
                    warning_json,
                )
            )
            for j in range(obligations):
                o_seq += 1
                rows_o.append(
                    (
                        o_seq,
                        f"{i}.{j}",
                        w_seq,
                        f"id-{i}",
                        "dept",
                        "530324",
                        "respond",
                        None,
                        "5.3.4",
                        0,
                        "2026",
                        action,
                        "pending",
                        0.0,
                    )
                )
                n_seq += 1
                rows_n.append((n_seq, f"{i}.{j}.webhook", o_seq, "webhook", "pending", 0.0, 0.0))
        await store._begin(db)
        await db.executemany(f"INSERT INTO warnings VALUES ({','.join('?' * 17)})", rows_w)
        await db.executemany(
            "INSERT INTO obligations (seq, id, warning_seq, lineage, department, jurisdiction, kind, task, clause,"
            " mandatory, due_at, action_json, state, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows_o,
        )
        await db.executemany(
            "INSERT INTO notifications (seq, id, obligation_seq, channel, state, next_attempt_at,"
            " created_at) VALUES (?,?,?,?,?,?,?)",
            rows_n,
        )
        await db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    await db.close()
    return warnings / elapsed
