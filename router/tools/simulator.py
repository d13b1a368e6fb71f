"""A local provider simulator for the demo and the tests: SMS and voice gateways, IM robots, webhooks.

- ``POST /sms/send`` and ``POST /voice/call`` (Bearer API key): answer an id at once and post a
  receipt (``delivered`` / ``answered`` with keypress ``1``) to the callback URL after a delay. The
  same idempotency key gets the same id and no second receipt.
- ``POST /wecom/send?key=``, ``POST /dingtalk/send?access_token=&timestamp=&sign=``,
  ``POST /feishu/hook/{hook}``: the robots' message formats, signatures checked as each platform does,
  HTTP 200 with ``errcode``/``code`` in the body.
- ``POST /webhook/{name}``: a department's receiver; verifies the Standard Webhooks signature.
- ``POST /control``: ``{"mode": "ok"|"fail"|"hang", "status": 503, "channels": [...]}`` (an outage: every
  request of those channels answered ``status``, or left hanging).
- ``GET /received``: per channel, how many times each notification arrived: a coalesced message counts for
  each notification it carries (the ``X-Warnroute-Carries`` header), any other by its idempotency key.
- ``GET /messages``: per channel, how many times each message (idempotency key) arrived: the requests.
- ``GET /bodies``: what arrived, one entry per notification (a coalesced message's own part of it).
- ``GET /limits``: the over-limit answers given, per channel.

Unless started with ``--no-limits``, each destination is held to its provider's limits (written out here
from research/channels.md, apart from warnroute's own table) and answered as that provider answers when
they are passed: a WeCom robot 20 a minute (``errcode`` 45009); a DingTalk robot 20 a minute, then blocked
for 10 minutes (130101); a Feishu bot 5 a second and 100 a minute (``code`` 11232); an SMS number one per
30 s and 10 a day (Alibaba's ``isv.BUSINESS_LIMIT_CONTROL``, 触发分钟级 / 天级流控); a voice callee 1 a
minute, 5 an hour, 20 a day (carrier code ``200119``). A refused request is not received.
``--time-scale F`` multiplies every window by F (a storm replayed on a compressed clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from router.handlers.base import CARRIES_HEADER as CARRIES
from router.tools.receivers import check_vectors, dingtalk_signature_ok, feishu_expected, webhook_signature_ok


@dataclass
class SimulatorState:
    api_key: str | None
    webhook_secret: str | None
    robot_secret: str | None
    receipt_delay: float = 0.2
    mode: str = "ok"
    fail_status: int = 503
    channels: set[str] = field(default_factory=set)  # empty: every channel
    received: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    ids: dict[str, str] = field(default_factory=dict)
    # Each as its JSON: bytes the collector never looks at (a long run keeps 10,000, ~20 containers each else).
    bodies: list[bytes] = field(default_factory=list)
    first_arrival: dict[str, float] = field(default_factory=dict)  # warning id → wall-clock seconds
    limits: bool = True
    sends: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (channel, destination) → times
    blocked: dict[tuple[str, str], float] = field(default_factory=dict)  # DingTalk's 10-minute block, until
    refused: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    time_scale: float = 1.0  # every provider window multiplied by it (a storm on a compressed clock)
    messages: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))

    def arrived(self, channel: str, key: str, carries: str | None, parts: list[dict[str, Any]]) -> list[str]:
        """Count a message and each notification it carries; keep its parts (one per notification) on its
        first arrival. ``parts``: the message's own part for each carried notification, in order."""
        self.messages[channel][key] += 1
        ids = carries.split(",") if carries else [key]
        for notification_id in ids:
            self.received[channel][notification_id] += 1
        if self.messages[channel][key] == 1 and len(self.bodies) < 10_000:
            for notification_id, part in zip(ids, parts if len(parts) == len(ids) else parts * len(ids), strict=False):
                entry = {"channel": channel, "key": notification_id, "message": key, "body": part}
                self.bodies.append(orjson.dumps(entry))
        return ids

    def affected(self, channel: str) -> bool:
        return self.mode != "ok" and (not self.channels or channel in self.channels)

    def over(self, channel: str, destination: str, now: float) -> str | None:
        """Which of the provider's windows this request would pass ("minute", "day"…), else None; a request
        within them is counted (providers count what they accept)."""
        if not self.limits:
            return None
        key = (channel, destination)
        if self.blocked.get(key, 0.0) > now:
            self.refused[channel] += 1
            return "blocked"
        times = [t for t in self.sends.get(key, []) if t > now - 86400]
        for window, seconds, count in PROVIDER_WINDOWS.get(channel, ()):
            if sum(1 for t in times if t > now - seconds * self.time_scale) >= count:
                self.refused[channel] += 1
                if channel == "dingtalk":
                    self.blocked[key] = now + 600 * self.time_scale
                return window
        times.append(now)
        self.sends[key] = times
        return None


