"""The repository interface of the store, and the records that cross it.

Everything a warning produces (the warning, its decision, its obligations and the notifications
to send) is written in one transaction by ``Store.ingest``; the dispatcher then works only from
the store (``claim_notifications`` / ``record_outcomes``), so a restart resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol


@dataclass(frozen=True, slots=True)
class ObligationRow:
    """One action to one department: what it must do, by when, and its current state."""

    id: str
    department: str
    jurisdiction: str
    kind: str
    task: str | None
    clause: str
    mandatory: bool
    due_at: str
    action_json: str


@dataclass(frozen=True, slots=True)
class NotificationRow:
    """One notification to send on one channel; ``id`` is the idempotency key providers see."""

    id: str
    obligation_id: str
    channel: str
    next_attempt_at: float
    priority: int = 1  # 0 for mandatory obligations: claimed first


@dataclass(frozen=True, slots=True)
class IngestRecord:
    """Everything one accepted warning writes, in one transaction."""

    sender: str
    identifier: str
    sent: str
    content_hash: str
    lineage: str
    received_at: str
    product: str
    hazard: str
    severity: str | None
    jurisdiction: str
    status: str
    msg_type: str
    reference_unknown: bool
    warning_json: str
    decision_json: str
    told_json: str
    obligations: tuple[ObligationRow, ...]
    notifications: tuple[NotificationRow, ...]
    lifts_lineage: str | None = None  # a lift closes the open obligations of this lineage


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    status: Literal["created", "duplicate", "conflict"]
    identifier: str
    obligations: tuple[ObligationRow, ...] = ()
    cancelled: int = 0
    problem: str = ""
    obligation_seqs: tuple[int, ...] = ()  # feed cursors of the obligations created


@dataclass(frozen=True, slots=True)
class ClaimedNotification:
    """A notification leased to the dispatcher, with what it needs to send it."""

    id: str
    obligation_id: str
    channel: str
    attempts: int
    department: str
    jurisdiction: str
    action: dict[str, Any]
    warning: dict[str, Any]
    drill: bool
    due: float = 0.0


@dataclass(frozen=True, slots=True)
class NotificationOutcome:
    """What one attempt came to: ``state`` is sent, delivered, retry or failed."""

    id: str
    state: Literal["sent", "delivered", "retry", "failed"]
    at: float
    provider_id: str | None = None
    error: str | None = None
    next_attempt_at: float | None = None


@dataclass(frozen=True, slots=True)
class FeedEntry:
    seq: int
    obligation_id: str
    warning_id: str
    state: str
    action: dict[str, Any]
    warning: dict[str, Any]
    drill: bool


class Store(Protocol):
    """The repository the runtime needs. Implementations: SqliteStore (embedded)."""

    async def ingest(self, record: IngestRecord) -> IngestOutcome:
        """Write a warning and all it produces atomically (group commit); dedupe by identity."""
        ...

    async def lineage_of(self, identifiers: list[str]) -> tuple[str, str, str] | None:
        """(lineage, warning_json, told_json) of the newest stored warning among ``identifiers``."""
        ...

    async def get_warning(self, identifier: str) -> dict[str, Any] | None: ...

    async def claim_notifications(self, now: float, limit: int, lease_seconds: float) -> list[ClaimedNotification]: ...

    async def record_outcomes(self, outcomes: list[NotificationOutcome]) -> None: ...

    async def record_receipt(
        self, channel: str, provider_id: str, delivered: bool, at: float, confirmed: bool = False
    ) -> str | None:
        """Apply a delivery receipt; ``confirmed`` (a voice keypress) also acknowledges the obligation.
        Returns the issue time of the warning it belongs to, or None while no send names that id yet."""
        ...

    async def feed(self, jurisdiction: str, department: str, after: int, limit: int) -> list[FeedEntry]: ...

    async def counts(self) -> dict[str, dict[str, int]]: ...
