"""Provider limits in the dispatcher, on a real SQLite store: an over-limit answer is waited out (not an
attempt, never "failed"), a destination whose window is closed is not called again inside it, a window
that reopens after the deadline moves the ladder to its next channel at once, and warnroute's own count
keeps a destination inside its limit with a share kept for urgent traffic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from router.delivery.budget import Budgets
from router.delivery.dispatcher import Dispatcher, DispatchSettings
from router.delivery.feed import FeedHub
from router.delivery.retry import RetryPolicy
from router.domain.channels import Limit
from router.errors import RateLimited
from router.handlers.base import ChannelHandler, Outbound, SendResult
from router.ingest.service import IngestService, SentWindow
from router.metrics import Metrics
from router.obligations.scheduler import Scheduler
from router.plan.config import RoutingConfig
from router.plan.secrets import SecretResolver
from router.store import ClaimedNotification, PostgresStore, SqliteStore, SqlStore
from router.store.reads import fetch
from tests.support.fakes import FlakyHandler, RecordingHandler
from tests.support.messages import json_message, now_iso
from tests.support.pgserver import Postgres

FAST = RetryPolicy(base_seconds=0.01, cap_seconds=0.05, max_attempts=4)


def one_address(config: RoutingConfig) -> dict[str, str]:
    """Every contact reference resolved to one value: every office shares one robot and one number."""
    return {ref.env: "shared-destination" for refs in config.contacts.values() for ref in refs.values() if ref.env}


class Refusing(RecordingHandler):
    """Answers over the limit (``wait`` s) to the first ``times`` calls, then accepts."""

    def __init__(self, kind: str, wait: float, times: int = 1) -> None:
        super().__init__(kind)
        self.wait, self.times, self.calls = wait, times, 0

    async def send(self, notification: Outbound) -> SendResult:
        self.calls += 1
        if self.calls <= self.times:
            raise RateLimited(f"{self.kind}: HTTP 429, over the provider's limit", self.wait, "Retry-After")
        return await super().send(notification)


class Harness:
    def __init__(
        self,
        config: RoutingConfig,
        tmp: Path,
        handlers: Mapping[str, ChannelHandler],
        budgets: Budgets,
        retry: RetryPolicy = FAST,
        store: SqlStore | None = None,
        chunk: int = 50,
        call_timeout: float = 0.5,
    ) -> None:
        self.config, self.tmp, self.handlers, self.budgets, self.retry = config, tmp, handlers, budgets, retry
        self.chunk, self.call_timeout = chunk, call_timeout
        self.store = store or SqliteStore(self.tmp / "db.sqlite")

    async def __aenter__(self) -> Harness:
        await self.store.open()
        metrics = Metrics(CollectorRegistry())
        self.metrics = metrics
        self.dispatcher = Dispatcher(
            self.store,
            self.config,
            self.handlers,
            SecretResolver(one_address(self.config)),
            metrics,
            self.retry,
            DispatchSettings(poll_seconds=0.02, call_timeout=self.call_timeout, chunk=self.chunk),
            budgets=self.budgets,
        )
        self.scheduler = Scheduler(self.store, self.config, metrics, self.dispatcher.wake, poll_seconds=0.05)
        self.service = IngestService(
            self.config, self.store, metrics, FeedHub(), self.dispatcher.wake, sent_window=SentWindow()
        )
        self.tasks = [asyncio.create_task(self.dispatcher.run()), asyncio.create_task(self.scheduler.run())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.dispatcher.stop()
        self.scheduler.stop()
        await asyncio.gather(*self.tasks)
        await self.store.close()

    async def until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await predicate():
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"not reached in {timeout} s")

    async def notifications(self, identifier: str) -> list[dict[str, Any]]:
        doc = await self.store.get_warning(identifier)
        assert doc is not None
        return [n | {"obligation": o} for o in doc["obligations"] for n in o["notifications"]]


def kinds(**handlers: ChannelHandler) -> dict[str, ChannelHandler]:
    out: dict[str, ChannelHandler] = {k: RecordingHandler(k) for k in ("webhook", "sms", "voice")}
    return out | handlers


def test_an_over_limit_answer_is_waited_out_and_the_closed_destination_is_not_called_inside_it(
    config: RoutingConfig, tmp_path: Path
) -> None:
    refusing = Refusing("webhook", wait=30)
    handlers = kinds(webhook=refusing)

    async def scenario() -> None:
        async with Harness(config, tmp_path, handlers, Budgets({})) as h:
            started = time.time()
            await h.service.submit(json_message(identifier="first", sent=now_iso()))

            async def first_refused() -> bool:
                return refusing.calls >= 1 and any(n["last_error"] for n in await h.notifications("first"))

            await h.until(first_refused)
            await h.service.submit(json_message(identifier="second", hazard="gale", sent=now_iso()))

            async def second_held() -> bool:
                webhooks = [n for n in await h.notifications("second") if n["channel"] == "webhook"]
                return bool(webhooks) and all(n["last_error"] for n in webhooks)

            await h.until(second_held)
            await asyncio.sleep(0.3)  # passes of the dispatcher inside the window: none may call the robot
            assert refusing.calls == 1 and refusing.sent == []  # one refusal; nothing sent inside the window
            for identifier in ("first", "second"):
                for n in await h.notifications(identifier):
                    if n["channel"] != "webhook":
                        continue
                    assert n["state"] == "pending" and n["attempts"] == 0, n  # waiting, not an attempt
                    assert n["last_error"].startswith("webhook: HTTP 429, over the provider's limit") or n[
                        "last_error"
                    ].startswith("waiting for the provider's window: webhook: HTTP 429"), n
            counts = (await h.store.counts())["notifications"]
            assert not counts.get("failed"), counts
            due = await h.store.next_due()
            assert due is not None and due > started + 25  # nothing falls due again before the window opens

    asyncio.run(scenario())


def test_a_window_that_reopens_after_the_deadline_moves_the_ladder_on_at_once(
    config: RoutingConfig, tmp_path: Path
) -> None:
    """An hour's wait on the webhook is past every 30-minute deadline: failed with why, and the standard
    ladder's SMS (due at + 3 min) goes now."""
    handlers = kinds(webhook=Refusing("webhook", wait=3600, times=10**6))

    async def scenario() -> None:
        async with Harness(config, tmp_path, handlers, Budgets({})) as h:
            await h.service.submit(json_message(identifier="late", sent=now_iso()))

            async def moved_on() -> bool:
                ns = await h.notifications("late")
                water = [n for n in ns if n["obligation"]["action"]["department"] == "water"]
                return [(n["channel"], n["state"]) for n in water] == [("webhook", "failed"), ("sms", "delivered")]

            await h.until(moved_on)
            water = [n for n in await h.notifications("late") if n["obligation"]["action"]["department"] == "water"]
            why = water[0]["last_error"]
            held = why.startswith("waiting for the provider's window: ")  # another office's refusal closed it
            assert why.removeprefix("waiting for the provider's window: ").startswith(
                "webhook: HTTP 429, over the provider's limit; it reopens at "
            ), why
            assert why.endswith(", after the deadline: on to the next channel"), why
            assert water[0]["attempts"] == (0 if held else 1)  # an attempt only when the robot was called
            text = h.metrics.registry.get_sample_value(
                "warnroute_budget_waits_total", {"channel": "webhook", "why": "moved_on"}
            )
            assert text is not None and text >= 1

    asyncio.run(scenario())


