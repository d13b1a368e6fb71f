"""The repository interface of the store, and the records that cross it.

Everything a warning produces (the warning, its decision, its obligations and the notifications
to send) is written in one transaction by ``Store.ingest``; the dispatcher then works only from
the store (``claim_notifications`` / ``record_outcomes``), so a restart resumes where it stopped.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol, overload

from router.domain.models import action_json
from router.domain.obligation import OpenObligation


class ObligationRow(NamedTuple):
    """One action to one department: what it must do, by when, and its current state. (Tuples: a
    warning makes tens of these, and a frozen dataclass costs several times as much to build.)"""

    id: str
    department: str
    jurisdiction: str
    kind: str
    task: str | None
    clause: str
    mandatory: bool
    due_at: str
    action_json: str  # "": its head followed by its deadline (``action_text``), written so by ingest
    start_at: float = 0.0  # the clock starts at the warning's issue time
    deadline: float = 0.0
    channels: tuple[str, ...] = ()
    ladder: str | None = None
    ack_mode: str = "required"  # required | confirm (a person by voice keypress or the duty office) | delivery
    next_step: int | None = None
    next_step_at: float | None = None  # None: nothing more is scheduled
    head: str = ""  # ``action_json`` before its deadline (what the store keeps once); "": the store cuts it off
    opening: str = ""  # what the ladder sends when it opens on time (JSON, see ``router.store.schema``); shared
    opens: bool = False  # the opening is due: the dispatcher writes its notifications when it claims them


# What obligations of one classification share (the fields a shape is made of, ``router.store.schema``), as
# one tuple, in ``ObligationRow``'s order; and what is an obligation's own.
SHAPE_OF = operator.itemgetter(1, 2, 3, 4, 5, 6, 11, 12, 13, 16, 17)
OWN = operator.itemgetter(0, 7, 8, 9, 10, 14, 15, 18)


ORDINALS = tuple(f".{i:03d}" for i in range(1000))  # an obligation id's ending: its ordinal in three digits


def ordinal(i: int) -> str:
    """The end of the ``i``-th obligation's id after its warning's key: a dot and ``i`` in three digits (more
    past 999)."""
    return ORDINALS[i] if i < len(ORDINALS) else f".{i}"


@dataclass(frozen=True, eq=False, slots=True)
class Pattern:
    """The obligations of one classification that open on time, as every warning of it lays them out: per
    obligation (in order) its shape (``SHAPE_OF``'s fields), the index of its deadline among the warning's
    deadlines, when its next step is (``offsets``: that long after the start; None: at its deadline), that
    step, and whether its opening is due. Built once per classification (``router.ingest``), kept by
    identity (it is never compared by value)."""

    shapes: tuple[tuple[Any, ...], ...]
    timing: tuple[int, ...]
    offsets: tuple[float | None, ...]
    steps: tuple[int | None, ...]
    opens: tuple[bool, ...]
    opened: int  # the notifications its openings send
    kinds: tuple[tuple[str, int], ...]  # how many obligations of each kind
    soonest: float  # the soonest step's offset (``inf``: none has an offset; see ``Drafted.soonest``)
    at_deadlines: frozenset[int]  # the deadlines (indexes) at which some obligation's next step is
    memo: dict[Any, Any] = field(default_factory=dict)  # what a layer above works out once per pattern

    def wire(self) -> tuple[Any, ...]:
        """What rebuilds it elsewhere (``Pattern(*wire)``): everything but ``memo``."""
        return (
            self.shapes,
            self.timing,
            self.offsets,
            self.steps,
            self.opens,
            self.opened,
            self.kinds,
            self.soonest,
            self.at_deadlines,
        )


class Drafted(Sequence[ObligationRow]):
    """One warning's obligations laid out by a ``Pattern``: ids ``key`` and an ordinal, the clock started at
    ``start``, deadlines ``deadlines`` ((time, ISO text) per index). Each obligation is its pattern's shape
    and these; the rows are built only where they are read (``rows``), so a warning that crosses to the
    writer's process or is answered as JSON never builds them here."""

    __slots__ = ("_rows", "deadlines", "key", "pattern", "start")

    def __init__(self, pattern: Pattern, key: str, start: float, deadlines: tuple[tuple[float, str], ...]) -> None:
        self.pattern, self.key, self.start, self.deadlines = pattern, key, start, deadlines
        self._rows: tuple[ObligationRow, ...] | None = None

    def rows(self) -> tuple[ObligationRow, ...]:
        if self._rows is None:
            self._rows = tuple(map(self.row, range(len(self))))
        return self._rows

    def row(self, i: int) -> ObligationRow:
        """The ``i``-th obligation (alone: the others are not built)."""
        if self._rows is not None:
            return self._rows[i]
        p = self.pattern
        s, offset = p.shapes[i], p.offsets[i]
        deadline, due_at = self.deadlines[p.timing[i]]
        next_at = deadline if offset is None else self.start + offset
        own = (due_at, "", self.start, deadline)
        return ObligationRow._make(
            (self.key + ordinal(i), *s[:6], *own, *s[6:9], p.steps[i], next_at, *s[9:], p.opens[i])
        )

    def soonest(self) -> float:
        """When the soonest next step of these obligations is."""
        at = [self.deadlines[t][0] for t in self.pattern.at_deadlines]
        return min(self.start + self.pattern.soonest, *at) if at else self.start + self.pattern.soonest

    def __len__(self) -> int:
        return len(self.pattern.timing)

    @overload
    def __getitem__(self, i: int) -> ObligationRow: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[ObligationRow, ...]: ...

    def __getitem__(self, i: int | slice) -> ObligationRow | tuple[ObligationRow, ...]:
        return self.rows()[i]

    def __iter__(self) -> Iterator[ObligationRow]:
        return iter(self.rows())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Drafted):
            return self.rows() == other.rows()
        return self.rows() == other if isinstance(other, tuple) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Drafted({self.key!r}, {len(self)} obligations)"


