"""Migrations carry a database written by a release before them (tests/data/release_db: a store written
by warnroute at commit 2c11729, schema 7, by ``write.py`` there, with the answers that release gave about
it; tests/data/release_13: the same storm written at commit 9624cd5, schema 13). Opened by the current
store, on SQLite and on PostgreSQL, the same questions get the same answers: every warning as the API gives
it, its compliance report, the feeds, the counts, one obligation, a department's obligations, the audit
chain's check. What obligations share is then stored once, and the migrated store goes on taking warnings
and acknowledgements."""

from __future__ import annotations

import asyncio
import gzip
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from router.plan.config import RoutingConfig
from router.store import PostgresStore, SqliteStore, SqlStore
from router.store.schema import MIGRATIONS
from tests.data.release_db.write import answers_of
from tests.support.pgserver import Postgres

RELEASE = Path(__file__).resolve().parents[1] / "data" / "release_db"
RELEASE_13 = RELEASE.parent / "release_13"
TABLES = ("warnings", "obligations", "notifications", "early_receipts", "audit", "principals", "cursors")
TABLES_13 = ("warnings", "shapes", "obligations", "reports", "report_copies", *TABLES[2:])


def release_db(tmp: Path, release: Path = RELEASE) -> Path:
    path = tmp / "warnroute.db"
    path.write_bytes(gzip.decompress((release / "warnroute.db.gz").read_bytes()))
    return path


def expected(release: Path = RELEASE) -> tuple[str, dict[str, Any]]:
    given = json.loads(gzip.decompress((release / "answers.json.gz").read_bytes()))
    return str(given["obligation_id"]), given["answers"]


def plain(value: Any) -> Any:
    """As the release wrote its answers down (JSON, anything else as its text)."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def kept(release: Any, now: Any) -> bool:
    """``now`` answers everything ``release`` did, the same: every key with an equal value, every list item
    by item; a key the release did not have (a field added since) is extra, not a difference."""
    if isinstance(release, dict):
        return isinstance(now, dict) and all(k in now and kept(v, now[k]) for k, v in release.items())
    if isinstance(release, list):
        return isinstance(now, list) and len(now) == len(release) and all(map(kept, release, now))
    return bool(release == now)


def as_released(url: str, released: Path, version: int, tables: tuple[str, ...]) -> None:
    """A PostgreSQL database as the release at schema ``version`` would have left it: its migrations, in
    PostgreSQL's words, and the rows of ``tables`` copied as they are from the SQLite store it wrote."""
    ddl = PostgresStore(url)._ddl
    source = sqlite3.connect(released)
    with psycopg.connect(url, autocommit=False) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for number, step in enumerate(MIGRATIONS[:version], start=1):
            script = step if isinstance(step, str) else step.postgres
            for statement in (s.strip() for s in script.split(";")):
                if statement:
                    conn.execute(ddl(statement))
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        for table in tables:
            cur = source.execute(f"SELECT * FROM {table}")
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
            if rows:
                marks = ",".join(["%s"] * len(names))
                with conn.cursor() as c:
                    c.executemany(f"INSERT INTO {table} ({','.join(names)}) VALUES ({marks})", rows)
        conn.commit()
    source.close()


def check(store: SqlStore, config: RoutingConfig, release: Path = RELEASE) -> None:
    obligation_id, answers = expected(release)

    async def scenario() -> None:
        await store.open()
        try:
            got = plain(await answers_of(store, config, obligation_id))
            for key in answers:
                assert kept(answers[key], got[key]), key
            # Fields added since the release read as "nothing yet" on what it wrote.
            for warning in got["warnings"].values():
                assert all(o["done_at"] is None and o["done_figures"] is None for o in warning["obligations"])
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_sqlite_store_written_by_the_release_gives_the_same_answers(config: RoutingConfig, tmp_path: Path) -> None:
    path = release_db(tmp_path)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT MAX(version) FROM schema_version").fetchone() == (7,)
        wide = db.execute("SELECT COUNT(*), COUNT(DISTINCT action_json) FROM obligations").fetchone()
    check(SqliteStore(path), config)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT MAX(version) FROM schema_version").fetchone() == (len(MIGRATIONS),)
        shapes = db.execute("SELECT COUNT(*), COUNT(DISTINCT sha), COUNT(sha) FROM shapes").fetchone()
        columns = {r[1] for r in db.execute("PRAGMA table_info(obligations)")}
    assert wide[0] == 204 and shapes[0] == shapes[1] == shapes[2]  # every shape keyed by its digest
    assert shapes[0] <= wide[1]  # no more shapes than distinct actions (the release's obligations share none)
    assert not columns & {"action_json", "department", "clause", "channels", "ladder", "lineage"}


