"""Ingest: bytes in → warning → decision (with its lineage) → one durable record → wake the dispatcher.

``IngestService.submit`` returns only after the warning, its decision, its obligations and the
notifications to send are committed (group commit in the store). Updates find the decision they
refer to among recent decisions first (an Update may follow its Alert within the same commit
batch), then in the store.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import orjson
import structlog

from router.delivery.feed import FeedHub
from router.domain.ladder import Ladders, Opening, Send, next_on_time, plan_initial
from router.domain.models import (
    Action,
    ActionSpec,
    Decision,
    Layout,
    WeatherWarning,
    action_from_record,
    told_json,
)
from router.domain.obligation import OpenObligation
from router.errors import InvalidMessage, StoreUnavailable
from router.metrics import Metrics
from router.parsers import parse_message
from router.parsers.xmlsig import XmlSignatures
from router.plan.config import RoutingConfig
from router.routing.route import route
from router.store import IngestOutcome, IngestRecord, NotificationRow, ObligationRow, Store, action_text
from router.store.base import Drafted, Pattern, ordinal

log = structlog.get_logger("warnroute.ingest")
_row = ObligationRow._make  # a row from its fields in order
RECENT = 2_000  # decisions kept for Updates that arrive before their Alert is committed; then the store


@dataclass(frozen=True)
class SentWindow:
    """How far a message's ``sent`` may lie before (``max_age``) or after (``max_ahead``) its receipt, in
    seconds: a message dated 0001 would fire every escalation at once, one dated 2099 none ever."""

    max_age: float = 7 * 86400.0
    max_ahead: float = 3600.0

    def refusal(self, sent: datetime, received: float) -> InvalidMessage | None:
        offset = sent.timestamp() - received
        if -self.max_age <= offset <= self.max_ahead:
            return None
        at = datetime.fromtimestamp(received, sent.tzinfo).isoformat(timespec="seconds")
        if offset > self.max_ahead:
            return InvalidMessage(
                "sent",
                f"{sent.isoformat()} is {offset / 3600:.1f} h after its receipt ({at}); at most"
                f" {self.max_ahead:.0f} s ahead is accepted (WARNROUTE_SENT_MAX_AHEAD): check the sender's clock",
            )
        if -offset > self.max_age:
            return InvalidMessage(
                "sent",
                f"{sent.isoformat()} is {-offset / 86400:.1f} days before its receipt ({at}); at most"
                f" {self.max_age / 86400:g} days is accepted (WARNROUTE_SENT_MAX_AGE)",
            )
        return None


@dataclass(frozen=True)
class Accepted:
    warning: WeatherWarning
    decision: Decision | None
    outcome: IngestOutcome


class IngestService:
    def __init__(
        self,
        config: RoutingConfig,
        store: Store,
        metrics: Metrics,
        hub: FeedHub,
        on_commit: Callable[[], None],
        clock: Callable[[], float] = time.time,
        signatures: XmlSignatures | None = None,
        sent_window: SentWindow | None = None,
        on_due: Callable[[], None] | None = None,
    ) -> None:
        self.config, self.store, self.metrics, self.hub = config, store, metrics, hub
        self.on_due = on_due  # a warning arrived with a ladder step already due (late): the scheduler, at once
        self.signatures = signatures
        self.on_commit, self.clock = on_commit, clock
        self.sent_window = sent_window or SentWindow()
        self._recent: OrderedDict[str, tuple[str, Decision]] = OrderedDict()

    async def submit(self, data: bytes) -> Accepted:
        """Parse, route and durably record ``data``; raises InvalidMessage for bad input."""
        started = self.clock()
        short = self.store.room()
        if short is not None:  # refused before anything is parsed or written
            self.metrics.store_unavailable.inc()
            raise StoreUnavailable(f"{short}; nothing was accepted, send it again later")
        try:
            if self.signatures is not None:
                data = self.signatures.signed_content(data)
            warning = parse_message(data, self.config)
            refused = self.sent_window.refusal(warning.issued_at, started)
            if refused is not None:
                raise refused
        except InvalidMessage as exc:
            self.metrics.received("unknown", "unknown", "rejected").inc()
            log.info("warning_rejected", field=exc.field, problem=exc.problem, kind=exc.kind)
            raise
        about = {"warning_id": warning.id, "hazard": warning.hazard.value, "product": warning.product.value}
        lineage, previous = await self._previous(warning)
        decision = route(warning, self.config, now=datetime.fromtimestamp(started, UTC), previous=previous)
        record = self.record(warning, decision, lineage, previous is not None)
        try:
            outcome = await self.store.ingest(record)
        except StoreUnavailable as exc:  # the write failed as a whole: nothing of it is kept, or perhaps all
            self.metrics.store_unavailable.inc()
            if exc.undone:
                raise StoreUnavailable(f"{exc.problem}; nothing was accepted, send it again later") from exc
            told = StoreUnavailable(f"{exc.problem}; send it again: if it was written, the answer is 'duplicate'")
            told.undone = False
            raise told from exc
        self.metrics.received(warning.product.value, warning.hazard.value, outcome.status).inc()
        if outcome.status != "created":
            log.info("warning_" + outcome.status, **about)
            return Accepted(warning, None, outcome)
        self.metrics.ingest_seconds.observe(self.clock() - started)
        self._remember(warning.id, lineage, decision)
        obligations = record.obligations
        drafted = obligations if isinstance(obligations, Drafted) else None
        kinds = drafted.pattern.kinds if drafted is not None else Counter(o.kind for o in obligations).items()
        for kind, n in kinds:
            self.metrics.created(kind).inc(n)
        followed = obligations if self.hub.following() else ()  # events are built only for a listener
        for obligation, cursor in zip(followed, outcome.obligation_seqs[: len(followed)], strict=True):
            if self.hub.listened(obligation.jurisdiction, obligation.department):
                event = {
                    "cursor": cursor,
                    "obligation_id": obligation.id,
                    "warning_id": warning.id,
                    "action": orjson.loads(action_text(obligation)),
                    "drill": warning.drill,
                }
                self.hub.publish(obligation.jurisdiction, obligation.department, event)
        self.on_commit()
        if self.on_due is not None:
            now = self.clock()
            if drafted is not None:
                due = drafted.soonest() <= now
            else:
                due = any(o.next_step_at is not None and o.next_step_at <= now for o in obligations)
            if due:
                self.on_due()
        log.info(
            "warning_routed",
            **about,
            obligations=len(record.obligations),
            notifications=record.opened,
            reference_unknown=decision.reference_unknown,
            drill=warning.drill,
            cancelled=outcome.cancelled,
        )
        return Accepted(warning, decision, outcome)

    async def _previous(self, warning: WeatherWarning) -> tuple[str, Decision | None]:
        if not warning.references:
            return warning.id, None
        for ref in reversed(warning.references):
            if ref in self._recent:
                lineage, decision = self._recent[ref]
                return lineage, decision
        found = await self.store.lineage_of(list(warning.references))
        if found is None:
            return warning.id, None
        lineage, warning_json, told_json = found
        told = tuple(action_from_record(r) for r in orjson.loads(told_json))
        return lineage, Decision(WeatherWarning.model_validate_json(warning_json), (), told)

    def _remember(self, identifier: str, lineage: str, decision: Decision) -> None:
        self._recent[identifier] = (lineage, decision)
        if len(self._recent) > RECENT:
            self._recent.popitem(last=False)

    def record(self, w: WeatherWarning, decision: Decision, lineage: str, linked: bool) -> IngestRecord:
        return ingest_record(self.config, w, decision, lineage, linked, self.clock())


def opening_json(sends: tuple[Send, ...]) -> str:
    """What a ladder's opening sends, as its shape stores it (``router.store.schema``); "": nothing. Worked out
    once per spec, rank and deadline (``shared``)."""
    if not sends:
        return ""
    return orjson.dumps(
        [
            [s.id, s.channel, s.purpose, *((s.department, s.jurisdiction) if s.purpose != "action" else ())]
            for s in sends
        ]
    ).decode()


class _Shared(NamedTuple):
    """What every obligation of one action spec shares, in warnings of one rank whose deadline lies the same
    time after the clock's start: its ladder, and what that ladder sends when it opens on time."""

    ladders: Ladders
    opening: Opening
    climbs: bool  # the ladder has rungs (with none, an obligation opens on time whenever it arrives)
    # An obligation that opens on time is its id, these (department, jurisdiction, kind, task, clause,
    # mandatory), its deadline's text, "", its start and deadline, ``middle`` (channels, ladder, ack mode, the
    # next step), when that step is, and ``last`` (head, opening, whether it opens): ``ObligationRow``'s order.
    first: tuple[str, str, str, str | None, str, bool]
    middle: tuple[tuple[str, ...], str | None, str, int | None]
    last: tuple[str, str, bool]


