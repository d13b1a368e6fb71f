"""Benchmark: embedded end to end over real HTTP, beside the raw building blocks in the same run.

    python -m bench.bench_ingest [--rate 100] [--seconds 10] [--burst 3000] [--concurrency 32]

Router: ``warnroute serve`` (SQLite, WAL, synchronous=FULL) with the provider simulator as every
channel's receiver, all on 127.0.0.1.
1. Paced load: ``--rate`` warnings/s for ``--seconds`` (yellow gale signals, one in ten an orange rainstorm
   signal): latency of POST → 202 (decision and obligations durable), of POST → first notification of that
   warning arriving at its receiver, and of POST → each §4.3 direct report accepted by its receiver.
2. Sustained: ``--burst`` warnings from ``--concurrency`` concurrent clients: accepted warnings/s.
3. Fan-out: the requests the receivers took from the burst's start until the router is drained, per
   second, and the notifications they carried. The bench waits 240 s at most for each drain; what was
   still unsent then, and what failed for good, are figures of the run beside the others.
4. RSS of the router process after the run.
Raw building blocks, measured the same way in the same run:
a. a bare FastAPI endpoint (read the body, answer 202) under the same uvicorn and the same clients;
b. the machine's store (DESIGN §11): the same messages' bytes and 45 narrow rows each (ids of at most 24
   bytes, one index beside the primary key) in batches of 256 warnings per transaction, on SQLite in WAL
   with synchronous=FULL; a schema of its own, whatever warnroute writes.
c. aiohttp alone posting as many SMS sends, as many at a time as the dispatcher sends, to the same receiver.
Latencies count every request not answered 2xx and every notification that never arrived as a failure:
reported beside the percentiles (and as never-answered inside them), never dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench.rawstore import raw_rows
from router.heap import settle_heap
from router.store import SqliteStore
from tests.support.messages import json_message, now_iso
from tests.support.procs import free_port, start_stack

COUNTIES = ("530302", "530303", "530304", "530322", "530323", "530324", "530325", "530326", "530381")
BARE_APP = """
from fastapi import FastAPI, Request, Response
app = FastAPI()
@app.post("/api/v1/warnings")
async def ingest(request: Request) -> Response:
    await request.body()
    return Response(b'{"status":"created"}', status_code=202, media_type="application/json")
@app.get("/readyz")
async def ready() -> dict[str, str]:
    return {"ok": "1"}
"""


def message(i: int, tag: str, direct_every: int = 0) -> bytes:
    """The ``i``-th message: a yellow gale signal; with ``direct_every``, every such one an orange rainstorm
    signal instead, whose §4.3 direct reports (flood-control and geological-disaster HQs) go at once."""
    county = COUNTIES[i % len(COUNTIES)]
    if direct_every and i % direct_every == 0:
        return json_message(
            identifier=f"{county}41600000_{tag}_{i:06d}",
            sender_code=f"{county}41600000",
            areas=[county],
            hazard="rainstorm",
            severity="orange",
            sent=now_iso(),
        )
    # A yellow gale signal: the plan gives it 44 actions in a county (§4.2, §4.4, §4.5, §5.2, §5.3.4).
    return json_message(
        identifier=f"{county}41600000_{tag}_{i:06d}",
        sender_code=f"{county}41600000",
        areas=[county],
        hazard="gale",
        severity="yellow",
        sent=now_iso(),  # issued now: only the ladders' first rungs are due
    )


DIRECT_EVERY = 10  # in the paced load, one warning in ten is an orange rainstorm signal (§4.3 direct reports)
FAILED = float("inf")  # a request not answered 2xx, or a notification that never arrived


def failures(values: list[float]) -> int:
    return sum(1 for v in values if v == FAILED)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def paced(
    url: str, rate: float, seconds: float, tag: str, direct_every: int = 0
) -> tuple[list[float], dict[str, float]]:
    latencies: list[float] = []
    sent_at: dict[str, float] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as client:

        async def one(i: int) -> None:
            body = message(i, tag, direct_every)
            ident = json.loads(body)["identifier"]
            start = time.perf_counter()
            sent_at[ident] = time.time()
            try:
                async with client.post(url, data=body, headers={"content-type": "application/json"}) as response:
                    await response.read()
                    ok = response.status in (200, 202)
            except aiohttp.ClientError:
                ok = False
            # A refusal or a broken request is a failure: it counts as never answered, it is not dropped.
            latencies.append(time.perf_counter() - start if ok else FAILED)

        tasks = []
        begin = time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, begin + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return latencies, sent_at


DRAIN_WAIT = 240.0  # seconds the bench waits for the router to send what a load made due


def drain(api: str, timeout: float) -> tuple[float, int, int]:
    """Wait until the router at ``api`` has no notification pending or being sent, for at most ``timeout`` s: the
    seconds waited, how many were still pending or being sent then, and how many had failed for good. A router that
    has not drained in time is a figure of the run (what was left), reported beside the others, not its end."""
    began = time.monotonic()
    while True:
        found = httpx.get(f"{api}/api/v1/summary", timeout=30).json()["notifications"]
        left = found.get("pending", 0) + found.get("sending", 0)
        if not left or time.monotonic() - began >= timeout:
            return time.monotonic() - began, left, found.get("failed", 0)
        time.sleep(0.5)


async def closed_loop(
    total: int, concurrency: int, post: Callable[[aiohttp.ClientSession, int], Awaitable[bool]]
) -> float:
    """``total`` requests, ``concurrency`` at a time, each sent when one ends: answered 2xx per second."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    done = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as client:

        async def worker() -> None:
            nonlocal done
            while not queue.empty():
                ok = await post(client, queue.get_nowait())  # awaited before ``done`` is read
                done += ok

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - start)


