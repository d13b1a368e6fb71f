"""``warnroute demo``: the router and the provider simulator on loopback, a storm replayed, a summary.

The storm (罗平县 rainstorm blue → orange → red, a city level Ⅱ report, a 12-hour nowcast, a drill,
the lift) is sent as warnroute JSON with real times, one step every ``--step`` seconds. Contacts
point at the simulator through a generated copy of the configuration; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from router.parsers.normalise import BEIJING
from router.plan.config import default_config_dir

DEMO_CONTACTS = {
    "defaults": {
        "feed": {},
        "kafka": {},
        "webhook": {"url": {"env": "WARNROUTE_DEMO_WEBHOOK_URL"}, "secret": {"env": "WARNROUTE_DEMO_WEBHOOK_SECRET"}},
        "sms": {"to": {"env": "WARNROUTE_DEMO_{jurisdiction}_{department}_PHONE"}},
        "voice": {"to": {"env": "WARNROUTE_DEMO_{jurisdiction}_{department}_PHONE"}},
        "email": {"to": {"env": "WARNROUTE_DEMO_EMAIL"}},
        "wecom": {"url": {"env": "WARNROUTE_DEMO_{jurisdiction}_WECOM_URL"}},
        "dingtalk": {"url": {"env": "WARNROUTE_DEMO_DINGTALK_URL"}, "secret": {"env": "WARNROUTE_DEMO_ROBOT_SECRET"}},
        "feishu": {"url": {"env": "WARNROUTE_DEMO_FEISHU_URL"}, "secret": {"env": "WARNROUTE_DEMO_ROBOT_SECRET"}},
    }
}


def demo_config(target: Path) -> Path:
    """A copy of the configuration whose contacts all point at the simulator (via env references)."""
    shutil.copytree(default_config_dir(), target, dirs_exist_ok=True)
    departments = target / "departments.yaml"
    data = yaml.safe_load(departments.read_text(encoding="utf-8"))
    data["contacts"] = DEMO_CONTACTS
    departments.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


def shrink_deadlines(config: Path, factor: float) -> Path:
    """Scale every deadline and ladder step of the config in ``config`` by ``factor`` (e.g. 1/60: minutes
    become seconds), so escalations and breaches happen while one watches."""
    path = config / "warnings.yaml"
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"(due_minutes: )(\d+(?:\.\d+)?)", lambda m: f"{m.group(1)}{float(m.group(2)) * factor:g}", text)
    text = re.sub(r"(after: )(\d+(?:\.\d+)?)m\b", lambda m: f"{m.group(1)}{float(m.group(2)) * 60 * factor:g}s", text)
    path.write_text(text, encoding="utf-8")
    return config


def storm(start: datetime, step_hours: float = 1.0) -> list[tuple[str, dict[str, Any]]]:
    """The demo storm as (label, JSON message) in order; times count from ``start``."""

    def at(hours: float) -> str:
        return (start + timedelta(hours=hours * step_hours)).isoformat()

    def luoping(n: int, colour: str, msg_type: str, refs: list[str], headline: str) -> dict[str, Any]:
        return {
            "schema": "warnroute.warning/1",
            "identifier": f"53032441600000_demo_{n}",
            "sender": "罗平县气象台",
            "sender_code": "53032441600000",
            "sent": at(n),
            "msg_type": msg_type,
            "references": refs,
            "product": "signal",
            "hazard": "rainstorm",
            "severity": colour,
            "areas": ["530324"],
            "headline": headline,
        }

    city = {"sender": "曲靖市气象局", "sender_code": "53030041600000", "schema": "warnroute.warning/1"}
    return [
        ("罗平县 rainstorm blue signal", luoping(0, "blue", "alert", [], "罗平县气象台发布暴雨蓝色预警信号")),
        (
            "罗平县 upgraded to orange",
            luoping(1, "orange", "update", ["53032441600000_demo_0"], "罗平县气象台将暴雨蓝色预警信号升级为橙色"),
        ),
        (
            "city level Ⅱ rainstorm report",
            {
                **city,
                "identifier": "53030041600000_demo_report",
                "sent": at(1.5),
                "product": "report",
                "hazard": "rainstorm",
                "level": "II",
                "areas": ["530324", "530323"],
                "headline": "曲靖市暴雨Ⅱ级预警报告",
            },
        ),
        (
            "12 h heavy-rain nowcast",
            {
                **city,
                "identifier": "53030041600000_demo_nowcast",
                "sent": at(2),
                "product": "nowcast",
                "hazard": "rainstorm",
                "onset": at(10),
                "areas": ["530324102", "530324201", "530323102"],
                "key_townships": ["530324102"],
                "headline": "曲靖市强降水短时临近预报",
            },
        ),
        (
            "罗平县 upgraded to red",
            luoping(3, "red", "update", ["53032441600000_demo_1"], "罗平县气象台将暴雨橙色预警信号升级为红色"),
        ),
        (
            "沾益区 lightning drill",
            {
                "schema": "warnroute.warning/1",
                "identifier": "53030341600000_demo_drill",
                "sender": "沾益区气象台",
                "sender_code": "53030341600000",
                "sent": at(3.5),
                "status": "exercise",
                "product": "signal",
                "hazard": "lightning",
                "severity": "orange",
                "areas": ["530303"],
                "headline": "【演练】沾益区雷电橙色预警信号",
            },
        ),
        (
            "罗平县 rainstorm lifted",
            luoping(5, "red", "cancel", ["53032441600000_demo_3"], "罗平县气象台解除暴雨红色预警信号"),
        ),
    ]


def environments(sim: str, config: Path, data_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Environment of the simulator and of the router, sharing fresh random secrets."""
    keys = {name: secrets.token_urlsafe(24) for name in ("api", "webhook", "robot", "receipts")}
    env = {
        **os.environ,
        "WARNROUTE_SIM_API_KEY": keys["api"],
        "WARNROUTE_SIM_WEBHOOK_SECRET": keys["webhook"],
        "WARNROUTE_SIM_ROBOT_SECRET": keys["robot"],
    }
    serve_env = {
        **env,
        "WARNROUTE_CONFIG": str(config),
        "WARNROUTE_DATA_DIR": str(data_dir),
        "WARNROUTE_AUTH": "dev",  # the demo on loopback: no tokens (never so in production)
        "WARNROUTE_SENT_MAX_AHEAD": "21600",  # the demo's storm is issued hours ahead, compressed into minutes
        # Each office of the demo has its own duty phone and each county its WeCom robot (offices()), so the
        # providers' budgets per destination (departments.yaml provider_limits) are on, as in production.
        "WARNROUTE_PROVIDER_BUDGETS": "1",
        "WARNROUTE_RECEIPT_TOKEN": keys["receipts"],
        "WARNROUTE_SMS_URL": sim,
        "WARNROUTE_SMS_API_KEY": keys["api"],
        "WARNROUTE_VOICE_URL": sim,
        "WARNROUTE_VOICE_API_KEY": keys["api"],
        "WARNROUTE_DEMO_WEBHOOK_URL": f"{sim}/webhook/departments",
        "WARNROUTE_DEMO_WEBHOOK_SECRET": keys["webhook"],
        "WARNROUTE_DEMO_EMAIL": "duty@example.invalid",
        "WARNROUTE_DEMO_DINGTALK_URL": f"{sim}/dingtalk/send?access_token=demo",
        "WARNROUTE_DEMO_FEISHU_URL": f"{sim}/feishu/hook/demo",
        "WARNROUTE_DEMO_ROBOT_SECRET": keys["robot"],
    }
    return env, serve_env | offices(sim, config)