def test_a_migrated_store_goes_on_taking_warnings(config: RoutingConfig, tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry

    from router.delivery.feed import FeedHub
    from router.ingest.service import IngestService, SentWindow
    from router.metrics import Metrics
    from tests.support.messages import json_message

    path = release_db(tmp_path)

    async def scenario() -> None:
        store = SqliteStore(path)
        await store.open()
        try:
            service = IngestService(
                config,
                store,
                Metrics(CollectorRegistry()),
                FeedHub(),
                lambda: None,
                sent_window=SentWindow(10**10, 10**10),
            )
            # The release's blue rainstorm shapes are found again by their digests: no new ones for it.
            before = (await store.counts())["obligations"]
            accepted = await service.submit(
                json_message(identifier="53032441600000_after", sent="2026-07-15T09:00:00+08:00")
            )
            assert accepted.outcome.status == "created"
            first = accepted.outcome.obligations[0].id
            assert (await store.acknowledge(first, "api", "水务局", 1784077300.0)).status == "acknowledged"
            after = (await store.counts())["obligations"]
            assert sum(after.values()) == sum(before.values()) + len(accepted.outcome.obligations)
        finally:
            await store.close()
        with sqlite3.connect(path) as db:
            reused = db.execute(
                "SELECT COUNT(*) FROM obligations o JOIN warnings w ON w.seq = o.warning_seq"
                " WHERE w.identifier = '53032441600000_after' AND o.shape_seq IN"
                " (SELECT o2.shape_seq FROM obligations o2 JOIN warnings w2 ON w2.seq = o2.warning_seq"
                " WHERE w2.identifier = '53032441600000_rel_0')"
            ).fetchone()[0]
        assert reused > 0  # the same classification's texts, stored once for both warnings

    asyncio.run(scenario())


@pytest.mark.usefixtures("postgres_server")
def test_a_postgresql_store_written_by_the_release_gives_the_same_answers(
    config: RoutingConfig, tmp_path: Path, postgres_server: Postgres
) -> None:
    url = postgres_server.create_database()
    assert all(isinstance(script, str) for script in MIGRATIONS[:7])  # the same for both databases then
    as_released(url, release_db(tmp_path), 7, TABLES)
    check(PostgresStore(url), config)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone() == (len(MIGRATIONS),)
        assert conn.execute("SELECT COUNT(*) FROM shapes WHERE sha IS NULL").fetchone() == (0,)


def test_a_migration_that_fails_leaves_the_database_to_the_next_opener(tmp_path: Path) -> None:
    """A database holding a table of another shape under warnroute's name (not one warnroute wrote): opening
    it stops with SQLite's reason, and the failed migration's write lock is not kept: another connection
    can take the database at once, and a later open stops for the same reason, not for a lock."""
    path = tmp_path / "warnroute.db"
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE warnings (name TEXT)")

    async def scenario() -> None:
        for _ in range(2):
            with pytest.raises(sqlite3.OperationalError, match="table warnings already exists"):
                await SqliteStore(path).open()
        taker = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            taker.execute("BEGIN IMMEDIATE")  # "database is locked" while a failed open still holds it
            taker.execute("ROLLBACK")
        finally:
            taker.close()

    asyncio.run(scenario())


def runs_of_seqs(rows: list[tuple[Any, ...]]) -> bool:
    """Every warning's (first_obligation, last_obligation, count of its obligations, their MIN and MAX seq):
    the run holds exactly its obligations, and a warning with none has no run."""
    return all(
        (first, last) == (low, high) and (count == 0 or last - first + 1 == count)
        for first, last, count, low, high in rows
    )


RUNS = (
    "SELECT w.first_obligation, w.last_obligation, COUNT(o.seq), MIN(o.seq), MAX(o.seq) FROM warnings w"
    " LEFT JOIN obligations o ON o.warning_seq = w.seq GROUP BY w.seq, w.first_obligation, w.last_obligation"
)


DUE = (  # each warning: what it keeps of its obligations' openings and steps, and what they are
    "SELECT w.seq, w.opens, w.next_at, COALESCE(MIN(CASE WHEN o.opens > 0 THEN o.opens END), 0),"
    " MIN(o.next_step_at) FROM warnings w LEFT JOIN obligations o ON o.warning_seq = w.seq"
    " GROUP BY w.seq, w.opens, w.next_at"
)


def assert_due_through_warnings(rows: list[tuple[Any, ...]]) -> None:
    """Every warning (migration 15) keeps its obligations' most urgent opening not claimed and their nearest
    step; the release's store holds warnings with each (the claim and the scheduler find them so)."""
    assert rows and all((opens, next_at) == (opening, step) for _, opens, next_at, opening, step in rows), rows


# Openings not claimed and steps scheduled, set on a copy of the last release's store (whose clock ran to
# the end): (warning, its n-th obligation) → (opens, next step); and what each warning keeps after migration 15.
OPEN_STEPS = {
    (2, 0): (2, 1_800_000_500.0),
    (2, 1): (1, 1_800_000_300.0),
    (2, 2): (0, None),
    (4, 0): (0, 1_800_000_700.0),
    (4, 1): (2, None),
}
KEPT = {1: (0, None), 2: (1, 1_800_000_300.0), 3: (0, None), 4: (2, 1_800_000_700.0), 5: (0, None)}


def with_open_steps(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        for (warning, nth), (opens, step) in OPEN_STEPS.items():
            db.execute(
                "UPDATE obligations SET opens = ?, next_step_at = ? WHERE seq = (SELECT seq FROM obligations"
                " WHERE warning_seq = ? ORDER BY seq LIMIT 1 OFFSET ?)",
                (opens, step, warning, nth),
            )
    return path


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_each_warning_keeps_its_obligations_most_urgent_opening_and_nearest_step(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Migration 15 on a store of the last release with openings not claimed and steps scheduled: each
    warning keeps the most urgent (mandatory: 1) and the nearest, and the scheduler wakes at the nearest."""
    path = with_open_steps(release_db(tmp_path, RELEASE_13))
    url = ""
    if kind == "postgresql":
        url = request.getfixturevalue("postgres_server").create_database()
        as_released(url, path, 13, TABLES_13)

    async def scenario() -> float | None:
        store = PostgresStore(url) if url else SqliteStore(path)
        await store.open()
        try:
            return await store.next_due()
        finally:
            await store.close()

    assert asyncio.run(scenario()) == 1_800_000_300.0
    with closing(psycopg.connect(url) if url else sqlite3.connect(path)) as db:
        kept = {r[0]: (r[1], r[2]) for r in db.execute("SELECT seq, opens, next_at FROM warnings").fetchall()}
        assert_due_through_warnings(db.execute(DUE).fetchall())
    assert kept == KEPT


def test_a_sqlite_store_written_by_the_last_release_gives_the_same_answers(
    config: RoutingConfig, tmp_path: Path
) -> None:
    """Schema 13 to now: the same answers; each warning's obligations are its run of seqs; the index entries
    that new rows no longer need are gone (an id is unique where a row has one; no (warning, ordinal))."""
    path = release_db(tmp_path, RELEASE_13)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT MAX(version) FROM schema_version").fetchone() == (13,)
        assert db.execute("SELECT COUNT(*), COUNT(id), COUNT(ordinal) FROM obligations").fetchone() == (204, 0, 204)
    check(SqliteStore(path), config, RELEASE_13)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT MAX(version) FROM schema_version").fetchone() == (len(MIGRATIONS),)
        assert runs_of_seqs(db.execute(RUNS).fetchall())
        due = db.execute(DUE).fetchall()
        indexes = {r[1]: r[4] for r in db.execute("PRAGMA index_list(obligations)")}  # name → partial
        warning_indexes = {r[1]: r[4] for r in db.execute("PRAGMA index_list(warnings)") if r[3] == "c"}
    assert indexes == {"obligations_id": 1, "obligations_feed": 0}
    assert {"warnings_opens": 1, "warnings_next": 1}.items() <= warning_indexes.items()
    assert_due_through_warnings(due)


@pytest.mark.usefixtures("postgres_server")
def test_a_postgresql_store_written_by_the_last_release_gives_the_same_answers(
    config: RoutingConfig, tmp_path: Path, postgres_server: Postgres
) -> None:
    url = postgres_server.create_database()
    as_released(url, release_db(tmp_path, RELEASE_13), 13, TABLES_13)
    check(PostgresStore(url), config, RELEASE_13)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone() == (len(MIGRATIONS),)
        assert runs_of_seqs(conn.execute(RUNS).fetchall())
        assert_due_through_warnings(conn.execute(DUE).fetchall())
        indexes = {
            r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'obligations'").fetchall()
        }
    assert indexes == {
        "obligations_pkey",
        "obligations_id",
        "obligations_feed",
    }
