"""Builders for messages in each format, and where the repository's files are."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "config"
DATA = ROOT / "tests" / "data"
EXAMPLES = ROOT / "examples"


def json_message(**fields: Any) -> bytes:
    """A warnroute JSON message: a 罗平县 blue rainstorm signal unless ``fields`` say otherwise."""
    message: dict[str, Any] = {
        "schema": "warnroute.warning/1",
        "identifier": "53032441600000_20260715080000",
        "sender": "罗平县气象台",
        "sender_code": "53032441600000",
        "sent": "2026-07-15T08:00:00+08:00",
        "product": "signal",
        "hazard": "rainstorm",
        "severity": "blue",
        "areas": ["530324"],
        "headline": "罗平县气象台发布暴雨蓝色预警信号",
    }
    message.update(fields)
    return json.dumps({k: v for k, v in message.items() if v is not None}, ensure_ascii=False).encode()


def luoping_nowcast(identifier: str) -> bytes:
    """A 12 h nowcast for 罗平县's 板桥镇 issued now by the city's observatory, onset in three hours (so its
    §4.5 "1262" tasks: deploy now, pre-position 6 h before onset (due at once), evacuate 2 h before)."""
    return json_message(
        identifier=identifier,
        sender="曲靖市气象台",
        sender_code="53030041600000",
        product="nowcast",
        severity=None,
        sent=now_iso(),
        onset=now_iso(3 * 3600),
        areas=["530324102"],
        key_townships=["530324102"],
    )


def now_iso(offset_seconds: float = 0.0) -> str:
    """The current time (plus an offset) as an ISO 8601 string in Beijing time."""
    from router.parsers.normalise import BEIJING

    return datetime.fromtimestamp(time.time() + offset_seconds, BEIJING).isoformat(timespec="seconds")


def issue_clock(message: bytes) -> Callable[[], float]:
    """A clock that starts at the issue time of ``message`` (JSON) and runs at real speed."""
    issued = datetime.fromisoformat(json.loads(message)["sent"]).timestamp()
    offset = issued - time.time()
    return lambda: time.time() + offset


def cap_message(
    *,
    identifier: str = "53032441600000_20260715080000",
    sender: str = "Luoping_County_Meteorological_Observatory",
    sent: str = "2026-07-15T08:00:00+08:00",
    status: str = "Actual",
    msg_type: str = "Alert",
    references: str | None = None,
    event: str = "暴雨",
    severity: str = "Minor",
    headline: str = "罗平县气象台发布暴雨蓝色预警信号[Ⅳ级/一般]",
    geocodes: tuple[str, ...] = ("530324000000",),
    extra_info: str = "",
    language: str = "zh-CN",
) -> bytes:
    """A CMA-style CAP 1.2 message with one info block."""
    refs = f"<references>{references}</references>" if references else ""
    codes = "".join(
        f"<geocode><valueName>CPEAS Geographic Code</valueName><value>{g}</value></geocode>" for g in geocodes
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier><sender>{sender}</sender><sent>{sent}</sent>
  <status>{status}</status><msgType>{msg_type}</msgType><scope>Public</scope>{refs}
  <info><language>{language}</language><category>Met</category><event>{event}</event>
    <urgency>Unknown</urgency><severity>{severity}</severity><certainty>Unknown</certainty>
    <headline>{headline}</headline>{extra_info}
    <area><areaDesc>area</areaDesc>{codes}</area>
  </info>
</alert>""".encode()


def national_message(
    *,
    sender_code: str = "53038141600000",
    event_type: str = "11B06",
    severity: str = "Blue",
    headline: str = "宣威市气象台发布大风蓝色预警信号[IV级/一般]",
    geocode: str = "530381000000",
    msg_type: str = "Alert",
    references: str = "",
    send_time: str = "2026-11-20 09:30:00+08:00",
) -> bytes:
    """A national-platform (GB/T 35965.1 style) message."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert>
  <identifier>{sender_code}_20261120093000</identifier><sender>气象局</sender>
  <senderCode>{sender_code}</senderCode><sendTime>{send_time}</sendTime>
  <status>Actual</status><msgType>{msg_type}</msgType><scope>Public</scope>
  <references>{references}</references>
  <info><language>zh-CN</language><eventType>{event_type}</eventType><urgency>Unknown</urgency>
    <severity>{severity}</severity><certainty>Unknown</certainty><headline>{headline}</headline>
    <area><areaDesc>area</areaDesc><geocode>{geocode}</geocode></area>
  </info>
</alert>""".encode()