# (window, seconds, messages) per destination, as the providers document them (research/channels.md).
PROVIDER_WINDOWS: dict[str, tuple[tuple[str, float, int], ...]] = {
    "wecom": (("minute", 60, 20),),
    "dingtalk": (("minute", 60, 20),),
    "feishu": (("second", 1, 5), ("minute", 60, 100)),
    "sms": (("minute", 30, 1), ("day", 86400, 10)),
    "voice": (("minute", 60, 1), ("hour", 3600, 5), ("day", 86400, 20)),
}
SMS_LIMIT_MESSAGE = {"minute": "触发分钟级流控Permits:1", "day": "触发天级流控Permits:10"}


def create_simulator(
    api_key: str | None,
    webhook_secret: str | None,
    robot_secret: str | None,
    receipt_delay: float = 0.2,
    limits: bool = True,
    time_scale: float = 1.0,
    started: Callable[[], None] = lambda: None,
) -> FastAPI:
    """The simulator's app; ``started`` is called once it is up, before the first request."""
    check_vectors()  # a receiver that would accept a wrongly signed message must not start
    state = SimulatorState(api_key, webhook_secret, robot_secret, receipt_delay, limits=limits, time_scale=time_scale)
    tasks: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=10) as client:
            app.state.client = client
            started()
            yield
            for task in tasks:
                task.cancel()

    app = FastAPI(title="warnroute provider simulator", lifespan=lifespan)
    app.state.sim = state

    async def misbehave(channel: str) -> Response | None:
        if not state.affected(channel):
            return None
        if state.mode == "hang":
            await asyncio.sleep(3600)
        return JSONResponse({"error": "simulated failure"}, status_code=state.fail_status)

    def later(client: httpx.AsyncClient, url: str | None, body: dict[str, Any]) -> None:
        if not url:
            return

        async def post() -> None:
            await asyncio.sleep(state.receipt_delay)
            for _ in range(5):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.post(url, json=body)).status_code < 500:
                        return
                await asyncio.sleep(0.5)

        task = asyncio.create_task(post())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def gateway(request: Request, channel: str, id_field: str, receipt: dict[str, Any]) -> Response:
        if state.api_key is not None and request.headers.get("authorization") != f"Bearer {state.api_key}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        failure = await misbehave(channel)
        if failure is not None:
            return failure
        body = await request.json()
        window = state.over(channel, str(body.get("to", "")), time.time())
        if window is not None:
            if channel == "voice":
                return JSONResponse({"code": "200119", "message": "carrier frequency limit"})
            message = SMS_LIMIT_MESSAGE.get(window, "触发分钟级流控Permits:1")
            return JSONResponse({"code": "isv.BUSINESS_LIMIT_CONTROL", "message": message})
        key = str(body.get("idempotency_key") or uuid.uuid4())
        carries = request.headers.get(CARRIES)
        lines = str(body.get("text", "")).split("\n") if carries else []  # one line per notification carried
        state.arrived(channel, key, carries, [{**body, "text": line} for line in lines] or [body])
        first = key not in state.ids
        provider_id = state.ids.setdefault(key, f"{channel}-{uuid.uuid4().hex[:16]}")
        if first:  # every message gets its receipt (one for all it carries)
            later(request.app.state.client, body.get("callback_url"), {id_field: provider_id, **receipt})
        return JSONResponse({id_field: provider_id})

    @app.post("/sms/send")
    async def sms(request: Request) -> Response:
        return await gateway(request, "sms", "message_id", {"status": "delivered"})

    @app.post("/voice/call")
    async def voice(request: Request) -> Response:
        return await gateway(request, "voice", "call_id", {"status": "answered", "keypress": "1"})

    @app.post("/webhook/{name}")
    async def webhook(request: Request, name: str) -> Response:
        failure = await misbehave("webhook")
        if failure is not None:
            return failure
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        if state.webhook_secret is not None and not webhook_signature_ok(
            state.webhook_secret, headers, raw, time.time()
        ):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        key = headers.get("webhook-id", "")
        event = json.loads(raw)
        data = event.get("data", {})
        items = data.get("items") if isinstance(data.get("items"), list) else [data]
        for item in items:
            if "warning" in item:  # a situation report carries none
                state.first_arrival.setdefault(str(item["warning"].get("id")), time.time())
        parts = [{**event, "data": item, "name": name} for item in items]
        state.arrived("webhook", key, headers.get(CARRIES), parts)
        return JSONResponse({"ok": True})

    def robot(channel: str, ok_field: str, body: dict[str, Any], key: str, request: Request) -> Response:
        state.arrived(channel, key, request.headers.get(CARRIES), [body])
        return JSONResponse({ok_field: 0, "errmsg" if ok_field == "errcode" else "msg": "ok"})

    @app.post("/wecom/send")
    async def wecom(request: Request, key: str = "") -> Response:
        if not key:
            return JSONResponse({"errcode": 93000, "errmsg": "invalid webhook url"})
        failure = await misbehave("wecom")
        if failure is not None:
            return failure
        if state.over("wecom", key, time.time()) is not None:
            return JSONResponse({"errcode": 45009, "errmsg": "api freq out of limit"})
        body = await request.json()
        return robot("wecom", "errcode", body, body["markdown"]["content"][:40], request)

    @app.post("/dingtalk/send")
    async def dingtalk(request: Request, access_token: str = "", timestamp: int = 0, sign: str = "") -> Response:
        if not access_token:
            return JSONResponse({"errcode": 300001, "errmsg": "token is not exist"})
        if state.robot_secret is not None:
            if abs(time.time() * 1000 - timestamp) > 3_600_000:
                return JSONResponse({"errcode": 310000, "errmsg": "invalid timestamp"})
            if not dingtalk_signature_ok(state.robot_secret, timestamp, sign):
                return JSONResponse({"errcode": 310000, "errmsg": "sign not match"})
        failure = await misbehave("dingtalk")
        if failure is not None:
            return failure
        if state.over("dingtalk", access_token, time.time()) is not None:
            return JSONResponse({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
        body = await request.json()
        return robot("dingtalk", "errcode", body, str(body.get("msgUuid", "")), request)

    @app.post("/feishu/hook/{hook}")
    async def feishu(request: Request, hook: str) -> Response:
        body = await request.json()
        if not hook:
            return JSONResponse({"code": 9499, "msg": "Bad Request"})
        if state.robot_secret is not None:
            timestamp = int(body.get("timestamp", 0))
            if abs(time.time() - timestamp) > 3600 or not hmac.compare_digest(
                feishu_expected(state.robot_secret, timestamp).encode(), str(body.get("sign", "")).encode()
            ):
                return JSONResponse({"code": 19021, "msg": "sign match fail or timestamp is not within one hour"})
        failure = await misbehave("feishu")
        if failure is not None:
            return failure
        if state.over("feishu", hook, time.time()) is not None:
            return JSONResponse({"code": 11232, "msg": "frequency limited"})
        return robot("feishu", "code", body, body["content"]["text"][:40], request)

    @app.post("/control")
    async def control(request: Request) -> dict[str, Any]:
        body = await request.json()
        state.mode = str(body.get("mode", "ok"))
        state.fail_status = int(body.get("status", 503))
        state.channels = set(body.get("channels", []))
        return {"mode": state.mode}

    @app.get("/received")
    async def received() -> dict[str, dict[str, int]]:
        return {channel: dict(keys) for channel, keys in state.received.items()}

    @app.get("/messages")
    async def messages() -> dict[str, dict[str, int]]:
        return {channel: dict(keys) for channel, keys in state.messages.items()}

    @app.get("/limits")
    async def refused() -> dict[str, dict[str, int]]:
        return {"refused": dict(state.refused)}

    @app.get("/arrivals")
    async def arrivals() -> dict[str, float]:
        return state.first_arrival

    @app.get("/bodies")
    async def bodies() -> Response:
        return Response(b"[" + b",".join(state.bodies) + b"]", media_type="application/json")

    return app
