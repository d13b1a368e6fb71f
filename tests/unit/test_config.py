"""Configuration: the shipped config encodes the plan, and every kind of mistake stops start-up
with an error naming file, path and problem (named fixtures in tests/data/config/)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.domain.models import Hazard, Product
from router.errors import ConfigError
from router.plan.config import RoutingConfig, load_config
from tests.support.messages import CONFIG_DIR, DATA

BAD = sorted((DATA / "config").glob("bad-*.yaml"))

DESIGN_DEPARTMENTS = [
    "party_committee",
    "government",
    "principal_leaders",
    "leader_in_charge",
    "flood_drought_hq",
    "flood_office_director",
    "geohazard_hq",
    "forest_fire_hq",
    "cyberspace",
    "development_reform",
    "industry_it",
    "education_sports",
    "science_tech",
    "public_security",
    "civil_affairs",
    "finance",
    "human_resources",
    "natural_resources",
    "ecology_environment",
    "housing_construction",
    "transport",
    "agriculture",
    "water",
    "commerce",
    "culture_tourism",
    "health",
    "emergency_management",
    "radio_tv",
    "energy",
    "forestry_grassland",
    "urban_management",
    "news_office",
    "railway_works",
    "telecom_office",
    "meteorology",
    "power_supply",
    "fire_rescue",
    "hydrology",
    "military_subdistrict",
    "armed_police",
    "township_governments",
    "construction_units",
]
COUNTIES = ("530302", "530303", "530304", "530322", "530323", "530324", "530325", "530326", "530381")


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    return target


def test_shipped_config_covers_design(config: RoutingConfig) -> None:
    """Every department id of DESIGN §8, the city, nine counties, the zone and 137 townships."""
    assert set(DESIGN_DEPARTMENTS) <= set(config.departments)
    assert config.city == "530300"
    assert set(config.counties()) == set(COUNTIES)
    assert any(j.level == "zone" for j in config.jurisdictions.values())
    assert len(config.township_county) == 137
    assert set(config.hazards) == set(Hazard)
    assert set(config.products) == set(Product)


def test_every_county_has_the_direct_report_recipients(config: RoutingConfig) -> None:
    for juris in ("530300", *COUNTIES):
        for dept in (
            "flood_drought_hq",
            "geohazard_hq",
            "principal_leaders",
            "leader_in_charge",
            "flood_office_director",
            "radio_tv",
            "telecom_office",
            "government",
            "party_committee",
        ):
            assert config.has_department(juris, dept), (juris, dept)


def test_the_32_units_carry_their_section_2_2_duties(config: RoutingConfig) -> None:
    units = config.groups["units"]
    assert len(units) == 32
    for unit in units:
        assert [d.clause for d in config.departments[unit].duties][:1] == ["2.2"], unit


def test_contacts_are_references_filled_per_office(config: RoutingConfig) -> None:
    sms = config.contacts[("530324", "flood_drought_hq", "sms")]["to"]
    assert sms.env == "WARNROUTE_530324_FLOOD_DROUGHT_HQ_SMS_TO"
    voice = config.contacts[("530300", "principal_leaders", "voice")]["to"]
    assert voice.file == "/etc/warnroute/contacts/530300/principal_leaders.voice"


def _apply(fixture: dict[str, Any], target: Path) -> None:
    path = target / fixture["file"]
    text = path.read_text(encoding="utf-8")
    for edit in fixture["edits"]:
        assert text.count(edit["replace"]) == 1, f"fixture edit must match exactly once: {edit['replace']!r}"
        text = text.replace(edit["replace"], edit["with"])
    path.write_text(text, encoding="utf-8")


def test_provider_limits_are_the_providers_own_per_destination(config: RoutingConfig) -> None:
    """DESIGN §12's table, written out by hand: what one robot, number or callee takes."""
    limits = {kind: [(x.count, x.seconds) for x in found] for kind, found in config.provider_limits.items()}
    assert limits == {
        "wecom": [(20, 60)],
        "dingtalk": [(20, 60)],
        "feishu": [(5, 1), (100, 60)],
        "sms": [(1, 30), (10, 86400)],
        "voice": [(1, 60), (5, 3600), (20, 86400)],
    }
    assert [str(x) for x in config.provider_limits["voice"]] == ["1 per minute", "5 per hour", "20 per day"]


@pytest.mark.parametrize("fixture_path", BAD, ids=[p.stem for p in BAD])
def test_bad_config_is_refused_naming_file_path_and_problem(fixture_path: Path, tmp_path: Path) -> None:
    fixture = yaml.safe_load(fixture_path.read_text(encoding="utf-8"))
    target = _copy(tmp_path)
    _apply(fixture, target)
    with pytest.raises(ConfigError) as info:
        load_config(target)
    lines = [str(p) for p in info.value.problems]
    assert any(all(part in line for part in fixture["expect"]) for line in lines), "\n".join(lines)
    for problem in info.value.problems:
        assert problem.file.endswith(".yaml") and problem.problem
    if "secret" in fixture:
        assert fixture["secret"] not in str(info.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    target = _copy(tmp_path)
    (target / "departments.yaml").unlink()
    with pytest.raises(ConfigError, match=r"departments\.yaml: <root>: file not found"):
        load_config(target)


def test_errors_carry_line_numbers(tmp_path: Path) -> None:
    target = _copy(tmp_path)
    _apply(
        {
            "file": "warnings.yaml",
            "edits": [{"replace": 'departments: ["@site_supervisors"]', "with": 'departments: ["@nobody"]'}],
        },
        target,
    )
    with pytest.raises(ConfigError) as info:
        load_config(target)
    problem = info.value.problems[0]
    line = (target / "warnings.yaml").read_text(encoding="utf-8").splitlines()[(problem.line or 0) - 1]
    assert "@nobody" in line


def test_a_product_nobody_is_told_about_is_refused(tmp_path: Path) -> None:
    """No warning may go unrouted: dropping every forecast rule fails the load."""
    target = _copy(tmp_path)
    path = target / "warnings.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for rule in data["rules"]:
        rule["when"]["products"] = [p for p in rule["when"]["products"] if p != "forecast"] or ["signal"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="no rule routes a forecast for rainstorm at ungraded"):
        load_config(target)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    target = _copy(tmp_path)
    _apply(
        {
            "file": "warnings.yaml",
            "edits": [
                {"replace": 'departments: ["@site_supervisors"]', "with": 'departments: ["@nobody"]'},
                {
                    "replace": '- id: consultation-5.1\n    clause: "5.1"',
                    "with": '- id: consultation-5.1\n    clause: "9.9"',
                },
            ],
        },
        target,
    )
    with pytest.raises(ConfigError) as info:
        load_config(target)
    assert len(info.value.problems) >= 2
