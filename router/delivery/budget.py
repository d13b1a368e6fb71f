"""Provider budgets per destination, pure: how many messages one robot, number or callee may take in each
window, and how long a send must wait so that none is ever exceeded (DESIGN §12).

A destination is one channel address (a robot URL, a phone number). Each channel kind has limits, a
count per window of seconds (sliding windows); the defaults are the providers' documented ones
(research/channels.md) and configuration may change them. A share of every window (``reserve``, a
quarter by default) is kept for urgent traffic: a red or Level Ⅰ/Ⅱ warning's actions, §4.3 direct and
phone reports. Ordinary traffic may use the rest, so an urgent send is never refused because blue or
yellow traffic spent the window first; a window of one message cannot be shared, and there the urgent
send waits at most that window.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Mapping

from router.domain.channels import DEFAULT_LIMITS, Limit


class Budgets:
    """Sends per destination in the last day, checked against each limit of its channel kind."""

    def __init__(self, limits: Mapping[str, tuple[Limit, ...]] = DEFAULT_LIMITS, reserve: float = 0.25) -> None:
        self.limits, self.reserve = dict(limits), reserve
        self._sent: dict[tuple[str, str], deque[float]] = {}

    def span(self) -> float:
        """The longest window of any channel kind: how far back sends still count."""
        return max((limit.seconds for limits in self.limits.values() for limit in limits), default=0.0)

    def allowed(self, limit: Limit, urgent: bool) -> int:
        """How many of a window's messages traffic of this urgency may use."""
        if urgent or limit.count <= 1:
            return limit.count
        return max(1, math.floor(limit.count * (1 - self.reserve)))

    def wait(self, channel: str, destination: str, urgent: bool, now: float) -> tuple[float, Limit | None]:
        """Seconds until a send to ``destination`` fits every window (0: now), and the limit that holds it."""
        sent = self._sent.get((channel, destination))
        if not sent:
            return 0.0, None
        longest, holding = 0.0, None
        for limit in self.limits.get(channel, ()):
            seconds = limit.seconds + guard(limit)
            inside = [t for t in sent if t > now - seconds]
            room = self.allowed(limit, urgent)
            if len(inside) >= room:
                # It fits once the oldest sends that fill the window have left it.
                until = inside[len(inside) - room] + seconds - now
                if until > longest:
                    longest, holding = until, limit
        return longest, holding

    def forget(self) -> None:
        """Start the windows empty (to count them again from what the store says was sent)."""
        self._sent.clear()

    def spend(self, channel: str, destination: str, now: float) -> None:
        limits = self.limits.get(channel, ())
        if not limits:
            return
        sent = self._sent.setdefault((channel, destination), deque())
        sent.append(now)
        span = max(limit.seconds + guard(limit) for limit in limits)
        while sent and sent[0] <= now - span:
            sent.popleft()

    def settle(self, channel: str, destination: str, began: float, ended: float) -> None:
        """A send counted when it began (``spend``) ended at ``ended``: it counts from then on. The provider
        counted it when it arrived, in between; counted from its end, every later send keeps inside the
        provider's windows however long this one took on the way (the machine busy, the provider slow)."""
        sent = self._sent.get((channel, destination))
        if not sent or ended <= began:
            return
        try:
            sent.remove(began)
        except ValueError:  # no longer counted: its windows have passed, or they were counted again since
            return
        bisect.insort(sent, ended)  # the times stay in order: the oldest first


def guard(limit: Limit) -> float:
    """Time added to each window (2 % of it, 50 ms to 1 s): a margin for the provider's own clock and the time
    between its count and its answer. A send counts from when it began until it ends (``settle``)."""
    return min(1.0, max(0.05, 0.02 * limit.seconds))
