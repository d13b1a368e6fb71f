"""Pure: where a situation report goes, by the plan (warnings.yaml ``reports``, DESIGN §13).

Every rule naming the report's kind contributes; its targets are departments at the reporting office's
own jurisdiction (``same``), the city, or the jurisdiction above (a county's or the zone's: the city). A
department a jurisdiction does not have is skipped there, the filing office is never sent its own
report, and a recipient reached by several rules gets it once, citing each clause (the first rule's first).
"""

from __future__ import annotations

from dataclasses import dataclass

from router.domain.reports import SituationReport
from router.plan.config import RoutingConfig


@dataclass(frozen=True, slots=True)
class ReportRecipient:
    department: str
    jurisdiction: str
    clauses: tuple[str, ...]  # every clause that sends it there, in rule order


def report_recipients(report: SituationReport, config: RoutingConfig) -> tuple[ReportRecipient, ...]:
    """Who receives ``report``, in rule order; each once."""
    found: dict[tuple[str, str], list[str]] = {}
    places = {"same": report.jurisdiction, "city": config.city, "above": config.above(report.jurisdiction)}
    for rule in config.report_rules:
        if report.kind.value not in rule.kinds:
            continue
        for at, departments in rule.to:
            where = places[at]
            if where is None:
                continue
            for department in departments:
                if (department, where) == (report.department, report.jurisdiction):
                    continue
                if not config.has_department(where, department):
                    continue
                clauses = found.setdefault((department, where), [])
                if rule.clause not in clauses:
                    clauses.append(rule.clause)
    return tuple(ReportRecipient(d, j, tuple(c)) for (d, j), c in found.items())