def action_text(o: ObligationRow) -> str:
    """An obligation's action as JSON: its own, or its shape's head followed by its deadline (as ingest writes
    rows: the text is built only where it is read)."""
    return o.action_json or action_json(o.head, o.due_at)


class NotificationRow(NamedTuple):
    """One notification to send on one channel; ``id`` is the idempotency key providers see."""

    id: str
    obligation_id: str
    channel: str
    next_attempt_at: float
    priority: int = 1  # 0 for mandatory obligations: claimed first
    purpose: str = "action"  # "escalation": to the duty office about a late obligation
    to_department: str | None = None  # None: the obligation's own department and jurisdiction
    to_jurisdiction: str | None = None


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
    told_json: str  # "": what the lineage was told is exactly this warning's obligations (most warnings)
    obligations: Sequence[ObligationRow]  # a tuple of rows, or ``Drafted`` (rows built where they are read)
    notifications: tuple[NotificationRow, ...]  # written now: only what a late warning's ladder has due at once
    lifts_lineage: str | None = None  # a lift closes the open obligations of this lineage
    updates_lineage: str | None = None  # an Update supersedes the open obligations it gives again
    okey: str | None = None  # each obligation's id is this, ".", and its ordinal in 3 digits (None: ids as given)
    opened: int = 0  # the notifications its ladders open with (written when claimed) and ``notifications``


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    status: Literal["created", "duplicate", "conflict"]
    identifier: str
    obligations: Sequence[ObligationRow] = ()
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
    purpose: str = "action"
    about: tuple[str, str] = ("", "")  # the obligation's (department, jurisdiction), for duty-office alerts
    deadline: float = 0.0
    obligation_seq: int = 0  # the short number an SMS reply acknowledges by
    report: dict[str, Any] | None = None  # purpose "report": the report it sends, as stored


@dataclass(frozen=True, slots=True)
class NotificationOutcome:
    """What one attempt came to: ``state`` is sent, delivered, retry or failed; or ``wait``: not sent, its
    destination's window is closed until ``next_attempt_at`` (no attempt counted)."""

    id: str
    state: Literal["sent", "delivered", "retry", "wait", "failed"]
    at: float
    provider_id: str | None = None
    error: str | None = None
    next_attempt_at: float | None = None
    owner: tuple[str, str, str, str] | None = None  # (warning id, obligation id, channel, purpose), for the audit
    attempted: bool = True  # False: decided without calling the provider (its window closed past the deadline)


@dataclass(frozen=True, slots=True)
class StepResult:
    """What the scheduler decided for one due obligation; the store applies it atomically."""

    obligation_seq: int
    sends: tuple[NotificationRow, ...]
    events: tuple[tuple[str, dict[str, Any]], ...]  # (kind, detail) audit events
    escalated: bool
    breached: bool
    next_step: int | None
    next_step_at: float | None


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """A situation report to file: its normalised JSON and what the store indexes of it."""

    id: str
    kind: str
    jurisdiction: str
    department: str
    observed_at: float
    filed_by: str  # the principal's id
    content_hash: str  # SHA-256 of ``report_json``: a repeat of the same report is recognised
    replaces: str | None
    report_json: str
    audit: dict[str, Any]  # what the audit chain records of it
    copies: tuple[tuple[str, str, str], ...] = ()  # (jurisdiction, department, clauses JSON): who it goes to
    sends: tuple[ReportSend, ...] = ()  # what its outbox sends them


