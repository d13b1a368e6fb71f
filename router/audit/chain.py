"""The audit log's hash chain: each event's hash covers the previous hash and the event itself. Pure.

An event is (seq, at, kind, warning_id, obligation_id, detail); ``seq`` counts from 1 without gaps.
Editing an event changes its hash; deleting or reordering events breaks a ``prev`` link or the
sequence; ``verify`` reports the first event where the chain no longer holds.

What the chain alone cannot show is events cut off its end: a shorter chain is still a valid one. So
``warnroute audit verify`` prints ``N events … head H``; record that outside the database (a ticket, the
duty log, another machine), and a later ``verify --anchor N:H`` fails if event N is gone or is no longer H.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

GENESIS = "0" * 64

AuditRow = tuple[int, float, str, str | None, str | None, str, str, str]
"""(seq, at, kind, warning_id, obligation_id, detail, prev, hash) as stored."""


def link(
    prev: str, seq: int, at: float, kind: str, warning_id: str | None, obligation_id: str | None, detail: str
) -> str:
    material = "\x1f".join((prev, str(seq), repr(at), kind, warning_id or "", obligation_id or "", detail))
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class Verdict:
    ok: bool
    events: int
    head: str
    problem: str = ""


class Chain:
    """Checks a chain fed in ``seq`` order, in as many pieces as convenient."""

    def __init__(self, anchors: dict[int, str] | None = None) -> None:
        self.prev, self.expected, self.count, self.problem = GENESIS, 1, 0, ""
        self.anchors = dict(anchors or {})  # seq -> the hash recorded for it elsewhere

    def feed(self, rows: Iterable[AuditRow]) -> bool:
        """False once the chain is broken (``problem`` says where and how)."""
        for seq, at, kind, warning_id, obligation_id, detail, stored_prev, stored_hash in rows:
            if self.problem:
                return False
            n = self.expected
            if seq != n:
                what = "missing" if seq > n else "out of order"
                self.problem = f"event {n} is {what} (found {seq} where {n} belongs)"
            elif stored_prev != self.prev:
                self.problem = f"event {seq} ({kind}) does not follow event {seq - 1}: chain broken"
            elif link(self.prev, seq, at, kind, warning_id, obligation_id, detail) != stored_hash:
                self.problem = f"event {seq} ({kind}) was altered: its hash does not match its content"
            elif self.anchors.get(seq, stored_hash) != stored_hash:
                self.problem = f"event {seq} ({kind}) is not the one recorded: the chain was rewritten from there on"
            else:
                self.prev, self.expected, self.count = stored_hash, n + 1, self.count + 1
        return not self.problem

    def verdict(self) -> Verdict:
        cut = [seq for seq in self.anchors if seq > self.count]
        if cut and not self.problem:
            self.problem = (
                f"the chain ends at event {self.count}, before the recorded event {min(cut)}: events were cut"
            )
        return Verdict(not self.problem, self.count, self.prev, self.problem)


def verify(rows: Iterable[AuditRow], anchors: dict[int, str] | None = None) -> Verdict:
    """Walk the chain in ``seq`` order; the first break is the verdict's problem."""
    chain = Chain(anchors)
    chain.feed(rows)
    return chain.verdict()
