"""Signed one-click acknowledgement links (in SMS, IM and e-mail) and SMS reply codes.

A link names the obligation and an expiry and carries an HMAC-SHA256 over both, so it acknowledges
that one obligation and nothing else, and only until it expires. Opening it shows a confirmation
page; the acknowledgement itself is the page's POST (link scanners in mail and IM clients open
links, and must not acknowledge on anyone's behalf). The key comes from ``WARNROUTE_ACK_KEY`` or,
if that is not set, from a random key kept in the data folder, so links survive restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path
from urllib.parse import quote

LINK_TTL = 7 * 24 * 3600.0
_REPLY = re.compile(r"(?:确认|收到|ack|ok)?\s*#?\s*(\d{1,12})\s*$", re.IGNORECASE)


def load_key(configured: str | None, data_dir: Path) -> bytes:
    if configured:
        return configured.encode()
    path = data_dir / "ack.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


class AckSigner:
    def __init__(self, key: bytes, base_url: str, ttl: float = LINK_TTL) -> None:
        self._key, self.base_url, self.ttl = key, base_url.rstrip("/"), ttl

    def _sig(self, obligation_id: str, expires: int) -> str:
        return hmac.new(self._key, f"{obligation_id}\x1f{expires}".encode(), hashlib.sha256).hexdigest()[:32]

    def link(self, obligation_id: str, now: float) -> str:
        expires = int(now + self.ttl)
        return f"{self.base_url}/ack/{quote(obligation_id)}?exp={expires}&sig={self._sig(obligation_id, expires)}"

    def check(self, obligation_id: str, expires: str, sig: str, now: float) -> str | None:
        """None when the link is genuine and current, else what is wrong with it."""
        if not (expires.isascii() and expires.isdigit()):
            return "the link has no valid expiry"
        if not hmac.compare_digest(self._sig(obligation_id, int(expires)).encode(), sig.encode()):
            return "the link's signature does not match"
        if int(expires) < now:
            return "the link has expired"
        return None


SESSION_TTL = 12 * 3600.0


class Sessions:
    """Signed session cookies for the web pages: ``<principal id>.<expiry>.<HMAC>``. A session names a
    principal, so revoking its token ends the session too (the principal is looked up each time)."""

    def __init__(self, key: bytes, ttl: float = SESSION_TTL) -> None:
        self._key, self.ttl = key, ttl

    def _sig(self, principal_id: str, expires: int) -> str:
        return hmac.new(self._key, f"session\x1f{principal_id}\x1f{expires}".encode(), hashlib.sha256).hexdigest()

    def issue(self, principal_id: str, now: float) -> str:
        expires = int(now + self.ttl)
        return f"{principal_id}.{expires}.{self._sig(principal_id, expires)}"

    def principal_id(self, cookie: str, now: float) -> str | None:
        principal_id, _, rest = cookie.partition(".")
        expires, _, sig = rest.partition(".")
        if not principal_id or not (expires.isascii() and expires.isdigit()) or int(expires) < now:
            return None
        return (
            principal_id if hmac.compare_digest(self._sig(principal_id, int(expires)).encode(), sig.encode()) else None
        )


def reply_code(text: str) -> int | None:
    """The obligation number in an SMS reply such as ``确认 1234`` or ``1234``."""
    match = _REPLY.search(text.strip())
    return int(match.group(1)) if match else None
