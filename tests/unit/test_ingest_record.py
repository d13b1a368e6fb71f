"""What a routed warning writes for its obligations, worked out once per classification and still right when
the configuration changes under a running process."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import orjson

from router.ingest.service import ingest_record
from router.parsers import parse_message
from router.plan.config import RoutingConfig, load_config
from router.routing.route import route
from tests.support.messages import CONFIG_DIR, json_message

T0 = datetime(2026, 7, 15, 0, 0, tzinfo=UTC).timestamp()  # the message's "sent", 08:00 Beijing time


def _openings(config: RoutingConfig, identifier: str) -> dict[str, tuple[list[str], float | None]]:
    """Per department, the channels the §4.3 direct report's ladder opens with and when its next step is,
    for an orange rainstorm signal in 罗平县 routed on time."""
    warning = parse_message(json_message(identifier=identifier, severity="orange"), config)
    decision = route(warning, config, now=datetime.fromtimestamp(T0, UTC))
    record = ingest_record(config, warning, decision, warning.id, False, T0)
    return {
        o.department: ([send[1] for send in orjson.loads(o.opening)], o.next_step_at)
        for o in record.obligations
        if o.kind == "direct_report"
    }


def test_a_changed_ladder_is_what_the_next_warning_opens_with(config: RoutingConfig, tmp_path: Path) -> None:
    """warnings.yaml's direct_report ladder: the first push channel and SMS at once, voice at + 2 min. With
    its SMS rung moved to + 1 min in a reloaded configuration, the next warning of the same classification
    opens with the first push channel alone and steps again at + 1 min, although the warning before it
    (same departments, same rank, same deadline) opened with both."""
    before = _openings(config, "before")
    assert before == {
        "flood_drought_hq": (["webhook", "sms"], T0 + 120),
        "geohazard_hq": (["webhook", "sms"], T0 + 120),
    }
    changed = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, changed)
    text = (changed / "warnings.yaml").read_text(encoding="utf-8")
    rung = "      - {after: 0m, send: first}\n      - {after: 0m, send: sms}\n      - {after: 2m, send: voice}\n"
    assert text.count(rung) == 1
    (changed / "warnings.yaml").write_text(text.replace(rung, rung.replace("0m, send: sms", "1m, send: sms")))
    after = _openings(load_config(changed), "after")
    assert after == {"flood_drought_hq": (["webhook"], T0 + 60), "geohazard_hq": (["webhook"], T0 + 60)}


def _direct_reports(config: RoutingConfig, identifier: str, received: float) -> dict[str, object]:
    """What ingest writes for the §4.3 direct reports of an orange rainstorm signal in 罗平县 issued at T0 and
    received at ``received``: per department its next step and when, whether its opening is left for the
    claim, and the channels written as notifications at once."""
    warning = parse_message(json_message(identifier=identifier, severity="orange"), config)
    decision = route(warning, config, now=datetime.fromtimestamp(received, UTC))
    record = ingest_record(config, warning, decision, warning.id, False, received)
    reports = {o.id: o for o in record.obligations if o.kind == "direct_report"}
    return {
        o.department: (
            o.next_step,
            o.next_step_at,
            o.opens,
            sorted(n.channel for n in record.notifications if n.obligation_id == o.id),
        )
        for o in reports.values()
    }


def test_a_warning_received_late_writes_what_is_already_due_and_on_time_leaves_the_opening_to_the_claim(
    config: RoutingConfig,
) -> None:
    """warnings.yaml's direct_report ladder: the first push channel (webhook) and SMS at once, voice at + 2 min,
    the duty office at + 5 min. Received on time, each report's opening is left for the dispatcher's claim and
    its next step (rung 2, voice) is at + 2 min. Received three minutes late, webhook, SMS and voice are all
    due: written at once, and the next step is the duty office's alert (rung 3) at + 5 min."""
    assert _direct_reports(config, "on-time", T0) == {
        "flood_drought_hq": (2, T0 + 120, True, []),
        "geohazard_hq": (2, T0 + 120, True, []),
    }
    assert _direct_reports(config, "late", T0 + 180) == {
        "flood_drought_hq": (3, T0 + 300, False, ["sms", "voice", "webhook"]),
        "geohazard_hq": (3, T0 + 300, False, ["sms", "voice", "webhook"]),
    }


def test_warnings_of_one_classification_each_get_their_own_ids_and_deadlines(config: RoutingConfig) -> None:
    """Two yellow rainstorm signals for 罗平县, issued at T0 and an hour later and each received on time: the
    same departments, ids that differ (each warning's own prefix, then the ordinal 000, 001 …), and each
    obligation's deadline and clock counting from its own warning's issue."""
    records = []
    for identifier, issued in (("first", T0), ("second", T0 + 3600)):
        sent = datetime.fromtimestamp(issued, UTC).isoformat()
        warning = parse_message(json_message(identifier=identifier, severity="yellow", sent=sent), config)
        decision = route(warning, config, now=datetime.fromtimestamp(issued, UTC))
        records.append(ingest_record(config, warning, decision, warning.id, False, issued))
    first, second = records
    assert [o.department for o in first.obligations] == [o.department for o in second.obligations]
    assert len(first.obligations) > 20
    for record, issued in ((first, T0), (second, T0 + 3600)):
        assert [o.id for o in record.obligations] == [f"{record.okey}.{i:03d}" for i in range(len(record.obligations))]
        assert {o.start_at for o in record.obligations} == {issued}
        assert all(o.deadline > issued and o.next_step_at is not None for o in record.obligations)
    assert first.okey != second.okey
    assert [o.deadline + 3600 for o in first.obligations] == [o.deadline for o in second.obligations]
    assert [o.next_step_at + 3600 for o in first.obligations] == [  # type: ignore[operator]
        o.next_step_at for o in second.obligations
    ]
