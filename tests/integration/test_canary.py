"""The canary: a Test message through every channel on a schedule, and the alarm when one does not come back."""

from __future__ import annotations

import mailbox
import re
from pathlib import Path

import httpx

from router.delivery.canary import Canary
from router.metrics import Metrics
from router.plan.config import RoutingConfig
from router.store import NotificationOutcome
from tests.support.procs import start_stack, wait_for
from tests.support.world import World, run


def test_a_canary_that_does_not_come_back_is_missing(config: RoutingConfig, tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        metrics = Metrics(__import__("prometheus_client").CollectorRegistry())
        canary = Canary(w.store, config, metrics, ("webhook", "sms", "fax"), 60, 30, lambda: None, clock=w.clock)
        assert canary.channels == ("webhook", "sms")  # what the recipient has and the process can send
        await canary.send()
        claimed = {c.channel: c for c in await w.store.claim_notifications(w.clock(), 100, 60)}
        assert {c.drill for c in claimed.values()} == {True}
        w.clock.at(0.2)
        await w.store.record_outcomes([NotificationOutcome(claimed["webhook"].id, "delivered", w.clock(), "x")])
        assert await canary.check() == {"webhook": False, "sms": False}  # not overdue yet
        w.clock.at(1)
        assert await canary.check() == {"webhook": False, "sms": True}
        assert metrics.canary_missing.labels("sms")._value.get() == 1
        assert metrics.canary_age.labels("webhook")._value.get() == 48.0
        await canary.send()  # the next canary gets through on both
        for c in await w.store.claim_notifications(w.clock(), 100, 60):
            await w.store.record_outcomes([NotificationOutcome(c.id, "delivered", w.clock(), "y")])
        assert await canary.check() == {"webhook": False, "sms": False}
        assert metrics.canary_missing.labels("sms")._value.get() == 0

    run(config, tmp_path, scenario)


def test_the_canary_runs_through_the_real_channels(tmp_path: Path) -> None:
    env = {"WARNROUTE_CANARY_EVERY": "1", "WARNROUTE_CANARY_TIMEOUT": "2"}
    stack = start_stack(tmp_path, extra_env=env)
    try:

        def metric(name: str, channel: str) -> float | None:
            text = httpx.get(f"{stack.api}/metrics").text
            found = re.search(rf'{name}\{{channel="{channel}"\}} (\S+)', text)
            return float(found.group(1)) if found else None

        channels = ("webhook", "sms", "voice", "email", "wecom", "dingtalk", "feishu")
        wait_for(lambda: all(metric("warnroute_canary_age_seconds", c) is not None for c in channels), timeout=20)
        for channel in channels:
            assert metric("warnroute_canary_missing", channel) == 0, channel
        assert stack.maildir is not None  # the e-mail went through a real SMTP server process
        mails = list(mailbox.Maildir(stack.maildir))
        assert mails and {m["To"] for m in mails} == {"duty@example.invalid"}
        assert all(m["X-Warnroute-Idempotency-Key"] for m in mails)
        httpx.post(f"{stack.sim.url}/control", json={"mode": "fail", "status": 503, "channels": ["sms"]})
        # Missing once the canary timeout (2 s) has passed without the SMS canary coming back.
        wait_for(lambda: metric("warnroute_canary_missing", "sms") == 1, timeout=20)
        assert metric("warnroute_canary_missing", "webhook") == 0
    finally:
        stack.stop()
