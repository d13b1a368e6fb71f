"""A department's own words in a situation report reach a robot's markdown as plain text."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from router.delivery.budget import Budgets
from router.delivery.dispatcher import Dispatcher
from router.delivery.render import report_text
from router.metrics import Metrics
from router.plan.config import RoutingConfig
from router.plan.secrets import SecretResolver
from router.store import ClaimedNotification, SqliteStore

WORDS = '# 紧急撤离\n[点此确认](http://x.example) <font color="warning">红色</font> *全部* `a_b` ~~c~~ |t|'
REPORT = {
    "id": "r-1",
    "kind": "water",
    "observed_at": "2026-07-15T09:30:00+08:00",
    "figures": {},
    "text": WORDS,
}
# Written out by hand: each markup character in its full-width form, everything else as written.
PLAIN = (
    '＃ 紧急撤离\n［点此确认］(http://x.example) ＜font color="warning"＞红色＜/font＞'
    " ＊全部＊ ｀a＿b｀ ～～c～～ ｜t｜"
)


def test_a_reports_words_are_plain_text_in_markdown_and_as_written_elsewhere() -> None:
    marked = report_text(REPORT, "罗平县应急管理局", ["5.4"], markdown=True)
    assert f"：{PLAIN}。" in marked
    assert f"：{WORDS}。" in report_text(REPORT, "罗平县应急管理局", ["5.4"])


def test_the_dispatcher_sends_a_robot_the_plain_words_and_a_webhook_the_words_as_written(
    config: RoutingConfig,
) -> None:
    env = {ref.env: "https://robot.invalid/x" for refs in config.contacts.values() for ref in refs.values() if ref.env}
    dispatcher = Dispatcher(
        SqliteStore(Path("unopened.db")),
        config,
        {},
        SecretResolver(env),
        Metrics(CollectorRegistry()),
        budgets=Budgets({}),
    )

    def text(channel: str) -> str:
        claimed = ClaimedNotification(
            "n-1", "", channel, 0, "canary", "530300", {"clauses": ["5.4"]}, {}, False,
            purpose="report", about=("emergency_management", "530324"), report=REPORT,
        )  # fmt: skip
        return dispatcher._outbound(claimed).text

    assert PLAIN in text("wecom") and PLAIN in text("dingtalk")
    assert WORDS in text("feishu") and WORDS in text("webhook")  # Feishu's robots are sent text