def shared(ladders: Ladders, spec: ActionSpec, rank: int, room: float) -> _Shared:
    """``_Shared`` for ``spec`` at warning rank ``rank`` with a deadline ``room`` seconds after the start,
    kept on the spec: warnings of one classification open tens of obligations alike, and this is what each
    would otherwise work out again (a reloaded configuration has specs, and ladders, of its own)."""
    found: _Shared | None = spec.memo.get((rank, room))
    if found is not None and found.ladders is ladders:
        return found
    kind = spec.kind.value
    ladder = ladders.choose(kind, spec.department, rank)
    rungs = ladder or ""  # no ladder: no rungs
    opening = ladders.opening_sends(rungs, room, spec.department, spec.jurisdiction, spec.channels)
    ack_mode, sends = ladders.ack_mode(kind), opening_json(opening.sends)
    found = _Shared(
        ladders,
        opening,
        bool(ladders.ladders.get(rungs)),
        (spec.department, spec.jurisdiction, kind, spec.task, spec.clause, spec.mandatory),
        (spec.channels, ladder, ack_mode, opening.next_step),
        (spec.heads[0], sends, sends != ""),
    )
    if len(spec.memo) < 64:
        spec.memo[(rank, room)] = found
    return found


def ingest_record(
    config: RoutingConfig, w: WeatherWarning, decision: Decision, lineage: str, linked: bool, now: float
) -> IngestRecord:
    """What a routed warning writes: the warning, its decision, one obligation per action with its
    ladder's opening notifications and next step, and the lineage's "told". Pure."""
    warning_json = w.model_dump_json()
    identity = f"{w.sender}\x1f{w.id}\x1f{w.issued_at.isoformat()}"
    # Obligation ids (and their notifications', the providers' idempotency keys) begin with the
    # time in ms, so the store's indexes on them grow at one end instead of at random places.
    key = f"{int(now * 1000):011x}{hashlib.sha256(identity.encode()).hexdigest()[:9]}"
    rank = w.severity.rank if w.severity is not None else 0
    layout = decision.layout
    drafted = _drafted(config, layout, rank, key, w.issued_at, now) if layout is not None else None
    obligations: Sequence[ObligationRow]
    notifications: tuple[NotificationRow, ...]
    if drafted is not None:  # the usual case: a new warning whose obligations all open on time
        obligations, notifications, opened = drafted, (), drafted.pattern.opened
    else:
        obligations, notifications, opened = _one_by_one(config.ladders, decision.actions, rank, key, w.issued_at, now)
    # Each action is stored once, in the shape its obligations share: the decision keeps everything else (its
    # actions are the obligations). What the lineage has been told: a new warning's is its own
    # obligations, which the store already holds (written as ""); an Update's also keeps what earlier
    # messages told, without their texts.
    public = {
        "warning": {**w.public_dict(), "headline": w.headline},
        "drill": w.drill,
        "reference_unknown": decision.reference_unknown,
        "notes": list(decision.notes),
    }
    if decision.told is decision.actions:
        told = ""
    else:
        told = "[" + ",".join(told_json(a.spec, a.due_at.isoformat()).decode() for a in decision.told) + "]"
    return IngestRecord(
        sender=w.sender,
        identifier=w.id,
        sent=w.issued_at.isoformat(),
        content_hash=hashlib.sha256(warning_json.encode()).hexdigest(),
        lineage=lineage,
        received_at=datetime.fromtimestamp(now, UTC).isoformat(),
        product=w.product.value,
        hazard=w.hazard.value,
        severity=w.severity.value if w.severity else None,
        jurisdiction=w.jurisdiction,
        status=w.status.value,
        msg_type=w.msg_type.value,
        reference_unknown=decision.reference_unknown,
        warning_json=warning_json,
        decision_json=orjson.dumps(public).decode(),
        told_json=told,
        obligations=obligations,
        notifications=notifications,
        lifts_lineage=lineage if w.ends and linked else None,
        updates_lineage=lineage if linked and not w.ends else None,
        okey=key,
        opened=opened,
    )


