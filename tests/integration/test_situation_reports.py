"""Situation reports (DESIGN §13, plan §4.1, §5.4, §5.6) against a real ``warnroute serve`` with
authentication on: who may file for whom, every bad input refused naming its field with nothing written,
and totals that are the sums of the standing reports they cite, across updates and corrections."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from tests.support.authkit import JSON, Secure, make_token
from tests.support.messages import ROOT, json_message, luoping_nowcast, now_iso
from tests.support.procs import start_stack

SCHEMA = json.loads((ROOT / "docs" / "schema" / "report.schema.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secure]:
    key = secrets.token_hex(32)
    stack = start_stack(
        tmp_path_factory.mktemp("reports"), extra_env={"WARNROUTE_AUTH": "on", "WARNROUTE_BUREAU_KEY": key}
    )

    def department(name: str, jurisdiction: str, department: str) -> str:
        args = ("--name", name, "--role", "department", "--jurisdiction", jurisdiction, "--department", department)
        return make_token(stack, *args)

    try:
        tokens = {
            "publisher": make_token(
                stack, "--name", "罗平县气象台", "--role", "publisher", "--signing-key", "env:WARNROUTE_BUREAU_KEY"
            ),
            "water": department("罗平县水务局", "530324", "water"),
            "government": department("罗平县人民政府", "530324", "government"),
            "health": department("罗平县卫健委", "530324", "health"),
            "xuanwei_water": department("宣威市水务局", "530381", "water"),
            "xuanwei_government": department("宣威市人民政府", "530381", "government"),
            "duty_office": make_token(stack, "--name", "市值班室", "--role", "duty_office"),
            "admin": make_token(stack, "--name", "运维", "--role", "admin"),
        }
        yield Secure(stack, key.encode(), tokens)
    finally:
        stack.stop()


def report(identifier: str, **fields: Any) -> dict[str, Any]:
    """A 罗平县 water bureau's losses report unless ``fields`` say otherwise."""
    body: dict[str, Any] = {
        "schema": "warnroute.report/1",
        "id": identifier,
        "kind": "losses",
        "jurisdiction": "530324",
        "department": "water",
        "areas": ["530324102"],
        "observed_at": now_iso(-600),
        "figures": {"dead": 0, "injured": 2, "people_moved": 35},
        "text": "板桥镇内涝，转移群众35人",
    }
    body.update(fields)
    return body


def post(secure: Secure, who: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{secure.stack.api}/api/v1/reports",
        content=json.dumps(body, ensure_ascii=False).encode(),
        headers={**JSON, **secure.headers(who)},
    )


def listed(secure: Secure, who: str = "duty_office") -> list[dict[str, Any]]:
    answer = httpx.get(f"{secure.stack.api}/api/v1/reports", headers=secure.headers(who))
    assert answer.status_code == 200, answer.text
    reports: list[dict[str, Any]] = answer.json()["reports"]
    return reports


def test_who_may_file_a_report_for_whom(secure: Secure) -> None:
    """A department files for its own office; its county government for any office of the county; the duty
    office on an office's behalf with a reason; a publisher, an admin, another office or county may not."""
    expected = {
        "anonymous": (401, "authorization"),
        "publisher": (403, "authorization"),
        "admin": (403, "authorization"),
        "health": (403, "department"),
        "xuanwei_water": (403, "jurisdiction"),
        "xuanwei_government": (403, "jurisdiction"),
        "duty_office": (403, "on_behalf"),
        "water": (201, None),
        "government": (201, None),
    }
    for who, (status, field) in expected.items():
        answer = post(secure, who, report(f"roles-{who}"))
        assert answer.status_code == status, (who, answer.text)
        if field is not None:
            assert answer.json()["field"] == field, (who, answer.text)
    behalf = report("roles-behalf", on_behalf=True, reason="水务局电话报告，值班室代录")
    assert post(secure, "duty_office", behalf).status_code == 201
    # Only the duty office says "on behalf".
    assert (
        post(secure, "water", report("roles-water-behalf", on_behalf=True, reason="x")).json()["field"] == "on_behalf"
    )
    filed = {r["id"]: r for r in listed(secure)}
    assert {"roles-water", "roles-government", "roles-behalf"} <= set(filed)
    assert not {f"roles-{w}" for w in expected if expected[w][0] != 201} & set(filed)
    # Reading: a county's offices read their county's reports; the duty office and admin read all.
    assert httpx.get(f"{secure.stack.api}/api/v1/reports").status_code == 401
    assert httpx.get(f"{secure.stack.api}/api/v1/reports", headers=secure.headers("publisher")).status_code == 403
    assert {r["jurisdiction"] for r in listed(secure, "health")} == {"530324"}
    assert listed(secure, "xuanwei_water") == []
    assert {r["id"] for r in listed(secure, "admin")} == set(filed)


