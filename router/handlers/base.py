"""The channel handler protocol, the notification it sends, and the one HTTP status policy.

A handler does one attempt: it returns a ``SendResult`` or raises ``RetryableDeliveryError`` /
``PermanentDeliveryError`` (router.errors). It never retries, never sleeps, never logs a secret,
and never builds its own HTTP client: one is injected. Status policy (as Alertmanager's): 2xx ok;
408, 425, 429 and 5xx retryable; every other status permanent; timeouts and connection errors
retryable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from router.errors import PermanentDeliveryError, RetryableDeliveryError

RETRYABLE_STATUS = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Outbound:
    """One notification to one department office on one channel.

    ``id`` is the idempotency key: the same across every attempt, sent to the provider.
    ``contact`` holds the resolved contact fields of the channel (URL, secret, phone number …).
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


def check_status(response: httpx.Response, what: str) -> None:
    """Apply the status policy; the error names the channel and status, never the URL."""
    status = response.status_code
    if 200 <= status < 300:
        return
    if status in RETRYABLE_STATUS or status >= 500:
        raise RetryableDeliveryError(f"{what}: HTTP {status}")
    raise PermanentDeliveryError(f"{what}: HTTP {status}")


async def post(client: httpx.AsyncClient, what: str, url: str, **kwargs: Any) -> httpx.Response:
    """POST and classify transport failures; the URL (which may carry a token) never reaches the error."""
    # The error is raised outside the except block so that the transport's exception, whose text
    # carries the URL, is not even kept as __context__.
    failure: str | None = None
    try:
        response = await client.post(url, **kwargs)
    except httpx.TimeoutException:
        failure = "timed out"
    except httpx.TransportError as exc:
        failure = f"connection failed ({type(exc).__name__})"
    if failure is not None:
        raise RetryableDeliveryError(f"{what}: {failure}")
    check_status(response, what)
    return response


def json_body(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise RetryableDeliveryError(f"{what}: response is not a JSON object")
    return body
