"""Escalation ladders on an injected clock (no sleeping): every path from first send to breach.

The store is real (SQLite on a file); the clock is a number the test moves. Each pass of the
scheduler is what the running service does every second.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from router.domain.ladder import plan_due, plan_initial
from router.domain.obligation import OpenObligation
from router.metrics import Metrics
from router.obligations.scheduler import Scheduler
from router.plan.config import RoutingConfig
from router.store import NotificationOutcome
from tests.support.backends import Backend
from tests.support.messages import json_message
from tests.support.world import MIN, T0, World, run


def sends(o: dict[str, Any]) -> list[str]:
    """The notifications of an obligation as "purpose:channel", in order of creation."""
    return [f"{n['purpose']}:{n['channel']}" for n in o["notifications"]]


# -- the pure ladder ---------------------------------------------------------------------------


def test_ladder_times_fit_and_compress(config: RoutingConfig) -> None:
    ladders = config.ladders
    assert ladders.times("standard", 0, 30 * MIN) == (0, 3 * MIN, 8 * MIN, 15 * MIN)
    # A nowcast task due in 10 minutes: the 15-minute ladder ends at three quarters of the time.
    squeezed = ladders.times("standard", 0, 10 * MIN)
    assert squeezed[-1] == 7.5 * MIN and squeezed == tuple(sorted(squeezed))


def test_at_issue_only_the_first_rung_fires_and_a_late_arrival_fires_all_and_breaches(config: RoutingConfig) -> None:
    ob = OpenObligation(
        1, "o1", "water", "530324", "respond", ("feed", "webhook", "sms", "voice"), "standard", 0, T0, T0 + 1800
    )
    now = plan_initial(config.ladders, ob, T0)
    assert [s.channel for s in now.sends] == ["webhook"] and (now.next_step, now.next_at) == (1, T0 + 3 * MIN)
    late = plan_initial(config.ladders, ob, T0 + 3600)
    assert [(s.purpose, s.channel) for s in late.sends] == [
        ("action", "webhook"),
        ("action", "sms"),
        ("action", "voice"),
        ("escalation", "webhook"),
        ("escalation", "sms"),
    ]
    assert late.breached and late.escalated and late.next_at is None


def test_two_rungs_due_at_once_on_one_channel_send_one_message(config: RoutingConfig) -> None:
    """direct_report fires "first" and "sms" at 0 min; for a department whose only push channel is SMS
    that is one SMS, not the same SMS twice (the second rung is recorded as skipped). A reminder on the
    same channel at a later rung still goes."""
    ob = OpenObligation(1, "o1", "water", "530324", "direct_report", ("feed", "sms"), "direct_report", 0, T0, T0 + 600)
    now = plan_initial(config.ladders, ob, T0)
    assert [(s.id, s.channel) for s in now.sends] == [("o1.sms", "sms")]
    assert [(f.step, f.what, f.outcome) for f in now.fired] == [
        (0, "send sms", "queued"),
        (1, "send sms", "skipped: sms already sent at this step"),
    ]
    standard = OpenObligation(1, "o2", "water", "530324", "respond", ("feed", "sms"), "standard", 1, T0, T0 + 1800)
    reminder = plan_due(config.ladders, standard, T0 + 3 * MIN)
    assert [(s.id, s.channel) for s in reminder.sends] == [("o2.s1.sms", "sms")]


def test_the_duty_office_that_is_itself_late_is_reported_to_the_city(config: RoutingConfig) -> None:
    ob = OpenObligation(
        1, "o1", "emergency_management", "530324", "respond", ("webhook", "sms"), "standard", 3, T0, T0 + 1800
    )
    effects = plan_due(config.ladders, ob, T0 + 15 * MIN)
    assert {(s.department, s.jurisdiction) for s in effects.sends} == {("emergency_management", "530300")}


# -- ladders over the store ----------------------------------------------------------------------


def test_obligations_open_at_the_times_the_plan_and_ladders_set_on_time_and_late(
    config: RoutingConfig, tmp_path: Path
) -> None:
    """An orange rainstorm signal for 罗平县 issued at T0, written out by hand from warnings.yaml:
    the §4.3 direct report to the flood-control HQ (deadline T0 + 10 min, ladder direct_report: its first
    push channel and SMS at once, voice at + 2 min, the duty office at + 5 min) and the water bureau's
    §4.5 response (deadline T0 + 30 min, ladder standard: first push channel at once, SMS at + 3 min,
    voice at + 8 min, the duty office at + 15 min). Both have feed, webhook, SMS and voice, so "first" is
    the webhook. Arriving 40 minutes late, every rung is due at once."""
    direct_on_time = ([("webhook", "action"), ("sms", "action")], T0 + 2 * MIN)
    respond_on_time = ([("webhook", "action")], T0 + 3 * MIN)
    alert = [(c, "escalation") for c in config.ladders.duty_channels]
    direct_late = [("webhook", "action"), ("sms", "action"), ("voice", "action"), *alert]
    respond_late = [("webhook", "action"), ("sms", "action"), ("voice", "action"), *alert]

    async def scenario(w: World) -> None:
        for arrival, identifier in ((0.0, "on-time"), (40.0, "forty-minutes-late")):
            w.clock.at(arrival)
            accepted = await w.service.submit(json_message(identifier=identifier, severity="orange"))
            found = await w.store.get_warning(accepted.warning.id)
            assert found is not None
            by = {(o["action"]["department"], o["action"]["kind"]): o for o in found["obligations"]}
            direct, respond = by[("flood_drought_hq", "direct_report")], by[("water", "respond")]
            assert datetime.fromisoformat(direct["action"]["due_at"]).timestamp() == T0 + 10 * MIN
            assert datetime.fromisoformat(respond["action"]["due_at"]).timestamp() == T0 + 30 * MIN
            sent = {k: [(n["channel"], n["purpose"]) for n in o["notifications"]] for k, o in by.items()}
            if arrival == 0.0:
                assert (sent[("flood_drought_hq", "direct_report")], _at(direct)) == direct_on_time
                assert (sent[("water", "respond")], _at(respond)) == respond_on_time
            else:
                assert sent[("flood_drought_hq", "direct_report")] == direct_late
                assert sent[("water", "respond")] == respond_late

    run(config, tmp_path, scenario)


def _at(obligation: dict[str, Any]) -> float:
    return datetime.fromisoformat(obligation["next_step_at"]).timestamp()


def test_obligation_ids_grow_with_time(config: RoutingConfig, tmp_path: Path) -> None:
    """Ids lead with the time of routing (the store's indexes on them grow at one end)."""

    async def scenario(w: World) -> list[str]:
        ids = []
        for minute, identifier in ((0, "a-first"), (1, "0-second"), (2, "m-third")):
            w.clock.at(minute)
            accepted = await w.service.submit(json_message(identifier=identifier))
            ids += [o.id for o in accepted.outcome.obligations]
        return ids

    ids = run(config, tmp_path, scenario)
    assert len(set(ids)) == len(ids) and ids == sorted(ids)


def test_an_unacknowledged_obligation_climbs_every_rung_then_breaches(config: RoutingConfig, backend: Backend) -> None:
    async def scenario(w: World) -> None:
        accepted = await w.service.submit(json_message())
        wid = accepted.warning.id
        assert sends(await w.obligation(wid, "water")) == ["action:webhook"]
        await w.at(2.9)
        assert sends(await w.obligation(wid, "water")) == ["action:webhook"]
        await w.at(3)
        assert sends(await w.obligation(wid, "water")) == ["action:webhook", "action:sms"]
        await w.at(8)
        assert sends(await w.obligation(wid, "water"))[-1] == "action:voice"
        await w.at(15)
        water = await w.obligation(wid, "water")
        assert water["state"] == "escalated" and water["escalated_at"]
        duty = [n for n in water["notifications"] if n["purpose"] == "escalation"]
        assert {(n["to_department"], n["to_jurisdiction"], n["channel"]) for n in duty} == {
            ("emergency_management", "530324", "webhook"),
            ("emergency_management", "530324", "sms"),
        }
        await w.at(29.9)
        assert (await w.obligation(wid, "water"))["state"] == "escalated"
        await w.at(30)
        water = await w.obligation(wid, "water")
        assert water["state"] == "breached" and water["breached_at"] and water["next_step_at"] is None
        await w.at(90)
        assert len((await w.obligation(wid, "water"))["notifications"]) == len(water["notifications"])
        kinds = [e["kind"] for e in await w.store.events_of(wid) if e["obligation_id"] == water["id"]]
        assert kinds == ["escalated", "escalated", "escalated", "breached"]

    run(config, backend, scenario)


def test_an_acknowledgement_stops_the_ladder_and_is_idempotent(config: RoutingConfig, backend: Backend) -> None:
    async def scenario(w: World) -> None:
        wid = (await w.service.submit(json_message())).warning.id
        await w.at(3)
        water = await w.obligation(wid, "water")
        first = await w.store.acknowledge(water["id"], "api", "张三", w.clock())
        assert first.status == "acknowledged"
        again = await w.store.acknowledge(water["id"], "link", "李四", w.clock() + 60)
        assert again.status == "already" and again.acknowledged_by == "张三" and again.method == "api"
        for minute in (8, 15, 30, 60):
            await w.at(minute)
        water = await w.obligation(wid, "water")
        assert water["state"] == "acknowledged" and water["breached_at"] is None
        assert sends(water) == ["action:webhook", "action:sms"]
        assert water["acknowledged_by"] == "张三" and water["ack_method"] == "api"

    run(config, backend, scenario)


def test_a_late_acknowledgement_is_recorded_as_late_not_erased(config: RoutingConfig, backend: Backend) -> None:
    async def scenario(w: World) -> None:
        wid = (await w.service.submit(json_message())).warning.id
        await w.at(31)
        water = await w.obligation(wid, "water")
        assert water["state"] == "breached"
        result = await w.store.acknowledge(water["id"], "duty_office", "值班员王五", w.clock(), "电话确认已收到")
        assert result.status == "acknowledged"
        water = await w.obligation(wid, "water")
        assert water["state"] == "acknowledged" and water["breached_at"] and water["ack_reason"] == "电话确认已收到"

    run(config, backend, scenario)


def test_a_notice_is_done_when_delivered(config: RoutingConfig, backend: Backend) -> None:
    async def scenario(w: World) -> None:
        first = (await w.service.submit(json_message())).warning.id
        w.clock.at(1)
        update = json_message(
            identifier="53032441600000_20260715080100",
            sent="2026-07-15T08:01:00+08:00",
            msg_type="update",
            references=[first],
            severity="yellow",
        )
        wid = (await w.service.submit(update)).warning.id
        found = await w.store.get_warning(wid)
        assert found is not None
        inform = next(
            o for o in found["obligations"] if o["action"]["kind"] == "inform" and o["action"]["department"] == "water"
        )
        assert inform["ack_mode"] == "delivery"
        note = inform["notifications"][0]["id"]
        await w.store.claim_notifications(w.clock(), 1000, 60)
        await w.store.record_outcomes([NotificationOutcome(note, "delivered", w.clock(), "p1")])
        for minute in (6, 31):
            await w.at(minute)
        found = await w.store.get_warning(wid)
        assert found is not None
        inform = next(o for o in found["obligations"] if o["id"] == inform["id"])
        assert inform["state"] == "delivered" and len(inform["notifications"]) == 1 and inform["breached_at"] is None

    run(config, backend, scenario)


def test_a_phone_report_is_done_only_by_a_person_confirming(config: RoutingConfig, backend: Backend) -> None:
    async def scenario(w: World) -> None:
        wid = (await w.service.submit(json_message(severity="red"))).warning.id
        leader = await w.obligation(wid, "principal_leaders", "phone_report")
        assert leader["ack_mode"] == "confirm"
        assert sends(leader) == ["action:voice", "action:sms"]
        refused = await w.store.acknowledge(leader["id"], "api", "秘书", w.clock())
        assert refused.status == "refused" and "keypress" in refused.problem
        voice = leader["notifications"][0]["id"]
        await w.store.claim_notifications(w.clock(), 1000, 60)
        await w.store.record_outcomes([NotificationOutcome(voice, "sent", w.clock(), "call-1")])
        w.clock.at(1)
        await w.store.record_receipt("voice", "call-1", True, w.clock(), confirmed=True)
        leader = await w.obligation(wid, "principal_leaders", "phone_report")
        assert leader["state"] == "acknowledged" and leader["ack_method"] == "voice_keypress"
        await w.at(3)
        assert sends(await w.obligation(wid, "principal_leaders", "phone_report")) == sends(leader)

    run(config, backend, scenario)


def test_a_permanent_failure_brings_the_next_rung_forward(config: RoutingConfig, backend: Backend) -> None:
    async def scenario(w: World) -> None:
        wid = (await w.service.submit(json_message())).warning.id
        water = await w.obligation(wid, "water")
        webhook = water["notifications"][0]["id"]
        await w.store.claim_notifications(w.clock(), 1000, 60)
        w.clock.at(0.5)
        await w.store.record_outcomes([NotificationOutcome(webhook, "failed", w.clock(), error="HTTP 410")])
        await w.at(0.5)
        water = await w.obligation(wid, "water")
        assert sends(water) == ["action:webhook", "action:sms"]
        # The rest of the ladder keeps its times.
        await w.at(7.9)
        assert len((await w.obligation(wid, "water"))["notifications"]) == 2
        await w.at(8)
        assert sends(await w.obligation(wid, "water"))[-1] == "action:voice"

    run(config, backend, scenario)


def test_a_lift_cancels_every_pending_step(config: RoutingConfig, backend: Backend) -> None:
    async def scenario(w: World) -> None:
        first = (await w.service.submit(json_message())).warning.id
        await w.at(3)
        before = await w.obligation(first, "water")
        w.clock.at(4)
        lift = json_message(
            identifier="53032441600000_20260715080400",
            sent="2026-07-15T08:04:00+08:00",
            msg_type="cancel",
            references=[first],
        )
        await w.service.submit(lift)
        for minute in (8, 15, 30, 60):
            await w.at(minute)
        water = await w.obligation(first, "water")
        assert water["state"] == "cancelled" and water["next_step_at"] is None
        assert [n["id"] for n in water["notifications"]] == [n["id"] for n in before["notifications"]]
        assert {n["state"] for n in water["notifications"]} == {"cancelled"}  # none was sent yet
        assert water["breached_at"] is None

    run(config, backend, scenario)


def test_an_upgrade_starts_clocks_only_for_its_new_obligations(config: RoutingConfig, backend: Backend) -> None:
    async def scenario(w: World) -> None:
        first = (await w.service.submit(json_message())).warning.id
        w.clock.at(10)
        upgrade = json_message(
            identifier="53032441600000_20260715081000",
            sent="2026-07-15T08:10:00+08:00",
            msg_type="update",
            references=[first],
            severity="orange",
        )
        second = (await w.service.submit(upgrade)).warning.id
        hq = await w.obligation(second, "flood_drought_hq", "direct_report")
        assert hq["deadline"] == "2026-07-15T00:20:00+00:00"  # 10 minutes from the upgrade's issue time
        await w.at(30)
        assert (await w.obligation(first, "water"))["state"] == "breached"  # the old clock ran on
        hq = await w.obligation(second, "flood_drought_hq", "direct_report")
        # Breached at its deadline (the pass that found it ran later).
        assert hq["state"] == "breached" and hq["breached_at"] == "2026-07-15T00:20:00+00:00"

    run(config, backend, scenario)


def test_an_upgrade_after_a_restart_is_routed_as_it_would_be_live(config: RoutingConfig, backend: Backend) -> None:
    """A new warning's "told" is its own obligations (the store keeps it once); an Update that finds
    its reference only in the store (after a restart) must be routed exactly as one that arrives live."""

    def upgrade(identifier: str, first: str) -> bytes:
        return json_message(
            identifier=identifier,
            sent="2026-07-15T08:10:00+08:00",
            msg_type="update",
            references=[first],
            severity="red",
        )

    def asked(found: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
        assert found is not None
        return sorted(
            (o["action"]["department"], o["action"]["jurisdiction"], o["action"]["kind"], o["action"]["text"])
            for o in found["obligations"]
        )

    async def scenario(w: World) -> None:
        live = (await w.service.submit(json_message(identifier="live"))).warning.id
        stored = (await w.service.submit(json_message(identifier="stored"))).warning.id
        live_upgrade = (await w.service.submit(upgrade("live-up", live))).warning.id
        await w.restart()  # the decisions kept in memory are gone: "stored" is found in the store
        stored_upgrade = (await w.service.submit(upgrade("stored-up", stored))).warning.id
        a, b = await w.store.get_warning(live_upgrade), await w.store.get_warning(stored_upgrade)
        assert asked(a) == asked(b)
        assert any(kind == "inform" for _, _, kind, _ in asked(b))  # those told before hear of the upgrade
        assert b is not None and not b["reference_unknown"]

    run(config, backend, scenario)


def test_a_restart_mid_ladder_neither_loses_nor_repeats_a_step(config: RoutingConfig, backend: Backend) -> None:
    async def scenario(w: World) -> None:
        wid = (await w.service.submit(json_message())).warning.id
        await w.at(3)
        before = sends(await w.obligation(wid, "water"))
        await w.restart()
        await w.at(3.5)  # the restarted scheduler sees nothing new due
        assert sends(await w.obligation(wid, "water")) == before
        await w.restart()
        await w.at(20)  # down over two rungs: both fire once, after the restart
        water = await w.obligation(wid, "water")
        assert sends(water) == [*before, "action:voice", "escalation:webhook", "escalation:sms"]
        ids = [n["id"] for n in water["notifications"]]
        assert len(ids) == len(set(ids))

    run(config, backend, scenario)


def test_an_upgrade_that_asks_again_supersedes_the_open_obligation(config: RoutingConfig, backend: Backend) -> None:
    async def scenario(w: World) -> None:
        first = (await w.service.submit(json_message())).warning.id
        w.clock.at(2)
        upgrade = json_message(
            identifier="53032441600000_20260715080200",
            sent="2026-07-15T08:02:00+08:00",
            msg_type="update",
            references=[first],
            severity="orange",
        )
        second = (await w.service.submit(upgrade)).warning.id
        old = await w.obligation(first, "radio_tv", "disseminate")
        new = await w.obligation(second, "radio_tv", "disseminate")
        # Blue asked the broadcaster to relay; orange makes it the mandatory 30-minute §4.4 duty.
        assert old["state"] == "superseded" and old["next_step_at"] is None
        assert new["state"] == "pending" and new["action"]["mandatory"]
        assert (await w.obligation(first, "water"))["state"] == "pending"  # not asked again: runs on
        for minute in (3, 8, 15, 40):
            await w.at(minute)
        old = await w.obligation(first, "radio_tv", "disseminate")
        assert old["state"] == "superseded" and old["breached_at"] is None
        assert (await w.obligation(second, "radio_tv", "disseminate"))["state"] == "breached"
        assert any(e["kind"] == "superseded" for e in await w.store.events_of(second))

    run(config, backend, scenario)


def test_a_step_due_behind_warnings_whose_obligations_were_all_acknowledged_fires_without_waiting(
    config: RoutingConfig, backend: Backend
) -> None:
    """The scheduler finds due steps through each warning's nearest step, which a warning whose obligations
    were all acknowledged keeps until the scheduler reads it. A pass spent on such warnings must not leave a
    step due behind them to the next poll (an hour here): the scheduler goes straight on. With one obligation
    a pass, every obligation of the second warning has its SMS reminder at + 3 min, before any poll."""

    async def scenario(w: World) -> None:
        acknowledged = (await w.service.submit(json_message(identifier="acknowledged-first"))).warning.id
        behind = (await w.service.submit(json_message(identifier="due-behind"))).warning.id
        found = await w.store.get_warning(acknowledged)
        assert found is not None
        for o in found["obligations"]:
            assert (await w.store.acknowledge(o["id"], "api", "张三", w.clock())).status == "acknowledged"
        scheduler = Scheduler(
            w.store, config, Metrics(CollectorRegistry()), lambda: None, clock=w.clock, poll_seconds=3600, batch=1
        )
        w.clock.at(3)
        running = asyncio.create_task(scheduler.run())
        try:
            async with asyncio.timeout(30):  # the scheduler's poll is an hour away
                while (due := await w.store.next_due()) is not None and due <= w.clock():
                    await asyncio.sleep(0.05)
        finally:
            scheduler.stop()
            await running
        stored = await w.store.get_warning(behind)
        assert stored is not None
        assert "action:sms" in sends(await w.obligation(behind, "water"))
        # Every step due by + 3 min fired; the scheduler waits next for the nearest step the obligations show.
        steps = [_at(o) for o in stored["obligations"] if o["next_step_at"] is not None]
        assert steps and min(steps) > T0 + 3 * MIN and await w.store.next_due() == min(steps)

    run(config, backend, scenario)
