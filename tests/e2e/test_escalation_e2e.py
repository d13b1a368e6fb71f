"""Escalation in real time: a real router and the provider simulator, with every deadline shrunk by
config (30 minutes → 30 seconds, ladder steps likewise). Acknowledgements by API, by the duty office,
by SMS reply and by a signed link; escalation to the duty office and breaches really happen; a
``kill -9`` in the middle of a ladder neither loses nor repeats a step."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.plan.config import RoutingConfig, load_config
from router.tools.demo import phone_of
from tests.support.messages import json_message, now_iso
from tests.support.procs import Stack, start_stack, wait_for

JSON = {"content-type": "application/json"}
FAST = {"WARNROUTE_SCHEDULER_POLL": "0.2"}


@pytest.fixture
def fast_stack(tmp_path: Path) -> Iterator[Stack]:
    stack = start_stack(tmp_path, shrink=1 / 60, extra_env=FAST)
    try:
        yield stack
    finally:
        stack.stop()


def obligations(stack: Stack, warning_id: str) -> dict[str, dict[str, Any]]:
    """The 罗平县 obligations of a warning, by department (respond actions only)."""
    w = httpx.get(f"{stack.api}/api/v1/warnings/{warning_id}").json()
    return {
        o["action"]["department"]: o
        for o in w["obligations"]
        if o["action"]["kind"] == "respond" and o["action"]["jurisdiction"] == "530324"
    }


def bodies(stack: Stack) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = httpx.get(f"{stack.sim.url}/bodies").json()
    return result


def without_voice(config: RoutingConfig, candidates: list[str]) -> list[str]:
    return [d for d in candidates if "voice" not in config.departments[d].channels]


def test_acknowledgements_escalation_and_breach_in_real_time(fast_stack: Stack) -> None:
    stack = fast_stack
    config = load_config(stack.tmp / "config")
    posted = httpx.post(
        f"{stack.api}/api/v1/warnings", content=json_message(identifier="lp_live", sent=now_iso()), headers=JSON
    )
    assert posted.status_code == 202, posted.text
    wid = posted.json()["warning_id"]
    obs = obligations(stack, wid)
    quiet = without_voice(config, sorted(obs))
    assert len(quiet) >= 3 and "water" in obs
    never, by_sms, by_link = quiet[:3]

    # By API at once: the department's own acknowledgement, and a duty-office one that needs a reason.
    ack = f"{stack.api}/api/v1/obligations/{obs['water']['id']}/ack"
    assert httpx.post(ack, json={"by": "水务局 孙八"}).status_code == 200
    again = httpx.post(ack, json={"by": "someone else"}).json()
    assert again["already"] and again["acknowledged_by"] == "水务局 孙八"
    on_behalf = f"{stack.api}/api/v1/obligations/{obs['health']['id']}/ack"
    no_reason = httpx.post(on_behalf, json={"by": "值班员", "on_behalf": True})
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    assert httpx.post(on_behalf, json={"by": "值班员", "on_behalf": True, "reason": "电话已确认"}).status_code == 200
    assert httpx.post(f"{stack.api}/api/v1/obligations/nope/ack", json={"by": "x"}).status_code == 404

    # By signed link: the link arrives in the webhook's payload; opening it asks, posting it acknowledges.
    def link_for(obligation_id: str) -> str | None:
        for b in bodies(stack):
            data = b["body"].get("data", {})
            if b["channel"] == "webhook" and data.get("obligation_id") == obligation_id:
                return str(data["ack_url"])
        return None

    url = wait_for(lambda: link_for(obs[by_link]["id"]), 10)
    page = httpx.get(url)
    assert page.status_code == 200 and "<form" in page.text
    assert httpx.get(url.replace("sig=", "sig=0")).status_code == 403
    confirmed = httpx.post(
        url, content="by=%E5%91%A8%E4%B9%9D", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert confirmed.status_code == 200 and "已确认" in confirmed.text

    # By SMS reply: the SMS (the ladder's second rung, at 3 s) says which number to reply with.
    def sms_code(obligation_id: str) -> int | None:
        for b in bodies(stack):
            if b["channel"] == "sms" and b["key"].startswith(obligation_id):
                found = re.search(r"确认 (\d+)", b["body"]["text"])
                return int(found.group(1)) if found else None
        return None

    code = wait_for(lambda: sms_code(obs[by_sms]["id"]), 10)
    inbound = f"{stack.api}/api/v1/inbound/sms"
    gateway = {"token": stack.serve_env["WARNROUTE_RECEIPT_TOKEN"]}  # the SMS gateway's callback token
    stranger = httpx.post(inbound, params=gateway, json={"from": "+8613999999999", "text": f"确认 {code}"})
    assert stranger.status_code == 404
    phone = phone_of(stack.serve_env, "530324", by_sms)  # the office's own duty phone, written as people do
    spaced = f"{phone[:3]} {phone[3:6]} {phone[6:10]} {phone[10:]}"
    reply = httpx.post(inbound, params=gateway, json={"from": spaced, "text": f"确认 {code}"})
    assert reply.status_code == 200 and reply.json()["method"] == "sms_reply"

    # The one nobody acknowledges: duty office alerted at 15 s, breached at 30 s.
    breached = wait_for(lambda: obligations(stack, wid)[never]["breached_at"] and obligations(stack, wid), 45)
    late = breached[never]
    assert late["state"] == "breached" and late["escalated_at"] < late["breached_at"]
    duty = [n for n in late["notifications"] if n["purpose"] == "escalation"]
    assert {n["to_department"] for n in duty} == {"emergency_management"} and len(duty) == 2
    wait_for(lambda: all(n["state"] == "delivered" for n in obligations(stack, wid)[never]["notifications"]), 10)
    for dept, method in (("water", "api"), ("health", "duty_office"), (by_link, "link"), (by_sms, "sms_reply")):
        o = breached[dept]
        assert o["state"] == "acknowledged" and o["ack_method"] == method and o["breached_at"] is None, dept
    assert breached[by_link]["acknowledged_by"] == "周九"
    assert breached[by_sms]["acknowledged_by"] == f"sms:{phone[3:6]}****{phone[-4:]}"  # the number masked
    assert [n["channel"] for n in breached["water"]["notifications"]] == ["webhook"]  # acknowledged: no more rungs

    report = httpx.get(f"{stack.api}/api/v1/warnings/{wid}/report").json()
    assert any(b["obligation_id"] == late["id"] for b in report["breaches"])
    page = httpx.get(f"{stack.api}/api/v1/warnings/{wid}/report", params={"format": "html"})
    assert page.status_code == 200 and "<svg" in page.text
    assert httpx.get(f"{stack.api}/api/v1/audit/verify").json()["ok"] is True
    metrics = httpx.get(f"{stack.api}/metrics").text
    assert re.search(r'warnroute_breaches_total\{kind="respond"\} [1-9]', metrics)
    assert re.search(r'warnroute_acknowledgements_total\{method="sms_reply"\} 1\.0', metrics)


def test_kill_9_in_the_middle_of_a_ladder_loses_and_repeats_no_step(tmp_path: Path) -> None:
    # 30 minutes → 60 s: rungs at 0, 6, 16 and 30 s, the breach at 60 s.
    stack = start_stack(tmp_path, shrink=1 / 30, extra_env=FAST)
    try:
        config = load_config(stack.tmp / "config")
        started = time.time()
        posted = httpx.post(
            f"{stack.api}/api/v1/warnings", content=json_message(identifier="lp_kill", sent=now_iso()), headers=JSON
        )
        wid = posted.json()["warning_id"]
        quiet = without_voice(config, sorted(obligations(stack, wid)))
        wait_for(lambda: all(len(obligations(stack, wid)[d]["notifications"]) >= 2 for d in quiet), 15)
        assert stack.router is not None
        # Down across every rung before the deadline (voice, the duty office), by the shrunk config's times.
        obs = obligations(stack, wid)
        last_rung = max(
            config.ladders.times(
                obs[d]["ladder"],
                datetime.fromisoformat(obs[d]["created_at"]).timestamp(),
                datetime.fromisoformat(obs[d]["deadline"]).timestamp(),
            )[-1]
            for d in quiet
        )
        stack.router.kill9()
        assert last_rung - started > 20  # the rungs the outage is to span are still ahead
        while time.time() < last_rung + 2:  # a wait on the clock itself: the outage spans the rungs' times
            time.sleep(min(0.5, last_rung + 2 - time.time()))
        stack.start_router()
        settled = wait_for(
            lambda: (
                (obs := obligations(stack, wid))
                and all(o["breached_at"] for d, o in obs.items() if d in quiet)
                and all(n["state"] == "delivered" for o in obs.values() for n in o["notifications"])
                and obs
            ),
            60,
        )
        received = httpx.get(f"{stack.sim.url}/received").json()
        for dept in quiet:
            o = settled[dept]
            assert [n["purpose"] + ":" + n["channel"] for n in o["notifications"]] == [
                "action:webhook",
                "action:sms",
                "escalation:webhook",
                "escalation:sms",
            ], dept
            for n in o["notifications"]:
                assert received[n["channel"]][n["id"]] >= 1  # every step reached its receiver ...
        ids = [n["id"] for o in settled.values() for n in o["notifications"]]
        assert len(ids) == len(set(ids))  # ... and none was created twice
        assert httpx.get(f"{stack.api}/api/v1/audit/verify").json()["ok"] is True
    finally:
        stack.stop()
