"""Principals, roles and what each may do; API tokens (stored hashed) and signed ingest. Pure.

Roles (DESIGN §10): ``publisher`` (the bureau: ingest only), ``department`` (its own feed and
acknowledgements, in its own jurisdiction), ``duty_office`` (reads everything, confirms on a
department's behalf, with a reason), ``admin`` (tokens, config reload, and reading everything; it
does not publish warnings).

A token reads ``wrt_<id>.<secret>``; the store keeps the id and SHA-256 of the secret, never the
secret. Ingest outside dev mode also carries ``X-Warnroute-Timestamp`` (Unix seconds) and
``X-Warnroute-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body>`` under the publisher's
signing key, and the timestamp must be within ``REPLAY_WINDOW`` of the server's clock.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

ROLES = ("publisher", "department", "duty_office", "admin")
Role = Literal["publisher", "department", "duty_office", "admin"]
REPLAY_WINDOW = 300.0
TOKEN_PREFIX = "wrt_"

ALLOWED: dict[str, frozenset[str]] = {
    "ingest": frozenset({"publisher"}),
    "read_warning": frozenset({"duty_office", "admin"}),
    "report": frozenset({"duty_office", "admin"}),
    "audit": frozenset({"duty_office", "admin"}),
    "summary": frozenset({"duty_office", "admin"}),
    "feed": frozenset({"department", "duty_office", "admin"}),
    "ack": frozenset({"department", "duty_office", "admin"}),
    "tokens": frozenset({"admin"}),
    "reload": frozenset({"admin"}),
    "file_report": frozenset({"department", "duty_office"}),
    "read_reports": frozenset({"department", "duty_office", "admin"}),
}
"""Action → roles that may perform it; scoping (own department, on behalf) is checked by ``scope``."""
DOING = {
    "ingest": "publish warnings",
    "read_warning": "read warnings",
    "report": "read compliance reports",
    "audit": "check the audit log",
    "summary": "read the summary",
    "feed": "read action feeds",
    "ack": "acknowledge obligations",
    "tokens": "manage API tokens",
    "reload": "reload the configuration",
    "file_report": "file situation reports",
    "read_reports": "read situation reports",
}
"""Each action as the refusal's sentence names it ("a publisher may not manage API tokens")."""
ARTICLE = {
    "publisher": "a publisher",
    "department": "a department",
    "duty_office": "the duty office",
    "admin": "an admin",
}


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    name: str
    role: str
    jurisdiction: str | None = None
    department: str | None = None
    signing_key_ref: str | None = None  # "env:NAME" or "file:PATH" (publishers)

    def public(self) -> dict[str, str | None]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "jurisdiction": self.jurisdiction,
            "department": self.department,
        }


DEV = Principal("dev", "dev mode", "dev")
"""Who every request is in dev mode (``WARNROUTE_AUTH=dev``): a role no token can have, allowed everything."""


def new_token() -> tuple[str, str, str]:
    """(token id, the token to hand out once, the SHA-256 of its secret to store)."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return token_id, f"{TOKEN_PREFIX}{token_id}.{secret}", digest(secret)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(header: str | None) -> tuple[str, str] | None:
    """(id, secret) from ``Authorization: Bearer wrt_<id>.<secret>``, or None if it is not one."""
    if not header or not header.startswith("Bearer "):
        return None
    token = header[7:].strip()
    if not token.startswith(TOKEN_PREFIX) or "." not in token:
        return None
    token_id, _, secret = token[len(TOKEN_PREFIX) :].partition(".")
    return (token_id, secret) if token_id and secret else None


def matches(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_digest)


def denied(principal: Principal, action: str) -> str | None:
    """Why ``principal`` may not perform ``action`` at all, or None."""
    if principal is DEV:
        return None
    if principal.role not in ALLOWED.get(action, frozenset()):
        who = ARTICLE.get(principal.role, f"role {principal.role!r}")
        return f"{who} may not {DOING.get(action, action.replace('_', ' '))}"
    return None


def feed_denied(principal: Principal, jurisdiction: str, department: str) -> str | None:
    if principal.role == "department" and (principal.jurisdiction, principal.department) != (jurisdiction, department):
        return "a department sees only its own feed"
    return None


def ack_denied(principal: Principal, jurisdiction: str, department: str, on_behalf: bool) -> str | None:
    if principal.role == "department":
        if on_behalf:
            return "only the duty office confirms on a department's behalf"
        if (principal.jurisdiction, principal.department) != (jurisdiction, department):
            return "a department acknowledges only its own obligations"
    if principal.role in ("duty_office", "admin") and not on_behalf:
        return f"the {principal.role.replace('_', ' ')} confirms only on a department's behalf (on_behalf, reason)"
    return None


def signature(key: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_problem(key: bytes, timestamp: str | None, given: str | None, body: bytes, now: float) -> str | None:
    """None when the ingest signature is present, current and right; else what is wrong (no secrets)."""
    if not timestamp or not given:
        return "X-Warnroute-Timestamp and X-Warnroute-Signature are required"
    try:
        at = float(timestamp)
    except ValueError:
        return "X-Warnroute-Timestamp is not Unix seconds"
    if abs(now - at) > REPLAY_WINDOW:
        return f"timestamp outside the {REPLAY_WINDOW:.0f}-second window (a replay, or a clock that is off)"
    if not hmac.compare_digest(signature(key, timestamp, body).encode(), given.strip().encode()):
        return "signature does not match the body"
    return None


GOVERNMENT = "government"  # a county government collects its county's reports (§5.6)


def report_denied(principal: Principal, jurisdiction: str, department: str, on_behalf: bool) -> tuple[str, str] | None:
    """(field, problem) when ``principal`` may not file a situation report for this office, else None.

    A department files for its own office; a government for any office of its jurisdiction (§5.6: it
    collects them); the duty office for any office, saying so (``on_behalf``, with a reason the model
    requires); no one else files.
    """
    if principal is DEV:
        return None
    refused = denied(principal, "file_report")
    if refused is not None:
        return "authorization", refused
    if principal.role == "duty_office":
        own = (principal.jurisdiction, principal.department) == (jurisdiction, department)
        if not own and not on_behalf:
            return "on_behalf", "the duty office files for another office on its behalf: set on_behalf and a reason"
        return None
    if on_behalf:
        return "on_behalf", "only the duty office files on an office's behalf"
    if principal.jurisdiction != jurisdiction:
        return "jurisdiction", f"a department files only for its own jurisdiction ({principal.jurisdiction})"
    if principal.department not in (department, GOVERNMENT):
        return "department", f"a department files only for its own office ({principal.department})"
    return None


def reports_scope(principal: Principal) -> list[str] | None:
    """The jurisdictions whose reports ``principal`` reads (None: all)."""
    if principal is DEV or principal.role in ("duty_office", "admin"):
        return None
    return [principal.jurisdiction] if principal.jurisdiction else []