PATTERNS = 1_000  # patterns kept per configuration (onset-based deadlines make one per distinct onset)


class _Laid(NamedTuple):
    """A classification's obligations at one rank and set of deadlines (``Pattern``), with what says whether a
    warning's obligations all open on time: the soonest next step among those whose ladders climb, as an
    offset from the start and as the deadlines (indexes) some of them step at. ``pattern`` None: some climbing
    ladder's opening is not due at the start (its first rung is later), so its warnings are laid out one by
    one."""

    specs: tuple[ActionSpec, ...]
    pattern: Pattern | None
    climbs_soonest: float
    climbs_at: frozenset[int]


def _drafted(
    config: RoutingConfig, layout: Layout, rank: int, key: str, issued: datetime, now: float
) -> Drafted | None:
    """A new warning's obligations from its classification's pattern, if every one of them opens on time (as
    ``next_on_time`` says of each); None: lay them out one by one. The time from issue to each deadline is
    worked out from the datetimes, exact to the microsecond, so a warning issued at a fraction of a second
    finds the pattern of its classification as any other does."""
    start = issued.timestamp()
    deadlines = tuple((due.timestamp(), due.isoformat()) for due in layout.dues)
    rooms = tuple((due - issued).total_seconds() for due in layout.dues)
    memo, found = config.pattern_memo, (id(layout.specs), rank, rooms)
    laid: _Laid | None = memo.get(found)
    if laid is None or laid.specs is not layout.specs:
        if len(memo) >= PATTERNS:
            memo.clear()
        laid = memo[found] = _lay(config.ladders, layout, rank, rooms)
    if laid.pattern is None or start + laid.climbs_soonest <= now:
        return None
    if any(deadlines[t][0] <= now for t in laid.climbs_at):
        return None
    return Drafted(laid.pattern, key, start, deadlines)