def offices(sim: str, config: Path) -> dict[str, str]:
    """One duty phone per office (jurisdiction and department) and one WeCom robot per jurisdiction, as
    the environment references of the demo's contacts name them."""
    data = yaml.safe_load((config / "departments.yaml").read_text(encoding="utf-8"))
    env = {f"WARNROUTE_DEMO_{j}_WECOM_URL": f"{sim}/wecom/send?key=robot-{j}" for j in data["jurisdictions"]}
    for n, (j, d) in enumerate(((j, d) for j in data["jurisdictions"] for d in data["departments"]), start=1):
        env[f"WARNROUTE_DEMO_{j}_{d.upper()}_PHONE"] = f"+86138{n:08d}"
    return env


def phone_of(env: dict[str, str], jurisdiction: str, department: str) -> str:
    """The demo's duty phone of one office."""
    return env[f"WARNROUTE_DEMO_{jurisdiction}_{department.upper()}_PHONE"]


def run_demo(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir or Path(tempfile.mkdtemp(prefix="warnroute-demo-"))
    config = demo_config(data_dir / "config")
    if args.compress != 1:
        shrink_deadlines(config, 1 / args.compress)
    sim = f"http://127.0.0.1:{args.sim_port}"
    api = f"http://127.0.0.1:{args.port}"
    env, serve_env = environments(sim, config, data_dir)
    log = (data_dir / "serve.log").open("ab")
    procs = [
        subprocess.Popen(
            # The providers' limits per destination, as the providers answer them (budgets on, above).
            [sys.executable, "-m", "router", "simulate", "--port", str(args.sim_port)],
            env=env,
            stdout=log,
            stderr=log,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "router", "serve", "--port", str(args.port), "--poll", "0.2"],
            env=serve_env,
            stdout=log,
            stderr=log,
        ),
    ]
    try:
        with httpx.Client(timeout=10) as client:
            if not _wait_ready(client, [f"{sim}/received", f"{api}/readyz"], procs):
                print(f"demo: the services did not start; see {data_dir / 'serve.log'}", file=sys.stderr)
                return 1
            print(f"warnroute demo: router {api}, provider simulator {sim}, data {data_dir}\n")
            start = datetime.now(BEIJING)
            for label, message in storm(start):
                response = client.post(
                    f"{api}/api/v1/warnings",
                    content=json.dumps(message, ensure_ascii=False),
                    headers={"content-type": "application/json"},
                )
                body = response.json()
                extra = (
                    f", {body.get('cancelled_obligations', 0)} cancelled" if message.get("msg_type") == "cancel" else ""
                )
                print(f"  {response.status_code} {label}: {len(body.get('obligations', []))} obligations{extra}")
                time.sleep(args.step)
            drained = _wait_drained(client, api, timeout=30)
            _summary(client, api, sim, drained)
        if args.exit:
            return 0
        print("\nServing on; press Ctrl-C to stop.")
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


