"""The plan's text as data: its clauses, and whether a quoted sentence really stands in a clause.

Used by ``warnroute plan coverage`` and by the tests that hold every configured action text to the
letter of the plan. Whitespace is ignored when comparing, since the published text spaces digits
("30 分钟", "提前 6小时") inconsistently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(\d+(?:\.\d+)*)\s+([^\s，。；：、]+)$")
_SPACE = re.compile(r"\s+")


def squeeze(text: str) -> str:
    """``text`` without any whitespace, for comparisons with the plan."""
    return _SPACE.sub("", text)


@dataclass(frozen=True)
class PlanText:
    """Clause id → title and body (body squeezed of whitespace, paragraphs joined)."""

    titles: dict[str, str]
    bodies: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> PlanText:
        titles: dict[str, str] = {}
        bodies: dict[str, list[str]] = {}
        current: str | None = None
        for raw in text.splitlines():
            line = raw.strip()
            match = _HEADING.match(line)
            if match and _plausible_heading(match.group(1), titles):
                current = match.group(1)
                titles[current] = match.group(2)
                bodies[current] = []
            elif current is not None and line:
                bodies[current].append(line)
        return cls(titles, {k: squeeze("".join(v)) for k, v in bodies.items()})

    def contains(self, clause: str, quote: str) -> bool:
        """True if ``quote`` (whitespace ignored) stands in ``clause`` or in one of its sub-clauses."""
        needle = squeeze(quote)
        return any(needle in body for cid, body in self.bodies.items() if cid == clause or cid.startswith(clause + "."))


def _plausible_heading(number: str, seen: dict[str, str]) -> bool:
    """A heading number must be new and follow the structure (guards against body lines like '12 小时…')."""
    if number in seen:
        return False
    parent = number.rsplit(".", 1)[0] if "." in number else None
    return (parent is None and int(number) <= 20) or parent in seen
