"""The store's disk filling up: the SQLite store on a small tmpfs of its own (mounted as root), filled by
a file while warnings keep coming. What was answered 202 is kept and delivered; what could not be stored
is answered 503 with the reason, before anything of it is written; and the store takes warnings again by
itself once the space returns."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from router.audit.verify import verify_store
from router.delivery.feed import FeedHub
from router.errors import StoreUnavailable
from router.ingest.service import IngestService, SentWindow
from router.metrics import Metrics
from router.plan.config import RoutingConfig
from router.store import SqliteStore
from tests.e2e.test_crash import COUNTIES, burst_message
from tests.support.disk import fill, free_bytes, small_disk
from tests.support.messages import now_iso
from tests.support.procs import Stack, drained, start_stack, wait_for

MIB = 1024 * 1024
RESERVE_MB = 6


def identifier(i: int) -> str:
    return f"{COUNTIES[i % len(COUNTIES)]}41600000_burst_{i:04d}"


def test_a_write_the_full_disk_refuses_is_refused_whole_and_the_store_goes_on_when_space_returns(
    tmp_path: Path, config: RoutingConfig
) -> None:
    """No reserve: the disk itself says no (SQLITE_FULL) in the middle of a transaction."""

    async def scenario(disk: Path) -> None:
        store = SqliteStore(disk / "warnroute.db")
        await store.open()
        service = IngestService(
            config, store, Metrics(CollectorRegistry()), FeedHub(), lambda: None, sent_window=SentWindow()
        )
        sent = now_iso()
        taken = [(await service.submit(burst_message(i, sent))).warning.id for i in range(5)]
        left = fill(disk / "filler")
        assert left < 64 * 1024, left
        refused: tuple[int, StoreUnavailable] | None = None
        for i in range(5, 200):  # what the WAL still had room for goes in; then the disk refuses
            try:
                taken.append((await service.submit(burst_message(i, sent))).warning.id)
            except StoreUnavailable as exc:
                refused = (i, exc)
                break
        assert refused is not None, "the disk never filled"
        i, told = refused
        assert told.problem == (
            f"the disk holding the store ({disk}) is full; nothing was accepted, send it again later"
        ), told.problem
        assert await store.get_warning(identifier(i)) is None  # nothing of it half-written
        (disk / "filler").unlink()  # the space returns
        taken.append((await service.submit(burst_message(i, sent))).warning.id)  # no restart, no reopen
        for name in taken:
            found = await store.get_warning(name)
            assert found is not None and found["obligations"], name
        verdict = await verify_store(store)
        assert verdict.ok, verdict.problem
        await store.close()
        # A fresh process sees every warning accepted, with its obligations.
        again = SqliteStore(disk / "warnroute.db")
        await again.open()
        for name in taken:
            assert await again.get_warning(name) is not None, name
        assert (await again.counts())["warnings"]["total"] == len(taken) == len(set(taken))
        await again.close()

    with small_disk(tmp_path / "disk", 8) as disk:
        asyncio.run(scenario(disk))


@pytest.fixture
def stack_on_small_disk(tmp_path: Path) -> Iterator[tuple[Stack, Path]]:
    with small_disk(tmp_path / "disk", 96) as disk:
        env = {"WARNROUTE_DATA_DIR": str(disk / "data"), "WARNROUTE_DISK_RESERVE_MB": str(RESERVE_MB)}
        stack = start_stack(tmp_path, shrink=10, extra_env=env)  # only the first rungs fall due in the test
        try:
            yield stack, disk
        finally:
            stack.stop()


def test_the_disk_filling_mid_burst_refuses_with_a_reason_loses_nothing_and_recovers_by_itself(
    stack_on_small_disk: tuple[Stack, Path],
) -> None:
    stack, disk = stack_on_small_disk
    sent = now_iso()
    url = f"{stack.api}/api/v1/warnings"
    accepted: dict[int, list[str]] = {}
    refusals: dict[int, httpx.Response] = {}
    lock = threading.Lock()
    filled = threading.Event()
    total = 400

    def post(i: int) -> None:
        response = httpx.post(
            url, content=burst_message(i, sent), headers={"content-type": "application/json"}, timeout=30
        )
        with lock:
            if response.status_code == 202:
                accepted[i] = [o["id"] for o in response.json()["obligations"]]
            else:
                refusals[i] = response
            if len(accepted) >= 40 and not filled.is_set():
                filled.set()
                fill(disk / "filler", leave=RESERVE_MB * MIB - MIB)  # mid-burst: below the reserve

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(post, range(total)))
    assert filled.is_set() and 40 <= len(accepted) < total, len(accepted)
    assert set(accepted) | set(refusals) == set(range(total))
    for i, response in refusals.items():
        assert response.status_code == 503, (i, response.status_code, response.text)
        assert response.headers["retry-after"] == "5"
        body = response.json()
        assert body["error"] == "store_unavailable" and body["field"] == "store"
        assert body["problem"].startswith(f"the disk holding the store ({disk / 'data'}) has ")
        assert body["problem"].endswith(
            f"MiB free, below the {RESERVE_MB} MiB kept for warnings already accepted; "
            "nothing was accepted, send it again later"
        ), body["problem"]
    ready = httpx.get(f"{stack.api}/readyz", timeout=10)
    assert ready.status_code == 503 and "MiB free" in ready.json()["reason"]
    # What was accepted goes on being delivered from the reserve while new warnings wait.
    drained(stack.api)
    with httpx.Client(timeout=30) as client:
        for i in refusals:  # nothing of a refused warning was written
            assert client.get(f"{stack.api}/api/v1/warnings/{identifier(i)}").status_code == 404

        (disk / "filler").unlink()  # the space returns; nobody restarts anything
        wait_for(lambda: client.get(f"{stack.api}/readyz").status_code == 200, timeout=20)
        for i in sorted(refusals):  # the bureau sends again what was refused
            response = client.post(url, content=burst_message(i, sent), headers={"content-type": "application/json"})
            assert response.status_code == 202, response.text
            accepted[i] = [o["id"] for o in response.json()["obligations"]]
        metrics = client.get(f"{stack.api}/metrics").text
    assert f"warnroute_store_unavailable_total {float(len(refusals))}" in metrics

    assert stack.router is not None
    stack.router.kill9()
    stack.start_router()
    with httpx.Client(timeout=30) as client:
        drained(stack.api)
        expected: set[str] = set()
        for i in range(total):
            stored: dict[str, Any] = client.get(f"{stack.api}/api/v1/warnings/{identifier(i)}").json()
            assert [o["id"] for o in stored["obligations"]] == accepted[i], identifier(i)
            expected |= {n["id"] for o in stored["obligations"] for n in o["notifications"]}
        received: dict[str, dict[str, int]] = client.get(f"{stack.sim.url}/received").json()
        summary = client.get(f"{stack.api}/api/v1/summary").json()
    assert summary["warnings"]["total"] == total
    assert {k for channel in received.values() for k in channel} == expected  # every notification, once known
    print(
        f"\ndisk full: {total - len(refusals)} accepted before and while the disk filled, {len(refusals)} "
        f"answered 503 with the reason and accepted once the space returned; all {total} stored, "
        f"{len(expected)} notifications delivered (free at the end: {free_bytes(disk) / MIB:.0f} MiB)"
    )
