"""Channel kinds: the words a department's channels are listed in, and which of them warnroute pushes to."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

CHANNEL_KINDS = ("feed", "webhook", "sms", "voice", "email", "wecom", "dingtalk", "feishu", "kafka")
"""Every channel kind a department may list; each has a handler in router/handlers/."""

PUSH_KINDS = ("webhook", "sms", "voice", "email", "wecom", "dingtalk", "feishu")
"""Channels the router pushes to (feed and kafka are pulled or streamed, and always written)."""

MARKDOWN_KINDS = ("wecom", "dingtalk")
"""Channels whose messages are markdown (Feishu's robots are sent text)."""

CONFIRM_KEY = "1"
"""The key a callee presses to confirm a voice call (a §4.3 phone report is done by it)."""


@dataclass(frozen=True, slots=True)
class Limit:
    """A provider's limit per destination: at most ``count`` messages in any ``seconds``."""

    count: int
    seconds: float

    def __str__(self) -> str:
        for unit, size in (("day", 86400.0), ("hour", 3600.0), ("minute", 60.0), ("second", 1.0)):
            if self.seconds >= size and self.seconds % size == 0:
                n = int(self.seconds // size)
                return f"{self.count} per {unit}" if n == 1 else f"{self.count} per {n} {unit}s"
        return f"{self.count} per {self.seconds:g} s"


PERIOD = re.compile(r"^(\d+)(s|m|h|d)$")
UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def period_seconds(text: str) -> float | None:
    """``30s``, ``1m``, ``1h``, ``1d`` as seconds (None if it is not one)."""
    found = PERIOD.match(text)
    return int(found.group(1)) * UNIT_SECONDS[found.group(2)] if found and int(found.group(1)) > 0 else None


DEFAULT_LIMITS: Mapping[str, tuple[Limit, ...]] = {
    "wecom": (Limit(20, 60),),
    "dingtalk": (Limit(20, 60),),
    "feishu": (Limit(5, 1), Limit(100, 60)),
    "sms": (Limit(1, 30), Limit(10, 86400)),
    "voice": (Limit(1, 60), Limit(5, 3600), Limit(20, 86400)),
}
"""The providers' own limits per destination (DESIGN §12, research/channels.md): WeCom 20/min per robot;
DingTalk 20/min per robot (then a 10-minute block); Feishu 5/s and 100/min per bot; SMS one per 30 s and
10 a day per number (Tencent's defaults, the strictest documented); voice 1/min, 5/h, 20/day per callee
(Alibaba's). ``provider_limits`` in departments.yaml replaces a kind's list."""


COALESCED_KINDS = frozenset({"webhook", "sms", "email", "wecom", "dingtalk", "feishu"})
"""Channels on which one message may carry several obligations for one destination (DESIGN §12). Never
voice: a call is one phone report, done by its own keypress."""

SIZE_LIMITS: Mapping[str, tuple[int, str]] = {
    "wecom": (4096, "bytes"),
    "dingtalk": (20000, "bytes"),
    "feishu": (20000, "bytes"),
    "sms": (500, "chars"),
    "webhook": (262144, "bytes"),
    "email": (262144, "bytes"),
}
"""The most one message may hold, per channel: WeCom markdown content 4,096 bytes, a DingTalk body 20,000
bytes, a Feishu body 20 KB, an SMS 500 characters with its signature (research/channels.md); webhooks and
mail have no provider limit, 256 KiB keeps a message readable."""
