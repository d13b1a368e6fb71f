"""Outbound webhooks, signed as Standard Webhooks v1.

Headers: ``webhook-id`` (the idempotency key, the same on every retry; also sent as
``Idempotency-Key``), ``webhook-timestamp`` (Unix seconds of this attempt) and
``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``. The secret is the
contact's ``secret``; a ``whsec_`` prefix means the rest is the base64 key. A receiver's 2xx is the
delivery receipt (not an acknowledgement).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable

import orjson

from router.handlers.base import HttpTransport, Outbound, SendResult, carries_header, post

EVENT_TYPES = {False: "warnroute.action", True: "warnroute.actions"}  # one action; several (data.items)
REPORT_TYPE = "warnroute.report"  # one situation report sent to an office by the plan's report rules


def signing_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") else secret.encode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(signing_key(secret), signed, hashlib.sha256).digest()).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, now: float, tolerance: int = 300) -> bool:
    """The receiver's side, for the simulator and for departments that want a reference."""
    try:
        timestamp = int(headers["webhook-timestamp"])
        message_id = headers["webhook-id"]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, message_id, timestamp, body)
    return any(
        hmac.compare_digest(expected.encode(), given.encode()) for given in headers.get("webhook-signature", "").split()
    )


class WebhookHandler:
    kind = "webhook"

    def __init__(self, transport: HttpTransport, clock: Callable[[], float] = time.time) -> None:
        self.transport = transport
        self.clock = clock

    async def send(self, notification: Outbound) -> SendResult:
        body = orjson.dumps(
            {
                "type": REPORT_TYPE if "report" in notification.payload else EVENT_TYPES[bool(notification.carries)],
                "timestamp": int(self.clock()),
                "data": dict(notification.payload),
            }
        )
        timestamp = int(self.clock())
        headers = {
            "content-type": "application/json",
            "webhook-id": notification.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(notification.contact["secret"], notification.id, timestamp, body),
            "idempotency-key": notification.id,
            **carries_header(notification),
        }
        await post(self.transport, "webhook", notification.contact["url"], content=body, headers=headers)
        return SendResult(provider_id=notification.id, delivered=True)
