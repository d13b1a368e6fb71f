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
