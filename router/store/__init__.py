"""Durable storage of warnings, decisions, obligations and the notification outbox.

``Store`` (base.py) is the repository interface; ``SqliteStore`` (sqlite.py) is the embedded
implementation. A server database implements the same interface.
"""

from router.store.base import (
    AckResult,
    ClaimedNotification,
    DueObligation,
    FeedEntry,
    IngestOutcome,
    IngestRecord,
    NotificationOutcome,
    NotificationRow,
    ObligationRow,
    StepResult,
    Store,
)
from router.store.sqlite import SqliteStore

__all__ = [
    "AckResult",
    "ClaimedNotification",
    "DueObligation",
    "FeedEntry",
    "IngestOutcome",
    "IngestRecord",
    "NotificationOutcome",
    "NotificationRow",
    "ObligationRow",
    "SqliteStore",
    "StepResult",
    "Store",
]