async def sustained(url: str, total: int, concurrency: int, tag: str) -> float:
    # The messages are made before the clock starts: the load's own work shares the machine with the router.
    bodies = [message(i, tag) for i in range(total)]

    async def post(client: aiohttp.ClientSession, i: int) -> bool:
        async with client.post(url, data=bodies[i], headers={"content-type": "application/json"}) as r:
            await r.read()
            return r.status in (200, 202)

    return await closed_loop(total, concurrency, post)


FANOUT_IN_FLIGHT = 32  # the dispatcher's sends in flight (DispatchSettings.max_in_flight)
SMS_TEXT = (
    "【曲靖气象】罗平县气象台发布大风黄色预警信号。请罗平县应急管理局按预案第4.2条做好应对，30分钟内确认：回复1。"
)


def taken(sim: str) -> tuple[int, int]:
    """(requests, notifications they carried) the receivers have taken so far, every channel."""
    requests = httpx.get(f"{sim}/messages", timeout=30).json()
    carried = httpx.get(f"{sim}/received", timeout=30).json()
    return sum(sum(k.values()) for k in requests.values()), sum(sum(k.values()) for k in carried.values())


async def raw_fanout(sim: str, api_key: str, total: int, concurrency: int) -> float:
    """The fan-out's raw block (DESIGN §11): aiohttp alone, ``concurrency`` at a time, posting ``total``
    SMS sends (the channel most of the router's requests go to) to the same receiver: requests/s."""
    headers = {"authorization": f"Bearer {api_key}"}

    async def post(client: aiohttp.ClientSession, i: int) -> bool:
        body = {"to": f"+8613800{i:06d}", "text": SMS_TEXT, "idempotency_key": f"raw-{i}"}
        async with client.post(f"{sim}/sms/send", json=body, headers=headers) as r:
            await r.read()
            return r.status == 200

    return await closed_loop(total, concurrency, post)


def direct_reports(api: str, sent_at: dict[str, float]) -> list[float]:
    """POST → each §4.3 direct report accepted by its receiver (the router's record of the provider's 2xx,
    on this machine's clock), for the warnings ``sent_at`` names; one never sent is a failure."""
    out: list[float] = []
    for ident, posted in sent_at.items():
        warning = httpx.get(f"{api}/api/v1/warnings/{ident}", timeout=30).json()
        for o in warning["obligations"]:
            if o["action"]["kind"] != "direct_report":
                continue
            sent = o["sent_at"]
            out.append(datetime.fromisoformat(sent).timestamp() - posted if sent else FAILED)
    return out


