"""Input that must be refused with a reason, and answers a plain client can read, against a real
``warnroute serve`` on loopback."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx

from router.access.roles import ROLES, Principal, denied
from router.ingest.service import SentWindow
from tests.support.messages import ROOT, cap_message, json_message
from tests.support.procs import Stack

JSON = {"content-type": "application/json"}
CAP = {"content-type": "application/cap+xml"}


def test_a_warning_whose_identifier_has_a_slash_is_reachable_by_it(stack: Stack) -> None:
    identifier = "53032441600000/2026-07-15/1"
    posted = httpx.post(f"{stack.api}/api/v1/warnings", content=cap_message(identifier=identifier), headers=CAP)
    assert posted.status_code == 202, posted.text
    assert posted.json()["warning_id"] == identifier
    got = httpx.get(f"{stack.api}/api/v1/warnings/{identifier}")
    assert got.status_code == 200 and got.json()["warning"]["id"] == identifier
    report = httpx.get(f"{stack.api}/api/v1/warnings/{quote(identifier, safe='')}/report")
    assert report.status_code == 200 and report.json()["warning_id"] == identifier
    assert httpx.get(f"{stack.api}/api/v1/warnings/{identifier}/report?format=html").status_code == 200


def test_a_feed_of_an_unknown_jurisdiction_or_department_is_404_naming_which(stack: Stack) -> None:
    nowhere = httpx.get(f"{stack.api}/api/v1/feed/999999/water")
    assert nowhere.status_code == 404
    assert nowhere.json() == {
        "error": "not_found",
        "field": "jurisdiction",
        "problem": "no jurisdiction '999999' in the configuration (departments.yaml)",
    }
    nobody = httpx.get(f"{stack.api}/api/v1/feed/530324/weather_wizards")
    assert nobody.status_code == 404 and nobody.json()["field"] == "department"
    assert "weather_wizards" in nobody.json()["problem"]
    assert httpx.get(f"{stack.api}/api/v1/feed/530324/water").status_code == 200


def test_a_2_mib_body_gets_a_413_the_client_can_read_with_or_without_a_length(stack: Stack) -> None:
    url = f"{stack.api}/api/v1/warnings"
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    plain = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)  # sends it all, then reads
    plain.request("POST", "/api/v1/warnings", body=big, headers=JSON)
    declared = plain.getresponse()
    assert declared.status == 413
    assert json.loads(declared.read())["problem"] == "over the 1048576-byte limit; nothing was accepted"
    plain.close()

    def chunks() -> Iterator[bytes]:
        for _ in range(32):
            yield b" " * 65536

    streamed = httpx.post(url, content=chunks(), headers=JSON, timeout=30)
    assert streamed.status_code == 413 and streamed.json()["field"] == "body"
    assert httpx.get(f"{stack.api}/api/v1/summary").json()["warnings"]["total"] == 0


def test_json_identifiers_and_senders_follow_cap_rules(stack: Stack) -> None:
    url = f"{stack.api}/api/v1/warnings"
    spaced = httpx.post(url, content=json_message(identifier="5303244 20260715"), headers=JSON)
    assert spaced.status_code == 422 and spaced.json()["field"] == "identifier"
    commas = httpx.post(url, content=json_message(sender="罗平县,气象台"), headers=JSON)
    assert commas.status_code == 422 and commas.json()["field"] == "sender"


def test_every_refusal_of_a_role_reads_as_a_sentence() -> None:
    written = {
        ("publisher", "tokens"): "a publisher may not manage API tokens",
        ("department", "read_warning"): "a department may not read warnings",
        ("duty_office", "ingest"): "the duty office may not publish warnings",
        ("admin", "ingest"): "an admin may not publish warnings",
        ("publisher", "ack"): "a publisher may not acknowledge obligations",
    }
    for (role, action), sentence in written.items():
        assert denied(Principal("p", "p", role), action) == sentence
    actions = ("ingest", "read_warning", "report", "audit", "summary", "feed", "ack", "tokens", "reload")
    for role in ROLES:
        for action in actions:
            problem = denied(Principal("p", "p", role), action)
            assert problem is None or ("_" not in problem and " may not " in problem), problem


def test_token_create_without_data_dir_says_which_store_it_wrote_to(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "WARNROUTE_DATA_DIR": str(tmp_path / "served")}
    done = subprocess.run(
        [sys.executable, "-m", "router", "token", "create", "--name", "值班室", "--role", "duty_office"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"created in {tmp_path / 'served' / 'warnroute.db'};" in done.stderr
    assert (tmp_path / "served" / "warnroute.db").is_file()


def test_a_message_dated_far_ahead_or_long_ago_is_refused_naming_the_bound(stack: Stack) -> None:
    url = f"{stack.api}/api/v1/warnings"
    ahead = httpx.post(url, content=cap_message(identifier="a2099", sent="2099-07-15T08:00:00+08:00"), headers=CAP)
    assert ahead.status_code == 422 and ahead.json()["field"] == "sent"
    assert "s ahead is accepted (WARNROUTE_SENT_MAX_AHEAD): check the sender's clock" in ahead.json()["problem"]
    ancient = httpx.post(url, content=json_message(identifier="a0001", sent="0001-07-15T08:00:00+08:00"), headers=JSON)
    assert ancient.status_code == 422 and ancient.json()["field"] == "sent"
    assert "days is accepted (WARNROUTE_SENT_MAX_AGE)" in ancient.json()["problem"]
    assert httpx.get(f"{stack.api}/api/v1/summary").json()["warnings"]["total"] == 0


def test_the_sent_window_by_hand() -> None:
    received = datetime(2026, 12, 1, 10, 0, tzinfo=UTC).timestamp()
    window = SentWindow()  # the defaults: 7 days before, 1 hour ahead
    assert window.refusal(datetime(2026, 12, 1, 10, 59, tzinfo=UTC), received) is None
    assert window.refusal(datetime(2026, 11, 24, 10, 1, tzinfo=UTC), received) is None
    late = window.refusal(datetime(2026, 11, 24, 9, 59, tzinfo=UTC), received)
    assert late is not None and late.field == "sent"
    assert late.problem.startswith(
        "2026-11-24T09:59:00+00:00 is 7.0 days before its receipt (2026-12-01T10:00:00+00:00)"
    )
    early = window.refusal(datetime(2026, 12, 1, 11, 1, tzinfo=UTC), received)
    assert early is not None and early.problem.startswith("2026-12-01T11:01:00+00:00 is 1.0 h after its receipt")
