"""Routing, table-driven: the cases in tests/data/routing_cases.yaml, and the whole matrix of
hazard × product × level × jurisdiction checked against the plan's rules stated independently."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import yaml

from router.domain.models import Action, ActionKind, Decision, Hazard, Product, Severity
from router.parsers import parse_message
from router.plan.config import RoutingConfig
from router.routing.route import route
from tests.support.messages import DATA, json_message

CASES = yaml.safe_load((DATA / "routing_cases.yaml").read_text(encoding="utf-8"))["cases"]


def _matches(action: Action, spec: dict[str, Any], sent: datetime) -> bool:
    for key, want in spec.items():
        if key == "clause":
            ok = want in action.clauses
        elif key == "due_in":
            ok = action.due_at == sent + timedelta(minutes=want)
        elif key == "due_at":
            ok = action.due_at == datetime.fromisoformat(want)
        elif key in ("channels", "areas"):
            ok = list(getattr(action, key)) == want
        elif key == "kind":
            ok = action.kind.value == want
        else:
            ok = getattr(action, key) == want
        if not ok:
            return False
    return True


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_routing_case(config: RoutingConfig, case: dict[str, Any]) -> None:
    warning = parse_message(json_message(**case["message"]), config)
    decision = route(warning, config)
    for spec in case.get("expect", []):
        assert any(_matches(a, spec, warning.issued_at) for a in decision.actions), f"missing {spec}"
    for spec in case.get("absent", []):
        hits = [a.public_dict() for a in decision.actions if _matches(a, spec, warning.issued_at)]
        assert not hits, f"unexpected {spec}: {hits[:2]}"


# The plan's §5.3 departments per hazard, written out here from the plan rather than read from config.
SECTION_5_3 = {
    Hazard.RAINSTORM: (
        "5.3.1",
        {
            "education_sports",
            "public_security",
            "natural_resources",
            "housing_construction",
            "agriculture",
            "water",
            "hydrology",
            "culture_tourism",
        },
    ),
    Hazard.SNOWSTORM: (
        "5.3.2",
        {
            "education_sports",
            "public_security",
            "housing_construction",
            "transport",
            "agriculture",
            "culture_tourism",
            "energy",
        },
    ),
    Hazard.COLD_WAVE: ("5.3.3", {"housing_construction", "transport", "agriculture", "culture_tourism"}),
    Hazard.GALE: ("5.3.4", {"housing_construction", "agriculture", "culture_tourism", "energy", "urban_management"}),
    Hazard.HEAT: (
        "5.3.5",
        {
            "education_sports",
            "public_security",
            "housing_construction",
            "water",
            "agriculture",
            "culture_tourism",
            "health",
            "energy",
            "urban_management",
            "construction_units",
        },
    ),
    Hazard.FROST: ("5.3.6", {"agriculture"}),
    Hazard.FOG: ("5.3.7", {"public_security", "transport", "energy"}),
    Hazard.ROAD_ICING: ("5.3.8", {"education_sports", "public_security", "housing_construction", "transport"}),
    Hazard.LIGHTNING: (
        "5.3.9",
        {"education_sports", "housing_construction", "culture_tourism", "energy", "urban_management"},
    ),
    Hazard.HAIL: (
        "5.3.10",
        {"meteorology", "agriculture", "culture_tourism", "housing_construction", "urban_management"},
    ),
    Hazard.DROUGHT: ("5.3.11", {"water", "hydrology", "agriculture"}),
}
COLOURS = {  # national signal colours per hazard (domain research §1.2), independent of config
    Hazard.HEAT: "yellow orange red",
    Hazard.FOG: "yellow orange red",
    Hazard.ROAD_ICING: "yellow orange red",
    Hazard.LIGHTNING: "yellow orange red",
    Hazard.SANDSTORM: "yellow orange red",
    Hazard.HAZE: "yellow orange red",
    Hazard.HAIL: "orange red",
    Hazard.DROUGHT: "orange red",
    Hazard.FROST: "blue yellow orange",
}
JURISDICTIONS = ("530324", "530381", "530302")


def _matrix() -> list[tuple[Product, Hazard, Severity, str]]:
    rows = []
    for hazard in Hazard:
        for colour in COLOURS.get(hazard, "blue yellow orange red").split():
            for juris in JURISDICTIONS:
                rows.append((Product.SIGNAL, hazard, Severity(colour), juris))
            rows.append((Product.REPORT, hazard, Severity(colour), "530300"))
    return rows


def _decide(config: RoutingConfig, product: Product, hazard: Hazard, severity: Severity, juris: str) -> Decision:
    fields: dict[str, Any] = {
        "hazard": hazard.value,
        "severity": severity.value,
        "product": product.value,
        "areas": [juris],
        "sender_code": f"{juris}41600000",
        "identifier": f"{juris}41600000_x",
    }
    if hazard is Hazard.OTHER:
        fields["event"] = "雷雨大风"
    return route(parse_message(json_message(**fields), config), config)


@pytest.mark.parametrize(("product", "hazard", "severity", "juris"), _matrix())
def test_matrix_follows_the_plan(
    config: RoutingConfig, product: Product, hazard: Hazard, severity: Severity, juris: str
) -> None:
    decision = _decide(config, product, hazard, severity, juris)
    actions = decision.actions
    by = {(a.department, a.kind) for a in actions}
    # Everything stays at the issuing level (本级); 麒麟区 signals also reach the zone that follows it.
    allowed = {juris, "QJEDZ"} if juris == "530302" else {juris}
    assert {a.jurisdiction for a in actions} == allowed
    # §4.2: the party committee and government of that level are told, mandatorily.
    assert any(a.department == "government" and a.kind is ActionKind.REPORT and a.mandatory for a in actions)
    # §5.3.x: every department the plan names for this hazard is asked to respond under that clause.
    if hazard in SECTION_5_3:
        clause, departments = SECTION_5_3[hazard]
        responders = {a.department for a in actions if a.kind is ActionKind.RESPOND and clause in a.clauses}
        assert departments <= responders
    else:
        assert all(not c.startswith("5.3") for a in actions for c in a.clauses)
    # §4.3: direct reports iff rainstorm at orange/Ⅱ or above; phone reports iff red/Ⅰ.
    rainstorm_major = hazard is Hazard.RAINSTORM and severity.rank >= 3
    assert (("flood_drought_hq", ActionKind.DIRECT_REPORT) in by) is rainstorm_major
    assert (("geohazard_hq", ActionKind.DIRECT_REPORT) in by) is rainstorm_major
    assert (("principal_leaders", ActionKind.PHONE_REPORT) in by) is (hazard is Hazard.RAINSTORM and severity.rank == 4)
    # §4.4: mandatory broadcast and telecom within 30 minutes iff a signal at orange or above.
    mandatory_broadcast = any(
        a.department == "telecom_office" and a.kind is ActionKind.DISSEMINATE and a.mandatory for a in actions
    )
    assert mandatory_broadcast is (product is Product.SIGNAL and severity.rank >= 3)
    # §5.1: consultation for a major process.
    assert (("meteorology", ActionKind.TASK) in by) is (severity.rank >= 3)
    # Every action cites a rule-bearing clause and falls due after the issue time.
    for a in actions:
        assert set(a.clauses) <= set(config.plan.clauses) and a.clause in a.clauses
        assert a.due_at > decision.warning.issued_at
        assert a.channels


def test_a_merged_action_cites_the_most_specific_clause_it_quotes(config: RoutingConfig) -> None:
    """A county education bureau's rainstorm duty merges §4.5 (every unit responds to a signal) with §5.3.1
    (教育部门指导督促学校、幼儿园等做好暴雨防范准备): it cites §5.3.1, and keeps both in ``clauses``."""
    warning = parse_message(json_message(), config)  # a 罗平县 blue rainstorm signal
    duty = next(
        a for a in route(warning, config).actions if a.department == "education_sports" and a.kind.value == "respond"
    )
    assert "教育部门指导督促学校、幼儿园等做好暴雨防范准备" in duty.text
    assert duty.clause == "5.3.1"
    assert duty.clauses == ("4.5", "5.3.1")
    # The party committee's report merges §4.2 and §4.2.3: the deeper one.
    report = next(
        a for a in route(warning, config).actions if a.department == "party_committee" and a.kind.value == "report"
    )
    assert (report.clause, report.clauses) == ("4.2.3", ("4.2", "4.2.3"))
