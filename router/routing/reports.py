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
    rules: tuple[str, ...]

    @property
    def clause(self) -> str:
        return self.clauses[0]


def report_recipients(report: SituationReport, config: RoutingConfig) -> tuple[ReportRecipient, ...]:
    """Who receives ``report``, in rule order; each once."""
    found: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for rule in config.report_rules:
        if report.kind.value not in rule.kinds:
            continue
        for at, departments in rule.to:
            where = (
                report.jurisdiction
                if at == "same"
                else config.city
                if at == "city"
                else config.above(report.jurisdiction)
            )
            if where is None:
                continue
            for department in departments:
                if (department, where) == (report.department, report.jurisdiction):
                    continue
                if not config.has_department(where, department):
                    continue
                clauses, rules = found.setdefault((department, where), ([], []))
                if rule.clause not in clauses:
                    clauses.append(rule.clause)
                if rule.id not in rules:
                    rules.append(rule.id)
    return tuple(ReportRecipient(d, j, tuple(c), tuple(r)) for (d, j), (c, r) in found.items())