def _wait_ready(client: httpx.Client, urls: list[str], procs: list[subprocess.Popen[bytes]]) -> bool:
    deadline = time.monotonic() + 30
    pending = list(urls)
    while pending and time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            return False
        try:
            if client.get(pending[0]).status_code == 200:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return not pending


def _wait_drained(client: httpx.Client, api: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = client.get(f"{api}/api/v1/summary").json()
        notifications = counts.get("notifications", {})
        if not notifications.get("pending") and not notifications.get("sending"):
            time.sleep(1.0)  # let the last receipts arrive
            return True
        time.sleep(0.3)
    return False


def budget_waits(metrics: str) -> dict[tuple[str, str], int]:
    """(channel, why) → notifications held for a window, from the router's metrics text."""
    out: dict[tuple[str, str], int] = {}
    for family in text_string_to_metric_families(metrics):
        if family.name == "warnroute_budget_waits":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.value:
                    out[(sample.labels["channel"], sample.labels["why"])] = int(sample.value)
    return out


def _summary(client: httpx.Client, api: str, sim: str, drained: bool) -> None:
    counts = client.get(f"{api}/api/v1/summary").json()
    received = client.get(f"{sim}/received").json()
    messages = client.get(f"{sim}/messages").json()
    print("\nObligations by state:  " + ", ".join(f"{k} {v}" for k, v in sorted(counts["obligations"].items())))
    print("Notifications by state: " + ", ".join(f"{k} {v}" for k, v in sorted(counts["notifications"].items())))
    print("Received by the simulator (notifications / requests, one message per destination carrying them):")
    for channel, keys in sorted(received.items()):
        print(f"  {channel:<8} {len(keys):>4} / {sum(messages.get(channel, {}).values())}")
    waits = budget_waits(client.get(f"{api}/metrics").text)
    if waits:
        print("Held for the providers' limits per destination (warnroute_budget_waits_total):")
        for (channel, why), n in sorted(waits.items()):
            print(f"  {channel:<8} {why:<9} {n:>4}")
    if not drained:
        print("  (the outbox had not drained within 30 s: what is left waits for its destination's window)")
    print("\nWhere to look:")
    print(f"  the duty office's dashboard (live):      {api}/ui/")
    page = f"{api}/ui/department?jurisdiction=530324&department=flood_drought_hq"
    print(f"  罗平县 flood-control HQ's page:           {page}")
    print(f"  compliance report of the red signal:     {api}/api/v1/warnings/53032441600000_demo_3/report?format=html")
    print(f"  a warning, its decision and obligations: {api}/api/v1/warnings/53032441600000_demo_1")
    print(f"  罗平县 flood-control HQ's feed:          {api}/api/v1/feed/530324/flood_drought_hq")
    print(f"  live feed (SSE):                         {api}/api/v1/feed/530324/flood_drought_hq/stream")
    print(f"  metrics:                                 {api}/metrics")
    print(f"  API documentation:                       {api}/docs")
