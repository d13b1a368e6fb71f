"""The hash-chained audit log (and its tamper checks) and the per-warning compliance report."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from router.audit import report
from router.audit.chain import GENESIS, link, verify
from router.audit.verify import verify_store
from router.plan.config import RoutingConfig
from router.store import NotificationOutcome
from tests.support.backends import Backend
from tests.support.messages import json_message
from tests.support.world import MIN, T0, World, run


async def storm_night(w: World) -> str:
    """A red rainstorm signal for 罗平县: some reached and acknowledged in time, some late, some never."""
    wid = (await w.service.submit(json_message(severity="red"))).warning.id
    found = await w.store.get_warning(wid)
    assert found is not None
    by = {(o["action"]["department"], o["action"]["kind"]): o for o in found["obligations"]}
    first = {key: o["notifications"][0]["id"] for key, o in by.items() if o["notifications"]}
    await w.store.claim_notifications(w.clock(), 10_000, 60)
    w.clock.at(1)
    await w.store.record_outcomes(
        [NotificationOutcome(nid, "delivered", w.clock(), f"p-{i}") for i, nid in enumerate(first.values())]
    )
    w.clock.at(6)
    await w.store.acknowledge(by[("flood_drought_hq", "direct_report")]["id"], "api", "防汛办 赵六", w.clock())
    await w.store.acknowledge(by[("radio_tv", "disseminate")]["id"], "link", "广电 值班", w.clock())
    await w.store.acknowledge(
        by[("principal_leaders", "phone_report")]["id"], "duty_office", "值班员", w.clock(), "已电话报告书记"
    )
    for minute in (2, 5, 10, 15, 30):
        await w.at(minute)
    w.clock.at(40)
    await w.store.acknowledge(by[("telecom_office", "disseminate")]["id"], "api", "通管办", w.clock())
    return wid


def test_every_step_is_in_an_intact_chain(config: RoutingConfig, backend: Backend) -> None:
    async def scenario(w: World) -> list[Any]:
        await storm_night(w)
        verdict = await verify_store(w.store)
        assert verdict.ok, verdict.problem
        return await w.store.audit_rows()

    rows = run(config, backend, scenario)
    kinds = {r[2] for r in rows}
    assert {"received", "routed", "delivered", "acknowledged", "escalated", "breached"} <= kinds
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0][6] == GENESIS and all(rows[i][6] == rows[i - 1][7] for i in range(1, len(rows)))


TAMPERING = {
    "edited": ("UPDATE audit SET detail = replace(detail, '赵六', '钱七') WHERE kind = 'acknowledged'", "was altered"),
    "deleted": ("DELETE FROM audit WHERE seq = 3", "event 3 is missing"),
    "reordered": (
        "UPDATE audit SET seq = -seq WHERE seq IN (4, 5);"
        "UPDATE audit SET seq = CASE seq WHEN -4 THEN 5 WHEN -5 THEN 4 END WHERE seq < 0",
        "does not follow",
    ),
    "second-to-last deleted": ("DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit) - 1", "is missing"),
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_audit_verify_detects_tampering(config: RoutingConfig, tmp_path: Path, how: str) -> None:
    async def scenario(w: World) -> None:
        await storm_night(w)

    run(config, tmp_path, scenario)
    cli = [sys.executable, "-m", "router", "audit", "verify", "--data-dir", str(tmp_path)]
    (tmp_path / "warnroute.db").symlink_to(tmp_path / "db.sqlite")
    intact = subprocess.run(cli, capture_output=True, text=True, check=False)
    assert intact.returncode == 0 and intact.stdout.startswith("ok: "), intact.stderr
    sql, expected = TAMPERING[how]
    db = sqlite3.connect(tmp_path / "db.sqlite")
    with db:
        for statement in sql.split(";"):
            db.execute(statement)
    db.close()
    broken = subprocess.run(cli, capture_output=True, text=True, check=False)
    assert broken.returncode == 1
    assert expected in broken.stderr and "audit chain broken" in broken.stderr


def test_a_cut_tail_is_caught_only_against_a_head_recorded_elsewhere(config: RoutingConfig, tmp_path: Path) -> None:
    """The chain alone cannot tell a cut tail from a shorter log (it says so); an anchor kept outside can."""

    async def scenario(w: World) -> None:
        await storm_night(w)

    run(config, tmp_path, scenario)
    (tmp_path / "warnroute.db").symlink_to(tmp_path / "db.sqlite")
    cli = [sys.executable, "-m", "router", "audit", "verify", "--data-dir", str(tmp_path)]
    intact = subprocess.run(cli, capture_output=True, text=True, check=False)
    events, head = intact.stdout.split()[1], intact.stdout.split()[-1]
    anchor = f"{events}:{head}"
    assert subprocess.run([*cli, "--anchor", anchor], capture_output=True, check=False).returncode == 0
    db = sqlite3.connect(tmp_path / "db.sqlite")
    with db:
        db.execute("DELETE FROM audit WHERE seq > (SELECT MAX(seq) FROM audit) - 3")
    db.close()
    alone = subprocess.run(cli, capture_output=True, text=True, check=False)
    assert alone.returncode == 0  # what the chain promises: it cannot see this by itself
    anchored = subprocess.run([*cli, "--anchor", anchor], capture_output=True, text=True, check=False)
    assert anchored.returncode == 1
    assert f"the chain ends at event {int(events) - 3}, before the recorded event {events}" in anchored.stderr


def test_an_edit_with_a_recomputed_hash_still_breaks_the_next_link() -> None:
    rows = []
    prev = GENESIS
    for seq in range(1, 4):
        digest = link(prev, seq, 1.5 * seq, "sent", "w", "o", "{}")
        rows.append((seq, 1.5 * seq, "sent", "w", "o", "{}", prev, digest))
        prev = digest
    assert verify(rows).ok
    forged = link(rows[1][6], 2, 3.0, "sent", "w", "o", '{"x":1}')
    rows[1] = (2, 3.0, "sent", "w", "o", '{"x":1}', rows[1][6], forged)
    verdict = verify(rows)
    assert not verdict.ok and verdict.problem.startswith("event 3 (sent) does not follow event 2")


def test_the_compliance_report_states_the_4_3_and_4_4_checks(config: RoutingConfig, tmp_path: Path) -> None:
    async def scenario(w: World) -> dict[str, Any]:
        wid = await storm_night(w)
        found = await w.store.get_warning(wid)
        assert found is not None
        return report.build(found, await w.store.events_of(wid), config, T0 + 45 * MIN)

    built = run(config, tmp_path, scenario)
    statements = {c["who"] + " " + c["kind"]: c["statement"] for c in built["checks"]}
    assert statements["罗平县防汛抗旱指挥部 direct_report"] == (
        "§4.3 direct report acknowledged within 10 min: 罗平县防汛抗旱指挥部 reached in 1 min, "
        "acknowledged in 6 min (api) — met"
    )
    assert statements["罗平县地质灾害应急指挥部 direct_report"].endswith("not acknowledged — NOT met")
    assert statements["罗平县党政主要领导 phone_report"].endswith("acknowledged in 6 min (duty_office) — met")
    assert statements["罗平县广电局 disseminate"].endswith("started in 6 min (link) — met")
    assert statements["罗平县通管办 disseminate"].endswith("started in 40 min (api) — NOT met")
    breaches = {b["who"] + " " + b["kind"]: b["reason"] for b in built["breaches"]}
    assert breaches["罗平县地质灾害应急指挥部 direct_report"] == "delivered but not acknowledged"
    assert breaches["罗平县分管领导 phone_report"] == "reached but no person confirmed"
    assert breaches["罗平县通管办 disseminate"] == "done late"
    telecom = next(
        r for r in built["obligations"] if r["department"] == "telecom_office" and r["kind"] == "disseminate"
    )
    assert telecom["verdict"] == "late" and telecom["late_by"] == "10 min"
    s = built["summary"]
    assert s["obligations"] == s["in_time"] + s["late"] + s["breached"] + s["open"] + s["closed"]
    page = report.to_html(built)
    assert "<svg" in page and "罗平县地质灾害应急指挥部" in page and "NOT met" in page


def test_warnroute_report_writes_json_and_the_page(config: RoutingConfig, tmp_path: Path) -> None:
    async def scenario(w: World) -> str:
        return await storm_night(w)

    wid = run(config, tmp_path, scenario)
    (tmp_path / "warnroute.db").symlink_to(tmp_path / "db.sqlite")
    page = tmp_path / "report.html"
    cli = [sys.executable, "-m", "router", "report", wid, "--data-dir", str(tmp_path), "--html", str(page)]
    done = subprocess.run(cli, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert '"breaches"' in done.stdout and "§4.3 direct report" in done.stdout
    assert page.read_text(encoding="utf-8").startswith("<!doctype html>")
    missing = subprocess.run([*cli[:4], "nope", *cli[5:7]], capture_output=True, text=True, check=False)
    assert missing.returncode == 2 and "no warning 'nope'" in missing.stderr