def test_the_budget_keeps_one_robot_inside_its_limit_and_keeps_a_share_for_urgent_traffic(
    config: RoutingConfig, tmp_path: Path
) -> None:
    """Every office shares one webhook (as one county robot): 4 a minute. Each blue signal's webhook
    notifications go as one message (coalesced by destination); three such messages may use the robot's
    minute (a quarter is kept), a fourth blue signal waits, and the red upgrade takes the fourth at once."""
    robot = RecordingHandler("webhook")
    budgets = Budgets({"webhook": (Limit(4, 60),)})

    async def scenario() -> None:
        async with Harness(config, tmp_path, kinds(webhook=robot), budgets) as h:
            for n in range(1, 4):
                await h.service.submit(json_message(identifier=f"blue{n}", hazard="gale", sent=now_iso()))
                await h.until(lambda n=n: _true(len(robot.sent) == n))  # type: ignore[misc]
            webhooks = [x for x in await h.notifications("blue1") if x["channel"] == "webhook"]
            assert len(webhooks) > 30 and set(robot.sent[0].carried) == {x["id"] for x in webhooks}
            await h.service.submit(json_message(identifier="blue4", hazard="gale", sent=now_iso()))

            async def held() -> bool:
                ns = [n for n in await h.notifications("blue4") if n["channel"] == "webhook"]
                return bool(ns) and all(n["state"] == "pending" and n["last_error"] for n in ns)

            await h.until(held)
            for x in await h.notifications("blue4"):
                if x["channel"] == "webhook":
                    assert x["last_error"] == "waiting for the destination's budget (webhook: 4 per minute)", x
            # The duty office's board says why, for each obligation held, and for no other.
            (card,) = [w for w in await h.store.board(0) if w["identifier"] == "blue4"]
            waiting = {x["obligation"]["id"] for x in await h.notifications("blue4") if x["channel"] == "webhook"}
            assert {o["id"] for o in card["obligations"] if o["held"]} == waiting
            assert {o["held"] for o in card["obligations"] if o["held"]} == {
                "waiting for the destination's budget (webhook: 4 per minute)"
            }
            await h.service.submit(json_message(identifier="red", severity="red", sent=now_iso()))
            await h.until(lambda: _true(len(robot.sent) == 4))
            red = {o["id"] for o in await _obligations(h, "red")}
            assert {i.rsplit(".", 1)[0] for i in robot.sent[3].carried} <= red
            await asyncio.sleep(0.3)
            assert len(robot.sent) == 4  # and never a fifth inside the minute

    asyncio.run(scenario())


