"""Who is calling, may they, and every denial counted and audited. The rules themselves are pure, in
:mod:`router.access.roles`. It reads a request through :class:`Caller` (what Starlette's request has), so
it needs no web framework; the HTTP edge passes its requests, the Kafka edge its records' headers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Protocol

import structlog

from router.access.acklinks import Sessions
from router.access.roles import DEV, Principal, denied, matches, signature_problem, split_token
from router.errors import DeliveryError
from router.metrics import Metrics
from router.plan.schema import SecretRef
from router.plan.secrets import SecretResolver
from router.store import SqlStore

log = structlog.get_logger("warnroute.auth")
CACHE_SECONDS = 10.0
SESSION_COOKIE = "wr_session"  # a token revoked from the command line stops working within this


class _Url(Protocol):
    @property
    def path(self) -> str: ...


class Caller(Protocol):
    """What the gate reads of an HTTP request."""

    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def cookies(self) -> Mapping[str, str]: ...
    @property
    def method(self) -> str: ...
    @property
    def url(self) -> _Url: ...


class Denied(Exception):
    def __init__(self, status: int, field: str, problem: str) -> None:
        super().__init__(problem)
        self.status, self.field, self.problem = status, field, problem


class Gate:
    def __init__(
        self, store: SqlStore, metrics: Metrics, secrets: SecretResolver, dev: bool, sessions: Sessions
    ) -> None:
        self.store, self.metrics, self.secrets, self.dev, self.sessions = store, metrics, secrets, dev, sessions
        self._cache: dict[str, tuple[float, tuple[Principal, str] | None]] = {}

    def forget(self, principal_id: str) -> None:
        self._cache.pop(principal_id, None)

    async def who(self, request: Caller) -> Principal:
        """The caller, or Denied (401) naming what is wrong with its credentials."""
        if self.dev:
            return DEV
        parts = split_token(request.headers.get("authorization"))
        if parts is None:
            return await self._session(request)
        token_id, secret = parts
        found = await self._lookup(token_id)
        if found is None or not matches(secret, found[1]):
            await self.deny(request, None, "authorization", "unknown or revoked token", 401)
        assert found is not None
        return found[0]

    async def login(self, token: str) -> Principal | None:
        """The principal a token pasted into the login page names, if it is genuine and active."""
        parts = split_token(f"Bearer {token.strip()}")
        if parts is None:
            return None
        found = await self._lookup(parts[0])
        return found[0] if found is not None and matches(parts[1], found[1]) else None

    async def _lookup(self, token_id: str) -> tuple[Principal, str] | None:
        now = time.monotonic()
        cached = self._cache.get(token_id)
        if cached is None or now - cached[0] > CACHE_SECONDS:
            cached = (now, await self.store.principal(token_id))
            self._cache[token_id] = cached
        return cached[1]

    async def _session(self, request: Caller) -> Principal:
        """The web pages' session cookie. A state-changing request must also carry ``X-Warnroute-UI``
        (which no other site can add without a CORS grant), besides the cookie being SameSite=Strict."""
        cookie = request.cookies.get(SESSION_COOKIE)
        principal_id = self.sessions.principal_id(cookie, time.time()) if cookie else None
        if principal_id is None:
            await self.deny(request, None, "authorization", "a bearer token (wrt_…) or a login is required", 401)
        assert principal_id is not None
        if request.method not in ("GET", "HEAD") and request.headers.get("x-warnroute-ui") != "1":
            await self.deny(request, None, "x-warnroute-ui", "a page's request must carry X-Warnroute-UI: 1", 403)
        found = await self._lookup(principal_id)
        if found is None:
            await self.deny(request, None, "authorization", "the session's token was revoked", 401)
        assert found is not None
        return found[0]

    async def require(self, request: Caller, action: str) -> Principal:
        principal = await self.who(request)
        problem = denied(principal, action)
        if problem is not None:
            await self.deny(request, principal, "authorization", problem)
        return principal

    def by_session(self, request: Caller) -> bool:
        """Whether the caller is a person at a page (the session cookie, no bearer token): its login with the
        token and the page's own header are its proof; a body signature proves a machine client's key."""
        return not self.dev and split_token(request.headers.get("authorization")) is None

    async def check_signature(self, request: Caller, principal: Principal, body: bytes) -> None:
        if self.dev:
            return
        refused = self.signature_refusal(
            principal,
            request.headers.get("x-warnroute-timestamp"),
            request.headers.get("x-warnroute-signature"),
            body,
            time.time(),
        )
        if refused is not None:
            await self.deny(request, principal, "signature", refused[1], refused[0])

    async def publisher(self, principal_id: str) -> Principal | None:
        """The active publisher of this id (Kafka records name theirs in ``x-warnroute-publisher``)."""
        found = await self._lookup(principal_id)
        return found[0] if found is not None and found[0].role == "publisher" else None

    async def principal(self, principal_id: str) -> Principal | None:
        """The active principal of this id (a Kafka report names its own in ``x-warnroute-principal``)."""
        found = await self._lookup(principal_id)
        return found[0] if found is not None else None

    def signature_refusal(
        self, principal: Principal, timestamp: str | None, given: str | None, body: bytes, at: float
    ) -> tuple[int, str] | None:
        """(status, problem) when the publisher's signature over ``body`` is missing, stale or wrong; else None.

        ``at`` is when the message arrived: now for HTTP, the broker's append time for a Kafka record.
        """
        if principal.signing_key_ref is None:
            return 403, "this publisher has no signing key configured"
        kind, _, name = principal.signing_key_ref.partition(":")
        try:
            key = self.secrets.resolve(SecretRef(env=name) if kind == "env" else SecretRef(file=name)).encode()
        except DeliveryError:
            return 503, f"signing key {principal.signing_key_ref} is not set"
        problem = signature_problem(key, timestamp, given, body, at)
        return (401, problem) if problem is not None else None

    async def deny(
        self, request: Caller, principal: Principal | None, field: str, problem: str, status: int = 403
    ) -> None:
        """Count, audit and log the denial, then raise it."""
        await self.record_denial(request, principal, problem, status)
        raise Denied(status, field, problem)

    async def record_denial(self, request: Caller, principal: Principal | None, problem: str, status: int) -> None:
        """Count, audit and log a refused request (the page login answers it with a redirect instead)."""
        await self.record_refusal(
            principal.id if principal else "anonymous", request.method, request.url.path, problem, status
        )

    async def record_refusal(self, who: str, method: str, path: str, problem: str, status: int) -> None:
        """Count, audit and log a refusal; ``method`` and ``path`` say where (``KAFKA`` and the topic for records)."""
        self.metrics.denials.labels("unauthenticated" if status == 401 else "forbidden").inc()
        log.warning("request_denied", principal=who, path=path, problem=problem)
        detail = {"principal": who, "method": method, "path": path, "problem": problem}
        try:
            await self.store.record_event("denied", detail, time.time())
        except Exception:  # auditing must not turn a denial into a 500
            log.exception("denial_not_audited")
