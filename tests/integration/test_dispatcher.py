"""The dispatcher over the real store: delivery, retries with backoff, permanent failures, redaction."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import time
from collections.abc import Callable, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from router.delivery.budget import Budgets
from router.delivery.dispatcher import Dispatcher, DispatchSettings
from router.delivery.feed import FeedHub
from router.delivery.retry import RetryPolicy
from router.errors import PermanentDeliveryError
from router.handlers.base import ChannelHandler, Outbound, SendResult
from router.ingest.service import IngestService
from router.metrics import Metrics
from router.obligations.scheduler import Scheduler
from router.plan.config import RoutingConfig
from router.plan.secrets import SecretResolver
from router.store import SqliteStore
from tests.support.fakes import FlakyHandler, RecordingHandler, parts
from tests.support.messages import issue_clock, json_message

FAST = RetryPolicy(base_seconds=0.01, cap_seconds=0.05, max_attempts=4)


def environ(config: RoutingConfig) -> dict[str, str]:
    """Every contact reference of the config resolved to a dummy value."""
    env: dict[str, str] = {}
    for refs in config.contacts.values():
        for ref in refs.values():
            if ref.env:
                env[ref.env] = f"value-of-{ref.env}"
    return env


SETTLED = (  # one statement, so one snapshot: a claim between two reads cannot hide a step just taken
    "SELECT (SELECT COUNT(*) FROM notifications WHERE state IN ('pending', 'sending'))"
    " + (SELECT COUNT(*) FROM obligations WHERE opens > 0),"  # an opening not claimed yet has no row
    " (SELECT MIN(next_step_at) FROM obligations WHERE next_step_at IS NOT NULL)"
)


async def settled(path: Path, clock: Callable[[], float], timeout: float) -> None:
    """Until nothing is waiting to be sent or being sent and no ladder step is due yet (a later rung,
    minutes away, is not waited for); raises if that takes longer than ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    waiting, due = 0, None
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        while time.monotonic() < deadline:
            waiting, due = db.execute(SETTLED).fetchone()
            if not waiting and (due is None or due > clock()):
                return
            await asyncio.sleep(0.02)
    raise AssertionError(f"the outbox did not settle in {timeout} s: {waiting} waiting, a step due at {due}")


async def dispatch_one(
    config: RoutingConfig,
    tmp: Path,
    handlers: Mapping[str, ChannelHandler],
    env: dict[str, str],
    message: bytes,
    timeout: float = 30.0,
) -> tuple[SqliteStore, dict[str, int]]:
    clock = issue_clock(message)  # the message arrives as it is issued: only the ladders' first steps are due
    store = SqliteStore(tmp / "db.sqlite", clock=clock)
    await store.open()
    metrics = Metrics(CollectorRegistry())
    dispatcher = Dispatcher(
        store,
        config,
        handlers,
        SecretResolver(env),
        metrics,
        FAST,
        DispatchSettings(poll_seconds=0.02, call_timeout=0.5),
        clock=clock,
        budgets=Budgets({}),  # the providers' limits are tests/integration/test_budgets.py's
    )
    scheduler = Scheduler(store, config, metrics, dispatcher.wake, clock=clock, poll_seconds=0.05)
    service = IngestService(config, store, metrics, FeedHub(), dispatcher.wake, clock=clock)
    tasks = [asyncio.create_task(dispatcher.run()), asyncio.create_task(scheduler.run())]
    failed = True
    try:
        await service.submit(message)
        await settled(tmp / "db.sqlite", clock, timeout)
        failed = False
    finally:
        dispatcher.stop()
        scheduler.stop()
        await asyncio.gather(*tasks)
        if failed:
            await store.close()  # an open store's thread would keep the test process from ending
    counts = (await store.counts())["notifications"]
    return store, counts


def dispatch_and_fetch(
    config: RoutingConfig, tmp: Path, handlers: Mapping[str, ChannelHandler], env: dict[str, str], message: bytes
) -> dict[str, Any]:
    """Dispatch ``message`` and return the stored warning with its obligations and notifications."""

    async def scenario() -> dict[str, Any] | None:
        store, _ = await dispatch_one(config, tmp, handlers, env, message)
        stored = await store.get_warning(json.loads(message)["identifier"])
        await store.close()
        return stored

    stored = asyncio.run(scenario())
    assert stored is not None
    return stored


def test_every_notification_is_handed_to_its_channel_once(config: RoutingConfig, tmp_path: Path) -> None:
    handlers = {k: RecordingHandler(k) for k in ("webhook", "sms", "voice")}

    async def scenario() -> dict[str, int]:
        store, counts = await dispatch_one(config, tmp_path, handlers, environ(config), json_message(severity="red"))
        await store.close()
        return counts

    counts = asyncio.run(scenario())
    sent = [i for h in handlers.values() for n in h.sent for i in n.carried]  # each notification, once
    assert len(sent) == len(set(sent)) == sum(counts.values())
    assert counts == {"delivered": len(sent)}
    voice = handlers["voice"].sent
    assert {n.department for n in voice} >= {"principal_leaders", "leader_in_charge", "flood_office_director"}
    assert all(n.contact["to"].startswith("value-of-WARNROUTE_530324_") for n in voice)
    assert all("§4.3" in n.title for n in voice if n.department == "principal_leaders")


