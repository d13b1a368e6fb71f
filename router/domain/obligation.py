"""An obligation's states and how each event moves it: one pure function, which the store applies.

States (README "Obligations"):

    pending ──sent──▶ sent ──delivered──▶ delivered
       │                │                    │
       └──── a ladder rung alerts the duty office ────▶ escalated
    any open state ──deadline passed──▶ breached (it can still be acknowledged, late)
    any open state ──acknowledged──▶ acknowledged            (done)
    a task, open or acknowledged ──reported done──▶ done      (done, with its figures: §4.5 "1262")
    pending/sent/delivered/escalated ──lift──▶ cancelled     (closed)
    pending/sent/delivered/escalated ──asked again by an Update──▶ superseded (closed)

"Sent" and "delivered" move forward only; an escalated or breached obligation keeps that state until
it is acknowledged. A notice (``ack_mode`` ``delivery``) is done when delivered: its ladder stops
there. A phone report (``ack_mode`` ``confirm``) is done only when the callee confirms by keypress or
the duty office records it. A channel that fails for good brings the ladder's next rung forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

OPEN_STATES = ("pending", "sent", "delivered", "escalated", "breached")
"""States in which an obligation can still be acknowledged (a breached one, late)."""
CLOSABLE_STATES = ("pending", "sent", "delivered", "escalated")
"""States a lift (cancelled) or an Update asking the same again (superseded) closes; a breach stays on record."""
CONFIRM_METHODS = frozenset({"voice_keypress", "duty_office"})
"""The only ways a phone report (§4.3, ``ack_mode`` confirm) is done."""

DOABLE_KINDS = frozenset({"task", "respond"})
"""Obligations whose action asks for something to be done (§4.5 tasks, §5.3 measures): they can be reported
done, beside acknowledged; a notice or a report is done when it is received."""

AckMode = Literal["required", "confirm", "delivery"]
ACK_MODES: tuple[AckMode, ...] = ("required", "confirm", "delivery")


class Event(StrEnum):
    SENT = "sent"  # a provider accepted a notification of the obligation
    DELIVERED = "delivered"  # a receipt, or a webhook's 2xx
    SEND_FAILED = "send_failed"  # a channel failed for good
    ESCALATED = "escalated"  # a ladder rung alerted the duty office
    BREACHED = "breached"  # the deadline passed, not done
    ACKNOWLEDGED = "acknowledged"
    LIFTED = "lifted"  # the warning was lifted (Cancel or all-clear)
    SUPERSEDED = "superseded"  # an Update asks the same again
    DONE = "done"  # what it asks for was done (people moved, forces pre-positioned), reported with figures


@dataclass(frozen=True, slots=True)
class Transition:
    """What an event does to an obligation: its new state, whether its ladder stops (None: unchanged)
    or its next rung comes forward, and, when the event is refused, why (the state is then unchanged)."""

    state: str
    recorded: bool = True  # False: the obligation is done or closed, and the event leaves no mark on it
    stops_ladder: bool = False
    brings_ladder_forward: bool = False
    refused: Literal["", "already", "closed", "refused"] = ""
    problem: str = ""

    @property
    def accepted(self) -> bool:
        return not self.refused


def transition(state: str, event: Event, ack_mode: str = "required", method: str = "") -> Transition:
    """The obligation in ``state`` meets ``event``; ``method`` says how an acknowledgement came."""
    if event is Event.ACKNOWLEDGED:
        return _acknowledge(state, ack_mode, method)
    if event is Event.DONE:
        if state == "done":
            return Transition(state, refused="already")
        if state not in (*OPEN_STATES, "acknowledged"):
            return Transition(state, refused="closed", problem=f"the obligation is {state}; nothing is to be done")
        return Transition("done", stops_ladder=True)
    if state not in OPEN_STATES:  # done or closed: nothing moves it any more
        return Transition(state, recorded=False)
    if event is Event.SENT:
        return Transition("sent" if state == "pending" else state)
    if event is Event.DELIVERED:
        return Transition("delivered" if state in ("pending", "sent") else state, stops_ladder=ack_mode == "delivery")
    if event is Event.SEND_FAILED:
        return Transition(state, brings_ladder_forward=True)
    if event is Event.ESCALATED:
        return Transition("escalated" if state in ("pending", "sent", "delivered") else state)
    if event is Event.BREACHED:
        return Transition("breached", stops_ladder=True)
    if state not in CLOSABLE_STATES:
        return Transition(state, recorded=False)
    return Transition("cancelled" if event is Event.LIFTED else "superseded", stops_ladder=True)


def _acknowledge(state: str, ack_mode: str, method: str) -> Transition:
    if state in ("acknowledged", "done"):  # done: it was received, and more
        return Transition(state, refused="already")
    if state not in OPEN_STATES:
        return Transition(state, refused="closed", problem=f"the obligation is {state}; nothing to acknowledge")
    if ack_mode == "confirm" and method not in CONFIRM_METHODS:
        return Transition(
            state,
            refused="refused",
            problem="a phone report is done only when the callee confirms by keypress or the duty office records it",
        )
    return Transition("acknowledged", stops_ladder=True)


@dataclass(frozen=True, slots=True)
class OpenObligation:
    """An open obligation as its ladder sees it: the scheduler's due rows, and ingest's new ones."""

    seq: int
    id: str
    department: str
    jurisdiction: str
    kind: str
    channels: tuple[str, ...]
    ladder: str
    next_step: int
    start: float
    deadline: float
    warning_id: str = ""
