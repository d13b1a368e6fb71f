"""Escalation ladders: when each rung of an obligation fires, and what a due rung does. Pure.

An obligation starts its clock at the warning's issue time and must be done by its deadline
(acknowledged, or delivered for notices). Its ladder's rungs fire at ``start + after``; a ladder
that does not fit before a deadline known only at run time (a nowcast task whose onset is near) is
compressed so that its last rung falls at three quarters of the time available. After the last rung,
the obligation's next step is the breach, at the deadline itself.

``plan_initial`` gives what fires at ingest (the rungs due at once); ``plan_due`` what a due
obligation does now. Both are pure, so every path is tested on a plain clock; the store applies
their effects in one transaction with the step advance, so a restart neither loses nor repeats one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from router.domain.channels import PUSH_KINDS
from router.domain.obligation import OpenObligation

FIT = 0.75  # a compressed ladder's last rung lands at this fraction of the time to the deadline


@dataclass(frozen=True, slots=True)
class Rung:
    after: float  # seconds from the obligation's start
    send: str | None  # a channel kind or "first"; None for a duty-office alert
    alert: bool


@dataclass(frozen=True, slots=True)
class Choice:
    kinds: frozenset[str] | None
    departments: frozenset[str] | None
    min_rank: int
    ladder: str


@dataclass(frozen=True)
class Ladders:
    """The compiled ``escalation`` section of warnings.yaml."""

    ladders: Mapping[str, tuple[Rung, ...]]
    choices: tuple[Choice, ...]
    duty_department: str
    duty_channels: tuple[str, ...]
    no_ack: frozenset[str]
    confirm_only: frozenset[str]
    city: str = ""
    duty_at: frozenset[str] = frozenset()  # jurisdictions with a duty office of their own
    _memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def choose(self, kind: str, department: str, rank: int) -> str | None:
        """The ladder of an obligation of this kind, department and warning rank (None: none). Memoised."""
        key = ("choose", kind, department, rank)
        if key in self._memo:
            found: str | None = self._memo[key]
            return found
        chosen = self._choose(kind, department, rank)
        if len(self._memo) < 10_000:
            self._memo[key] = chosen
        return chosen

    def _choose(self, kind: str, department: str, rank: int) -> str | None:
        for c in self.choices:
            if c.kinds is not None and kind not in c.kinds:
                continue
            if c.departments is not None and department not in c.departments:
                continue
            if rank < c.min_rank:
                continue
            return c.ladder
        return None

    def ack_mode(self, kind: str) -> str:
        """``delivery`` (done when delivered), ``confirm`` (a person must confirm) or ``required``."""
        if kind in self.no_ack:
            return "delivery"
        return "confirm" if kind in self.confirm_only else "required"

    def opening(self, ladder: str, room: float) -> tuple[tuple[tuple[int, Rung], ...], int, float | None]:
        """The rungs that fire at the start, the next step's index and its offset from the start (None:
        the next step is the breach), for a deadline ``room`` seconds after the start. Memoised."""
        key = (ladder, room)
        found = self._memo.get(key)
        if found is None:
            rungs = self.ladders.get(ladder, ())
            offsets = list(self.times(ladder, 0.0, room)) if rungs else []
            zero = tuple((i, r) for i, (r, t) in enumerate(zip(rungs, offsets, strict=True)) if t <= 0)
            nxt = len(zero)
            found = (zero, nxt, offsets[nxt] if nxt < len(offsets) else None)
            if len(self._memo) < 10_000:
                self._memo[key] = found
        result: tuple[tuple[tuple[int, Rung], ...], int, float | None] = found
        return result

    def opening_sends(
        self, ladder: str, room: float, department: str, jurisdiction: str, channels: tuple[str, ...]
    ) -> Opening:
        """``opening`` with what its rungs send, for an obligation of this department, jurisdiction and
        channels; each send's id is relative (the obligation's id goes in front). Memoised: warnings of
        one classification open tens of obligations alike."""
        key = ("sends", ladder, room, department, jurisdiction, channels)
        found = self._memo.get(key)
        if found is None:
            zero, nxt, offset = self.opening(ladder, room)
            sends, fired, escalated = _fire(
                self, OpenObligation(0, "", department, jurisdiction, "", channels, ladder, 0, 0.0, room), zero
            )
            found = Opening(bool(zero), sends, fired, escalated, nxt, offset)
            if len(self._memo) < 10_000:
                self._memo[key] = found
        result: Opening = found
        return result

    def times(self, ladder: str, start: float, deadline: float) -> tuple[float, ...]:
        """When each rung fires; compressed if the ladder would not finish before the deadline."""
        rungs = self.ladders[ladder]
        span = rungs[-1].after if rungs else 0.0
        room = deadline - start
        scale = 1.0 if span < room or span == 0 else max(room, 0.0) * FIT / span
        return tuple(start + r.after * scale for r in rungs)


@dataclass(frozen=True, slots=True)
class Send:
    """A notification a rung creates: to the obligation's department, or to the duty office."""

    id: str
    channel: str
    department: str
    jurisdiction: str
    purpose: str  # "action" (to the department) or "escalation" (to the duty office)


@dataclass(frozen=True, slots=True)
class Fired:
    step: int
    what: str  # "send sms", "alert duty_office", "breach"
    outcome: str  # "sent", "skipped: …"


@dataclass(frozen=True, slots=True)
class Effects:
    sends: tuple[Send, ...] = ()
    fired: tuple[Fired, ...] = ()
    escalated: bool = False
    breached: bool = False
    next_step: int | None = None
    next_at: float | None = None