async def _true(value: bool) -> bool:
    return value


async def _obligations(h: Harness, identifier: str) -> list[dict[str, Any]]:
    doc = await h.store.get_warning(identifier)
    assert doc is not None
    return list(doc["obligations"])


def test_a_restart_remembers_what_the_providers_have_already_counted(config: RoutingConfig, tmp_path: Path) -> None:
    """Three of the robot's four a minute went out before a restart; after it, ordinary traffic for that
    robot still waits for the minute, and urgent traffic has the one left."""
    limits = {"webhook": (Limit(4, 60),)}

    async def scenario() -> None:
        robot = RecordingHandler("webhook")
        async with Harness(config, tmp_path, kinds(webhook=robot), Budgets(limits)) as h:
            for n in range(1, 4):  # three messages, one per warning (each coalesced for the one robot)
                await h.service.submit(json_message(identifier=f"before{n}", hazard="gale", sent=now_iso()))
                await h.until(lambda n=n: _true(len(robot.sent) == n))  # type: ignore[misc]
        again = RecordingHandler("webhook")
        async with Harness(config, tmp_path, kinds(webhook=again), Budgets(limits)) as h:
            budgets = h.dispatcher.budgets
            # Counted as the dispatcher starts (bounded: fails if it never counts them).
            await h.until(lambda: _true(budgets.wait("webhook", "shared-destination", False, time.time())[0] > 0))
            now = time.time()
            wait, limit = budgets.wait("webhook", "shared-destination", False, now)
            assert 0 < wait <= 61 and limit == Limit(4, 60)  # the minute and its guard (1 s)
            assert h.dispatcher.budgets.wait("webhook", "shared-destination", True, now) == (0.0, None)
            await h.service.submit(json_message(identifier="after", hazard="gale", sent=now_iso()))
            await asyncio.sleep(0.3)
            assert again.sent == []  # ordinary traffic waits for the minute the providers still count

    asyncio.run(scenario())


