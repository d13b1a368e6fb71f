"""Delivery by destination (DESIGN §12) against a real local receiver (the provider simulator over HTTP):
an idle destination is sent to at once; what comes due while its window is closed goes as one message
listing each obligation, most urgent first, each with its own acknowledgement link; acknowledgement stays
per obligation; a crash between the send and its recorded outcome repeats the message with the same key."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from prometheus_client import CollectorRegistry

from router.access.acklinks import AckSigner
from router.access.roles import Principal
from router.delivery.budget import Budgets
from router.delivery.dispatcher import Dispatcher, DispatchSettings
from router.delivery.feed import FeedHub
from router.delivery.retry import RetryPolicy
from router.domain.channels import Limit
from router.domain.reports import SituationReport
from router.handlers import build_handlers
from router.handlers.http import AiohttpTransport
from router.ingest.service import IngestService, SentWindow
from router.metrics import Metrics
from router.plan.config import load_config
from router.plan.secrets import SecretResolver
from router.reports.service import Reports
from router.store import ClaimedNotification, NotificationOutcome, SqliteStore
from router.tools.demo import demo_config, environments
from tests.support.messages import json_message, now_iso
from tests.support.procs import Proc, free_port, start

WINDOW = 3.0  # the receiver's window in these tests: one message per destination in 3 s


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[Proc, dict[str, str]]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env, serve_env = environments(url, demo_config(tmp_path / "config"), tmp_path / "data")
    sim = start(["simulate", "--port", str(port), "--no-limits"], env, url, tmp_path / "sim.log", "/received")
    try:
        yield sim, serve_env
    finally:
        sim.stop()


class Dropping(SqliteStore):
    """A store that loses the outcomes of sends while ``dropping`` (the process dying between a send and
    its recorded outcome)."""

    dropping = False

    async def record_outcomes(self, outcomes: list[NotificationOutcome]) -> None:
        if self.dropping and any(o.state in ("sent", "delivered") for o in outcomes):
            raise ConnectionError("the process died before the outcome was written")
        await super().record_outcomes(outcomes)


class Stalled(Dropping):
    """A store whose claims wait until ``claims`` is set (a writer busy with other work)."""

    claims: asyncio.Event

    async def claim_notifications(self, now: float, limit: int, lease_seconds: float) -> list[ClaimedNotification]:
        await self.claims.wait()
        return await super().claim_notifications(now, limit, lease_seconds)


class Router:
    """The store, ingest and a dispatcher (webhooks over real HTTP, one message per destination per window)."""

    def __init__(self, tmp: Path, env: dict[str, str], dispatch: bool = True, store: type[Dropping] = Dropping) -> None:
        self.tmp, self.env, self.dispatch, self.kind = tmp, env, dispatch, store
        self.config = load_config(tmp / "config")
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Router:
        self.store = self.kind(self.tmp / "db.sqlite")
        await self.store.open()
        self.session = aiohttp.ClientSession()
        metrics = Metrics(CollectorRegistry())
        self.dispatcher = Dispatcher(
            self.store,
            self.config,
            build_handlers(AiohttpTransport(self.session)),
            SecretResolver(self.env),
            metrics,
            RetryPolicy(base_seconds=0.05, cap_seconds=0.1),
            DispatchSettings(poll_seconds=0.02),
            ack=AckSigner(b"k" * 32, "http://127.0.0.1:1"),
            budgets=Budgets({"webhook": (Limit(1, WINDOW),)}),
        )
        self.service = IngestService(
            self.config, self.store, metrics, FeedHub(), self.dispatcher.wake, sent_window=SentWindow()
        )
        if self.dispatch:
            self.start_dispatch()
            await asyncio.wait_for(self.dispatcher.started.wait(), 10)  # a warning from now on may be handed over
        return self

    def start_dispatch(self) -> None:
        self.task = asyncio.create_task(self.dispatcher.run())

    async def __aexit__(self, *exc: object) -> None:
        self.dispatcher.stop()
        if self.task is not None:
            await self.task
        await self.session.close()
        await self.store.close()

    async def webhooks(self, identifier: str) -> list[dict[str, Any]]:
        doc = await self.store.get_warning(identifier)
        assert doc is not None
        return [
            n | {"obligation": o} for o in doc["obligations"] for n in o["notifications"] if n["channel"] == "webhook"
        ]


async def until(predicate: Callable[[], Any], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not reached in {timeout} s")


def messages(sim: Proc) -> dict[str, int]:
    got: dict[str, dict[str, int]] = httpx.get(f"{sim.url}/messages").json()
    return got.get("webhook", {})


def parts(sim: Proc, key: str) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = httpx.get(f"{sim.url}/bodies").json()
    return [b for b in bodies if b["channel"] == "webhook" and b["message"] == key]


def test_what_comes_due_while_the_window_is_closed_goes_as_one_message_most_urgent_first(
    tmp_path: Path, receiver: tuple[Proc, dict[str, str]]
) -> None:
    sim, env = receiver

    async def scenario() -> None:
        async with Router(tmp_path, env) as r:
            # The leading edge: the first warning's webhooks go at once, as one message (every office of
            # the demo shares one webhook endpoint: one destination).
            await r.service.submit(json_message(identifier="blue", hazard="gale", sent=now_iso()))
            await until(lambda: _true(len(messages(sim)) == 1))
            (first,) = messages(sim)
            blue = await r.webhooks("blue")
            assert {p["key"] for p in parts(sim, first)} == {n["id"] for n in blue}
            # Inside the destination's window two more warnings come due: a blue one and an orange one.
            await r.service.submit(
                json_message(identifier="later", hazard="lightning", severity="yellow", sent=now_iso())
            )
            await r.service.submit(json_message(identifier="orange", severity="orange", sent=now_iso()))

            async def both_held() -> bool:
                ns = [*(await r.webhooks("later")), *(await r.webhooks("orange"))]
                return bool(ns) and all(n["last_error"] for n in ns)

            await until(both_held)
            assert len(messages(sim)) == 1  # nothing more inside the window
            await until(lambda: _true(len(messages(sim)) == 2))
            second = next(k for k in messages(sim) if k != first)
            carried = parts(sim, second)
            later, orange = await r.webhooks("later"), await r.webhooks("orange")
            # One message listing both warnings' obligations: each once, the orange (urgent) ones first.
            assert [p["key"] for p in carried] == [
                p["key"] for p in carried if p["key"] in {n["id"] for n in orange}
            ] + [p["key"] for p in carried if p["key"] in {n["id"] for n in later}]
            assert {p["key"] for p in carried} == {n["id"] for n in later} | {n["id"] for n in orange}
            assert messages(sim) == {first: 1, second: 1}
            body = carried[0]["body"]
            assert body["type"] == "warnroute.actions"
            links = {p["body"]["data"]["ack_url"] for p in carried}
            assert len(links) == len(carried)  # each obligation its own acknowledgement link
            assert {p["body"]["data"]["warning"]["id"] for p in carried} == {"later", "orange"}

            # Delivered per obligation; acknowledged per obligation.
            async def recorded() -> bool:
                ns = [*(await r.webhooks("later")), *(await r.webhooks("orange"))]
                return all(n["state"] == "delivered" for n in ns)

            await until(recorded)
            later, orange = await r.webhooks("later"), await r.webhooks("orange")
            for n in [*later, *orange]:
                assert n["state"] == "delivered" and n["provider_id"] == second, n
            one = orange[0]["obligation"]["id"]
            assert (await r.store.acknowledge(one, "api", "值班员", time.time())).status == "acknowledged"
            states = {n["obligation"]["id"]: n["obligation"]["state"] for n in await r.webhooks("orange")}
            assert states[one] == "acknowledged"
            assert {s for oid, s in states.items() if oid != one} <= {"delivered", "escalated"}

    asyncio.run(scenario())


def test_a_crash_between_send_and_outcome_repeats_the_message_with_the_same_key(
    tmp_path: Path, receiver: tuple[Proc, dict[str, str]]
) -> None:
    sim, env = receiver

    async def scenario() -> None:
        async with Router(tmp_path, env, dispatch=False) as r:
            r.store.dropping = True
            await r.service.submit(json_message(identifier="a", hazard="gale", sent=now_iso()))
            await r.service.submit(json_message(identifier="b", hazard="lightning", severity="yellow", sent=now_iso()))
            r.start_dispatch()  # both due at once for the one webhook endpoint: one message carrying both
            await until(lambda: _true(len(messages(sim)) >= 1))
            await asyncio.sleep(0.3)
        sent_once = messages(sim)
        assert len(sent_once) == 1 and len(parts(sim, next(iter(sent_once)))) > 40
        async with Router(tmp_path, env) as r:  # the restart: what was leased is due again
            await until(lambda: _true(sum(messages(sim).values()) == 2 * sum(sent_once.values())))
            ns = [*(await r.webhooks("a")), *(await r.webhooks("b"))]
            await until(lambda: _all_delivered(r))
            again = messages(sim)
            # The same message again, recognised by its key: no new message, nothing carried twice over.
            assert set(again) == set(sent_once) and all(n == 2 for n in again.values()), again
            carried = [p["key"] for key in again for p in parts(sim, key)]
            assert sorted(carried) == sorted(n["id"] for n in ns)

    asyncio.run(scenario())


def test_a_new_warnings_direct_reports_go_as_it_commits_without_waiting_for_a_claim(
    tmp_path: Path, receiver: tuple[Proc, dict[str, str]]
) -> None:
    """DESIGN §4 rule 1: an orange rainstorm signal's §4.3 direct reports (罗平县's flood-control and
    geological-disaster HQs, config/warnings.yaml's ``direct_report`` ladder: their first channel at once,
    here the webhook endpoint the demo's offices share) reach their receiver while every claim of the
    dispatcher is held up; the rest of the warning waits for the claim; a crash before the outcomes are
    written sends the same message again under the same keys, and nothing else twice."""
    sim, env = receiver
    expected = [("flood_drought_hq", "webhook"), ("geohazard_hq", "webhook")]  # (department, channel)

    def arrived() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = httpx.get(f"{sim.url}/bodies").json()
        return got

    async def scenario() -> None:
        async with Router(tmp_path, env, store=Stalled) as r:
            assert isinstance(r.store, Stalled)
            r.store.claims = asyncio.Event()  # no claim gets through
            r.store.dropping = True  # and the process dies before any outcome is written
            message = json_message(identifier="orange", severity="orange", sent=now_iso())
            await r.service.submit(message)
            try:
                await until(lambda: _true(len(arrived()) == 2))
                await asyncio.sleep(0.3)
                await _cancel(r)
            finally:
                r.store.claims.set()  # a failed check must not leave the dispatcher waiting
            doc = await r.store.get_warning("orange")
            assert doc is not None
            direct = {o["id"]: o for o in doc["obligations"] if o["action"]["kind"] == "direct_report"}
            assert {(o["action"]["department"], o["action"]["jurisdiction"]) for o in direct.values()} == {
                ("flood_drought_hq", "530324"),
                ("geohazard_hq", "530324"),
            }
            by_key = {
                n["id"]: (o["action"]["department"], n["channel"])
                for o in direct.values()
                for n in o["notifications"]
                if n["channel"] == "webhook"
            }
            first = arrived()
            assert sorted(by_key[b["key"]] for b in first) == sorted(expected)  # these and nothing else
        async with Router(tmp_path, env) as r:  # the restart: what was handed over is due again
            await until(lambda: _direct_delivered(r))
            await until(lambda: _true(len(arrived()) > 40))
            doc = await r.store.get_warning("orange")
            assert doc is not None
            keys = [b["key"] for b in arrived()]
            again = [k for k in keys if k in by_key]
            # The same message once more, under the same keys; every other notification once.
            assert sorted(again) == sorted([*by_key, *by_key]), again
            others = [k for k in keys if k not in by_key]
            assert len(others) == len(set(others))

    asyncio.run(scenario())


async def _cancel(r: Router) -> None:
    """The process dies, its claim still waiting."""
    assert r.task is not None
    r.task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await r.task
    r.task = None


async def _direct_delivered(r: Router) -> bool:
    doc = await r.store.get_warning("orange")
    if doc is None:
        return False
    ns = [
        n
        for o in doc["obligations"]
        if o["action"]["kind"] == "direct_report"
        for n in o["notifications"]
        if n["channel"] == "webhook"
    ]
    return len(ns) == 2 and all(n["state"] == "delivered" for n in ns)


async def _all_delivered(r: Router) -> bool:
    ns = [*(await r.webhooks("a")), *(await r.webhooks("b"))]
    return bool(ns) and all(n["state"] == "delivered" for n in ns)


async def _true(value: bool) -> bool:
    return value


def _situation(identifier: str, kind: str, **figures: float) -> SituationReport:
    return SituationReport.model_validate(
        {
            "schema": "warnroute.report/1",
            "id": identifier,
            "kind": kind,
            "jurisdiction": "530324",
            "department": "emergency_management",
            "observed_at": now_iso(-300),
            "figures": figures,
            "text": "板桥镇内涝",
        }
    )


def test_a_report_reaches_its_recipients_as_one_message_per_destination_and_their_feeds(
    tmp_path: Path, receiver: tuple[Proc, dict[str, str]]
) -> None:
    """A county emergency bureau's casualty report goes, by §5.4 and §5.6, to the county government and to
    the city's emergency bureau and government (every office of the demo shares one webhook endpoint: one
    destination, so one message); a second report inside the destination's window waits and goes as the
    next message; each recipient's feed lists what it was sent; the audit chain records each send."""
    sim, env = receiver
    filer = Principal("p-em", "罗平县应急局", "department", "530324", "emergency_management")
    expected = {  # written out from the plan: §5.4 to the government and emergency bureau (the filer's own
        # is the filer) and the emergency bureau above; §5.6 to the government and the government above
        ("government", "530324"): ["5.4", "5.6"],
        ("emergency_management", "530300"): ["5.4"],
        ("government", "530300"): ["5.6"],
    }

    async def scenario() -> None:
        async with Router(tmp_path, env) as r:
            reports = Reports(r.config, r.store, on_sent=r.dispatcher.wake)
            report = _situation("rpt-1", "losses", dead=1, people_moved=120)
            outcome, _ = await reports.file(filer, report)
            assert outcome.status == "created"
            await until(lambda: _true(len(messages(sim)) == 1))
            (first,) = messages(sim)
            carried = parts(sim, first)
            assert len(carried) == 3
            got = {(p["body"]["data"]["report"]["id"], tuple(p["body"]["data"]["clauses"])) for p in carried}
            assert got == {("rpt-1", tuple(c)) for c in expected.values()}
            assert carried[0]["body"]["type"] == "warnroute.actions"  # one message carrying three
            # The same report again: nothing new is written or sent.
            again, _ = await reports.file(filer, report.model_copy())
            assert again.status == "duplicate"
            # A second report inside the window (1 per 3 s): it waits, then goes as the next message.
            await reports.file(filer, _situation("rpt-2", "losses", injured=2))
            await until(lambda: _true(len(messages(sim)) == 2), timeout=WINDOW * 3)
            second = next(k for k in messages(sim) if k != first)
            assert {p["body"]["data"]["report"]["id"] for p in parts(sim, second)} == {"rpt-2"}
            assert messages(sim) == {first: 1, second: 1}

            async def delivered() -> bool:
                found = await r.store.report_deliveries("rpt-2")
                return found is not None and all(
                    n["state"] == "delivered" for c in found[1] for n in c["notifications"]
                )

            await until(delivered)
            found = await r.store.report_deliveries("rpt-1")
            assert found is not None
            assert {(c["department"], c["jurisdiction"]): c["clauses"] for c in found[1]} == expected
            assert all(
                n["channel"] == "webhook" and n["state"] == "delivered" for c in found[1] for n in c["notifications"]
            )
            for (department, jurisdiction), clauses in expected.items():
                feed = await r.store.report_feed(jurisdiction, department, 0, 10)
                assert [(i["report"]["id"], i["clauses"]) for i in feed] == [("rpt-1", clauses), ("rpt-2", clauses)]
            assert await r.store.report_feed("530324", "emergency_management", 0, 10) == []  # not to itself
            audit = [(a[2], a[3], a[4], json.loads(a[5])) for a in await r.store.audit_rows()]
            filed = [d for kind, _, _, d in audit if kind == "report_filed"]
            assert [d["report"] for d in filed] == ["rpt-1", "rpt-2"]
            assert {(t["department"], t["jurisdiction"]): t["clauses"] for t in filed[0]["to"]} == expected
            sends = [(w, o) for kind, w, o, d in audit if kind == "delivered" and d.get("report") == "rpt-1"]
            assert sends == [(None, None)] * 3

    asyncio.run(scenario())
