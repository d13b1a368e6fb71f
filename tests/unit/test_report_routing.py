"""Where situation reports go, table-driven: each case in tests/data/report_cases.yaml names exactly the
offices a report must reach and the clauses it is sent under, written out from the plan (DESIGN §13)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from router.domain.reports import SituationReport
from router.plan.config import RoutingConfig
from router.plan.coverage import plan_coverage
from router.routing.reports import report_recipients
from tests.support.messages import DATA

CASES = yaml.safe_load((DATA / "report_cases.yaml").read_text(encoding="utf-8"))["cases"]


def _report(fields: dict[str, Any]) -> SituationReport:
    return SituationReport.model_validate(
        {"schema": "warnroute.report/1", "id": "r-1", "observed_at": datetime(2026, 7, 15, tzinfo=UTC), **fields}
    )


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_a_report_reaches_exactly_whom_the_plan_names(case: dict[str, Any], config: RoutingConfig) -> None:
    got = [
        {"department": r.department, "jurisdiction": r.jurisdiction, "clauses": list(r.clauses)}
        for r in report_recipients(_report(case["report"]), config)
    ]
    assert sorted(got, key=str) == sorted(case["expect"], key=str)


def test_the_filing_office_is_never_sent_its_own_report(config: RoutingConfig) -> None:
    report = _report({"kind": "losses", "jurisdiction": "530324", "department": "government"})
    assert ("government", "530324") not in {(r.department, r.jurisdiction) for r in report_recipients(report, config)}


def test_report_clauses_count_in_plan_coverage(config: RoutingConfig) -> None:
    coverage = plan_coverage(config, DATA / "routing_cases.yaml")
    rows = {row.clause: row for row in coverage.clauses}
    for clause in ("4.1", "5.4", "5.6"):
        assert rows[clause].rules, clause
        assert rows[clause].tests, clause
    assert "report-losses-5.4" in rows["5.4"].rules
    assert "luoping-emergency-losses" in rows["5.4"].tests
    assert "report-lead-hq-geohazard-2.1" in rows["2.1"].rules
