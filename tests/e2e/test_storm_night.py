"""A storm night replayed on a compressed clock (1/30: the plan's 30 minutes last one minute, a provider's
minute two seconds) against receivers that enforce the providers' real limits, scaled by the same factor,
and answer with their real over-limit codes (the simulator with ``--time-scale``).

罗平县 rainstorm blue → yellow → orange → red, a city Level Ⅱ report, a 12 h nowcast, a gale signal in
师宗县 and a lightning signal in 陆良县, then the lift. Every office of a county shares its county's WeCom
robot (20 a minute); every office has one duty phone for SMS and voice, shared across all the warnings
(SMS 1 per 30 s and 10 a day, calls 1 a minute, 5 an hour, 20 a day). Nobody acknowledges but by
answering a call. Asserted from the receivers' side and the store's: no over-limit answer was ever given
(warnroute kept within every window), nothing lost (every obligation delivered, closed, or breached with
its reason; every notification recorded delivered was received), every §4.3 direct report and phone
report delivered before its deadline, and the red warning's phone reports reached on their first attempt.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from router.parsers.normalise import BEIJING
from tests.support.procs import Stack, start_stack, wait_for

SCALE = 1 / 30
LIMITS = {  # departments.yaml provider_limits, each window scaled by SCALE (the providers' defaults)
    "wecom": [{"count": 20, "per": "2s"}],
    "dingtalk": [{"count": 20, "per": "2s"}],
    "feishu": [{"count": 5, "per": "1s"}, {"count": 100, "per": "2s"}],
    "sms": [{"count": 1, "per": "1s"}, {"count": 10, "per": "2880s"}],
    "voice": [{"count": 1, "per": "2s"}, {"count": 5, "per": "120s"}, {"count": 20, "per": "2880s"}],
}


def county_robots(config: Path, sim: str) -> dict[str, str]:
    """Each office's first channel becomes its county's WeCom robot; each office one phone number."""
    path = config / "departments.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for department in data["departments"].values():
        if "wecom" not in department["channels"]:
            department["channels"] = ["wecom" if c == "webhook" else c for c in department["channels"]]
    data["provider_limits"] = LIMITS
    data["contacts"]["defaults"]["wecom"] = {"url": {"env": "WARNROUTE_{jurisdiction}_ROBOT"}}
    data["contacts"]["defaults"]["sms"] = {"to": {"env": "WARNROUTE_{jurisdiction}_{department}_PHONE"}}
    data["contacts"]["defaults"]["voice"] = {"to": {"env": "WARNROUTE_{jurisdiction}_{department}_PHONE"}}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    rules = config / "warnings.yaml"  # the duty office is alerted on its robot and phone too
    text = rules.read_text(encoding="utf-8").replace("channels: [webhook, sms]", "channels: [wecom, sms]", 1)
    rules.write_text(text, encoding="utf-8")
    env = {f"WARNROUTE_{j}_ROBOT": f"{sim}/wecom/send?key=robot-{j}" for j in data["jurisdictions"]}
    n = 0
    for j in data["jurisdictions"]:
        for d in data["departments"]:
            n += 1
            env[f"WARNROUTE_{j}_{d.upper()}_PHONE"] = f"+86139{n:08d}"
    return env


@pytest.fixture
def stormy(tmp_path: Path) -> Iterator[Stack]:
    stack = start_stack(
        tmp_path,
        shrink=SCALE,
        limits=True,
        configure=county_robots,
    )
    try:
        yield stack
    finally:
        stack.stop()


def night(start: datetime) -> list[tuple[float, dict[str, Any]]]:
    """(seconds after start, message) of the storm, on the compressed clock."""

    def at(seconds: float) -> str:
        return (start + timedelta(seconds=seconds)).isoformat(timespec="seconds")

    def luoping(n: int, t: float, colour: str, msg_type: str = "alert") -> tuple[float, dict[str, Any]]:
        refs = [f"53032441600000_night_{n - 1}"] if n else []
        return t, {
            "schema": "warnroute.warning/1",
            "identifier": f"53032441600000_night_{n}",
            "sender": "罗平县气象台",
            "sender_code": "53032441600000",
            "sent": at(t),
            "msg_type": msg_type,
            "references": refs,
            "product": "signal",
            "hazard": "rainstorm",
            "severity": colour,
            "areas": ["530324"],
            "headline": f"罗平县气象台发布暴雨{colour}预警信号",
        }

    def county(code: str, t: float, hazard: str, name: str) -> tuple[float, dict[str, Any]]:
        return t, {
            "schema": "warnroute.warning/1",
            "identifier": f"{code}41600000_night_{hazard}",
            "sender": f"{name}气象台",
            "sender_code": f"{code}41600000",
            "sent": at(t),
            "product": "signal",
            "hazard": hazard,
            "severity": "yellow",
            "areas": [code],
            "headline": f"{name}气象台发布{hazard}黄色预警信号",
        }

    city = {"sender": "曲靖市气象局", "sender_code": "53030041600000", "schema": "warnroute.warning/1"}
    return [
        luoping(0, 0, "blue"),
        (3, {**city, "identifier": "53030041600000_night_nowcast", "sent": at(3), "product": "nowcast",
             "hazard": "rainstorm", "onset": at(60), "areas": ["530324102", "530324201"],
             "key_townships": ["530324102"], "headline": "曲靖市强降水短时临近预报"}),
        county("530323", 4, "gale", "师宗县"),
        luoping(1, 6, "yellow", "update"),
        (8, {**city, "identifier": "53030041600000_night_report", "sent": at(8), "product": "report",
             "hazard": "rainstorm", "level": "II", "areas": ["530324", "530323"],
             "headline": "曲靖市气象台发布暴雨Ⅱ级预警报告"}),
        county("530322", 10, "lightning", "陆良县"),
        luoping(2, 12, "orange", "update"),
        luoping(3, 18, "red", "update"),
        luoping(4, 40, "red", "cancel"),
    ]  # fmt: skip


def test_a_storm_night_within_every_providers_limits(stormy: Stack) -> None:
    stack = stormy
    start = datetime.now(BEIJING)
    messages = night(start)
    with httpx.Client(timeout=30) as client:
        for after, message in messages:
            wait = start.timestamp() + after - time.time()
            if wait > 0:
                time.sleep(wait)
            posted = client.post(f"{stack.api}/api/v1/warnings", json=message)
            assert posted.status_code == 202, posted.text
        # Every deadline has passed (the plan's 30 minutes are one here) and the outbox is settled.
        ids = [m["identifier"] for _, m in messages]
        deadlines = [
            _t(o["deadline"]) for i in ids for o in client.get(f"{stack.api}/api/v1/warnings/{i}").json()["obligations"]
        ]
        time.sleep(max(0.0, max(deadlines) + 2 - time.time()))
        wait_for(lambda: settled(client, stack.api), timeout=120, step=0.5)
        refused = client.get(f"{stack.sim.url}/limits").json()["refused"]
        received = client.get(f"{stack.sim.url}/received").json()
        requests = client.get(f"{stack.sim.url}/messages").json()
        warnings = {
            m["identifier"]: client.get(f"{stack.api}/api/v1/warnings/{m['identifier']}").json() for _, m in messages
        }
        reports = {i: client.get(f"{stack.api}/api/v1/warnings/{i}/report").json() for i in warnings}

    assert refused == {}, refused  # no provider ever had to refuse: warnroute kept within every window
    got = {k for keys in received.values() for k in keys}
    lost: list[str] = []
    for identifier, doc in warnings.items():
        breaches = {b["obligation_id"]: b["reason"] for b in reports[identifier]["breaches"]}
        for o in doc["obligations"]:
            for n in o["notifications"]:
                if n["state"] == "delivered" and n["id"] not in got:
                    lost.append(f"{n['id']}: recorded delivered, never received")
                if n["state"] == "failed" and "after the deadline: on to the next channel" not in n["last_error"]:
                    lost.append(f"{n['id']}: failed ({n['last_error']})")  # only a window past the deadline
            closed = o["state"] in ("superseded", "cancelled")
            if not (o["delivered_at"] or closed or breaches.get(o["id"])):
                lost.append(f"{o['id']} ({o['state']}): neither delivered, closed nor breached with a reason")
            kind = o["action"]["kind"]
            if kind in ("direct_report", "phone_report") and not closed:
                assert o["delivered_at"] is not None, (identifier, o)
                assert _t(o["delivered_at"]) <= _t(o["deadline"]), (identifier, o)
    assert not lost, lost[:10]
    red = [o for o in warnings["53032441600000_night_3"]["obligations"] if o["action"]["kind"] == "phone_report"]
    assert len(red) >= 3
    for o in red:
        first = next(n for n in o["notifications"] if n["channel"] == "voice")
        assert first["state"] == "delivered" and first["attempts"] == 1, o
    robots = requests.get("wecom", {})
    assert sum(robots.values()) < sum(received.get("wecom", {}).values())  # robots' messages coalesced
    print(
        f"\nstorm night: {sum(len(d['obligations']) for d in warnings.values())} obligations,"
        f" {sum(len(k) for k in received.values())} notifications received in"
        f" {sum(sum(k.values()) for k in requests.values())} requests, 0 refused"
    )


def settled(client: httpx.Client, api: str) -> bool:
    found: dict[str, int] = client.get(f"{api}/api/v1/summary").json()["notifications"]
    return not (found.get("pending") or found.get("sending"))


def _t(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()
