"""Fakes at the seams: recording and flaky channel handlers."""

from __future__ import annotations

from typing import Any

from router.errors import PermanentDeliveryError, RetryableDeliveryError
from router.handlers.base import Outbound, SendResult


def parts(notification: Outbound) -> list[dict[str, Any]]:
    """The notifications a message carries, as their payloads (one for a message of its own)."""
    payload = dict(notification.payload)
    return list(payload["items"]) if "items" in payload else [payload]


class RecordingHandler:
    def __init__(self, kind: str, delivered: bool = True) -> None:
        self.kind = kind
        self.delivered = delivered
        self.sent: list[Outbound] = []

    async def send(self, notification: Outbound) -> SendResult:
        self.sent.append(notification)
        return SendResult(provider_id=f"{self.kind}-{len(self.sent)}", delivered=self.delivered)


class FlakyHandler(RecordingHandler):
    """Fails the first ``fail_n`` attempts (retryable or permanent), then succeeds."""

    def __init__(self, kind: str, fail_n: int, retryable: bool = True, message: str = "HTTP 503") -> None:
        super().__init__(kind)
        self.fail_n = fail_n
        self.retryable = retryable
        self.message = message
        self.attempts = 0

    async def send(self, notification: Outbound) -> SendResult:
        self.attempts += 1
        if self.attempts <= self.fail_n:
            raise (RetryableDeliveryError if self.retryable else PermanentDeliveryError)(self.message)
        return await super().send(notification)
