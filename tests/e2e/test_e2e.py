"""End to end: a real ``warnroute serve`` process and the provider simulator on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.support.messages import EXAMPLES, json_message, now_iso
from tests.support.procs import Stack, start_stack, wait_for

CAP = {"content-type": "application/cap+xml"}
XML = {"content-type": "application/xml"}
JSON = {"content-type": "application/json"}


def notification_ids(warning: dict[str, Any]) -> set[str]:
    return {n["id"] for o in warning["obligations"] for n in o["notifications"]}


def received(stack: Stack) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = httpx.get(f"{stack.sim.url}/received").json()
    return result


def test_ingest_every_format_route_deliver_and_report(stack: Stack) -> None:
    posted = [
        ((EXAMPLES / "01-luoping-rainstorm-blue-signal.cap.xml").read_bytes(), CAP),
        ((EXAMPLES / "06-xuanwei-gale-blue-signal.national.xml").read_bytes(), XML),
        ((EXAMPLES / "04-city-rainstorm-level-ii-report.json").read_bytes(), JSON),
        (json_message(identifier="53032441600000_red", severity="red", sent=now_iso()), JSON),  # phone reports
    ]
    ids = []
    for body, headers in posted:
        response = httpx.post(f"{stack.api}/api/v1/warnings", content=body, headers=headers)
        assert response.status_code == 202, response.text
        answer = response.json()
        assert answer["status"] == "created" and len(answer["obligations"]) > 30
        assert all(o["clause"] and o["due_at"] for o in answer["obligations"])
        ids.append(answer["warning_id"])

    def all_delivered() -> list[dict[str, Any]] | None:
        warnings = [httpx.get(f"{stack.api}/api/v1/warnings/{i}").json() for i in ids]
        states = {n["state"] for w in warnings for o in w["obligations"] for n in o["notifications"]}
        confirmed = all(
            o["state"] == "acknowledged"
            for w in warnings
            for o in w["obligations"]
            if o["action"]["kind"] == "phone_report"
        )
        return warnings if states == {"delivered"} and confirmed else None

    warnings = wait_for(all_delivered)
    keys = {k for channel in received(stack).values() for k in channel}
    for warning in warnings:
        assert warning["decision"]["warning"]["id"] == warning["identifier"]
        assert notification_ids(warning) <= keys
        for o in warning["obligations"]:
            if o["notifications"]:
                # The sample messages arrive long after their deadlines: those obligations are breached
                # at once (and still delivered); the one issued now is delivered in time.
                late = o["deadline"] < o["created_at"]
                done = ("breached", "acknowledged") if late else ("delivered", "acknowledged")
                assert o["state"] in done and o["sent_at"] and o["delivered_at"]
                assert o["created_at"] <= o["sent_at"] <= o["delivered_at"]
                if late and o["state"] != "acknowledged":
                    assert o["breached_at"]
                if not late:
                    assert o["breached_at"] is None
    # SMS and voice reached "delivered" through the gateways' receipt callbacks; the leaders' phone
    # reports are done only because a person answered and pressed the confirm key.
    assert received(stack)["sms"] and received(stack)["voice"]
    phone = [o for w in warnings for o in w["obligations"] if o["action"]["kind"] == "phone_report"]
    assert len(phone) == 3
    assert all(o["state"] == "acknowledged" and o["ack_method"] == "voice_keypress" for o in phone)


def test_bad_input_answers_4xx_with_the_field_and_writes_nothing(stack: Stack) -> None:
    url = f"{stack.api}/api/v1/warnings"
    wrong_type = httpx.post(url, content=b"hello", headers={"content-type": "text/plain"})
    assert wrong_type.status_code == 415 and wrong_type.json()["field"] == "content-type"
    too_big = httpx.post(url, content=b"<alert>" + b" " * (2 * 1024 * 1024) + b"</alert>", headers=XML)
    assert too_big.status_code == 413
    frost = httpx.post(url, content=json_message(hazard="frost", severity="red"), headers=JSON)
    assert frost.status_code == 422
    assert frost.json() == {
        "error": "unroutable",
        "field": "severity",
        "problem": "a red frost signal does not exist nationally (霜冻 signals are blue, yellow, orange)",
    }
    xxe = httpx.post(
        url,
        content=b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><alert>&x;</alert>',
        headers=XML,
    )
    assert xxe.status_code == 422 and xxe.json()["error"] == "malformed"
    assert httpx.get(f"{stack.api}/api/v1/summary").json()["warnings"]["total"] == 0
    assert httpx.get(f"{stack.api}/api/v1/warnings/nope").status_code == 404


def test_duplicate_ingest_and_conflicting_reuse(stack: Stack) -> None:
    url = f"{stack.api}/api/v1/warnings"
    first = httpx.post(url, content=json_message(), headers=JSON)
    again = httpx.post(url, content=json_message(), headers=JSON)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["status"] == "duplicate"
    assert [o["id"] for o in again.json()["obligations"]] == [o["id"] for o in first.json()["obligations"]]
    clash = httpx.post(url, content=json_message(sent="2026-07-15T09:00:00+08:00"), headers=JSON)
    assert clash.status_code == 409 and clash.json()["field"] == "identifier"
    assert httpx.get(f"{stack.api}/api/v1/summary").json()["warnings"]["total"] == 1


def test_the_publishers_answer_lists_each_obligation_as_the_store_holds_it(stack: Stack) -> None:
    """The 202 lists every obligation with its id, recipient, kind, task, clause, whether it is mandatory and
    its deadline, exactly as the warning's own page (the store's reading) has them; the duplicate's answer
    (built from the store) is the same list. Two entries are written out from config/warnings.yaml: the §4.2
    and §4.2.3 report to 罗平县's party committee (mandatory) and §4.5's response of its government (not
    mandatory)."""
    url = f"{stack.api}/api/v1/warnings"
    first = httpx.post(url, content=json_message(), headers=JSON)
    assert first.status_code == 202, first.text
    listed = first.json()["obligations"]
    fields = ["id", "department", "jurisdiction", "kind", "task", "clause", "mandatory", "due_at"]
    assert listed and all(list(o) == fields for o in listed)
    stored = httpx.get(f"{url}/{first.json()['warning_id']}").json()["obligations"]
    assert [o["id"] for o in listed] == [o["id"] for o in stored]
    for o, s in zip(listed, stored, strict=True):
        assert {k: o[k] for k in fields[1:]} == {k: s["action"].get(k) for k in fields[1:]}

    def of(department: str, kind: str) -> dict[str, object]:
        found = [o for o in listed if o["department"] == department and o["kind"] == kind]
        assert len(found) == 1, found
        return {k: found[0][k] for k in ("jurisdiction", "task", "clause", "mandatory")}

    # §4.2's and §4.2.3's reports to one recipient are one obligation, citing the latter.
    expected = {"jurisdiction": "530324", "task": None, "clause": "4.2.3", "mandatory": True}
    assert of("party_committee", "report") == expected
    assert of("government", "respond") == {"jurisdiction": "530324", "task": None, "clause": "4.5", "mandatory": False}
    again = httpx.post(url, content=json_message(), headers=JSON)
    assert again.status_code == 200 and again.json()["obligations"] == listed


def test_department_feed_pull_with_cursor_and_live_stream(stack: Stack) -> None:
    url = f"{stack.api}/api/v1/warnings"
    httpx.post(url, content=json_message(identifier="53032441600000_a"), headers=JSON)
    feed = f"{stack.api}/api/v1/feed/530324/flood_drought_hq"
    page = httpx.get(feed).json()
    assert [i["warning_id"] for i in page["items"]] == ["53032441600000_a"]
    cursor = page["next_cursor"]
    assert httpx.get(feed, params={"after": cursor}).json()["items"] == []
    with httpx.stream("GET", f"{feed}/stream", params={"after": cursor}, timeout=10) as stream:
        httpx.post(url, content=json_message(identifier="53032441600000_b", severity="orange"), headers=JSON)
        events = []
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
            if len(events) == 2:  # the orange signal asks the HQ to respond and to take the direct report
                break
    assert {e["warning_id"] for e in events} == {"53032441600000_b"}
    assert {e["action"]["kind"] for e in events} == {"respond", "direct_report"}
    later = httpx.get(feed, params={"after": cursor}).json()["items"]
    assert {i["action"]["kind"] for i in later} == {"respond", "direct_report"}
    assert httpx.get(f"{stack.api}/api/v1/feed/530381/flood_drought_hq").json()["items"] == []


def test_health_readiness_and_metrics(stack: Stack) -> None:
    assert httpx.get(f"{stack.api}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{stack.api}/readyz").status_code == 200
    httpx.post(f"{stack.api}/api/v1/warnings", content=json_message(), headers=JSON)
    httpx.post(f"{stack.api}/api/v1/warnings", content=b"{", headers=JSON)
    wait_for(lambda: "warnroute_issue_to_sent_seconds_count" in httpx.get(f"{stack.api}/metrics").text)
    text = httpx.get(f"{stack.api}/metrics").text
    assert 'warnroute_warnings_received_total{hazard="rainstorm",outcome="created",product="signal"} 1.0' in text
    assert 'warnroute_warnings_received_total{hazard="unknown",outcome="rejected",product="unknown"} 1.0' in text
    assert 'warnroute_notification_attempts_total{channel="webhook",outcome="delivered"}' in text
    assert "warnroute_ingest_seconds_bucket" in text


def test_provider_outage_is_retried_until_delivered(stack: Stack) -> None:
    httpx.post(f"{stack.sim.url}/control", json={"mode": "fail", "status": 503, "channels": ["sms"]})
    answer = httpx.post(f"{stack.api}/api/v1/warnings", content=json_message(), headers=JSON).json()

    def sms_state() -> list[dict[str, Any]]:
        w = httpx.get(f"{stack.api}/api/v1/warnings/{answer['warning_id']}").json()
        return [n for o in w["obligations"] for n in o["notifications"] if n["channel"] == "sms"]

    wait_for(lambda: all(n["attempts"] >= 1 and n["state"] == "pending" for n in sms_state()))
    assert all(n["last_error"] == "sms gateway: HTTP 503" for n in sms_state())
    httpx.post(f"{stack.sim.url}/control", json={"mode": "ok"})
    wait_for(lambda: all(n["state"] == "delivered" for n in sms_state()), timeout=30)


def test_restart_resumes_the_outbox(stack: Stack) -> None:
    """Accepted while every channel is down; the router restarts; everything is delivered after."""
    httpx.post(f"{stack.sim.url}/control", json={"mode": "fail", "status": 503})
    answer = httpx.post(f"{stack.api}/api/v1/warnings", content=json_message(), headers=JSON).json()
    assert stack.router is not None
    stack.router.stop()
    httpx.post(f"{stack.sim.url}/control", json={"mode": "ok"})
    stack.start_router()
    w = wait_for(
        lambda: (
            lambda w: w if {n["state"] for o in w["obligations"] for n in o["notifications"]} == {"delivered"} else None
        )(httpx.get(f"{stack.api}/api/v1/warnings/{answer['warning_id']}").json()),
        timeout=40,
    )
    assert notification_ids(w) <= {k for c in received(stack).values() for k in c}


def test_a_hanging_provider_times_out_and_is_retried(tmp_path: Path) -> None:
    """A provider that accepts the connection and never answers costs one call timeout, then a retry."""
    stack = start_stack(tmp_path, extra_env={"WARNROUTE_CALL_TIMEOUT": "1"})
    try:
        httpx.post(f"{stack.sim.url}/control", json={"mode": "hang", "channels": ["webhook"]})
        answer = httpx.post(f"{stack.api}/api/v1/warnings", content=json_message(), headers=JSON).json()

        def webhooks() -> list[dict[str, Any]]:
            w = httpx.get(f"{stack.api}/api/v1/warnings/{answer['warning_id']}").json()
            return [n for o in w["obligations"] for n in o["notifications"] if n["channel"] == "webhook"]

        wait_for(lambda: any(n["last_error"] and "timed out" in n["last_error"] for n in webhooks()), timeout=30)
        httpx.post(f"{stack.sim.url}/control", json={"mode": "ok"})
        wait_for(lambda: all(n["state"] == "delivered" for n in webhooks()), timeout=60)
        # At most 10 calls per channel were hanging; the ones behind them went through at the first try.
        assert sum(n["attempts"] >= 2 for n in webhooks()) >= 1
        text = httpx.get(f"{stack.api}/metrics").text
        assert 'warnroute_notification_attempts_total{channel="webhook",outcome="retry"}' in text
        assert 'warnroute_issue_to_delivered_seconds_count{channel="sms"}' in text
    finally:
        stack.stop()
