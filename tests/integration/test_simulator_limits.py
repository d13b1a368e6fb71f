"""The provider simulator holds each destination to its provider's limits and answers as the provider
does (the oracle the storm tests measure warnroute against); ``--no-limits`` turns that off."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from router.tools.simulator import create_simulator

T0 = 1796112000.0  # 2026-12-01 08:00:00 UTC


class Client:
    """The simulator app in this process (its lifespan entered), called synchronously."""

    def __init__(self, limits: bool) -> None:
        self.app = create_simulator(None, None, None, receipt_delay=0.0, limits=limits)
        self.loop = asyncio.new_event_loop()
        self.lifespan = self.app.router.lifespan_context(self.app)
        self.loop.run_until_complete(self.lifespan.__aenter__())
        transport = httpx.ASGITransport(app=self.app)
        self.http = httpx.AsyncClient(transport=transport, base_url="http://simulator")

    def post(self, path: str, json: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.http.post(path, json=json))

    def get(self, path: str) -> httpx.Response:
        return self.loop.run_until_complete(self.http.get(path))

    def close(self) -> None:
        self.loop.run_until_complete(self.http.aclose())
        self.loop.run_until_complete(self.lifespan.__aexit__(None, None, None))
        self.loop.close()


@contextlib.contextmanager
def client(limits: bool = True) -> Iterator[Client]:
    c = Client(limits)
    try:
        yield c
    finally:
        c.close()


def robot(c: Client, kind: str, destination: str, n: int) -> dict[str, Any]:
    paths = {"wecom": f"/wecom/send?key={destination}", "dingtalk": f"/dingtalk/send?access_token={destination}"}
    bodies = {
        "wecom": {"msgtype": "markdown", "markdown": {"content": f"message {n}"}},
        "dingtalk": {"msgtype": "markdown", "markdown": {"title": "t", "text": f"m {n}"}, "msgUuid": f"k{n}"},
    }
    answer: dict[str, Any] = c.post(paths[kind], json=bodies[kind]).json()
    return answer


def gateway(c: Client, kind: str, to: str, n: int) -> dict[str, Any]:
    path = "/sms/send" if kind == "sms" else "/voice/call"
    answer: dict[str, Any] = c.post(path, json={"to": to, "text": "t", "idempotency_key": f"{kind}{n}"}).json()
    return answer


def test_a_wecom_robot_takes_20_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [T0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    with client() as c:
        answers = [robot(c, "wecom", "county", n)["errcode"] for n in range(21)]
        assert answers == [0] * 20 + [45009]
        assert robot(c, "wecom", "another-county", 0)["errcode"] == 0  # per robot
        now[0] = T0 + 60.5  # the first has left the minute
        assert robot(c, "wecom", "county", 99)["errcode"] == 0
        assert c.get("/limits").json() == {"refused": {"wecom": 1}}
        received = c.get("/received").json()["wecom"]
        assert "message 20" not in received and "message 19" in received  # the refused one was not received


def test_a_dingtalk_robot_over_its_20_is_blocked_for_ten_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [T0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    with client() as c:
        assert [robot(c, "dingtalk", "city", n)["errcode"] for n in range(21)] == [0] * 20 + [130101]
        now[0] = T0 + 120  # the minute has passed, the block has not
        assert robot(c, "dingtalk", "city", 50)["errcode"] == 130101
        now[0] = T0 + 60 + 601
        assert robot(c, "dingtalk", "city", 51)["errcode"] == 0


def test_an_sms_number_one_per_30_s_and_ten_a_day_a_callee_once_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [T0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    with client() as c:
        assert "message_id" in gateway(c, "sms", "+8613800000001", 0)
        assert gateway(c, "sms", "+8613800000001", 1) == {
            "code": "isv.BUSINESS_LIMIT_CONTROL",
            "message": "触发分钟级流控Permits:1",
        }
        for n in range(2, 11):  # nine more, 31 s apart: ten in the day
            now[0] += 31
            assert "message_id" in gateway(c, "sms", "+8613800000001", n)
        now[0] += 31
        assert gateway(c, "sms", "+8613800000001", 11)["message"] == "触发天级流控Permits:10"
        assert "call_id" in gateway(c, "voice", "+8613800000001", 0)
        assert gateway(c, "voice", "+8613800000001", 1) == {"code": "200119", "message": "carrier frequency limit"}


def test_without_limits_anything_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: T0)
    with client(limits=False) as c:
        assert {robot(c, "wecom", "county", n)["errcode"] for n in range(50)} == {0}
        assert all("message_id" in gateway(c, "sms", "+8613800000001", n) for n in range(5))
        assert c.get("/limits").json() == {"refused": {}}


def test_every_message_gets_its_receipt_after_the_first_10000_bodies() -> None:
    """The simulator keeps only 10,000 bodies to look at; receipts go on after that (a soak found them
    stopping there, which left SMS and calls "sent" for ever)."""
    import http.server
    import threading

    got: list[bytes] = []

    class Receipts(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(self.rfile.read(int(self.headers["content-length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receipts)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with client(limits=False) as c:
            c.app.state.sim.bodies.extend(b'{"filler":%d}' % i for i in range(10_000))
            url = f"http://127.0.0.1:{server.server_address[1]}/api/v1/receipts/sms"
            answer = c.post(
                "/sms/send", json={"to": "+8613800000001", "text": "t", "idempotency_key": "k", "callback_url": url}
            )
            sent = answer.json()["message_id"]
            deadline = time.monotonic() + 10
            while not got and time.monotonic() < deadline:
                c.loop.run_until_complete(asyncio.sleep(0.05))
        assert got and json.loads(got[0]) == {"message_id": sent, "status": "delivered"}
    finally:
        server.shutdown()
        server.server_close()
