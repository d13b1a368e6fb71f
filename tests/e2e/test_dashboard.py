"""The duty office's dashboard and the department pages in a real browser: Playwright driving Debian's
Chromium (/usr/bin/chromium, installed by scripts/test.sh), against a real router with authentication
on and every deadline shrunk (30 minutes → 30 seconds). Screenshots of the main views are written to
artifacts/screenshots/."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from router.plan.config import load_config
from tests.support.authkit import Secure, make_token
from tests.support.messages import json_message, luoping_nowcast, now_iso
from tests.support.procs import start_stack

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[tuple[Secure, str]]:
    """The router, its tokens, and the department the department token belongs to."""
    yield from secured(tmp_path, limits=False)


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[Secure, str]]:
    """As ``ui``, with the providers' limits on (the simulator's and warnroute's own count): each office of
    the demo has one duty phone, which takes one SMS per 30 seconds."""
    yield from secured(tmp_path, limits=True)


def secured(tmp_path: Path, limits: bool) -> Iterator[tuple[Secure, str]]:
    key = secrets.token_hex(32)
    stack = start_stack(
        tmp_path,
        shrink=1 / 60,
        extra_env={"WARNROUTE_AUTH": "on", "WARNROUTE_BUREAU_KEY": key, "WARNROUTE_SCHEDULER_POLL": "0.2"},
        limits=limits,
    )
    config = load_config(tmp_path / "config")
    # A county department without a voice channel: the simulator answers calls and presses 1, so a
    # department with voice would be acknowledged by its phone before the page could show it open.
    quiet = next(d for d in ("health", "civil_affairs", "finance") if "voice" not in config.departments[d].channels)
    try:
        tokens = {
            "publisher": make_token(
                stack, "--name", "罗平县气象台", "--role", "publisher", "--signing-key", "env:WARNROUTE_BUREAU_KEY"
            ),
            "department": make_token(
                stack, "--name", "值班科员", "--role", "department", "--jurisdiction", "530324", "--department", quiet
            ),
            "duty_office": make_token(stack, "--name", "市值班室 王五", "--role", "duty_office"),
        }
        yield Secure(stack, key.encode(), tokens), quiet
    finally:
        stack.stop()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def login(browser: Browser, secure: Secure, who: str, width: int = 1366, height: int = 768) -> Page:
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(f"{secure.stack.api}/ui/login")
    page.fill("#token", secure.tokens[who])
    page.click("button[type=submit]")
    return page


def publish(secure: Secure, identifier: str, **fields: object) -> dict[str, object]:
    body = json_message(identifier=identifier, sent=now_iso(), **fields)
    response = httpx.post(f"{secure.stack.api}/api/v1/warnings", content=body, headers=secure.signed(body))
    assert response.status_code == 202, response.text
    answer: dict[str, object] = response.json()
    return answer


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def obligation_of(answer: dict[str, object], department: str, kind: str = "respond") -> str:
    for o in answer["obligations"]:  # type: ignore[attr-defined]
        if o["department"] == department and o["kind"] == kind and o["jurisdiction"] == "530324":
            return str(o["id"])
    raise AssertionError(f"no {kind} obligation for {department}")


def test_a_posted_warning_appears_live_and_an_acknowledgement_turns_its_cell_green(
    ui: tuple[Secure, str], browser: Browser
) -> None:
    secure, quiet = ui
    board = login(browser, secure, "duty_office")
    expect(board.locator("#warnings")).to_contain_text("当前没有生效中的预警")
    started = time.monotonic()
    answer = publish(secure, "lp_live_ui", severity="orange")
    board.wait_for_selector('[data-warning="lp_live_ui"]', timeout=2000)  # no reload: pushed over SSE
    assert time.monotonic() - started < 2.5
    oid = obligation_of(answer, quiet)
    row = board.locator(f'tr[data-obligation="{oid}"]')
    expect(row).not_to_have_class(re.compile(r"\bstate-acknowledged\b"))
    checklist = board.locator('[data-warning="lp_live_ui"] .checklist')
    expect(checklist).to_contain_text("防汛抗旱指挥部")  # orange rainstorm: the §4.3 direct reports
    shot(board, "dashboard")

    department = login(browser, secure, "department")
    card = department.locator(f'#open [data-obligation="{oid}"]')
    expect(card).to_be_visible()
    shot(department, "department")
    card.locator("button.ack").click()
    expect(department.locator(f'#done [data-obligation="{oid}"]')).to_be_visible()
    expect(row).to_have_class(re.compile(r"\bstate-acknowledged\b"), timeout=2000)
    expect(row).to_contain_text("值班科员")
    # The warning's progress chart counts it: one acknowledged (the simulator's keypress may add phone
    # reports), nothing breached yet, of all its obligations.
    chart = board.locator('[data-warning="lp_live_ui"] svg.progress')
    expect(chart).to_have_attribute("data-total", str(len(answer["obligations"])))  # type: ignore[arg-type]
    expect(chart).to_have_attribute("data-breached", "0")
    expect(chart).to_have_attribute("data-acknowledged", re.compile(r"^[1-9]\d*$"))
    caption = board.locator('[data-warning="lp_live_ui"] figure.progress figcaption')
    expect(caption).to_contain_text(re.compile(r"已确认 [1-9]\d* · 已落实 0 · 已逾期 0 / \d+"))


def test_an_overdue_obligation_turns_red_with_its_reason_and_confirming_for_it_needs_a_reason(
    ui: tuple[Secure, str], browser: Browser
) -> None:
    secure, quiet = ui
    board = login(browser, secure, "duty_office")
    answer = publish(secure, "lp_late_ui")
    oid = obligation_of(answer, quiet)
    row = board.locator(f'tr[data-obligation="{oid}"]')
    expect(row).to_have_class(re.compile(r"\bstate-breached\b"), timeout=45_000)  # the 30-second deadline passes
    expect(row.locator(".reason")).to_contain_text("未确认")
    shot(board, "dashboard-breached")
    row.locator("button.behalf").click()
    dialog = board.locator("#behalf")
    expect(dialog).to_be_visible()
    board.fill("#behalf-by", "值班员 王五")
    board.click("#behalf-submit")
    expect(board.locator("#behalf-error")).to_have_text("请填写原因。")
    expect(row).to_have_class(re.compile(r"\bstate-breached\b"))
    board.fill("#behalf-reason", "已电话联系，对方确认收到")
    board.click("#behalf-submit")
    expect(dialog).to_be_hidden()
    expect(row).to_have_class(re.compile(r"\bstate-acknowledged\b"), timeout=2000)
    expect(row).to_contain_text("已电话联系")


def test_the_duty_office_sees_why_a_notification_is_held_by_a_providers_limit(
    limited: tuple[Secure, str], browser: Browser
) -> None:
    """Two warnings a second apart: each office's SMS rung (3 s here) for the first spends its phone's 30
    seconds; the second's reopens only after its 30-second deadline, so those obligations move on to their
    next channel, and their rows say why."""
    secure, _ = limited
    board = login(browser, secure, "duty_office")
    publish(secure, "lp_held_ui")
    time.sleep(1)
    publish(secure, "lp_held_ui_gale", hazard="gale")
    held = board.locator("tr[data-obligation] .reason", has_text="等待通道限额")
    expect(held.first).to_be_visible(timeout=30_000)
    expect(held.first).to_contain_text("waiting for the destination's budget (sms: 1 per 30 seconds)")
    shot(board, "dashboard-held-by-limits")


def test_a_department_sees_only_its_own(ui: tuple[Secure, str], browser: Browser) -> None:
    secure, quiet = ui
    publish(secure, "lp_scope_ui")
    page = login(browser, secure, "department")
    page.goto(f"{secure.stack.api}/ui/department?jurisdiction=530324&department=water")
    expect(page.locator("#dept-title")).to_contain_text("罗平县")
    expect(page.locator("#dept-title")).not_to_contain_text("水务局")
    page.goto(f"{secure.stack.api}/ui/")
    assert page.url.endswith("/ui/department")  # no dashboard for a department
    for path in ("/api/v1/feed/530324/water", "/api/v1/dashboard", "/api/v1/warnings/lp_scope_ui"):
        status = page.evaluate(f"fetch('{path}').then(r => r.status)")
        assert status == 403, path
    mine = page.evaluate("fetch('/api/v1/me/obligations?jurisdiction=530324&department=water').then(r => r.json())")
    assert mine["department"] == quiet
    assert all(o["department"] == quiet for o in mine["items"])
    # A state-changing request from the page's session needs the page's header (CSRF).
    status = page.evaluate("fetch('/api/v1/obligations/x/ack', {method: 'POST', body: '{}'}).then(r => r.status)")
    assert status == 403


def test_phone_width_keyboard_drills_and_english(ui: tuple[Secure, str], browser: Browser) -> None:
    secure, _ = ui
    publish(secure, "lp_drill_ui", status="exercise", severity="red")
    publish(secure, "lp_real_ui", severity="yellow")
    page = login(browser, secure, "duty_office", width=390, height=844)
    page.wait_for_selector('[data-warning="lp_drill_ui"]')
    drill = page.locator('#drill-warnings [data-warning="lp_drill_ui"]')
    expect(drill).to_contain_text("演练")
    expect(page.locator('#warnings [data-warning="lp_drill_ui"]')).to_have_count(0)  # kept apart
    expect(page.locator('#warnings [data-warning="lp_real_ui"] .level')).to_contain_text(
        "黄色"
    )  # words, not only colour
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "dashboard-phone")
    button = page.locator('#warnings [data-warning="lp_real_ui"] button.behalf').first
    button.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#behalf")).to_be_visible()
    page.keyboard.press("Escape")
    page.click("#lang")
    expect(page.locator("header nav")).to_contain_text("Duty board")
    expect(page.locator('#warnings [data-warning="lp_real_ui"] .level')).to_contain_text("Yellow")
    page.goto(f"{secure.stack.api}/ui/history")
    page.fill("#q", "lp_real")
    page.keyboard.press("Enter")
    expect(page.locator("#results tr")).to_have_count(1)
    shot(page, "history-phone")


def test_the_city_map_turns_a_countys_colour_after_a_red_signal_and_its_totals_follow_a_report(
    ui: tuple[Secure, str], browser: Browser
) -> None:
    """The duty office's map of the nine counties and the zone: 罗平县 blue, then red, without a reload; a
    casualty report filed for it changes its totals and the city's, and a lift clears its colour."""
    secure, _quiet = ui
    board = login(browser, secure, "duty_office")
    shapes = board.locator("#city-map path.county-shape")
    expect(shapes).to_have_count(9)
    expect(board.locator('#city-map rect[data-county="QJEDZ"]')).to_have_count(1)  # beside 麒麟区, as config has it
    luoping = board.locator('#city-map [data-county="530324"]')
    expect(luoping).to_have_attribute("data-level", "none")
    publish(secure, "lp_map_blue")  # a blue rainstorm signal for 罗平县
    expect(luoping).to_have_attribute("data-level", "blue", timeout=3000)
    publish(secure, "lp_map_red", severity="red", msg_type="update", references=["lp_map_blue"])
    expect(luoping).to_have_attribute("data-level", "red", timeout=3000)  # the lineage's newest: red
    expect(board.locator('#city-map [data-county="530381"]')).to_have_attribute("data-level", "none")
    row = board.locator('#city-map tr[data-place="530324"]')
    expect(row.locator(".casualties")).to_have_text("0 / 0 / 0")
    report = {
        "schema": "warnroute.report/1",
        "id": "map-casualties-1",
        "kind": "losses",
        "jurisdiction": "530324",
        "department": "government",
        "observed_at": now_iso(-60),
        "figures": {"dead": 1, "injured": 3, "people_moved": 60, "direct_loss_wan": 25},
        "on_behalf": True,
        "reason": "县政府电话报告",
    }
    filed = httpx.post(
        f"{secure.stack.api}/api/v1/reports", json=report, headers=secure.headers("duty_office"), timeout=10
    )
    assert filed.status_code == 201, filed.text
    expect(row.locator(".casualties")).to_have_text("1 / 0 / 3", timeout=3000)  # no reload
    expect(row.locator(".loss")).to_have_text("25")
    expect(board.locator('#city-map tr[data-place="city"] .casualties')).to_have_text("1 / 0 / 3")
    SHOTS.mkdir(parents=True, exist_ok=True)
    board.locator("#city").screenshot(path=str(SHOTS / "city-map.png"))
    publish(secure, "lp_map_lift", msg_type="cancel", references=["lp_map_red"])
    expect(luoping).to_have_attribute("data-level", "none", timeout=3000)


