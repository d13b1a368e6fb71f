"""One message per destination (DESIGN §12): its key, its contents in order, its split at the providers'
size limits (WeCom markdown 4,096 bytes, an SMS 500 characters), never inside a notification or a line.
The expected sizes and the digest below are written out by hand (the digest once with ``sha256sum``)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from router.delivery.coalesce import combine, measure, message_key, split
from router.domain.channels import SIZE_LIMITS
from router.handlers.base import Outbound, cut
from router.handlers.http import HttpxTransport
from router.handlers.im import WecomHandler


def item(n: int, text: str, channel: str = "wecom", title: str = "T") -> Outbound:
    return Outbound(
        id=f"o{n}.{n:03d}.{channel}",
        channel=channel,
        department="water",
        jurisdiction="530324",
        title=title,
        text=text,
        payload={"obligation_id": f"o{n}", "ack_url": f"https://ack.example.invalid/{n}"},
        drill=False,
        contact={"url": "https://qyapi.example.invalid/send?key=county"},
    )


def test_a_message_of_one_keeps_the_notifications_id_and_a_coalesced_one_a_digest_of_the_set() -> None:
    assert message_key(["a.001.webhook"]) == "a.001.webhook"
    # printf 'a.001.webhook\nb.002.webhook' | sha256sum → 7670f41526ad9af7fb7b171739…
    assert message_key(["b.002.webhook", "a.001.webhook"]) == "m7670f41526ad9af7fb7b171"
    assert message_key(["a.001.webhook", "b.002.webhook"]) == "m7670f41526ad9af7fb7b171"  # the set, not its order


def test_a_coalesced_message_lists_each_notification_in_order_with_its_own_link() -> None:
    urgent, later = (
        item(1, "红色：立即转移", title="暴雨红色预警：直报 §4.3"),
        item(2, "蓝色：做好准备", title="大风蓝色"),
    )
    message = combine([urgent, later])
    assert message.carries == ("o1.001.wecom", "o2.002.wecom")
    assert message.title == "暴雨红色预警：直报 §4.3 等2项"
    assert message.text == "1. 暴雨红色预警：直报 §4.3\n红色：立即转移\n\n2. 大风蓝色\n蓝色：做好准备"
    assert [p["ack_url"] for p in message.payload["items"]] == [
        "https://ack.example.invalid/1",
        "https://ack.example.invalid/2",
    ]
    assert [p["notification_id"] for p in message.payload["items"]] == ["o1.001.wecom", "o2.002.wecom"]
    assert combine([urgent]) is urgent  # alone: exactly the notification


def test_wecom_messages_are_split_at_4096_bytes_between_notifications() -> None:
    # Each: "N. T\n" + 1,000 bytes. Four in one: "### T 等4项\n" (14) + 4 × 1,005 + 3 × 2 = 4,040 ≤ 4,096;
    # five would be 14 + 5,025 + 8 = 5,047.
    items = [item(n, "x" * 1000) for n in range(9)]
    sizes = [len(part) for part in split("wecom", items)]
    assert sizes == [4, 4, 1]
    assert [i.id for part in split("wecom", items) for i in part] == [i.id for i in items]  # order kept
    content = f"### {combine(items[:4]).title}\n{combine(items[:4]).text}"
    assert len(content.encode()) == 4040


def test_sms_messages_are_split_at_500_characters_and_one_too_long_goes_alone() -> None:
    items = [item(n, "字" * 200, channel="sms") for n in range(5)]  # two: 200 + 1 + 200 = 401; three: 602
    assert [len(part) for part in split("sms", items)] == [2, 2, 1]
    long = [item(0, "字" * 600, channel="sms"), item(1, "短", channel="sms")]
    assert [len(part) for part in split("sms", long)] == [1, 1]


def test_a_cut_ends_after_the_last_whole_line_that_fits() -> None:
    assert cut("aaa\nbbb\nccc", 9) == "aaa\nbbb"
    assert cut("甲乙\n丙丁", 8) == "甲乙"  # 8 bytes hold 甲乙\n and a third of 丙
    assert cut("short", 100) == "short"


def test_wecom_markdown_stays_within_4096_bytes_at_a_line_end() -> None:
    seen: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    lines = "\n".join("第" + "字" * 99 for _ in range(20))  # 20 lines of 300 bytes: 6,019 bytes in all
    handler = WecomHandler(HttpxTransport(httpx.AsyncClient(transport=httpx.MockTransport(respond))))
    asyncio.run(handler.send(item(1, lines)))
    content = json.loads(seen[0].content)["markdown"]["content"]
    assert len(content.encode()) <= 4096
    # "### T\n" (6) + 13 lines of 300 bytes and their 12 newlines = 3,918; a 14th line would be 4,219.
    assert len(content.encode()) == 6 + 13 * 300 + 12


@pytest.mark.parametrize("channel", ["wecom", "dingtalk", "feishu", "sms"])  # webhook and mail count as dingtalk
def test_every_message_is_within_its_limit_as_composed_and_could_not_have_taken_the_next(channel: str) -> None:
    """Measured on the message as composed (``combine``) and as the channel counts it, for every length of
    notification up to a fifth of the limit (so each message boundary falls at every distance from it):
    each message of several fits its channel's limit, and with the notification after it, it would not."""
    limit = SIZE_LIMITS[channel][0]

    def size(part: list[Outbound]) -> int:
        message = combine(part)
        return measure(channel, message.title, message.text)

    for length in range(1, limit // 5, max(1, limit // 2000)):
        text = ('字"\n' * length)[:length]
        per = length + (1 if channel == "sms" else 8)  # with its separator (and number and title)
        items = [item(n, text, channel=channel, title="题T") for n in range(3 * limit // per + 3)]
        parts = split(channel, items)
        assert [i.id for part in parts for i in part] == [i.id for i in items]
        assert len(parts) >= 2
        for n, part in enumerate(parts):
            assert len(part) == 1 or size(part) <= limit, (length, n)
            if n + 1 < len(parts):
                assert size([*part, parts[n + 1][0]]) > limit, (length, n)
