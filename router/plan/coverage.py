"""Plan coverage: which plan clauses have rules, which have tests, and whether every quote is true.

The tests side comes from the table of routing cases (tests/data/routing_cases.yaml) and, beside it,
the table of report cases (report_cases.yaml: where situation reports go): each case lists the clauses
its expected actions or recipients cite. Report rules (warnings.yaml ``reports``) count as rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from router.plan.config import RoutingConfig
from router.plan.text import PlanText

REPORT_CASES = "report_cases.yaml"


@dataclass(frozen=True)
class ClauseCoverage:
    clause: str
    title: str
    rules: tuple[str, ...]
    tests: tuple[str, ...]


@dataclass(frozen=True)
class Coverage:
    clauses: tuple[ClauseCoverage, ...]
    misquotes: tuple[str, ...]

    @property
    def without_rules(self) -> tuple[str, ...]:
        return tuple(c.clause for c in self.clauses if not c.rules)

    @property
    def without_tests(self) -> tuple[str, ...]:
        return tuple(c.clause for c in self.clauses if not c.tests)


def plan_coverage(config: RoutingConfig, cases_file: Path | None) -> Coverage:
    plan = PlanText.parse(config.plan_text())
    rules: dict[str, list[str]] = {}
    misquotes: list[str] = []
    for rule in config.rules:
        for action in rule.actions:
            rules.setdefault(action.clause, []).append(rule.id)
            if not plan.contains(action.clause, action.text):
                misquotes.append(f"rule {rule.id}: text is not in §{action.clause}: {action.text[:40]}…")
    for report_rule in config.report_rules:
        rules.setdefault(report_rule.clause, []).append(report_rule.id)
        if not plan.contains(report_rule.clause, report_rule.text):
            misquotes.append(
                f"report rule {report_rule.id}: text is not in §{report_rule.clause}: {report_rule.text[:40]}…"
            )
    for dept_id, dept in config.departments.items():
        for duty in dept.duties:
            if not plan.contains(duty.clause, duty.text):
                misquotes.append(f"department {dept_id}: duty is not in §{duty.clause}: {duty.text[:40]}…")
    tests = _cases_by_clause(cases_file)
    if cases_file is not None:
        for clause, ids in _cases_by_clause(cases_file.parent / REPORT_CASES).items():
            tests.setdefault(clause, []).extend(ids)
    rows = tuple(
        ClauseCoverage(
            clause=cid,
            title=title,
            rules=tuple(dict.fromkeys(rules.get(cid, []))),
            tests=tuple(dict.fromkeys(tests.get(cid, []))),
        )
        for cid, title in config.plan.clauses.items()
    )
    return Coverage(rows, tuple(misquotes))


def _cases_by_clause(cases_file: Path | None) -> dict[str, list[str]]:
    if cases_file is None or not cases_file.is_file():
        return {}
    data = yaml.safe_load(cases_file.read_text(encoding="utf-8")) or {}
    out: dict[str, list[str]] = {}
    for case in data.get("cases", []):
        for expected in case.get("expect", []):
            for clause in _clauses(expected):
                out.setdefault(clause, []).append(case["id"])
    return out


def _clauses(expected: dict[str, object]) -> list[str]:
    value = expected.get("clauses", expected.get("clause"))
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def render(coverage: Coverage) -> str:
    lines = [f"{'clause':<8} {'rules':>5} {'tests':>5}  title / rule ids / test ids"]
    for row in coverage.clauses:
        lines.append(f"§{row.clause:<7} {len(row.rules):>5} {len(row.tests):>5}  {row.title}")
        lines.append(f"{'':20}  rules: {', '.join(row.rules) or '—'}")
        lines.append(f"{'':20}  tests: {', '.join(row.tests) or '—'}")
    return "\n".join(lines)
