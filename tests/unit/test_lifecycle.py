"""Updates, upgrades, lifts and drills: only what is new, everyone told is informed or lifted."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from router.domain.models import ActionKind, Decision, WeatherWarning
from router.parsers import parse_message
from router.plan.config import RoutingConfig
from router.routing.route import route
from tests.support.messages import EXAMPLES, json_message

Parse = Callable[[bytes], WeatherWarning]


def _example(config: RoutingConfig, name: str) -> WeatherWarning:
    return parse_message((EXAMPLES / name).read_bytes(), config)


def _recipients(decision: Decision) -> set[tuple[str, str]]:
    return {(a.department, a.jurisdiction) for a in decision.actions}


def _chain(config: RoutingConfig) -> tuple[Decision, Decision, Decision, Decision]:
    blue = route(_example(config, "01-luoping-rainstorm-blue-signal.cap.xml"), config)
    orange = route(_example(config, "02-luoping-rainstorm-orange-upgrade.cap.xml"), config, previous=blue)
    red = route(_example(config, "03-luoping-rainstorm-red-upgrade.cap.xml"), config, previous=orange)
    lift = route(_example(config, "08-luoping-rainstorm-lift.cap.xml"), config, previous=red)
    return blue, orange, red, lift


def test_upgrade_to_orange_adds_only_what_is_new(config: RoutingConfig) -> None:
    blue, orange, _, _ = _chain(config)
    fresh = {a.key for a in orange.actions if a.kind is not ActionKind.INFORM}
    assert ("flood_drought_hq", "530324", "direct_report", None) in fresh
    assert ("geohazard_hq", "530324", "direct_report", None) in fresh
    assert ("meteorology", "530324", "task", "consultation") in fresh
    # The blue signal's broadcast duty becomes the mandatory 30-minute one: re-issued, not dropped.
    telecom = next(a for a in orange.actions if a.key == ("telecom_office", "530324", "disseminate", None))
    assert telecom.mandatory
    # Nothing the blue signal already asked is asked again unchanged.
    blue_by_key = {a.key: a for a in blue.actions}
    for action in orange.actions:
        if action.key in blue_by_key and action.kind is not ActionKind.INFORM:
            assert set(action.rules) > set(blue_by_key[action.key].rules)


def test_upgrade_informs_everyone_already_told(config: RoutingConfig) -> None:
    blue, orange, _, _ = _chain(config)
    informed = {(a.department, a.jurisdiction) for a in orange.actions if a.kind is ActionKind.INFORM}
    newly_asked = {(a.department, a.jurisdiction) for a in orange.actions if a.kind is not ActionKind.INFORM}
    assert informed | newly_asked >= _recipients(blue)
    assert not informed & newly_asked
    inform = next(a for a in orange.actions if a.kind is ActionKind.INFORM)
    assert "upgrade" in inform.text and "升级为橙色" in inform.text


def test_upgrade_to_red_adds_phone_reports(config: RoutingConfig) -> None:
    _, _, red, _ = _chain(config)
    phones = {a.department for a in red.actions if a.kind is ActionKind.PHONE_REPORT}
    assert phones == {"principal_leaders", "leader_in_charge", "flood_office_director"}
    assert not any(a.kind is ActionKind.DIRECT_REPORT for a in red.actions)  # already sent at orange


def test_lift_reaches_everyone_ever_told_once(config: RoutingConfig) -> None:
    blue, orange, red, lift = _chain(config)
    told = _recipients(blue) | _recipients(orange) | _recipients(red)
    assert all(a.kind is ActionKind.LIFT for a in lift.actions)
    assert _recipients(lift) == told
    assert len(lift.actions) == len(told)
    assert not lift.reference_unknown
    assert lift.told == ()


def test_lift_of_an_unknown_warning_reaches_everyone_it_would_have(config: RoutingConfig) -> None:
    warning = _example(config, "08-luoping-rainstorm-lift.cap.xml")
    lift = route(warning, config)
    would = route(warning.model_copy(update={"msg_type": "alert"}), config)
    assert lift.reference_unknown
    assert _recipients(lift) == _recipients(would)


def test_update_of_an_unknown_warning_is_routed_as_new_and_flagged(config: RoutingConfig) -> None:
    warning = _example(config, "02-luoping-rainstorm-orange-upgrade.cap.xml")
    decision = route(warning, config)
    assert decision.reference_unknown
    assert any(a.kind is ActionKind.DIRECT_REPORT for a in decision.actions)
    assert not any(a.kind is ActionKind.INFORM for a in decision.actions)


def test_downgrade_informs_and_asks_nothing_new(config: RoutingConfig) -> None:
    orange = route(parse_message(json_message(severity="orange"), config), config)
    yellow = route(
        parse_message(
            json_message(
                severity="yellow",
                msg_type="update",
                references=["x"],
                identifier="53032441600000_2",
                headline="暴雨橙色预警信号降级为黄色",
            ),
            config,
        ),
        config,
        previous=orange,
    )
    assert all(a.kind is ActionKind.INFORM for a in yellow.actions)
    assert _recipients(yellow) == _recipients(orange)
    assert "downgrade" in yellow.actions[0].text


def test_drill_never_reaches_public_channels_or_leaders_phones(config: RoutingConfig) -> None:
    drill = route(parse_message(json_message(severity="red", status="exercise"), config), config)
    real = route(parse_message(json_message(severity="red"), config), config)
    assert drill.public_dict()["drill"] is True
    assert not any(a.public or a.kind is ActionKind.PHONE_REPORT for a in drill.actions)
    assert any(a.kind is ActionKind.PHONE_REPORT for a in real.actions)
    assert any(a.kind is ActionKind.DIRECT_REPORT for a in drill.actions)


def test_drill_config_can_include_public_and_phones(config: RoutingConfig) -> None:
    permissive = dataclasses.replace(
        config,
        drills=config.drills.model_copy(update={"public_dissemination": True, "phone_reports": True}),
        plan_cache={},
    )
    drill = route(parse_message(json_message(severity="red", status="test"), permissive), permissive)
    assert any(a.kind is ActionKind.PHONE_REPORT for a in drill.actions)
    assert any(a.kind is ActionKind.DISSEMINATE for a in drill.actions)


def test_now_notes_late_routing_without_changing_deadlines(config: RoutingConfig) -> None:
    warning = parse_message(json_message(severity="orange", expires="2026-07-15T09:00:00+08:00"), config)
    on_time = route(warning, config)
    late = route(warning, config, now=warning.issued_at.replace(hour=10))
    assert [a.due_at for a in late.actions] == [a.due_at for a in on_time.actions]
    assert any("expired" in n for n in late.notes)
    assert any("past their deadline" in n for n in late.notes)
    assert not on_time.notes
