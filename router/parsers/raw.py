"""The fields every format yields before normalisation, and where each came from in its format."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RawWarning:
    """What a format parser extracted, as text; :mod:`router.parsers.normalise` makes it a warning.

    ``where`` maps a logical field name (``severity``) to its name in the source format
    (``alert/info/severity``), so every rejection names the field as the sender wrote it.
    """

    fmt: str
    where: dict[str, str]
    identifier: str = ""
    sender: str = ""
    sender_code: str | None = None
    sent: str = ""
    status: str = ""
    msg_type: str = ""
    references: list[str] = field(default_factory=list)
    event: str | None = None
    event_code: str | None = None
    severity: str | None = None
    level: str | None = None
    product: str | None = None
    hazard: str | None = None
    headline: str = ""
    description: str = ""
    geocodes: list[tuple[str, str]] = field(default_factory=list)  # (valueName, value)
    onset: str | None = None
    expires: str | None = None
    response_type: str | None = None
    urgency: str | None = None
    all_clear: bool = False
    key_townships: list[str] = field(default_factory=list)
    rainfall_mm: dict[str, float] = field(default_factory=dict)
    lead_days: int | None = None

    def name(self, logical: str) -> str:
        return self.where.get(logical, logical)

    def fill_info(self, text: Callable[[str], str]) -> None:
        """Take the info-block fields both XML formats share; ``text(tag)`` reads one child's text."""
        self.severity = text("severity") or None
        self.headline = text("headline")
        self.description = text("description")
        self.onset = text("onset") or None
        self.expires = text("expires") or None
        self.response_type = text("responseType") or None
        self.urgency = text("urgency") or None
