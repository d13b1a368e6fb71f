"""The generic HTTP gateway adapter that SMS and voice share.

``POST {base}{path}`` with ``Authorization: Bearer <api key>`` and JSON
``{to, text, idempotency_key, callback_url, …}`` → ``{<id_field>: …}``. The gateway later posts a
receipt to ``callback_url``. Concrete gateways (Alibaba, Tencent) sit behind this shape.

A refusal over the provider's frequency limits carries the provider's own code (and message) in
``{"code", "message"}``, with HTTP 429 or not: Alibaba's ``isv.BUSINESS_LIMIT_CONTROL`` (触发分钟级 /
小时级 / 天级流控) and ``isv.DAY_LIMIT_CONTROL``, Tencent's ``LimitExceeded.PhoneNumber…Limit`` and
``LimitExceeded.DeliveryFrequencyLimit``, the voice carriers' ``200119`` (frequency) and ``200121``
(concurrency). Each is ``RateLimited`` for its window: a day's cap waits a day (so the ladder moves on),
never an immediate retry (research/channels.md §4, §5).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from router.errors import PermanentDeliveryError, RateLimited
from router.handlers.base import (
    HttpReply,
    HttpTransport,
    Outbound,
    SendResult,
    carries_header,
    check_status,
    json_body,
    post,
)

CST = timezone(timedelta(hours=8))
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


def _to_midnight(now: float) -> float:
    """Seconds to the next calendar day in China (Tencent's daily window is a calendar day, UTC+8)."""
    local = datetime.fromtimestamp(now, CST)
    return (local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)).timestamp() - now


def over_limit(code: str, message: str, now: float) -> tuple[float, str] | None:
    """The window a provider's over-limit code names: (seconds to wait, what the window is), or None."""
    if code == "isv.BUSINESS_LIMIT_CONTROL":
        if "天级" in message or "day" in message.lower():
            return DAY, "the number's daily cap"
        if "小时级" in message or "hour" in message.lower():
            return HOUR, "the number's hourly cap"
        return MINUTE, "the number's per-minute cap"
    if code in ("isv.DAY_LIMIT_CONTROL", "LimitExceeded.PhoneNumberDailyLimit"):
        return (_to_midnight(now) if code.startswith("Limit") else DAY), "the number's daily cap"
    if code == "LimitExceeded.PhoneNumberOneHourLimit":
        return HOUR, "the number's hourly cap"
    if code in ("LimitExceeded.PhoneNumberThirtySecondLimit", "LimitExceeded.DeliveryFrequencyLimit"):
        return 30.0, "one message per 30 seconds"
    if code == "200119":
        return MINUTE, "the carrier's per-callee frequency limit"
    if code == "200121":
        return 5.0, "the calling line's concurrency"
    return None


class GatewayHandler:
    kind: str
    path: ClassVar[str]
    id_field: ClassVar[str]
    extra: ClassVar[dict[str, Any]] = {}  # fields this kind of gateway needs beyond the common ones

    def __init__(
        self, transport: HttpTransport, base_url: str, api_key: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.clock = clock

    async def send(self, notification: Outbound) -> SendResult:
        what = f"{self.kind} gateway"
        reply = await post(
            self.transport,
            what,
            f"{self.base_url}{self.path}",
            json={
                "to": notification.contact["to"],
                "text": notification.text,
                "idempotency_key": notification.id,
                "callback_url": notification.callback_url,
                **self.extra,
            },
            headers={"authorization": f"Bearer {self.api_key}", **carries_header(notification)},
            check=False,
        )
        self._refused_for_limits(reply, what)
        check_status(reply, what)
        provider_id = json_body(reply, what).get(self.id_field)
        if not isinstance(provider_id, str) or not provider_id:
            raise PermanentDeliveryError(f"{what}: no {self.id_field} in the response")
        return SendResult(provider_id=provider_id)

    def _refused_for_limits(self, reply: HttpReply, what: str) -> None:
        try:
            body = json.loads(reply.body)
        except ValueError:
            return
        if not isinstance(body, dict) or "code" not in body:
            return
        code, message = str(body["code"]), str(body.get("message", ""))
        window = over_limit(code, message, self.clock())
        if window is None:
            return
        wait, what_window = window
        if reply.retry_after is not None:
            wait = max(wait, reply.retry_after) if what_window.endswith("cap") else reply.retry_after
        raise RateLimited(f"{what}: {code}, over {what_window}", wait, what_window)