def test_two_instances_on_one_database_keep_one_robot_inside_its_limit_together(
    config: RoutingConfig, tmp_path: Path, postgres_server: Postgres
) -> None:
    """Two instances on one PostgreSQL database, each with its own dispatcher; every office shares one robot
    at 4 a minute. Warnings come in through both, but one instance sends at a time: together they use the
    three of the minute ordinary traffic may, and the fourth blue signal waits. When the sending instance
    stops, the other takes over and counts what the first sent: a fifth blue signal waits as well, and the
    red warning goes in the share kept for it: four in the minute, never a fifth."""
    limits = {"webhook": (Limit(4, 60),)}
    url = postgres_server.create_database()

    async def scenario() -> None:
        first_robot, second_robot = RecordingHandler("webhook"), RecordingHandler("webhook")
        first = Harness(config, tmp_path, kinds(webhook=first_robot), Budgets(limits), store=PostgresStore(url))
        await first.__aenter__()
        running = True
        try:
            await first.until(lambda: _true(first.dispatcher.leads))
            second = Harness(config, tmp_path, kinds(webhook=second_robot), Budgets(limits), store=PostgresStore(url))
            async with second:
                await asyncio.sleep(0.2)
                assert not second.dispatcher.leads

                def sent() -> int:
                    return len(first_robot.sent) + len(second_robot.sent)

                for n, via in ((1, first), (2, second), (3, second)):
                    await via.service.submit(json_message(identifier=f"blue{n}", hazard="gale", sent=now_iso()))
                    await first.until(lambda n=n: _true(sent() == n))  # type: ignore[misc]
                await second.service.submit(json_message(identifier="blue4", hazard="gale", sent=now_iso()))

                async def held(identifier: str) -> bool:
                    ns = [n for n in await second.notifications(identifier) if n["channel"] == "webhook"]
                    return bool(ns) and all(n["state"] == "pending" and n["last_error"] for n in ns)

                await second.until(lambda: held("blue4"))
                assert second_robot.sent == [] and len(first_robot.sent) == 3
                running = False
                await first.__aexit__(None, None, None)  # the sending instance stops: its lock goes with it
                await second.until(lambda: _true(second.dispatcher.leads))
                # A new blue signal after the handover waits too: the minute holds the first's three.
                await second.service.submit(json_message(identifier="blue5", hazard="gale", sent=now_iso()))
                await second.until(lambda: held("blue5"))
                assert second_robot.sent == []
                await second.service.submit(json_message(identifier="red", severity="red", sent=now_iso()))
                await second.until(lambda: _true(len(second_robot.sent) == 1))
                red = {o["id"] for o in await _obligations(second, "red")}
                assert {i.rsplit(".", 1)[0] for i in second_robot.sent[0].carried} <= red
                await asyncio.sleep(0.3)
                assert sent() == 4  # and never a fifth inside the minute
        finally:
            if running:
                await first.__aexit__(None, None, None)

    asyncio.run(scenario())


class Deposable(PostgresStore):
    """An instance's store that loses the lead when told, as when its connection to the database ends: its
    session's advisory locks let go, and another instance may take them."""

    deposed = False

    async def lead(self, name: str) -> bool:
        if self.deposed:
            await fetch(self._read, "SELECT pg_advisory_unlock_all()")
            return False
        return await super().lead(name)


