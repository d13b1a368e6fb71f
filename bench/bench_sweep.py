"""Benchmark: the escalation scheduler over a store holding many open obligations.

    python -m bench.bench_sweep [--open 1000000] [--batch 1000] [--stepped 100000] [--json FILE]

Builds an embedded store (a real SQLite file) with ``--open`` open obligations whose next steps are
spread over 30 minutes, then measures on that store:

* the sweep: one scheduler pass (find what is due now among all open obligations) when nothing is
  due, and when ``--batch`` are due, beside the raw indexed SELECT of as many due rows;
* escalation throughput: obligations stepped per second by repeated scheduler passes (each pass:
  select due, decide the ladder step, write notifications, step advance and audit events in one
  transaction), beside the raw building block of the same transaction shape in plain sqlite3
  (select the due rows, insert one send each, update each row) in the same run.

The raw block has its own fixed schema in its own file (narrow rows of ints and one id, one index beside
the primary key, due times drawn as the obligations' are): it measures the machine, never warnroute's
tables (DESIGN §11).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from router.metrics import Metrics
from router.obligations.scheduler import Scheduler
from router.plan.config import load_config
from router.store import SqliteStore
from router.store.schema import of_warning

T0 = 1_800_000_000.0
SPREAD = 1800.0
PER_WARNING = 30
DEPARTMENTS = ("water", "health", "transport", "education_sports", "agriculture", "energy")


def build(path: Path, n: int) -> None:
    """``n`` open obligations, ``PER_WARNING`` per warning, next steps uniform over ``SPREAD`` seconds."""
    asyncio.run(_create(path))
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    rng = random.Random(7)
    warnings = n // PER_WARNING + 1
    with db:
        db.executemany(
            "INSERT INTO warnings (seq, identifier, sender, sent, content_hash, lineage, received_at, product, hazard,"
            " severity, jurisdiction, status, msg_type, reference_unknown, warning_json, decision_json, told_json,"
            " first_obligation, last_obligation) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                (
                    i,
                    f"w{i}",
                    "bench",
                    "2027-01-15T08:00:00+08:00",
                    "h",
                    f"w{i}",
                    "",
                    "signal",
                    "rainstorm",
                    "blue",
                    "530324",
                    "actual",
                    "alert",
                    0,
                    "{}",
                    "{}",
                    "[]",
                    max(1, (i - 1) * PER_WARNING),  # its obligations' run of seqs (seq // PER_WARNING + 1 = i)
                    min(n, i * PER_WARNING - 1),
                )
                for i in range(1, warnings + 1)
            ),
        )
        db.executemany(  # what the obligations of one department share, stored once
            "INSERT INTO shapes (seq, sha, department, jurisdiction, kind, task, clause, mandatory, channels, ladder,"
            " ack_mode, head) VALUES (?, ?, ?, '530324', 'respond', NULL, '5.3.1', 0, 'feed,webhook,sms,voice',"
            " 'standard', 'required', '{\"due_at\":')",
            [(k + 1, f"s{k}", d) for k, d in enumerate(DEPARTMENTS)],
        )
        rows = []
        for i in range(1, n + 1):
            start = T0 + rng.random() * SPREAD
            rows.append(
                (
                    i,
                    f"o{i}",
                    i // PER_WARNING + 1,
                    i % len(DEPARTMENTS) + 1,  # its department's shape
                    "",
                    "pending",
                    start,
                    start,
                    start + SPREAD,
                    1,
                    start + 180,
                )
            )
            if len(rows) == 100_000:
                _insert(db, rows)
                rows = []
        _insert(db, rows)
        db.execute(  # each warning's nearest step, as the store keeps it (migration 15)
            "UPDATE warnings SET next_at = (SELECT MIN(o.next_step_at) FROM obligations o"
            f" WHERE {of_warning('o', 'warnings')})"
        )
    db.close()


def _insert(db: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    db.executemany(
        "INSERT INTO obligations (seq, id, warning_seq, shape_seq, due_at, state, created_at, start_at, deadline,"
        " next_step, next_step_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )


async def _create(path: Path) -> None:
    store = SqliteStore(path)
    await store.open()
    await store.close()


def nth_due(path: Path, k: int) -> float:
    """The time at which exactly ``k`` obligations are due."""
    db = sqlite3.connect(path)
    row = db.execute(
        "SELECT next_step_at FROM obligations WHERE next_step_at IS NOT NULL ORDER BY next_step_at LIMIT 1 OFFSET ?",
        (k - 1,),
    ).fetchone()
    db.close()
    return float(row[0])


RAW_SCHEMA = (  # the raw block's own, whatever warnroute's store writes (DESIGN §11)
    "CREATE TABLE raw_row (seq INTEGER PRIMARY KEY, message INTEGER NOT NULL, kind INTEGER NOT NULL,"
    " step INTEGER NOT NULL, due REAL, deadline REAL NOT NULL, id TEXT NOT NULL)",
    "CREATE INDEX raw_row_due ON raw_row (due) WHERE due IS NOT NULL",
    "CREATE TABLE raw_send (seq INTEGER PRIMARY KEY, row INTEGER NOT NULL, due REAL NOT NULL, id TEXT NOT NULL)",
)


def build_raw(path: Path, n: int) -> None:
    """The raw block's table: ``n`` narrow rows (ints, one id of at most 24 bytes), due times drawn as the
    obligations' are, one index beside the primary key; in its own file, on the store's settings."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    for statement in RAW_SCHEMA:
        db.execute(statement)
    rng = random.Random(7)
    with db:
        for first in range(1, n + 1, 100_000):
            rows = []
            for i in range(first, min(first + 100_000, n + 1)):
                start = T0 + rng.random() * SPREAD
                rows.append(
                    (i, i // PER_WARNING + 1, i % len(DEPARTMENTS) + 1, 1, start + 180, start + SPREAD, f"o{i}")
                )
            db.executemany("INSERT INTO raw_row VALUES (?,?,?,?,?,?,?)", rows)
    db.close()


def raw_nth_due(path: Path, k: int) -> float:
    db = sqlite3.connect(path)
    row = db.execute("SELECT due FROM raw_row WHERE due IS NOT NULL ORDER BY due LIMIT 1 OFFSET ?", (k - 1,)).fetchone()
    db.close()
    return float(row[0])


def raw_select(path: Path, now: float, limit: int, reps: int) -> list[float]:
    """The indexed SELECT of what is due, on the raw block's table."""
    db = sqlite3.connect(path)
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        db.execute(
            "SELECT seq, id, kind, step, deadline FROM raw_row WHERE due IS NOT NULL AND due <= ? ORDER BY due LIMIT ?",
            (now, limit),
        ).fetchall()
        times.append(time.perf_counter() - started)
    db.close()
    return times


def raw_steps(path: Path, batch: int, total: int) -> float:
    """Rows/s through the same transaction shape on the raw block's tables in plain sqlite3, synchronous=FULL:
    select what is due, insert one send each, move each row's due time on; one commit per batch."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=FULL")
    now = T0 + SPREAD / 2
    seq = 1
    done = 0
    started = time.perf_counter()
    while done < total:
        db.execute("BEGIN IMMEDIATE")
        rows = db.execute(
            "SELECT seq, id FROM raw_row WHERE due IS NOT NULL AND due <= ? ORDER BY due LIMIT ?", (now, batch)
        ).fetchall()
        if not rows:
            db.execute("COMMIT")
            break
        db.executemany(
            "INSERT INTO raw_send (seq, row, due, id) VALUES (?,?,?,?)",
            [(seq + i, r[0], now, f"{r[1]}.s1") for i, r in enumerate(rows)],
        )
        seq += len(rows)
        db.executemany(
            "UPDATE raw_row SET step = step + 1, due = ? WHERE seq = ?", [(now + 10 * SPREAD, r[0]) for r in rows]
        )
        db.execute("COMMIT")
        done += len(rows)
    elapsed = time.perf_counter() - started
    db.close()
    return done / elapsed


async def scheduler_runs(path: Path, batch: int, stepped: int) -> dict[str, Any]:
    config = load_config()
    clock = [T0 - 10.0]
    store = SqliteStore(path, clock=lambda: clock[0])
    await store.open()
    scheduler = Scheduler(
        store, config, Metrics(CollectorRegistry()), lambda: None, clock=lambda: clock[0], batch=batch
    )
    idle = []
    for _ in range(20):
        started = time.perf_counter()
        assert await scheduler.pass_once() == 0
        idle.append(time.perf_counter() - started)
    clock[0] = nth_due(path, batch)
    started = time.perf_counter()
    first = await scheduler.pass_once()
    one_batch = time.perf_counter() - started
    clock[0] = T0 + SPREAD / 2  # about half of all obligations are due at their second rung
    done = 0
    started = time.perf_counter()
    while done < stepped:
        n = await scheduler.pass_once()
        if n == 0:
            break
        done += n
    elapsed = time.perf_counter() - started
    await store.close()
    return {"idle": idle, "first": first, "one_batch": one_batch, "stepped": done, "rate": done / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--open", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--stepped", type=int, default=100_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sweep.db"
        started = time.perf_counter()
        build(path, args.open)
        print(f"built {args.open:,} open obligations in {time.perf_counter() - started:.1f} s")
        raw = Path(tmp) / "raw.db"
        build_raw(raw, args.open)
        raw_idle = statistics.median(raw_select(raw, T0 - 10, args.batch, 20))
        raw_batch = statistics.median(raw_select(raw, raw_nth_due(raw, args.batch), args.batch, 5))
        ours = asyncio.run(scheduler_runs(path, args.batch, args.stepped))
        raw_rate = raw_steps(raw, args.batch, args.stepped)
    idle = statistics.median(ours["idle"])
    result = {
        "machine": platform.platform(),
        "open_obligations": args.open,
        "sweep_nothing_due_ms": round(idle * 1000, 3),
        "raw_select_nothing_due_ms": round(raw_idle * 1000, 3),
        "sweep_batch_due": ours["first"],
        "sweep_one_batch_ms": round(ours["one_batch"] * 1000, 1),
        "raw_select_one_batch_ms": round(raw_batch * 1000, 1),
        "escalation_steps_per_s": round(ours["rate"]),
        "raw_transaction_steps_per_s": round(raw_rate),
        "ratio_vs_raw": round(ours["rate"] / raw_rate, 2),
        "stepped": ours["stepped"],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