def _lay(ladders: Ladders, layout: Layout, rank: int, rooms: tuple[float, ...]) -> _Laid:
    """The pattern of ``layout``'s specs at ``rank`` with deadlines ``rooms`` seconds after the start."""
    shapes, offsets, steps, opens = [], [], [], []
    kinds: Counter[str] = Counter()
    opened = 0
    soonest, climbs_soonest = math.inf, math.inf
    at: set[int] = set()
    climbs_at: set[int] = set()
    for spec, t in zip(layout.specs, layout.timing_of, strict=True):
        common = shared(ladders, spec, rank, rooms[t])
        o = common.opening
        if common.climbs and not o.due:
            return _Laid(layout.specs, None, math.inf, frozenset())
        shapes.append((*common.first, *common.middle[:3], *common.last[:2]))
        offsets.append(o.offset)
        steps.append(common.middle[3])
        opens.append(common.last[2])
        kinds[common.first[2]] += 1
        opened += len(o.sends)
        if o.offset is None:
            at.add(t)
            if common.climbs:
                climbs_at.add(t)
        else:
            soonest = min(soonest, o.offset)
            if common.climbs:
                climbs_soonest = min(climbs_soonest, o.offset)
    pattern = Pattern(
        tuple(shapes),
        layout.timing_of,
        tuple(offsets),
        tuple(steps),
        tuple(opens),
        opened,
        tuple(kinds.items()),
        soonest,
        frozenset(at),
    )
    return _Laid(layout.specs, pattern, climbs_soonest, frozenset(climbs_at))


def _one_by_one(
    ladders: Ladders, actions: tuple[Action, ...], rank: int, key: str, issued: datetime, now: float
) -> tuple[tuple[ObligationRow, ...], tuple[NotificationRow, ...], int]:
    """The obligations of ``actions``, each as its ladder opens at ``now``: on time (its opening rungs written
    when the dispatcher claims them), or late (what is due now written now, as notifications). With the
    notifications written now, and how many notifications open in all."""
    obligations, notifications = [], []
    opened = 0
    start = issued.timestamp()
    deadlines: dict[datetime, tuple[float, str, float]] = {}
    for i, action in enumerate(actions):
        oid = key + ordinal(i)
        spec = action.spec
        due = deadlines.get(action.due_at)
        if due is None:
            at = action.due_at
            due = deadlines[at] = (at.timestamp(), at.isoformat(), (at - issued).total_seconds())
        deadline, due_at, room = due
        common = shared(ladders, spec, rank, room)
        o = common.opening
        next_at = next_on_time(o, common.climbs, start, deadline, now)
        if next_at is not None:  # the ladder's opening rungs, memoised, sent when claimed
            opened += len(o.sends)
            obligations.append(
                _row((oid, *common.first, due_at, "", start, deadline, *common.middle, next_at, *common.last))
            )
            continue
        # Late: what is due now is written now.
        kind, (channels, ladder, ack_mode, _) = common.first[2], common.middle  # its own next step, below
        rungs = ladder or ""  # no ladder: no rungs
        where = (spec.department, spec.jurisdiction, kind, spec.channels, rungs)
        first = plan_initial(ladders, OpenObligation(0, "", *where, 0, start, deadline), now)
        # A warning that arrives past a deadline is breached by the scheduler's next pass, not here.
        sends = first.sends
        next_step, next_step_at = (
            (first.next_step, first.next_at) if not first.breached else (len(ladders.ladders[rungs]), now)
        )
        priority = 0 if spec.mandatory else 1
        for send in sends:  # ids relative to the obligation's
            escalation = send.purpose != "action"
            notifications.append(
                NotificationRow(
                    oid + send.id,
                    oid,
                    send.channel,
                    now,
                    priority,
                    send.purpose,
                    send.department if escalation else None,
                    send.jurisdiction if escalation else None,
                )
            )
        row = (oid, *common.first, due_at, "", start, deadline, channels, ladder, ack_mode, next_step, next_step_at)
        obligations.append(_row((*row, common.last[0], "", False)))  # no opening to write when claimed
    return tuple(obligations), tuple(notifications), opened + len(notifications)
