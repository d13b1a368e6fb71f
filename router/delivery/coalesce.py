"""Pure: one message for one destination from the notifications due for it (DESIGN §12).

Whatever is due for a destination when a send to it can start goes as one message: each notification
keeps its own title, text, acknowledgement link and payload, in the order given (most urgent first). A
message is split at its channel's size limit, between notifications, never inside one. Its idempotency
key is derived from the notification ids it carries, so the same set sent again is recognised; a message
of one notification keeps that notification's id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from router.domain.channels import SIZE_LIMITS
from router.handlers.base import Outbound

ENVELOPE = 400  # bytes a provider's JSON wrapping adds around title and text (keys, signatures, escapes)


def message_key(ids: Sequence[str]) -> str:
    """The idempotency key of a message carrying ``ids``: the id itself for one, else a digest of the set."""
    if len(ids) == 1:
        return ids[0]
    digest = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
    return "m" + digest[:23]


def measure(channel: str, title: str, text: str) -> int:
    """A message's size as its channel's limit counts it (characters for SMS, UTF-8 bytes elsewhere)."""
    if channel == "sms":
        return len(text)
    if channel == "wecom":  # the markdown content is the limited field
        return len(f"### {title}\n{text}".encode())
    escapes = text.count("\n") + text.count('"')
    return len(title.encode()) * 2 + len(text.encode()) + escapes + ENVELOPE


def split(channel: str, items: Sequence[Outbound]) -> list[list[Outbound]]:
    """``items`` in order, packed greedily into messages within the channel's size limit; a notification
    that alone exceeds it is a message of its own (its handler cuts it at a line, as for any single one)."""
    limit = SIZE_LIMITS.get(channel, (0, ""))[0]
    messages: list[list[Outbound]] = []
    current: list[Outbound] = []
    size = _Size(channel)
    for item in items:
        if current and limit and size.with_one_more(item) > limit:
            messages.append(current)
            current, size = [], _Size(channel)
        current.append(item)
        size.add(item)
    if current:
        messages.append(current)
    return messages


class _Size:
    """``measure(channel, *_title_text(channel, items))`` of a message as its items are added, one at a time,
    without writing out its text again for each (hundreds of notifications for one webhook endpoint would
    make that quadratic)."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.first: Outbound | None = None
        self.count = 0
        self.length = 0  # the numbered parts' bytes (characters for SMS), without the separators
        self.escapes = 0  # their newlines and quotes

    def add(self, item: Outbound) -> None:
        self.count += 1
        if self.first is None:
            self.first = item
        length, escapes = self._part(self.count, item)
        self.length += length
        self.escapes += escapes

    def with_one_more(self, item: Outbound) -> int:
        """The size of the message with ``item`` after what it holds (at least one item)."""
        assert self.first is not None
        n = self.count + 1
        length, escapes = self._part(n, item)
        if self.channel == "sms":
            return self.length + length + n - 1  # one line each
        text = self.length + length + 2 * (n - 1)  # the parts, "\n\n" between them
        title = len(self.first.title.encode()) + len(f" 等{n}项".encode())
        if self.channel == "wecom":
            return len(b"### \n") + title + text
        return title * 2 + text + self.escapes + escapes + 2 * (n - 1) + ENVELOPE

    def _part(self, n: int, item: Outbound) -> tuple[int, int]:
        if self.channel == "sms":
            return len(item.text), 0
        part = f"{n}. {item.title}\n{item.text}"
        return len(part.encode()), part.count("\n") + part.count('"')


def combine(items: Sequence[Outbound]) -> Outbound:
    """One message carrying ``items`` (all for one destination on one channel), most urgent first."""
    first = items[0]
    if len(items) == 1:
        return first
    ids = tuple(i.id for i in items)
    title, text = _title_text(first.channel, items)
    payload = {
        "drill": any(i.drill for i in items),
        "items": [{**dict(i.payload), "notification_id": i.id} for i in items],
    }
    return Outbound(
        id=message_key(ids),
        channel=first.channel,
        department=first.department,
        jurisdiction=first.jurisdiction,
        title=title,
        text=text,
        payload=payload,
        drill=any(i.drill for i in items),
        contact=first.contact,
        callback_url=first.callback_url,
        carries=ids,
    )


def _title_text(channel: str, items: Sequence[Outbound]) -> tuple[str, str]:
    if len(items) == 1:
        return items[0].title, items[0].text
    title = f"{items[0].title} 等{len(items)}项"
    if channel == "sms":  # one line each, in order: the short form already names what and by when
        return title, "\n".join(i.text for i in items)
    return title, "\n\n".join(f"{n}. {i.title}\n{i.text}" for n, i in enumerate(items, start=1))