def kib_per_warning(path: Path) -> float:
    """The store's pages (tables and indexes, after a checkpoint) per warning it holds."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = db.execute("SELECT SUM(pgsize) FROM dbstat").fetchone()[0]
        warnings = db.execute("SELECT COUNT(*) FROM warnings").fetchone()[0]
    finally:
        db.close()
    return float(pages) / 1024 / max(int(warnings), 1)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    # The load's own process is settled as the servers are (``router.heap``): a pause of its collector while a
    # request is out would be counted as the router's latency.
    settle_heap()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--burst", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="warnroute-bench-"))
    results: dict[str, Any] = {}

    bare_port = free_port()
    (tmp / "bare.py").write_text(BARE_APP)
    import subprocess

    bare = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(tmp),
            "bare:app",
            "--port",
            str(bare_port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{bare_port}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        bare_url = f"http://127.0.0.1:{bare_port}/api/v1/warnings"
        lat, _ = asyncio.run(paced(bare_url, args.rate, args.seconds, "bare"))
        results["bare_paced_p50_ms"], results["bare_paced_p99_ms"] = pct(lat, 0.5) * 1e3, pct(lat, 0.99) * 1e3
        results["bare_paced_failed"] = failures(lat)
        results["bare_sustained_per_s"] = asyncio.run(sustained(bare_url, args.burst, args.concurrency, "bare"))
    finally:
        bare.terminate()
        bare.wait(timeout=10)

    stack = start_stack(tmp / "router")
    try:
        url = f"{stack.api}/api/v1/warnings"
        lat, sent_at = asyncio.run(paced(url, args.rate, args.seconds, "paced", DIRECT_EVERY))
        results["paced_p50_ms"], results["paced_p99_ms"] = pct(lat, 0.5) * 1e3, pct(lat, 0.99) * 1e3
        results["paced_failed"] = failures(lat)
        deadline = time.monotonic() + 60
        arrivals: dict[str, float] = {}
        while time.monotonic() < deadline:
            arrivals = httpx.get(f"{stack.sim.url}/arrivals", timeout=30).json()
            if all(k in arrivals for k in sent_at):
                break
            time.sleep(0.5)
        first = [arrivals[k] - t if k in arrivals else FAILED for k, t in sent_at.items()]
        results["first_notification_missing"] = failures(first)
        results["first_notification_p50_ms"] = pct(first, 0.5) * 1e3
        results["first_notification_p99_ms"] = pct(first, 0.99) * 1e3
        # Requests the receivers took for the paced warnings' first rungs, coalesced by destination (§12).
        _, results["paced_left"], results["paced_notifications_failed"] = drain(stack.api, DRAIN_WAIT)
        direct = direct_reports(
            stack.api, {k: t for k, t in sent_at.items() if int(k.rsplit("_", 1)[1]) % DIRECT_EVERY == 0}
        )
        results["direct_report_missing"] = failures(direct)
        results["direct_report_count"] = len(direct)
        results["direct_report_p50_ms"] = pct(direct, 0.5) * 1e3
        results["direct_report_p99_ms"] = pct(direct, 0.99) * 1e3
        requests = httpx.get(f"{stack.sim.url}/messages", timeout=30).json()
        carried = httpx.get(f"{stack.sim.url}/received", timeout=30).json()
        results["requests_per_warning"] = sum(sum(k.values()) for k in requests.values()) / max(len(sent_at), 1)
        results["notifications_per_warning"] = sum(sum(k.values()) for k in carried.values()) / max(len(sent_at), 1)
        before = taken(stack.sim.url)
        began = time.perf_counter()
        results["sustained_per_s"] = asyncio.run(sustained(url, args.burst, args.concurrency, "burst"))
        # The burst's first rungs all at their receivers (polled every 0.5 s), or what was left when the wait ended.
        results["burst_drain_s"], results["burst_left"], results["burst_notifications_failed"] = drain(
            stack.api, DRAIN_WAIT
        )
        spent = time.perf_counter() - began
        after = taken(stack.sim.url)
        results["fanout_requests_per_s"] = (after[0] - before[0]) / spent
        results["fanout_notifications_per_s"] = (after[1] - before[1]) / spent
        results["raw_fanout_requests_per_s"] = asyncio.run(
            raw_fanout(stack.sim.url, stack.serve_env["WARNROUTE_SMS_API_KEY"], args.burst, FANOUT_IN_FLIGHT)
        )
        summary = httpx.get(f"{stack.api}/api/v1/summary", timeout=30).json()
        obligations = sum(summary["obligations"].values())
        results["obligations_per_warning"] = obligations / max(summary["warnings"]["total"], 1)
        assert stack.router is not None
        results["router_rss_mb"] = rss_mb(stack.router.popen.pid)
    finally:
        stack.stop()

    # The same sustained load with the dispatcher off: what ingest alone (parse, route, durable
    # write of the warning, its obligations and notifications) takes, without the fan-out's share.
    quiet = start_stack(tmp / "ingest-only", dispatch=False)
    try:
        results["sustained_ingest_only_per_s"] = asyncio.run(
            sustained(f"{quiet.api}/api/v1/warnings", args.burst, args.concurrency, "quiet")
        )
    finally:
        quiet.stop()
    results["store_kib_per_warning_ingest_only"] = kib_per_warning(tmp / "ingest-only" / "data" / "warnroute.db")
    results["store_kib_per_warning"] = kib_per_warning(tmp / "router" / "data" / "warnroute.db")

    same = [message(i, "raw") for i in range(args.burst)]  # the bytes and 45 narrow rows each (DESIGN §11)
    results["raw_sqlite_warnings_per_s"] = statistics.median(
        asyncio.run(raw_rows(SqliteStore(tmp / f"raw{i}.db"), same)) for i in range(3)
    )
    ceiling = min(results["bare_sustained_per_s"], results["raw_sqlite_warnings_per_s"])
    results["sustained_vs_ceiling"] = results["sustained_per_s"] / ceiling
    results["ingest_only_vs_ceiling"] = results["sustained_ingest_only_per_s"] / ceiling
    print(json.dumps(results, indent=2))
    r = results
    print(
        f"\npaced {args.rate:.0f}/s: POST→durable p50 {r['paced_p50_ms']:.1f} ms, p99 {r['paced_p99_ms']:.1f} ms"
        f" ({r['paced_failed']} failed; bare endpoint p50 {r['bare_paced_p50_ms']:.1f}, p99"
        f" {r['bare_paced_p99_ms']:.1f}, {r['bare_paced_failed']} failed);"
        f" POST→first notification at its receiver p50 {r['first_notification_p50_ms']:.1f} ms,"
        f" p99 {r['first_notification_p99_ms']:.1f} ms ({r['first_notification_missing']} never arrived);"
        f" POST→§4.3 direct report accepted by its receiver p50 {r['direct_report_p50_ms']:.1f} ms,"
        f" p99 {r['direct_report_p99_ms']:.1f} ms ({r['direct_report_count']} reports,"
        f" {r['direct_report_missing']} never sent); notifications left unsent after the wait {r['paced_left']},"
        f" failed {r['paced_notifications_failed']}"
    )
    print(
        f"sustained: {r['sustained_per_s']:.0f} warnings/s with {r['obligations_per_warning']:.1f} obligations each;"
        f" bare endpoint {r['bare_sustained_per_s']:.0f} req/s; raw store block {r['raw_sqlite_warnings_per_s']:.0f}"
        f" warnings/s; ratio to the slower {r['sustained_vs_ceiling']:.2f}; router RSS {r['router_rss_mb']:.0f} MB"
    )
    print(
        f"fan-out during the burst: {r['fanout_requests_per_s']:.0f} requests/s carrying"
        f" {r['fanout_notifications_per_s']:.0f} notifications/s; raw block (aiohttp alone, the same receiver)"
        f" {r['raw_fanout_requests_per_s']:.0f} requests/s; ratio"
        f" {r['fanout_requests_per_s'] / r['raw_fanout_requests_per_s']:.2f}; drained in {r['burst_drain_s']:.1f} s"
        f" ({r['burst_left']} left unsent after the wait, {r['burst_notifications_failed']} failed)"
    )
    print(
        f"ingest only (dispatcher off): {r['sustained_ingest_only_per_s']:.0f} warnings/s,"
        f" ratio {r['ingest_only_vs_ceiling']:.2f}"
    )
    print(
        f"receivers: {r['requests_per_warning']:.1f} requests per warning carrying"
        f" {r['notifications_per_warning']:.1f} notifications; store {r['store_kib_per_warning']:.1f} KiB per"
        f" warning ({r['store_kib_per_warning_ingest_only']:.1f} KiB with the dispatcher off)"
    )


if __name__ == "__main__":
    main()
