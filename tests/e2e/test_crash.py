"""Crash safety: ``kill -9`` the router in the middle of a 500-warning burst, restart it, and show that
every accepted warning was routed and every notification reached its receiver, by idempotency key,
with nothing lost and nothing unknown."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.messages import json_message, now_iso
from tests.support.procs import Stack, drained, start_stack

BURST = 500
KILL_AFTER = 150
COUNTIES = ("530302", "530303", "530304", "530322", "530323", "530324", "530325", "530326", "530381")
KINDS = (("rainstorm", "blue"), ("rainstorm", "orange"), ("gale", "yellow"), ("rainstorm", "red"), ("hail", "orange"))


def burst_message(i: int, sent: str) -> bytes:
    county = COUNTIES[i % len(COUNTIES)]
    hazard, colour = KINDS[i % len(KINDS)]
    return json_message(
        identifier=f"{county}41600000_burst_{i:04d}",
        sender_code=f"{county}41600000",
        areas=[county],
        hazard=hazard,
        severity=colour,
        headline=f"burst {i}",
        sent=sent,
    )


@pytest.fixture
def slow_ladder_stack(tmp_path: Path) -> Iterator[Stack]:
    """Deadlines and ladder steps four times the plan's: however long the test runs on a busy machine,
    only the first rungs (at +0) are due, so every notification is one promised at acceptance."""
    s = start_stack(tmp_path, shrink=4)
    try:
        yield s
    finally:
        s.stop()


def test_kill_9_mid_burst_loses_nothing(slow_ladder_stack: Stack) -> None:
    stack = slow_ladder_stack
    sent = now_iso()
    url = f"{stack.api}/api/v1/warnings"
    accepted: dict[int, list[str]] = {}
    lock = threading.Lock()
    killed = threading.Event()

    def post(i: int) -> None:
        if killed.is_set():
            return
        try:
            response = httpx.post(
                url, content=burst_message(i, sent), headers={"content-type": "application/json"}, timeout=30
            )
        except httpx.HTTPError:
            return  # not accepted: the bureau will send it again
        if response.status_code == 202:
            with lock:
                accepted[i] = [o["id"] for o in response.json()["obligations"]]
                if len(accepted) >= KILL_AFTER and not killed.is_set():
                    killed.set()
                    assert stack.router is not None
                    stack.router.kill9()

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(post, range(BURST)))
    assert killed.is_set() and KILL_AFTER <= len(accepted) < BURST
    before_restart = dict(accepted)

    stack.start_router()
    with httpx.Client(timeout=30) as client:
        # The bureau re-sends what was not acknowledged, and a few that were (duplicates).
        for i in range(BURST):
            if i not in before_restart or i % 25 == 0:
                response = client.post(
                    url, content=burst_message(i, sent), headers={"content-type": "application/json"}
                )
                assert response.status_code in (200, 202), response.text
                if i in before_restart:
                    assert response.status_code == 200 and response.json()["status"] == "duplicate"
                    assert [o["id"] for o in response.json()["obligations"]] == before_restart[i]
                else:
                    accepted[i] = [o["id"] for o in response.json()["obligations"]]

        drained(stack.api)

        expected: set[str] = set()
        for i in range(BURST):
            identifier = f"{COUNTIES[i % len(COUNTIES)]}41600000_burst_{i:04d}"
            stored: dict[str, Any] = client.get(f"{stack.api}/api/v1/warnings/{identifier}").json()
            # Every warning accepted before the crash is there with exactly the obligations it was promised.
            assert [o["id"] for o in stored["obligations"]] == accepted[i], identifier
            expected |= {n["id"] for o in stored["obligations"] for n in o["notifications"]}
        received: dict[str, dict[str, int]] = client.get(f"{stack.sim.url}/received").json()
    keys = {k for channel in received.values() for k in channel}
    assert keys == expected  # nothing lost, nothing unknown: each notification reached its receiver
    redelivered = sum(n - 1 for channel in received.values() for n in channel.values())
    print(
        f"\ncrash test: {len(before_restart)} accepted before kill -9, {len(expected)} notifications, "
        f"{redelivered} redelivered after the crash and recognised by idempotency key"
    )