class Slow(RecordingHandler):
    """A provider slow to answer its first call: it answers once ``answer`` is set."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.answer, self.calls = asyncio.Event(), 0

    async def send(self, notification: Outbound) -> SendResult:
        self.calls += 1
        if self.calls == 1:
            await self.answer.wait()
        return await super().send(notification)


def test_an_instance_that_loses_the_lead_sends_nothing_more_and_gives_back_what_it_held(
    config: RoutingConfig, tmp_path: Path, postgres_server: Postgres
) -> None:
    """Two instances on one PostgreSQL database; every office shares one robot. The first leads. The robot is
    slow to answer the first blue signal's message, and the second blue signal's notifications wait in the
    first instance for the robot's next message. Then the first loses the lead (its session's locks let go,
    as when its connection ends). The second takes the lead and sends the second signal's notifications at
    once, not when the first's leases run out a minute later; the first, once its slow send is answered,
    sends nothing more. Every notification went to the robot once, from one instance."""
    url = postgres_server.create_database()

    async def scenario() -> None:
        first_robot, second_robot = Slow("webhook"), RecordingHandler("webhook")
        first_store = Deposable(url)
        first = Harness(config, tmp_path, kinds(webhook=first_robot), Budgets({}), store=first_store, call_timeout=30)
        second = Harness(
            config, tmp_path, kinds(webhook=second_robot), Budgets({}), store=PostgresStore(url), call_timeout=30
        )
        async with first:
            await first.until(lambda: _true(first.dispatcher.leads))
            async with second:
                await first.service.submit(json_message(identifier="blue1", hazard="gale", sent=now_iso()))
                await first.until(lambda: _true(first_robot.calls == 1))  # its message is on its way
                await first.service.submit(json_message(identifier="blue2", hazard="gale", sent=now_iso()))

                async def webhooks(identifier: str) -> list[dict[str, Any]]:
                    return [n for n in await first.notifications(identifier) if n["channel"] == "webhook"]

                async def held() -> bool:  # claimed by the first, waiting for the robot's next message
                    ns = await webhooks("blue2")
                    return bool(ns) and all(n["state"] == "sending" for n in ns)

                await first.until(held)
                assert first_robot.calls == 1 and not second.dispatcher.leads
                first_store.deposed = True
                await second.until(lambda: _true(second.dispatcher.leads))
                blue2 = {n["id"] for n in await webhooks("blue2")}

                def carried_by_second() -> set[str]:
                    return {i for m in second_robot.sent for i in m.carried}

                await second.until(lambda: _true(blue2 <= carried_by_second()), timeout=15)
                first_robot.answer.set()
                await first.until(lambda: _true(len(first_robot.sent) == 1))
                await asyncio.sleep(0.5)  # passes of both dispatchers
                assert first_robot.calls == 1  # nothing more from the instance that no longer leads
                blue1 = {n["id"] for n in await webhooks("blue1")}
                by_first = list(first_robot.sent[0].carried)
                by_second = [i for m in second_robot.sent for i in m.carried]
                assert set(by_first) <= blue1
                assert sorted(by_first + by_second) == sorted(set(by_first + by_second))  # each once
                assert set(by_first) | set(by_second) == blue1 | blue2

    asyncio.run(scenario())


class SecondClaimFails(SqliteStore):
    """A store that fails one claim: the second a pass makes (a database that drops the connection mid-pass)."""

    failed, last = False, 0

    async def claim_notifications(self, now: float, limit: int, lease_seconds: float) -> list[ClaimedNotification]:
        if self.last == limit and not self.failed:  # the claim after a full one: the same pass's second
            self.failed = True
            raise ConnectionError("the database went away")
        claimed = await super().claim_notifications(now, limit, lease_seconds)
        self.last = len(claimed)
        return claimed


def test_what_a_pass_claimed_before_a_claim_failed_is_sent_at_once_not_after_its_lease(
    config: RoutingConfig, tmp_path: Path
) -> None:
    """A pass claims in chunks (here of 10; a yellow gale signal has 44 notifications). The pass's second
    claim fails: what the first had leased is sent all the same, long before its 60 s lease ends."""
    store = SecondClaimFails(tmp_path / "db.sqlite")
    robot = RecordingHandler("webhook")

    async def scenario() -> None:
        async with Harness(config, tmp_path, kinds(webhook=robot), Budgets({}), store=store, chunk=10) as h:
            await h.service.submit(json_message(identifier="gale", hazard="gale", sent=now_iso()))

            async def all_sent() -> bool:
                ns = await h.notifications("gale")
                return len(ns) > 10 and all(n["state"] in ("sent", "delivered") for n in ns)

            await h.until(all_sent, timeout=10)
            assert store.failed  # the pass's second claim failed, and the next pass claimed the rest

    asyncio.run(scenario())


def test_a_retry_that_would_come_after_the_deadline_moves_the_ladder_on_now(
    config: RoutingConfig, tmp_path: Path
) -> None:
    """The webhook is down (503) and the next try would be in an hour: past the 30-minute deadline, so
    the ladder's SMS goes now instead of at + 3 min."""
    down = FlakyHandler("webhook", fail_n=10**6)
    hourly = RetryPolicy(base_seconds=7200, cap_seconds=7200, max_attempts=8, rand=lambda: 1.0)

    async def scenario() -> None:
        async with Harness(config, tmp_path, kinds(webhook=down), Budgets({}), retry=hourly) as h:
            await h.service.submit(json_message(identifier="down", sent=now_iso()))

            async def moved_on() -> bool:
                water = [n for n in await h.notifications("down") if n["obligation"]["action"]["department"] == "water"]
                return [(n["channel"], n["state"]) for n in water] == [("webhook", "failed"), ("sms", "delivered")]

            await h.until(moved_on)
            water = [n for n in await h.notifications("down") if n["obligation"]["action"]["department"] == "water"]
            assert (
                water[0]["last_error"] == "HTTP 503; the next try would be after the deadline: on to the next channel"
            )
            assert water[0]["attempts"] == 1

    asyncio.run(scenario())


def test_the_report_says_a_breach_was_held_by_the_providers_limits() -> None:
    from router.audit.report import breach_reason

    held = "waiting for the destination's budget (sms: 10 per day)"

    def obligation(error: str | None) -> dict[str, Any]:
        sends = [{"purpose": "action", "state": "pending", "last_error": error}]
        return {"delivered_at": None, "sent_at": None, "ack_mode": "required", "notifications": sends}

    assert breach_reason(obligation(held), None) == f"held by the providers' limits: {held}"
    assert breach_reason(obligation(None), None) == "not yet sent"
