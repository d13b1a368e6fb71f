"""Obligation states: the pure transition, by hand, and the store's compiled UPDATE agreeing with it for
every state, ack mode and event."""

from __future__ import annotations

import sqlite3

import pytest

from router.domain.obligation import ACK_MODES, Event, transition
from router.store.sql import ADVANCE

STATES = ("pending", "sent", "delivered", "escalated", "breached", "acknowledged", "done", "cancelled", "superseded")


def test_transitions_by_hand() -> None:
    assert transition("pending", Event.SENT).state == "sent"
    assert transition("sent", Event.DELIVERED).state == "delivered"
    assert transition("escalated", Event.DELIVERED).state == "escalated"  # stays escalated until acknowledged
    assert transition("delivered", Event.DELIVERED, "delivery").stops_ladder  # a notice is done when delivered
    assert not transition("delivered", Event.DELIVERED, "required").stops_ladder
    assert transition("breached", Event.ACKNOWLEDGED).state == "acknowledged"  # late, but acknowledged
    assert transition("acknowledged", Event.ACKNOWLEDGED).refused == "already"
    assert transition("cancelled", Event.ACKNOWLEDGED).refused == "closed"
    phone = transition("sent", Event.ACKNOWLEDGED, "confirm", "api")
    assert phone.refused == "refused" and "keypress" in phone.problem
    assert transition("sent", Event.ACKNOWLEDGED, "confirm", "voice_keypress").state == "acknowledged"
    assert transition("breached", Event.LIFTED).state == "breached"  # a breach stays on record
    assert transition("escalated", Event.SUPERSEDED).state == "superseded"
    assert transition("pending", Event.SEND_FAILED).brings_ladder_forward
    assert not transition("cancelled", Event.SENT).recorded


def test_a_task_is_done_beside_acknowledged_by_hand() -> None:
    """§4.5 "1262": a task is done when people are moved, not when someone clicks "received"."""
    for state in ("pending", "sent", "delivered", "escalated", "breached", "acknowledged"):
        move = transition(state, Event.DONE)
        assert (move.state, move.stops_ladder, move.refused) == ("done", True, ""), state
    assert transition("done", Event.DONE).refused == "already"
    assert transition("done", Event.ACKNOWLEDGED).refused == "already"  # done: received, and more
    assert transition("cancelled", Event.DONE).refused == "closed"
    assert transition("superseded", Event.DONE).refused == "closed"
    assert not transition("done", Event.SENT).recorded  # a receipt after it changes nothing
    assert transition("done", Event.BREACHED).state == "done"


@pytest.mark.parametrize("event", [Event.SENT, Event.DELIVERED])
def test_the_stores_compiled_update_is_the_domains_transition(event: Event) -> None:
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE obligations (seq INTEGER PRIMARY KEY, state TEXT, shape_seq INTEGER, sent_at REAL,"
        " delivered_at REAL, next_step_at REAL)"
    )
    db.execute("CREATE TABLE shapes (seq INTEGER PRIMARY KEY, ack_mode TEXT)")  # its acknowledgement mode
    db.execute("CREATE TABLE notifications (id TEXT PRIMARY KEY, obligation_seq INTEGER, purpose TEXT)")
    cases = [(state, mode) for state in STATES for mode in ACK_MODES]
    for seq, (state, mode) in enumerate(cases, start=1):
        db.execute("INSERT INTO shapes VALUES (?, ?)", (seq, mode))
        db.execute("INSERT INTO obligations VALUES (?, ?, ?, NULL, NULL, 99.0)", (seq, state, seq))
        db.execute("INSERT INTO notifications VALUES (?, ?, 'action')", (f"n{seq}", seq))
    params = [(5.0, f"n{seq}") if event is Event.SENT else (5.0, 5.0, f"n{seq}") for seq in range(1, len(cases) + 1)]
    db.executemany(ADVANCE[event], params)
    for seq, (state, mode) in enumerate(cases, start=1):
        got = db.execute("SELECT state, sent_at, delivered_at, next_step_at FROM obligations WHERE seq = ?", (seq,))
        new_state, sent_at, delivered_at, next_step_at = got.fetchone()
        move = transition(state, event, mode)
        assert new_state == move.state, (state, mode)
        assert sent_at == (5.0 if move.recorded else None), (state, mode)
        assert delivered_at == (5.0 if move.recorded and event is Event.DELIVERED else None), (state, mode)
        assert next_step_at == (None if move.recorded and move.stops_ladder else 99.0), (state, mode)