def test_retryable_failures_back_off_then_succeed(config: RoutingConfig, tmp_path: Path) -> None:
    flaky = FlakyHandler("webhook", fail_n=2)
    handlers: dict[str, ChannelHandler] = {
        "webhook": flaky,
        "sms": RecordingHandler("sms"),
        "voice": RecordingHandler("voice"),
    }

    async def scenario() -> dict[str, int]:
        store, counts = await dispatch_one(config, tmp_path, handlers, environ(config), json_message(identifier="one"))
        await store.close()
        return counts

    counts = asyncio.run(scenario())
    assert counts.get("failed", 0) == 0 and counts.get("pending", 0) == 0
    assert flaky.attempts == len(flaky.sent) + 2


def test_a_permanent_failure_records_its_reason_and_falls_back_at_once(config: RoutingConfig, tmp_path: Path) -> None:
    handlers: dict[str, ChannelHandler] = {
        "webhook": FlakyHandler("webhook", fail_n=10**6, retryable=False, message="webhook: HTTP 410"),
        "sms": RecordingHandler("sms"),
        "voice": RecordingHandler("voice"),
    }

    stored = dispatch_and_fetch(config, tmp_path, handlers, environ(config), json_message())
    web = [o for o in stored["obligations"] if o["notifications"] and o["notifications"][0]["channel"] == "webhook"]
    assert web and all(o["notifications"][0]["state"] == "failed" for o in web)
    assert all(o["notifications"][0]["last_error"] == "webhook: HTTP 410" for o in web)
    assert all(o["notifications"][0]["attempts"] == 1 for o in web)
    # A channel that failed for good does not wait for the ladder: its next step (SMS) goes at once.
    for o in web:
        assert [n["channel"] for n in o["notifications"]][:2] == ["webhook", "sms"]
        assert o["notifications"][1]["state"] == "delivered"
        assert o["state"] == "delivered" and o["acknowledged_at"] is None


def test_giving_up_after_the_retry_budget(config: RoutingConfig, tmp_path: Path) -> None:
    flaky = FlakyHandler("sms", fail_n=10**6)
    handlers: dict[str, ChannelHandler] = {
        "webhook": RecordingHandler("webhook"),
        "sms": flaky,
        "voice": RecordingHandler("voice"),
    }

    async def scenario() -> dict[str, int]:
        store, counts = await dispatch_one(config, tmp_path, handlers, environ(config), json_message())
        await store.close()
        return counts

    counts = asyncio.run(scenario())
    assert counts["failed"] >= 1
    per_notification = flaky.attempts / counts["failed"]
    assert per_notification == FAST.max_attempts


def test_missing_contact_fails_naming_the_reference_never_a_value(config: RoutingConfig, tmp_path: Path) -> None:
    env = environ(config)
    del env["WARNROUTE_530324_FLOOD_DROUGHT_HQ_WEBHOOK_URL"]
    handlers = {k: RecordingHandler(k) for k in ("webhook", "sms", "voice")}

    with structlog.testing.capture_logs() as logs:
        stored = dispatch_and_fetch(config, tmp_path, handlers, env, json_message())
    hq = next(o for o in stored["obligations"] if o["action"]["department"] == "flood_drought_hq")
    assert hq["notifications"][0]["state"] == "failed"
    assert (
        hq["notifications"][0]["last_error"] == "contact env:WARNROUTE_530324_FLOOD_DROUGHT_HQ_WEBHOOK_URL is not set"
    )
    failed = [e for e in logs if e["event"] == "delivery_failed"]
    assert failed and failed[0]["department"] == "flood_drought_hq"


def test_a_secret_in_a_handler_error_is_redacted_from_store_and_logs(config: RoutingConfig, tmp_path: Path) -> None:
    env = environ(config)
    secret = env["WARNROUTE_530324_FLOOD_DROUGHT_HQ_WEBHOOK_SECRET"]

    class Careless(RecordingHandler):
        async def send(self, notification: Outbound) -> SendResult:
            raise PermanentDeliveryError(f"rejected secret {notification.contact['secret']}")

    handlers: dict[str, ChannelHandler] = {
        "webhook": Careless("webhook"),
        "sms": RecordingHandler("sms"),
        "voice": RecordingHandler("voice"),
    }

    with structlog.testing.capture_logs() as logs:
        stored = dispatch_and_fetch(config, tmp_path, handlers, env, json_message())
    assert secret not in repr(stored)
    assert secret not in repr(logs)
    assert "rejected secret ***" in repr(stored)


def test_drills_are_marked_on_every_notification(config: RoutingConfig, tmp_path: Path) -> None:
    handlers = {k: RecordingHandler(k) for k in ("webhook", "sms", "voice")}

    async def scenario() -> None:
        store, _ = await dispatch_one(
            config, tmp_path, handlers, environ(config), json_message(status="exercise", severity="red")
        )
        await store.close()

    asyncio.run(scenario())
    sent = [n for h in handlers.values() for n in h.sent]
    assert sent and all(n.drill and "演练" in n.title and "演练" in n.text for n in sent)
    carried = [p for n in sent for p in parts(n)]
    assert len(carried) > len(sent)  # offices with several actions got them in one message each
    assert all(p["drill"] for p in carried)
    assert not any(p["action"]["kind"] in ("disseminate", "phone_report") for p in carried)
    assert not any(p["action"]["department"] == "principal_leaders" for p in carried)


def test_retry_policy_caps_and_jitters() -> None:
    policy = RetryPolicy(base_seconds=1, cap_seconds=30, max_attempts=5, rand=lambda: 1.0)
    assert [policy.delay(a) for a in (1, 2, 3, 6, 10)] == [1, 2, 4, 30, 30]
    low = dataclasses.replace(policy, rand=lambda: 0.0)
    assert [low.delay(a) for a in (1, 2, 10)] == [0.5, 1, 15]
    assert not policy.gives_up(4) and policy.gives_up(5)
