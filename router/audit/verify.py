"""Verifying the audit chain of a store, page by page (the log can be long)."""

from __future__ import annotations

from typing import Protocol

from router.audit.chain import AuditRow, Chain, Verdict

PAGE = 20_000


class AuditSource(Protocol):
    async def audit_rows(self, after: int = 0, limit: int = PAGE) -> list[AuditRow]: ...


async def verify_store(store: AuditSource, anchors: dict[int, str] | None = None) -> Verdict:
    """The store's chain checked end to end, and against heads recorded elsewhere (``anchors``: seq → hash)."""
    chain = Chain(anchors)
    after = 0
    while True:
        rows = await store.audit_rows(after, PAGE)
        if not rows or not chain.feed(rows):
            return chain.verdict()
        after = rows[-1][0]
