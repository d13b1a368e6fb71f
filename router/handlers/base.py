"""The channel handler protocol, the notification it sends, and the one HTTP status policy.

A handler does one attempt: it returns a ``SendResult`` or raises ``RetryableDeliveryError`` /
``PermanentDeliveryError`` (router.errors). It never retries, never sleeps, never logs a secret,
and never builds its own HTTP client: a transport (``HttpTransport``) is injected. Status policy
(as Alertmanager's): 2xx ok; 429 over the provider's limit (``RateLimited``: wait for its window, by
Retry-After when given); 408, 425 and 5xx retryable; every other status permanent; timeouts and
connection errors retryable.
"""

from __future__ import annotations

import email.utils
import json as _json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from router.errors import PermanentDeliveryError, RateLimited, RetryableDeliveryError

RETRYABLE_STATUS = frozenset({408, 425})


@dataclass(frozen=True)
class Outbound:
    """One notification to one department office on one channel.

    ``id`` is the idempotency key: the same across every attempt, sent to the provider.
    ``contact`` holds the resolved contact fields of the channel (URL, secret, phone number …).
    ``carries``: the notification ids a coalesced message carries, most urgent first (empty: only ``id``).
    """

    id: str
    channel: str
    department: str
    jurisdiction: str
    title: str
    text: str
    payload: Mapping[str, Any]
    drill: bool
    contact: Mapping[str, str] = field(repr=False)
    callback_url: str | None = None
    carries: tuple[str, ...] = ()

    @property
    def carried(self) -> tuple[str, ...]:
        return self.carries or (self.id,)


CARRIES_HEADER = "x-warnroute-carries"


def carries_header(notification: Outbound) -> dict[str, str]:
    """The notification ids a coalesced message carries, for receivers that count per notification."""
    return {CARRIES_HEADER: ",".join(notification.carries)} if notification.carries else {}


def cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` UTF-8 bytes, cut after its last whole line that fits (inside a line only
    when its first line alone is longer)."""
    data = text.encode()
    if len(data) <= limit:
        return text
    head = data[:limit].decode(errors="ignore")
    line_end = head.rfind("\n")
    return head[:line_end] if line_end > 0 else head


@dataclass(frozen=True)
class SendResult:
    """``provider_id`` identifies the message at the provider (for receipts); ``delivered`` is True when
    the send response itself proves delivery (a webhook receiver's 2xx)."""

    provider_id: str | None = None
    delivered: bool = False


class ChannelHandler(Protocol):
    kind: str

    async def send(self, notification: Outbound) -> SendResult:
        """One attempt. Raises RetryableDeliveryError or PermanentDeliveryError."""
        ...


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: bytes
    retry_after: float | None = None  # seconds, from a Retry-After header (delta-seconds or HTTP-date)


DEFAULT_429_WAIT = 60.0  # a 429 without Retry-After: wait a minute (the shortest window providers use)


def retry_after(value: str | None, now: float) -> float | None:
    """A Retry-After header (RFC 9110: delta-seconds or an HTTP-date) as seconds from ``now``; None if
    absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class TransportFailure(Exception):
    """A transport could not complete the request; ``reason`` is safe to show (no URL, no secret)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class HttpTransport(Protocol):
    """The one seam between handlers and the network: POST bytes, get status and body back.

    Raises ``TransportFailure`` for timeouts and connection errors, with a reason that names neither
    the URL nor anything in it.
    """

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpReply: ...


def check_status(reply: HttpReply, what: str) -> None:
    """Apply the status policy; the error names the channel and status, never the URL."""
    status = reply.status
    if 200 <= status < 300:
        return
    if status == 429:
        wait = reply.retry_after if reply.retry_after is not None else DEFAULT_429_WAIT
        window = "Retry-After" if reply.retry_after is not None else "HTTP 429"
        raise RateLimited(f"{what}: HTTP 429, over the provider's limit", wait, window)
    if status in RETRYABLE_STATUS or status >= 500:
        raise RetryableDeliveryError(f"{what}: HTTP {status}")
    raise PermanentDeliveryError(f"{what}: HTTP {status}")


async def post(
    transport: HttpTransport,
    what: str,
    url: str,
    *,
    json: Any = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    check: bool = True,
) -> HttpReply:
    """POST and classify: transport failures are retryable, statuses per the policy (``check=False``: the
    caller reads the body of a refusal first, then applies ``check_status``)."""
    body = content if content is not None else _json.dumps(json, ensure_ascii=False).encode()
    sent_headers = {"content-type": "application/json", **(headers or {})}
    failure: str | None = None
    try:
        reply = await transport.post(url, body, sent_headers)
    except TransportFailure as exc:
        failure = exc.reason
    if failure is not None:
        raise RetryableDeliveryError(f"{what}: {failure}")
    if check:
        check_status(reply, what)
    return reply


def json_body(reply: HttpReply, what: str) -> dict[str, Any]:
    try:
        body = _json.loads(reply.body)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise RetryableDeliveryError(f"{what}: response is not a JSON object")
    return body
