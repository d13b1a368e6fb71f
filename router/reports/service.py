"""Filing a situation report: the plan's places and offices, who may file for whom, and the store.

What the model cannot know on its own is checked here: the office and places exist in the plan (a
township must lie in the reporting jurisdiction), the observation is not in the future, what it answers
exists, and the caller may file for that office (:func:`router.access.roles.report_denied`). A refusal
names its field; nothing of a refused report is written.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from router.access.roles import Principal, report_denied
from router.domain.ladder import first_push
from router.domain.reports import SituationReport, report_problem
from router.errors import Conflict, Forbidden, InvalidRequest, NotFound
from router.plan.config import RoutingConfig
from router.routing.reports import ReportRecipient, report_recipients
from router.store import ReportOutcome, ReportRecord, ReportSend, SqlStore

CLOCK_SKEW = 120.0  # seconds an observation may lie ahead of this server's clock (the reporter's clock)


class Reports:
    def __init__(
        self,
        config: RoutingConfig,
        store: SqlStore,
        clock: Callable[[], float] = time.time,
        on_sent: Callable[[], None] = lambda: None,
    ) -> None:
        self.config, self.store, self.clock = config, store, clock
        self.on_sent = on_sent  # the dispatcher's wake: a filed report's notifications are due at once

    async def file(self, principal: Principal, report: SituationReport) -> tuple[ReportOutcome, dict[str, Any]]:
        """File ``report`` for ``principal``: (the outcome, the report as stored). Raises a refusal naming
        the field (InvalidRequest, Forbidden, Conflict, NotFound) when it cannot be filed."""
        refused = report_denied(principal, report.jurisdiction, report.department, report.on_behalf)
        if refused is not None:
            raise Forbidden(*refused)
        self._check_places(report)
        now = self.clock()
        observed = report.observed_at.timestamp()
        if observed > now + CLOCK_SKEW:
            ahead = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
            raise InvalidRequest("observed_at", f"{report.observed_at.isoformat()} is in the future (now {ahead})")
        if report.answers is not None and not await self._answerable(report.answers):
            raise InvalidRequest("answers", f"no warning or obligation {report.answers!r}")
        stored = report.model_dump(mode="json", by_alias=True)
        text = orjson.dumps(stored, option=orjson.OPT_SORT_KEYS).decode()
        content_hash = hashlib.sha256(text.encode()).hexdigest()
        audit: dict[str, Any] = {
            "report": report.id,
            "kind": report.kind.value,
            "jurisdiction": report.jurisdiction,
            "department": report.department,
            "by": principal.id,
            "content_sha256": content_hash,
        }
        if report.replaces:
            audit["replaces"] = report.replaces
        if report.on_behalf:
            audit["on_behalf"], audit["reason"] = True, report.reason
        recipients = report_recipients(report, self.config)
        sends = tuple(self._sends(report, recipients))
        audit["to"] = [
            {"department": r.department, "jurisdiction": r.jurisdiction, "clauses": list(r.clauses)} for r in recipients
        ]
        record = ReportRecord(
            report.id,
            report.kind.value,
            report.jurisdiction,
            report.department,
            observed,
            principal.id,
            content_hash,
            report.replaces,
            text,
            audit,
            tuple((r.jurisdiction, r.department, orjson.dumps(list(r.clauses)).decode()) for r in recipients),
            sends,
        )
        outcome = await self.store.file_report(record, now)
        if outcome.status == "created" and sends:
            self.on_sent()
        if outcome.status == "conflict":
            raise Conflict(outcome.field, outcome.problem)
        if outcome.status == "not_found":
            raise NotFound(outcome.field, outcome.problem)
        return outcome, stored

    def _sends(self, report: SituationReport, recipients: tuple[ReportRecipient, ...]) -> list[ReportSend]:
        """Each recipient's notification, on the channel a ladder's "first" names (none: its feed only); a
        report of people dead, missing or injured goes first."""
        grave = any(report.figures.get(k, 0) > 0 for k in ("dead", "missing", "injured"))
        out = []
        for r in recipients:
            channel = first_push(tuple(self.config.departments[r.department].channels))
            if channel is not None:
                nid = f"report.{report.id}.{r.jurisdiction}.{r.department}.{channel}"
                out.append(ReportSend(nid, r.department, r.jurisdiction, channel, 0 if grave else 1))
        return out

    def _check_places(self, report: SituationReport) -> None:
        config = self.config
        place = config.jurisdictions.get(report.jurisdiction)
        if place is None:
            raise InvalidRequest("jurisdiction", f"unknown jurisdiction {report.jurisdiction!r}")
        department = config.departments.get(report.department)
        if department is None:
            raise InvalidRequest("department", f"unknown department {report.department!r}")
        if not config.has_department(report.jurisdiction, report.department):
            raise InvalidRequest("department", f"{place.zh} has no {report.department} office")
        for i, code in enumerate(report.areas):
            county = config.township_county.get(code, code if code in config.jurisdictions else None)
            if county is None:
                what = "township" if len(code) == 9 else "county"
                raise InvalidRequest(f"areas[{i}]", f"unknown {what} {code!r}")
            inside = county == report.jurisdiction or report.jurisdiction == config.city
            if not inside:
                raise InvalidRequest(f"areas[{i}]", f"{code} is not in {place.zh}")

    async def _answerable(self, answers: str) -> bool:
        if await self.store.get_obligation(answers) is not None:
            return True
        return await self.store.lineage_of([answers]) is not None


def parse_report(body: bytes) -> SituationReport:
    """The bytes as a report; InvalidRequest naming the first field that is wrong."""
    try:
        return SituationReport.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown field"
        if first["loc"]:
            raise InvalidRequest(".".join(str(p) for p in first["loc"]), message) from None
        raise InvalidRequest(*report_problem(message)) from None
