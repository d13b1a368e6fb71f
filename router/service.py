"""Ingest: bytes in → warning → decision (with its lineage) → one durable record → wake the dispatcher.

``IngestService.submit`` returns only after the warning, its decision, its obligations and the
notifications to send are committed (group commit in the store). Updates find the decision they
refer to among recent decisions first (an Update may follow its Alert within the same commit
batch), then in the store.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

from router.config import RoutingConfig
from router.errors import InvalidMessage
from router.feed import FeedHub
from router.ladder import Open, plan_initial
from router.metrics import Metrics
from router.models import Action, Decision, WeatherWarning, action_from_record, action_record
from router.parsers import parse_message
from router.parsers.xmlsig import XmlSignatures
from router.routing import route
from router.store import IngestOutcome, IngestRecord, NotificationRow, ObligationRow, Store

log = structlog.get_logger("warnroute.ingest")
RECENT = 2_000  # decisions kept for Updates that arrive before their Alert is committed; then the store


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
    ) -> None:
        self.config, self.store, self.metrics, self.hub = config, store, metrics, hub
        self.signatures = signatures
        self.on_commit, self.clock = on_commit, clock
        self._recent: OrderedDict[str, tuple[str, Decision]] = OrderedDict()

    async def submit(self, data: bytes) -> Accepted:
        """Parse, route and durably record ``data``; raises InvalidMessage for bad input."""
        started = self.clock()
        try:
            if self.signatures is not None:
                data = self.signatures.signed_content(data)
            warning = parse_message(data, self.config)
        except InvalidMessage as exc:
            self.metrics.warnings_received.labels("unknown", "unknown", "rejected").inc()
            log.info("warning_rejected", field=exc.field, problem=exc.problem, kind=exc.kind)
            raise
        bound = log.bind(warning_id=warning.id, hazard=warning.hazard.value, product=warning.product.value)
        lineage, previous = await self._previous(warning)
        decision = route(warning, self.config, now=datetime.fromtimestamp(started, UTC), previous=previous)
        records = _records(decision.actions)
        record = self._record(warning, decision, records, lineage, previous is not None)
        outcome = await self.store.ingest(record)
        self.metrics.warnings_received.labels(warning.product.value, warning.hazard.value, outcome.status).inc()
        if outcome.status != "created":
            bound.info("warning_" + outcome.status)
            return Accepted(warning, None, outcome)
        self.metrics.ingest_seconds.observe(self.clock() - started)
        self._remember(warning.id, lineage, decision)
        for kind, n in Counter(o.kind for o in record.obligations).items():
            self.metrics.obligations_created.labels(kind).inc(n)
        for obligation, cursor, action in zip(record.obligations, outcome.obligation_seqs, records, strict=True):
            self.hub.publish(
                obligation.jurisdiction,
                obligation.department,
                {
                    "cursor": cursor,
                    "obligation_id": obligation.id,
                    "warning_id": warning.id,
                    "action": action,
                    "drill": warning.drill,
                },
            )
        self.on_commit()
        bound.info(
            "warning_routed",
            obligations=len(record.obligations),
            notifications=len(record.notifications),
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

    def _record(
        self, w: WeatherWarning, decision: Decision, records: list[dict[str, Any]], lineage: str, linked: bool
    ) -> IngestRecord:
        warning_json = w.model_dump_json()
        identity = f"{w.sender}\x1f{w.id}\x1f{w.issued_at.isoformat()}"
        key = hashlib.sha256(identity.encode()).hexdigest()[:20]
        now = self.clock()
        ladders = self.config.ladders
        start = w.issued_at.timestamp()
        rank = w.severity.rank if w.severity is not None else 0
        obligations, notifications = [], []
        deadlines: dict[datetime, float] = {}
        for i, (action, action_json) in enumerate(zip(decision.actions, records, strict=True)):
            oid = f"{key}.{i:03d}"
            kind = action.kind.value
            ladder = ladders.choose(kind, action.department, rank)
            deadline = deadlines.get(action.due_at) or deadlines.setdefault(action.due_at, action.due_at.timestamp())
            first = plan_initial(
                ladders,
                Open(
                    0,
                    oid,
                    action.department,
                    action.jurisdiction,
                    kind,
                    action.channels,
                    ladder or "",
                    0,
                    start,
                    deadline,
                ),
                now,
            )
            priority = 0 if action.mandatory else 1
            for send in first.sends:
                escalation = send.purpose != "action"
                notifications.append(
                    NotificationRow(
                        send.id,
                        oid,
                        send.channel,
                        now,
                        priority,
                        send.purpose,
                        send.department if escalation else None,
                        send.jurisdiction if escalation else None,
                    )
                )
            # A warning that arrives past a deadline is breached by the scheduler's next pass, not here.
            next_step, next_at = (
                (first.next_step, first.next_at)
                if not first.breached
                else (len(ladders.ladders.get(ladder or "", ())), now)
            )
            obligations.append(
                ObligationRow(
                    oid,
                    action.department,
                    action.jurisdiction,
                    action.kind.value,
                    action.task,
                    action.clause,
                    action.mandatory,
                    action_json["due_at"],
                    orjson.dumps(action_json).decode(),
                    start,
                    deadline,
                    action.channels,
                    ladder,
                    ladders.ack_mode(kind),
                    next_step,
                    next_at,
                )
            )
        # Each action is stored once, in its obligation row: the decision keeps everything else (its
        # actions are the obligations), and the lineage's "told" keeps what routing compares, not texts.
        public = {
            "warning": {**w.public_dict(), "headline": w.headline},
            "drill": w.drill,
            "reference_unknown": decision.reference_unknown,
            "notes": list(decision.notes),
        }
        known = {id(a): r for a, r in zip(decision.actions, records, strict=True)}
        told = orjson.dumps([_told_record(a, known.get(id(a))) for a in decision.told]).decode()
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
            obligations=tuple(obligations),
            notifications=tuple(notifications),
            lifts_lineage=lineage if w.ends and linked else None,
            updates_lineage=lineage if linked and not w.ends else None,
        )


def _records(actions: tuple[Action, ...]) -> list[dict[str, Any]]:
    """``action_record`` of each action, formatting each distinct deadline once."""
    iso: dict[datetime, str] = {}
    out = []
    for a in actions:
        due = iso.get(a.due_at) or iso.setdefault(a.due_at, a.due_at.isoformat())
        out.append({**a.spec.static, "due_at": due, "public": a.spec.public})
    return out


def _told_record(action: Action, record: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a later Update or lift needs of an action told before: not its (long) text."""
    return {**(record if record is not None else action_record(action)), "text": ""}