BAD: list[tuple[dict[str, Any], str]] = [
    ({"figures": {"dead": -1}}, "figures.dead"),
    ({"figures": {"injured": 2.5}}, "figures.injured"),
    ({"figures": {"rainfall_mm": 80}}, "figures.rainfall_mm"),  # a level of a water report, not of losses
    ({"figures": {"boats": 3}}, "figures.boats"),
    ({"areas": ["530324999"]}, "areas[0]"),  # no such township
    ({"areas": ["530381001"]}, "areas[0]"),  # a township of 宣威市, not of 罗平县
    ({"observed_at": now_iso(3600)}, "observed_at"),
    ({"observed_at": "2026-07-15T08:00:00"}, "observed_at"),  # no offset
    ({"kind": "rumour"}, "kind"),
    ({"schema": "warnroute.report/0"}, "schema"),
    ({"department": "wizards"}, "department"),
    ({"jurisdiction": "530399"}, "jurisdiction"),
    ({"replaces": "never-filed"}, "replaces"),
    ({"answers": "no-such-warning"}, "answers"),
    ({"colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("change", "field"), BAD, ids=[f for _, f in BAD])
def test_a_bad_report_is_refused_naming_its_field_and_nothing_is_written(
    secure: Secure, change: dict[str, Any], field: str
) -> None:
    identifier = f"bad-{field}".replace("[", "-").replace("]", "").replace(".", "-")
    before = httpx.get(f"{secure.stack.api}/api/v1/audit/verify", headers=secure.headers("duty_office")).json()
    answer = post(secure, "water", report(identifier, **change))
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["field"] == field, answer.text
    assert identifier not in {r["id"] for r in listed(secure)}
    after = httpx.get(f"{secure.stack.api}/api/v1/audit/verify", headers=secure.headers("duty_office")).json()
    assert after["ok"] and after["events"] == before["events"] + (1 if answer.status_code in (401, 403) else 0)


def test_a_good_report_is_valid_under_the_published_schema_and_bad_figures_are_not() -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    validator.validate(report("schema-ok"))
    for change, _ in BAD[:4]:
        assert list(validator.iter_errors(report("schema-bad", **change))), change


def test_totals_are_the_sums_of_the_standing_reports_they_cite(secure: Secure) -> None:
    """Two counties report; 罗平县's count rises (an update) and is then corrected; a repeat is not counted
    twice. Each total is written out by hand from the reports it must cite."""
    since = now_iso(-7200)
    first = report("t-lp-1", department="government", figures={"dead": 1, "injured": 3, "people_moved": 120})
    assert post(secure, "government", first).status_code == 201
    xuanwei = report(
        "t-xw-1",
        jurisdiction="530381",
        department="government",
        areas=[],
        figures={"dead": 0, "injured": 1, "direct_loss_wan": 12.5},
    )
    assert post(secure, "xuanwei_government", xuanwei).status_code == 201
    assert post(secure, "xuanwei_government", xuanwei).json()["status"] == "duplicate"  # sent again: once
    changed = {**xuanwei, "figures": {"dead": 9}}
    assert post(secure, "xuanwei_government", changed).json()["field"] == "id"  # an id is one report
    update = report(
        "t-lp-2", department="government", replaces="t-lp-1", figures={"dead": 2, "injured": 3, "people_moved": 150}
    )
    assert post(secure, "government", update).status_code == 201
    # The first is replaced already: a report replaces the latest of its line, not an old one.
    stale = report("t-lp-x", department="government", replaces="t-lp-1", figures={"dead": 5})
    assert post(secure, "government", stale).json()["field"] == "replaces"
    # Another office's report cannot be replaced.
    assert post(secure, "water", report("t-lp-w", replaces="t-lp-2")).json()["field"] == "replaces"
    correction = report(
        "t-lp-3",
        department="government",
        replaces="t-lp-2",
        figures={"dead": 1, "injured": 4, "people_moved": 150},
        text="更正：死亡1人（此前误报2人）",
    )
    assert post(secure, "government", correction).status_code == 201

    answer = httpx.get(
        f"{secure.stack.api}/api/v1/reports/totals", params={"since": since}, headers=secure.headers("duty_office")
    )
    assert answer.status_code == 200, answer.text
    got = answer.json()
    mine = {"t-lp-3", "t-xw-1"}
    luoping = got["jurisdictions"]["530324"]
    assert "t-lp-3" in luoping["reports"] and not {"t-lp-1", "t-lp-2"} & set(luoping["reports"])
    assert got["jurisdictions"]["530381"]["reports"] == ["t-xw-1"]
    assert got["jurisdictions"]["530381"]["figures"] == {"dead": 0, "injured": 1, "direct_loss_wan": 12.5}
    # Every total equals the sum of what the reports it cites say (read back one by one).
    reports = {r["id"]: r for r in listed(secure)}
    for place in (*got["jurisdictions"].values(), got["city"]):
        sums: dict[str, float] = {}
        for rid in place["reports"]:
            assert reports[rid]["replaced_by"] is None
            for name, value in reports[rid]["figures"].items():
                sums[name] = sums.get(name, 0) + value
        assert place["figures"] == sums
    assert mine <= set(got["city"]["reports"])
    assert reports["t-lp-1"]["replaced_by"] == "t-lp-2" and reports["t-lp-2"]["replaced_by"] == "t-lp-3"
    # What 罗平县's government and 宣威市's reported, by hand: 1 dead, 4 + 1 injured, 150 moved, 12.5 万元.
    only = [reports[r] for r in ("t-lp-3", "t-xw-1")]
    assert sum(r["figures"].get("dead", 0) for r in only) == 1
    assert sum(r["figures"].get("injured", 0) for r in only) == 5
    assert sum(r["figures"].get("people_moved", 0) for r in only) == 150
    verify = httpx.get(f"{secure.stack.api}/api/v1/audit/verify", headers=secure.headers("duty_office")).json()
    assert verify["ok"]


def test_a_report_is_in_the_audit_chain(secure: Secure, tmp_path: Path) -> None:
    import sqlite3

    assert post(secure, "water", report("audited", figures={"injured": 1})).status_code == 201
    with sqlite3.connect(secure.stack.tmp / "data" / "warnroute.db") as db:
        rows = db.execute("SELECT detail FROM audit WHERE kind = 'report_filed'").fetchall()
    filed = [json.loads(r[0]) for r in rows]
    mine = next(d for d in filed if d["report"] == "audited")
    assert mine["kind"] == "losses" and mine["jurisdiction"] == "530324" and mine["department"] == "water"
    assert len(mine["content_sha256"]) == 64


def test_a_task_is_reported_done_with_its_figures_and_the_report_lists_done_late_and_not_done(
    secure: Secure,
) -> None:
    """§4.5 "1262": a 12 h nowcast for 罗平县 with onset in three hours. The county government reports its
    deployment done with figures; the 6 h pre-positioning, already due at issue, is shown 未落实 with how late."""
    api = secure.stack.api
    nowcast = luoping_nowcast("nc-1262")
    posted = httpx.post(f"{api}/api/v1/warnings", content=nowcast, headers=secure.signed(nowcast))
    assert posted.status_code == 202, posted.text
    obligations = posted.json()["obligations"]
    deploy = next(o for o in obligations if o["task"] == "deploy_12h" and o["department"] == "government")
    prepare = [o for o in obligations if o["task"] == "preposition_6h" and o["jurisdiction"] == "530324"]
    notice = next(o for o in obligations if o["kind"] not in ("task", "respond"))
    assert prepare

    def done(who: str, obligation: str, **body: Any) -> httpx.Response:
        return httpx.post(
            f"{api}/api/v1/obligations/{obligation}/done",
            json={"by": "罗平县政府值班员", **body},
            headers=secure.headers(who),
        )

    figures = {"people_moved": 86, "teams_prepositioned": 3, "rescuers_prepositioned": 40}
    first = done("government", deploy["id"], figures=figures)
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "done" and not first.json()["already"]
    assert done("government", deploy["id"], figures=figures).json()["already"]  # once
    assert done("water", deploy["id"]).json()["field"] == "obligation"  # not its task
    assert done("government", deploy["id"], figures={"people_moved": -3}).json()["field"] == "figures.people_moved"
    assert done("duty_office", notice["id"], on_behalf=True, reason="电话").json()["field"] == "obligation"
    assert done("duty_office", prepare[0]["id"], on_behalf=True).json()["field"] == "reason"
    stored = httpx.get(f"{api}/api/v1/warnings/nc-1262", headers=secure.headers("duty_office")).json()
    mine = next(o for o in stored["obligations"] if o["id"] == deploy["id"])
    assert mine["state"] == "done" and mine["done_by"] == "罗平县政府值班员" and mine["done_figures"] == figures
    assert mine["acknowledged_at"] == mine["done_at"]  # done: it was received too

    report = httpx.get(f"{api}/api/v1/warnings/nc-1262/report", headers=secure.headers("duty_office")).json()
    tasks = {t["obligation_id"]: t for t in report["tasks"]}
    assert tasks[deploy["id"]]["status"] == "done" and tasks[deploy["id"]]["figures"] == figures
    late = tasks[prepare[0]["id"]]
    assert late["status"] == "not done" and late["words"].startswith("未落实，逾期 ") and late["late_by"]
    assert report["tasks_summary"]["done"] == 1
    assert report["tasks_summary"]["not done"] == len(prepare)
    page = httpx.get(
        f"{api}/api/v1/warnings/nc-1262/report", params={"format": "html"}, headers=secure.headers("duty_office")
    ).text
    assert "未落实，逾期" in page and "people_moved 86" in page


def test_the_upward_report_gives_by_county_what_happened_was_done_and_was_lost_each_figure_cited(
    secure: Secure,
) -> None:
    """§5.6 for 富源县: one signal, two reports standing (one an update of an earlier one), by hand."""
    import csv
    import io

    api = secure.stack.api
    signal = json_message(
        identifier="fy-upward", sender="富源县气象台", sender_code="53032541600000", areas=["530325"], sent=now_iso()
    )
    assert httpx.post(f"{api}/api/v1/warnings", content=signal, headers=secure.signed(signal)).status_code == 202

    def behalf(identifier: str, **fields: Any) -> None:
        body = report(identifier, jurisdiction="530325", department="government", areas=[], on_behalf=True)
        body.update(reason="县政府电话报告", **fields)
        answer = post(secure, "duty_office", body)
        assert answer.status_code == 201, answer.text

    behalf("fy-1", figures={"dead": 2, "injured": 1, "direct_loss_wan": 8})
    behalf("fy-2", replaces="fy-1", figures={"dead": 1, "injured": 1, "direct_loss_wan": 10.5})  # corrected
    behalf("fy-3", kind="geohazard", figures={"hazard_sites": 3, "people_moved": 40, "injured": 2})
    params = {"jurisdiction": "530325", "since": now_iso(-7200)}
    got = httpx.get(f"{api}/api/v1/reports/upward", params=params, headers=secure.headers("duty_office")).json()
    row = next(p for p in got["places"] if p["jurisdiction"] == "530325")
    assert [w["id"] for w in row["warnings"]] == ["fy-upward"] and row["highest"] == "blue"
    assert row["obligations"] > 10
    assert row["losses"] == {"dead": 1, "injured": 3, "people_moved": 40, "direct_loss_wan": 10.5}
    assert sorted(row["reports"]) == ["fy-2", "fy-3"]
    assert sorted(r["id"] for r in got["cited"]) == ["fy-2", "fy-3"]  # the corrected fy-1 is not summed
    table = list(
        csv.reader(
            io.StringIO(
                httpx.get(
                    f"{api}/api/v1/reports/upward",
                    params={**params, "format": "csv"},
                    headers=secure.headers("duty_office"),
                ).text.lstrip("\ufeff")
            )
        )
    )
    header, county = table[0], next(r for r in table if r[0] == "530325")
    cells = dict(zip(header, county, strict=True))
    assert cells["地区"] == "富源县" and cells["死亡（人）"] == "1" and cells["受伤（人）"] == "3"
    assert cells["直接经济损失（万元）"] == "10.5" and sorted(cells["所据报告"].split()) == ["fy-2", "fy-3"]
    page = httpx.get(
        f"{api}/api/v1/reports/upward", params={**params, "format": "html"}, headers=secure.headers("duty_office")
    ).text
    assert "fy-2" in page and "fy-3" in page and "富源县" in page and "fy-1<" not in page
    # A county's office reads its own county's report only.
    assert (
        httpx.get(f"{api}/api/v1/reports/upward", params=params, headers=secure.headers("water")).json()["field"]
        == "jurisdiction"
    )


def test_a_signing_office_signs_its_api_reports_but_not_those_filed_from_its_page(secure: Secure) -> None:
    """A department whose token has a signing key: over the API an unsigned report is refused (401, nothing
    written) and a signed one filed; a person signed in at the page with that token files without one
    (the session is the proof), but the page's own header is still required."""
    secure.tokens["signing_water"] = make_token(
        secure.stack,
        *("--name", "罗平县水务局接口", "--role", "department", "--jurisdiction", "530324", "--department", "water"),
        *("--signing-key", "env:WARNROUTE_BUREAU_KEY"),
    )
    api = secure.stack.api
    body = json.dumps(report("sign-1", kind="water", figures={"rainfall_mm": 40}), ensure_ascii=False).encode()
    unsigned = httpx.post(f"{api}/api/v1/reports", content=body, headers={**JSON, **secure.headers("signing_water")})
    assert unsigned.status_code == 401 and unsigned.json()["field"] == "signature", unsigned.text
    assert "sign-1" not in {r["id"] for r in listed(secure)}
    signed = httpx.post(f"{api}/api/v1/reports", content=body, headers=secure.signed(body, "signing_water"))
    assert signed.status_code == 201, signed.text
    with httpx.Client(base_url=api) as page:
        login = page.post("/ui/login", data={"token": secure.tokens["signing_water"]})
        assert login.status_code == 303 and login.headers["location"] == "/ui/department"
        second = json.dumps(report("sign-2", kind="water", figures={"rainfall_mm": 55}), ensure_ascii=False).encode()
        without_header = page.post("/api/v1/reports", content=second, headers=JSON)
        assert without_header.status_code == 403 and without_header.json()["field"] == "x-warnroute-ui"
        filed = page.post("/api/v1/reports", content=second, headers={**JSON, "x-warnroute-ui": "1"})
        assert filed.status_code == 201, filed.text
    assert {"sign-1", "sign-2"} <= {r["id"] for r in listed(secure)}
