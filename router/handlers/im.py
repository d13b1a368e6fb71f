"""Enterprise IM group robots: WeCom (企业微信), DingTalk (钉钉) and Feishu (飞书).

Each answers HTTP 200 even on errors and puts the verdict in the body, so each maps its own error
codes to retryable or permanent. None gives a delivery receipt: a 0 code means "sent".
- WeCom: ``POST <url with ?key=>`` ``{"msgtype": "markdown", "markdown": {"content"}}``; no signing.
  ``errcode`` 0 ok; -1 (busy) retryable; 45009 over the limit (wait a minute).
- DingTalk: ``POST <url with ?access_token=>&timestamp=<ms>&sign=<urlenc b64 HMAC(secret, "ts\\nsecret")>``
  ``{"msgtype": "markdown", "markdown": {"title", "text"}, "msgUuid": <idempotency key>}``;
  ``errcode`` 0 ok; 130101 (too fast) over the limit: the robot is blocked for 10 minutes.
- Feishu: ``POST <hook url>`` ``{"msg_type": "text", "content": {"text"}, "timestamp": <s>,
  "sign": b64 HMAC(key="ts\\nsecret", msg="")}``; ``code`` 0 ok; 11232 (flow control) over the limit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Callable

from router.errors import PermanentDeliveryError, RateLimited, RetryableDeliveryError
from router.handlers.base import HttpTransport, Outbound, SendResult, carries_header, cut, json_body, post

WECOM_MARKDOWN_BYTES = 4096  # markdown.content; over it WeCom answers errcode 40058

# Each robot's over-limit code: how long its window keeps it closed, and what the window is
# (research/channels.md §1.4, §2.3, §3.3).
OVER_LIMIT: dict[str, dict[int, tuple[float, str]]] = {
    "wecom robot": {45009: (60.0, "20 per minute")},
    "dingtalk robot": {130101: (600.0, "20 per minute, then blocked for 10 minutes")},
    "feishu robot": {11232: (60.0, "100 per minute and 5 per second")},
}


def _verdict(what: str, code: object, retryable: frozenset[int]) -> None:
    if code == 0:
        return
    limited = OVER_LIMIT.get(what, {}).get(code) if isinstance(code, int) else None
    if limited is not None:
        wait, window = limited
        raise RateLimited(f"{what}: error code {code}, over the robot's limit ({window})", wait, window)
    if isinstance(code, int) and code in retryable:
        raise RetryableDeliveryError(f"{what}: error code {code}")
    raise PermanentDeliveryError(f"{what}: error code {code}")


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class WecomHandler:
    kind = "wecom"

    def __init__(self, transport: HttpTransport) -> None:
        self.transport = transport

    async def send(self, notification: Outbound) -> SendResult:
        content = cut(f"### {notification.title}\n{notification.text}", WECOM_MARKDOWN_BYTES)
        response = await post(
            self.transport,
            "wecom robot",
            notification.contact["url"],
            json={"msgtype": "markdown", "markdown": {"content": content}},
            headers=carries_header(notification),
        )
        _verdict("wecom robot", json_body(response, "wecom robot").get("errcode"), frozenset({-1}))
        return SendResult(provider_id=notification.id)


class DingtalkHandler:
    kind = "dingtalk"

    def __init__(self, transport: HttpTransport, clock: Callable[[], float] = time.time) -> None:
        self.transport = transport
        self.clock = clock

    async def send(self, notification: Outbound) -> SendResult:
        url = notification.contact["url"]
        secret = notification.contact.get("secret")
        if secret:
            timestamp = int(self.clock() * 1000)
            url += f"{'&' if '?' in url else '?'}timestamp={timestamp}&sign={dingtalk_sign(secret, timestamp)}"
        response = await post(
            self.transport,
            "dingtalk robot",
            url,
            json={
                "msgtype": "markdown",
                "markdown": {"title": notification.title, "text": f"### {notification.title}\n{notification.text}"},
                "msgUuid": notification.id,
            },
            headers=carries_header(notification),
        )
        _verdict("dingtalk robot", json_body(response, "dingtalk robot").get("errcode"), frozenset())
        return SendResult(provider_id=notification.id)


class FeishuHandler:
    kind = "feishu"

    def __init__(self, transport: HttpTransport, clock: Callable[[], float] = time.time) -> None:
        self.transport = transport
        self.clock = clock

    async def send(self, notification: Outbound) -> SendResult:
        body: dict[str, object] = {
            "msg_type": "text",
            "content": {"text": f"{notification.title}\n{notification.text}"},
        }
        secret = notification.contact.get("secret")
        if secret:
            timestamp = int(self.clock())
            body |= {"timestamp": str(timestamp), "sign": feishu_sign(secret, timestamp)}
        response = await post(
            self.transport, "feishu robot", notification.contact["url"], json=body, headers=carries_header(notification)
        )
        _verdict("feishu robot", json_body(response, "feishu robot").get("code"), frozenset())
        return SendResult(provider_id=notification.id)
