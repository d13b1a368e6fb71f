"""HTTP transports for the handlers: aiohttp in production (it keeps up with fan-out where httpx does not;
see research/baseline.md), and an httpx adapter that tests use with ``httpx.MockTransport``."""

from __future__ import annotations

import time
from collections.abc import Mapping

import aiohttp
import httpx

from router.handlers.base import HttpReply, TransportFailure, retry_after


class AiohttpTransport:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpReply:
        # The failure is raised outside the except block so the client's exception, whose text
        # carries the URL, is not kept even as __context__.
        reason: str | None = None
        try:
            async with self.session.post(url, data=body, headers=dict(headers), allow_redirects=False) as response:
                wait = retry_after(response.headers.get("retry-after"), time.time())
                return HttpReply(response.status, await response.read(), wait)
        except TimeoutError:
            reason = "timed out"
        except aiohttp.ClientError as exc:
            reason = f"connection failed ({type(exc).__name__})"
        raise TransportFailure(reason)


class HttpxTransport:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpReply:
        reason: str | None = None
        try:
            response = await self.client.post(url, content=body, headers=dict(headers))
            wait = retry_after(response.headers.get("retry-after"), time.time())
            return HttpReply(response.status_code, response.content, wait)
        except (TimeoutError, httpx.TimeoutException):
            reason = "timed out"
        except httpx.TransportError as exc:
            reason = f"connection failed ({type(exc).__name__})"
        raise TransportFailure(reason)
