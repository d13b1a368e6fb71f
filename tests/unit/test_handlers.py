"""Contract tests over every channel handler: status and error-code classification, idempotency keys,
signatures the receiving side accepts, and no secret in any error."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from router.errors import DeliveryError, PermanentDeliveryError, RateLimited, RetryableDeliveryError
from router.handlers.base import ChannelHandler, Outbound
from router.handlers.gateway import over_limit
from router.handlers.http import HttpxTransport
from router.handlers.im import DingtalkHandler, FeishuHandler, WecomHandler, dingtalk_sign, feishu_sign
from router.handlers.sms import SmsHandler
from router.handlers.voice import VoiceHandler
from router.handlers.webhook import WebhookHandler, verify

SECRET = "s3cr3t-T0KEN-value"
API_KEY = "api-K3Y-value-0001"
Responder = Callable[[httpx.Request], httpx.Response]

OK_BODY: dict[str, dict[str, Any]] = {
    "webhook": {},
    "sms": {"message_id": "m-1"},
    "voice": {"call_id": "c-1"},
    "wecom": {"errcode": 0, "errmsg": "ok"},
    "dingtalk": {"errcode": 0, "errmsg": "ok"},
    "feishu": {"code": 0, "msg": "success"},
}
CONTACT = {
    "webhook": {"url": f"https://hooks.example.invalid/{SECRET}", "secret": SECRET},
    "sms": {"to": "+8613800138000"},
    "voice": {"to": "+8613800138000"},
    "wecom": {"url": f"https://qyapi.example.invalid/cgi-bin/webhook/send?key={SECRET}"},
    "dingtalk": {"url": f"https://oapi.example.invalid/robot/send?access_token={SECRET}", "secret": SECRET},
    "feishu": {"url": f"https://open.example.invalid/open-apis/bot/v2/hook/{SECRET}", "secret": SECRET},
}


def make(kind: str, responder: Responder) -> ChannelHandler:
    client = HttpxTransport(httpx.AsyncClient(transport=httpx.MockTransport(responder)))
    handlers: dict[str, Callable[[], ChannelHandler]] = {
        "webhook": lambda: WebhookHandler(client),
        "sms": lambda: SmsHandler(client, "https://sms.example.invalid", API_KEY),
        "voice": lambda: VoiceHandler(client, "https://voice.example.invalid", API_KEY),
        "wecom": lambda: WecomHandler(client),
        "dingtalk": lambda: DingtalkHandler(client),
        "feishu": lambda: FeishuHandler(client),
    }
    return handlers[kind]()


def outbound(kind: str) -> Outbound:
    return Outbound(
        id="key-0001.002.webhook",
        channel=kind,
        department="flood_drought_hq",
        jurisdiction="530324",
        title="罗平县暴雨橙色预警：直报 §4.3",
        text="请于10:10前落实（预案§4.3）",
        payload={"obligation_id": "o-1"},
        drill=False,
        contact=CONTACT[kind],
        callback_url="http://127.0.0.1:1/api/v1/receipts/" + kind,
    )


def recorder(seen: list[httpx.Request], response: httpx.Response) -> Responder:
    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return response

    return respond


def send(kind: str, responder: Responder) -> Any:
    return asyncio.run(make(kind, responder).send(outbound(kind)))


KINDS = list(OK_BODY)


@pytest.mark.parametrize("kind", KINDS)
def test_success(kind: str) -> None:
    result = send(kind, lambda r: httpx.Response(200, json=OK_BODY[kind]))
    assert result.provider_id
    assert result.delivered is (kind == "webhook")  # only a receiver's 2xx proves delivery


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (410, False),
        (422, False),
        (408, True),
        (425, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
    ],
)
def test_status_classification(kind: str, status: int, retryable: bool) -> None:
    with pytest.raises(DeliveryError) as info:
        send(kind, lambda r: httpx.Response(status, json={"error": SECRET}))
    assert info.value.retryable is retryable
    assert str(status) in str(info.value)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("failure", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
def test_transport_failures_are_retryable(kind: str, failure: Exception) -> None:
    def raise_(request: httpx.Request) -> httpx.Response:
        raise failure

    with pytest.raises(RetryableDeliveryError):
        send(kind, raise_)


@pytest.mark.parametrize(
    ("kind", "body", "retryable"),
    [
        ("wecom", {"errcode": 45009, "errmsg": "api freq out of limit"}, True),
        ("wecom", {"errcode": -1, "errmsg": "system busy"}, True),
        ("wecom", {"errcode": 93000, "errmsg": "invalid webhook url"}, False),
        ("wecom", {"errcode": 40058, "errmsg": "markdown.content exceed max length"}, False),
        ("dingtalk", {"errcode": 130101, "errmsg": "send too fast"}, True),
        ("dingtalk", {"errcode": 310000, "errmsg": "sign not match"}, False),
        ("dingtalk", {"errcode": 300001, "errmsg": "token is not exist"}, False),
        ("feishu", {"code": 11232, "msg": "frequency limited"}, True),
        ("feishu", {"code": 19021, "msg": "sign match fail"}, False),
        ("feishu", {"code": 9499, "msg": "Bad Request"}, False),
        ("sms", {"unexpected": True}, False),
        ("voice", {"call_id": ""}, False),
    ],
)
def test_provider_error_codes(kind: str, body: dict[str, Any], retryable: bool) -> None:
    with pytest.raises(DeliveryError) as info:
        send(kind, lambda r: httpx.Response(200, json=body))
    assert info.value.retryable is retryable


@pytest.mark.parametrize(
    ("kind", "status", "body", "headers", "wait", "window"),
    [
        # Each provider's own over-limit answer (research/channels.md §1.4, §2.4, §3.4, §4, §5), HTTP 200.
        ("wecom", 200, {"errcode": 45009, "errmsg": "api freq out of limit"}, {}, 60, "20 per minute"),
        (
            "dingtalk",
            200,
            {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"},
            {},
            600,
            "20 per minute, then blocked for 10 minutes",
        ),
        ("feishu", 200, {"code": 11232, "msg": "frequency limited"}, {}, 60, "100 per minute and 5 per second"),
        (
            "sms",
            200,
            {"code": "isv.BUSINESS_LIMIT_CONTROL", "message": "触发分钟级流控Permits:1"},
            {},
            60,
            "the number's per-minute cap",
        ),
        (
            "sms",
            200,
            {"code": "isv.BUSINESS_LIMIT_CONTROL", "message": "触发小时级流控Permits:5"},
            {},
            3600,
            "the number's hourly cap",
        ),
        (
            "sms",
            200,
            {"code": "isv.BUSINESS_LIMIT_CONTROL", "message": "触发天级流控Permits:10"},
            {},
            86400,
            "the number's daily cap",
        ),
        ("sms", 429, {"code": "LimitExceeded.PhoneNumberThirtySecondLimit"}, {}, 30, "one message per 30 seconds"),
        (
            "voice",
            200,
            {"code": "200119", "message": "carrier frequency limit"},
            {},
            60,
            "the carrier's per-callee frequency limit",
        ),
        # A plain 429: Retry-After in seconds, or as an HTTP-date (here 90 s after the clock below), or none.
        ("webhook", 429, {}, {"retry-after": "120"}, 120, "Retry-After"),
        ("webhook", 429, {}, {"retry-after": "Tue, 01 Dec 2026 08:01:30 GMT"}, 90, "Retry-After"),
        ("webhook", 429, {}, {}, 60, "HTTP 429"),
    ],
)
def test_over_limit_answers_mean_wait_for_the_window(
    kind: str,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    wait: float,
    window: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(time, "time", lambda: 1796112000.0)  # 2026-12-01 08:00:00 UTC
    with pytest.raises(RateLimited) as info:
        send(kind, lambda r: httpx.Response(status, json=body, headers=headers))
    assert (info.value.wait, info.value.window) == (wait, window)
    assert info.value.retryable  # never "failed"


def test_a_tencent_daily_cap_waits_for_the_next_calendar_day_in_china() -> None:
    # 2026-12-01 22:30 in Beijing (14:30 UTC): the day's window reopens at midnight, 90 minutes on.
    now = 1796135400.0
    assert over_limit("LimitExceeded.PhoneNumberDailyLimit", "", now) == (5400.0, "the number's daily cap")
    assert over_limit("isv.DAY_LIMIT_CONTROL", "", now) == (86400.0, "the number's daily cap")  # Alibaba: rolling
    assert over_limit("isv.MOBILE_NUMBER_ILLEGAL", "", now) is None  # not a limit: a bad number


@pytest.mark.parametrize("kind", KINDS)
def test_no_secret_in_any_error(kind: str) -> None:
    """Errors name the channel and the status or code, never a URL token, secret, key or number."""
    responders: list[Responder] = [
        lambda r: httpx.Response(500, text=SECRET),
        lambda r: httpx.Response(401, json={"errcode": 93000, "errmsg": SECRET}),
        lambda r: httpx.Response(200, text=f"<html>{SECRET}</html>"),
    ]

    def connect_error(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    if kind == "webhook":
        responders.pop()  # a webhook receiver's 200 is a delivery, whatever its body (Standard Webhooks)
    for responder in [*responders, connect_error]:
        with pytest.raises(DeliveryError) as caught:  # every one of these is a failure to deliver
            send(kind, responder)
        exc = caught.value
        text = f"{exc!s} {exc!r} {exc.__cause__!r} {exc.__context__!r}"
        for secret in (SECRET, API_KEY, "13800138000"):
            assert secret not in text


def test_webhook_is_signed_and_keyed_for_the_receiver() -> None:
    seen: list[httpx.Request] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    handler = make("webhook", capture)
    asyncio.run(handler.send(outbound("webhook")))
    asyncio.run(handler.send(outbound("webhook")))
    first, second = seen
    headers = {k.lower(): v for k, v in first.headers.items()}
    assert headers["webhook-id"] == headers["idempotency-key"] == "key-0001.002.webhook"
    assert second.headers["webhook-id"] == first.headers["webhook-id"]  # the same key on every attempt
    assert verify(SECRET, headers, first.content, time.time())
    assert not verify("another-secret", headers, first.content, time.time())
    assert not verify(SECRET, headers, first.content + b" ", time.time())
    assert not verify(SECRET, headers, first.content, time.time() + 3600)  # replay outside the window
    assert json.loads(first.content)["data"] == {"obligation_id": "o-1"}


def test_webhook_accepts_standard_whsec_secrets() -> None:
    key = base64.b64encode(b"k" * 32).decode()
    contact = {"url": "https://hooks.example.invalid/x", "secret": f"whsec_{key}"}
    seen: list[httpx.Request] = []
    handler = make("webhook", recorder(seen, httpx.Response(200)))
    asyncio.run(handler.send(Outbound(**{**outbound("webhook").__dict__, "contact": contact})))
    headers = {k.lower(): v for k, v in seen[0].headers.items()}
    assert verify(f"whsec_{key}", headers, seen[0].content, time.time())


def test_gateways_carry_key_idempotency_and_callback() -> None:
    seen: list[httpx.Request] = []
    handler = make("sms", recorder(seen, httpx.Response(200, json={"message_id": "m-9"})))
    assert asyncio.run(handler.send(outbound("sms"))).provider_id == "m-9"
    body = json.loads(seen[0].content)
    assert seen[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert body["idempotency_key"] == "key-0001.002.webhook"
    assert body["callback_url"].endswith("/api/v1/receipts/sms")
    assert body["to"] == "+8613800138000"


def test_dingtalk_signs_the_way_dingtalk_checks() -> None:
    seen: list[httpx.Request] = []
    handler = make("dingtalk", recorder(seen, httpx.Response(200, json=OK_BODY["dingtalk"])))
    asyncio.run(handler.send(outbound("dingtalk")))
    query = dict(urllib.parse.parse_qsl(seen[0].url.query.decode()))
    assert query["access_token"] == SECRET
    assert urllib.parse.quote_plus(query["sign"]) == dingtalk_sign(SECRET, int(query["timestamp"]))
    assert json.loads(seen[0].content)["msgUuid"] == "key-0001.002.webhook"


def test_feishu_signs_in_the_body_the_way_feishu_checks() -> None:
    seen: list[httpx.Request] = []
    handler = make("feishu", recorder(seen, httpx.Response(200, json=OK_BODY["feishu"])))
    asyncio.run(handler.send(outbound("feishu")))
    body = json.loads(seen[0].content)
    assert body["sign"] == feishu_sign(SECRET, int(body["timestamp"]))
    assert body["msg_type"] == "text" and "直报" in body["content"]["text"]


def test_email_goes_through_a_real_smtp_server() -> None:
    from aiosmtpd.smtp import SMTP

    from router.handlers.email import EmailHandler

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[Any] = []

        async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
            if address.startswith("nobody@"):
                return "550 no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            self.messages.append(envelope)
            return "250 Message accepted for delivery"

    async def scenario() -> Inbox:
        inbox = Inbox()
        server = await asyncio.get_running_loop().create_server(lambda: SMTP(inbox), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        handler = EmailHandler("127.0.0.1", port, "warnroute@example.invalid")
        base = outbound("webhook").__dict__
        result = await handler.send(Outbound(**{**base, "channel": "email", "contact": {"to": "hq@example.invalid"}}))
        assert result.provider_id == "key-0001.002.webhook"
        with pytest.raises(PermanentDeliveryError):
            await handler.send(Outbound(**{**base, "channel": "email", "contact": {"to": "nobody@example.invalid"}}))
        server.close()
        await server.wait_closed()
        closed = EmailHandler("127.0.0.1", port, "warnroute@example.invalid")
        with pytest.raises(RetryableDeliveryError):
            await closed.send(Outbound(**{**base, "channel": "email", "contact": {"to": "hq@example.invalid"}}))
        return inbox

    inbox = asyncio.run(scenario())
    assert len(inbox.messages) == 1
    content = inbox.messages[0].content.decode()
    assert "X-Warnroute-Idempotency-Key: key-0001.002.webhook" in content