def test_a_county_files_a_casualty_report_and_a_task_done_from_a_phone_width_page(
    ui: tuple[Secure, str], browser: Browser
) -> None:
    """罗平县's government on a phone (390 px): files a casualty report from the form with the keyboard, then
    reports its §4.5 deployment task done with the people moved; the duty office's upward report shows both."""
    secure, _quiet = ui
    secure.tokens["government"] = make_token(
        secure.stack,
        *(
            "--name",
            "罗平县政府值班员",
            "--role",
            "department",
            "--jurisdiction",
            "530324",
            "--department",
            "government",
        ),
    )
    body = luoping_nowcast("nc_phone")
    answer = httpx.post(f"{secure.stack.api}/api/v1/warnings", content=body, headers=secure.signed(body))
    assert answer.status_code == 202, answer.text
    task = next(
        o["id"] for o in answer.json()["obligations"] if o["task"] == "deploy_12h" and o["department"] == "government"
    )
    phone = login(browser, secure, "government", width=390, height=844)
    expect(phone.locator(f'#open [data-obligation="{task}"]')).to_be_visible()
    # The report form: kind, place, figures, text, by keyboard; sent with Enter.
    phone.select_option("#r-kind", "losses")
    phone.select_option("#r-area", "530324102")
    phone.fill("#r-f-dead", "-1")
    phone.locator("#r-text").fill("板桥镇山洪，一户房屋进水")
    phone.locator("#r-f-injured").fill("2")
    phone.locator("#r-f-injured").press("Enter")
    expect(phone.locator("#r-error")).to_contain_text("figures.dead")  # refused, naming the field
    phone.fill("#r-f-dead", "1")
    phone.fill("#r-f-people_moved", "35")
    shot(phone, "report-form")
    phone.locator("#r-f-people_moved").press("Enter")
    expect(phone.locator("#status")).to_contain_text("已报送", timeout=3000)
    duty = secure.headers("duty_office")
    reports = httpx.get(f"{secure.stack.api}/api/v1/reports", headers=duty, timeout=10).json()["reports"]
    filed = [r for r in reports if r["jurisdiction"] == "530324"]
    assert len(filed) == 1 and filed[0]["figures"] == {"dead": 1, "injured": 2, "people_moved": 35}
    assert filed[0]["areas"] == ["530324102"] and filed[0]["department"] == "government"
    # A change arriving on the stream (another of its obligations acknowledged elsewhere) refreshes the page
    # and leaves the answer to the filing in place.
    other = next(
        o["id"]
        for o in answer.json()["obligations"]
        if (o["department"], o["jurisdiction"]) == ("government", "530324") and o["id"] != task
    )
    version = int(phone.evaluate("Number(document.body.dataset.version)"))
    acked = httpx.post(
        f"{secure.stack.api}/api/v1/obligations/{other}/ack",
        json={"by": "罗平县政府值班员"},
        headers=secure.headers("government"),
        timeout=10,
    )
    assert acked.status_code == 200, acked.text
    phone.wait_for_function(f"Number(document.body.dataset.version) > {version}", timeout=5000)
    expect(phone.locator("#status")).to_contain_text("已报送")
    # The task: 报告已落实, with the people moved.
    phone.locator(f'#open [data-obligation="{task}"] button.report-done').click()
    phone.fill("#d-moved", "86")
    phone.fill("#d-teams", "3")
    phone.locator("#d-teams").press("Enter")
    expect(phone.locator(f'#done [data-obligation="{task}"]')).to_be_visible(timeout=3000)
    expect(phone.locator(f'#done [data-obligation="{task}"] .badge')).to_have_text("已落实")
    stored = httpx.get(f"{secure.stack.api}/api/v1/warnings/nc_phone", headers=duty, timeout=10).json()
    done = next(o for o in stored["obligations"] if o["id"] == task)
    assert done["state"] == "done" and done["done_figures"] == {"people_moved": 86, "teams_prepositioned": 3}
    # The duty office's upward report (§5.6), printable: both, traceable to the report.
    board = login(browser, secure, "duty_office")
    board.goto(f"{secure.stack.api}/api/v1/reports/upward?jurisdiction=530324&format=html")
    row = board.locator("tr[data-place='530324']")
    expect(row.locator(".loss_dead")).to_have_text("1")
    expect(row.locator(".task_people_moved")).to_have_text("86")
    expect(row.locator(".reports")).to_have_text(filed[0]["id"])
    shot(board, "upward-report")
    # The report went where the plan sends it (§5.4: the county's emergency bureau and the city's; §5.6: the
    # city government; never back to the county government that filed it): on their webhooks, and on the
    # city emergency bureau's page.
    expected = {
        ("emergency_management", "530324"): ["5.4"],
        ("emergency_management", "530300"): ["5.4"],
        ("government", "530300"): ["5.6"],
    }
    url = f"{secure.stack.api}/api/v1/reports/{filed[0]['id']}/deliveries"
    for _ in range(100):
        sent_to = httpx.get(url, headers=duty, timeout=10).json()["sent_to"]
        if all(n["state"] == "delivered" for c in sent_to for n in c["notifications"]):
            break
        time.sleep(0.1)
    assert {(c["department"], c["jurisdiction"]): c["clauses"] for c in sent_to} == expected
    assert all([n["state"] for n in c["notifications"]] == ["delivered"] for c in sent_to)
    secure.tokens["city_emergency"] = make_token(
        secure.stack,
        "--name",
        "市应急局值班员",
        "--role",
        "department",
        "--jurisdiction",
        "530300",
        "--department",
        "emergency_management",
    )
    city = login(browser, secure, "city_emergency", width=390, height=844)
    card = city.locator(f'#received [data-report="{filed[0]["id"]}"]')
    expect(card).to_contain_text("§5.4")
    expect(card).to_contain_text("死亡 1人")
    expect(card).to_contain_text("罗平县")
    card.scroll_into_view_if_needed()
    shot(city, "report-received")