@dataclass(frozen=True, slots=True)
class Opening:
    """The rungs due at an obligation's start (``due``: any), what they send (ids relative to the
    obligation's), and the next step's index and offset from the start (None: the breach)."""

    due: bool
    sends: tuple[Send, ...]
    fired: tuple[Fired, ...]
    escalated: bool
    next_step: int
    offset: float | None


def first_push(channels: tuple[str, ...]) -> str | None:
    """The channel "first" names: the first a router pushes to (a feed is read, not pushed)."""
    return next((c for c in channels if c in PUSH_KINDS), None)


def _rung(ladders: Ladders, ob: OpenObligation, index: int, rung: Rung) -> tuple[list[Send], Fired]:
    if rung.alert:
        here = ob.jurisdiction in ladders.duty_at and ob.department != ladders.duty_department
        jurisdiction = ob.jurisdiction if here else ladders.city
        sends = [
            Send(f"{ob.id}.s{index}.duty.{c}", c, ladders.duty_department, jurisdiction, "escalation")
            for c in ladders.duty_channels
        ]
        return sends, Fired(index, "alert duty_office", f"alerted {ladders.duty_department}@{jurisdiction}")
    channel = first_push(ob.channels) if rung.send == "first" else rung.send
    if channel is None or channel not in ob.channels:
        return [], Fired(index, f"send {rung.send}", f"skipped: {ob.department} has no {rung.send} channel")
    suffix = "" if index == 0 else f".s{index}"
    return [Send(f"{ob.id}{suffix}.{channel}", channel, ob.department, ob.jurisdiction, "action")], Fired(
        index, f"send {channel}", "queued"
    )


def _fire(
    ladders: Ladders, ob: OpenObligation, due: list[tuple[int, Rung]] | tuple[tuple[int, Rung], ...]
) -> tuple[tuple[Send, ...], tuple[Fired, ...], bool]:
    """What firing these rungs sends and records, and whether one alerted the duty office."""
    sends: list[Send] = []
    fired: list[Fired] = []
    for index, rung in due:
        new, f = _rung(ladders, ob, index, rung)
        # Two rungs due at once naming one channel ("first" is SMS, then "sms"): one message, not the same twice.
        again = [s for s in new if any((s.channel, s.department) == (t.channel, t.department) for t in sends)]
        if again and not rung.alert:
            f = Fired(index, f.what, f"skipped: {again[0].channel} already sent at this step")
            new = []
        sends += new
        fired.append(f)
    return tuple(sends), tuple(fired), any(rung.alert for _, rung in due)


def plan_due(ladders: Ladders, ob: OpenObligation, now: float) -> Effects:
    """Fire the obligation's due step (it was selected as due) and every later rung already due."""
    rungs = ladders.ladders.get(ob.ladder, ())
    times = ladders.times(ob.ladder, ob.start, ob.deadline) if rungs else ()
    end = ob.next_step
    while end < len(rungs) and (end == ob.next_step or times[end] <= now):
        end += 1
    sends, fired, escalated = _fire(ladders, ob, list(enumerate(rungs))[ob.next_step : end])
    if end < len(rungs):
        return Effects(sends, fired, escalated, False, end, times[end])
    if ob.deadline > now:
        return Effects(sends, fired, escalated, False, len(rungs), ob.deadline)
    late = f"not done {now - ob.deadline:.0f} s after its deadline" if now > ob.deadline else "deadline reached"
    return Effects(sends, (*fired, Fired(len(rungs), "breach", late)), escalated, True, None, None)


def on_time(
    ladders: Ladders,
    ladder: str,
    department: str,
    jurisdiction: str,
    channels: tuple[str, ...],
    start: float,
    deadline: float,
    now: float,
) -> tuple[Opening, float] | None:
    """``plan_initial``'s usual case, cheaply (memoised): an obligation that opens on time (or has no
    ladder). Its opening (sends with ids relative to the obligation's) and when its next step is; None
    when it opens late or its first rung is later: then ``plan_initial`` works it out."""
    o = ladders.opening_sends(ladder, deadline - start, department, jurisdiction, channels)
    next_at = next_on_time(o, bool(ladders.ladders.get(ladder)), start, deadline, now)
    return (o, next_at) if next_at is not None else None


def next_on_time(o: Opening, climbs: bool, start: float, deadline: float, now: float) -> float | None:
    """When the next step of an obligation that opens with ``o`` (its ladder has rungs: ``climbs``) is, if it
    opens on time: its opening is due at its start and the next step is still ahead, or it has no rungs.
    None: it opens late, or its first rung is later."""
    next_at = start + o.offset if o.offset is not None else deadline
    return next_at if (o.due and next_at > now) or not climbs else None


def plan_initial(ladders: Ladders, ob: OpenObligation, now: float) -> Effects:
    """At ingest: the rungs at ``after`` 0 fire now (more if the warning arrives late); then the next."""
    quick = on_time(ladders, ob.ladder, ob.department, ob.jurisdiction, ob.channels, ob.start, ob.deadline, now)
    if quick is not None:
        o, next_at = quick
        sends = tuple(Send(ob.id + s.id, s.channel, s.department, s.jurisdiction, s.purpose) for s in o.sends)
        return Effects(sends, o.fired, o.escalated, False, o.next_step, next_at)
    rungs = ladders.ladders[ob.ladder]
    times = ladders.times(ob.ladder, ob.start, ob.deadline)
    if times[0] > now and rungs[0].after > 0:
        return Effects(next_step=0, next_at=times[0])
    return plan_due(ladders, ob, now)