@dataclass(frozen=True, slots=True)
class ReportSend:
    """One notification of a report: to one recipient, on one channel."""

    id: str
    department: str
    jurisdiction: str
    channel: str
    priority: int  # 0 before 1, as an obligation's: a report of casualties goes first


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """``created``; ``duplicate`` (the same report again: nothing new); ``conflict`` or ``not_found``, with the
    field and problem (an id used for another report; a replaced report unknown, of another office, or
    replaced already)."""

    status: Literal["created", "duplicate", "conflict", "not_found"]
    report_id: str
    field: str = ""
    problem: str = ""


@dataclass(frozen=True, slots=True)
class AckResult:
    """``status``: acknowledged, already (idempotent repeat), closed, refused or not_found."""

    status: Literal["acknowledged", "already", "closed", "refused", "not_found"]
    obligation_id: str
    state: str = ""
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    method: str | None = None
    problem: str = ""


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
    """The repository the runtime needs. Implementations: SqliteStore (embedded), PostgresStore (shared)."""

    async def ingest(self, record: IngestRecord) -> IngestOutcome:
        """Write a warning and all it produces atomically (group commit); dedupe by identity."""
        ...

    async def lineage_of(self, identifiers: list[str]) -> tuple[str, str, str] | None:
        """(lineage, warning_json, told_json) of the newest stored warning among ``identifiers``."""
        ...

    async def get_warning(self, identifier: str) -> dict[str, Any] | None: ...

    async def claim_notifications(self, now: float, limit: int, lease_seconds: float) -> list[ClaimedNotification]: ...

    def hand_over(self, lease_seconds: float, take: Callable[[list[ClaimedNotification]], None] | None) -> None:
        """New §4.3 direct and phone reports go from ingest straight to ``take`` (this process's
        dispatcher): leased for ``lease_seconds`` in their warning's own transaction and handed over as
        it commits (a no-op where other processes write the database too: each claims for itself).
        ``take`` None: no more (the dispatcher stopped); they are claimed as usual."""
        ...

    async def record_outcomes(self, outcomes: list[NotificationOutcome]) -> None: ...

    async def release(self, ids: list[str]) -> None:
        """Give back notifications this process leased and will not send: due again at once, for whichever
        instance claims next (not when their lease runs out)."""
        ...

    async def lead(self, name: str) -> bool:
        """Whether this process leads ``name`` (work one instance does for all on a shared database; it passes
        to another when this one's connection ends). Alone on its database: always."""
        ...

    async def record_receipt(
        self, channel: str, provider_id: str, delivered: bool, at: float, confirmed: bool = False
    ) -> str | None:
        """Apply a delivery receipt; ``confirmed`` (a voice keypress) also acknowledges the obligation.
        Returns the issue time of the warning it belongs to, or None while no send names that id yet."""
        ...

    async def feed(self, jurisdiction: str, department: str, after: int, limit: int) -> list[FeedEntry]: ...

    async def counts(self) -> dict[str, dict[str, int]]: ...

    async def fire_due(
        self, now: float, limit: int, decide: Callable[[OpenObligation], StepResult]
    ) -> list[StepResult]:
        """Claim obligations whose next step is due and apply ``decide``'s result to each, atomically."""
        ...

    async def recent_sends(self, since: float, channels: list[str]) -> list[tuple[str, str, str, float]]:
        """(channel, department, jurisdiction, sent at) of every notification on ``channels`` sent since
        ``since``, oldest first: what the providers have already counted."""
        ...

    async def next_due(self) -> float | None:
        """When the nearest ladder step is due, or None."""
        ...

    async def acknowledge(
        self,
        obligation_id: str,
        method: str,
        by: str,
        at: float,
        reason: str | None = None,
        principal: str | None = None,
    ) -> AckResult: ...

    def backlog(self) -> int:
        """Writes waiting: ingest answers 503 rather than accept what it could not make durable soon."""
        ...

    def room(self) -> str | None:
        """Why no new warning should be accepted now (the disk below its reserve), or None."""
        ...

    async def record_event(self, kind: str, detail: dict[str, Any], at: float) -> None:
        """Append an event that belongs to no warning (config loaded, canary missing…)."""
        ...
